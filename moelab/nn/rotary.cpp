#include "moelab/nn/rotary.h"

#include <cmath>

#include "moelab/autograd/grad_mode.h"
#include "moelab/ops/attention.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/indexing.h"
#include "moelab/ops/linalg.h"
#include "moelab/ops/reduce.h"
#include "moelab/ops/shape_ops.h"

namespace moelab::nn {

RotaryEmbedding::RotaryEmbedding(int64_t head_dim, int64_t max_seq_len, double base, DType dtype)
    : Module("RotaryEmbedding"), head_dim_(head_dim), max_seq_len_(max_seq_len), base_(base) {
  MOELAB_CHECK(head_dim > 0 && head_dim % 2 == 0, "RotaryEmbedding: head_dim must be positive and even, got ",
               head_dim);
  MOELAB_CHECK(max_seq_len >= 0, "RotaryEmbedding: max_seq_len must be non-negative, got ", max_seq_len);
  MOELAB_CHECK(base > 0, "RotaryEmbedding: base must be positive, got ", base);
  MOELAB_CHECK(is_floating(dtype), "RotaryEmbedding: dtype must be floating, got ", dtype);
  autograd::NoGradGuard no_grad;
  // inv_freq[i] = base^(-2i/D) = exp(-(2i/D) log base), positions t; freqs = t inv_freq^T.
  Tensor inv_freq = exp(arange(0, head_dim, 2, kF64) * (-std::log(base) / static_cast<double>(head_dim)));
  Tensor freqs = outer(arange(0, max_seq_len, 1, kF64), inv_freq);
  Tensor emb = cat({freqs, freqs}, -1);
  cos_ = cos(emb).to(dtype);
  sin_ = sin(emb).to(dtype);
}

void RotaryEmbedding::check_input(const Tensor& x) const {
  MOELAB_CHECK(x.defined() && x.dim() >= 2 && x.size(-1) == head_dim_, "RotaryEmbedding: input of shape ",
               x.defined() ? x.shape() : Shape{}, " must be [..., S, head_dim = ", head_dim_, "]");
}

Tensor RotaryEmbedding::forward(const Tensor& x, int64_t offset) const {
  check_input(x);
  const int64_t S = x.size(-2);
  MOELAB_CHECK(offset >= 0 && offset + S <= max_seq_len_, "RotaryEmbedding: positions ", offset, "..", offset + S - 1,
               " (offset ", offset, ", input ", x.shape(), ") exceed max_seq_len ", max_seq_len_);
  return apply_rotary_emb(x, cos_.narrow(0, offset, S), sin_.narrow(0, offset, S));
}

Tensor RotaryEmbedding::forward(const Tensor& x, const Tensor& positions) const {
  check_input(x);
  MOELAB_CHECK(positions.defined() && is_integral(positions.dtype()), "RotaryEmbedding: positions must be an integer "
               "tensor, got ", positions.defined() ? positions.dtype() : kF32);
  const int64_t S = x.size(-2);
  const bool ok = (positions.dim() == 1 && positions.size(0) == S) ||
                  (positions.dim() == 2 && (x.dim() == 3 || x.dim() == 4) && positions.size(0) == x.size(0) &&
                   positions.size(1) == S);
  MOELAB_CHECK(ok, "RotaryEmbedding: positions of shape ", positions.shape(), " do not fit input ", x.shape(),
               " (expected [S], or [B, S] for x [B, S, D] or [B, H, S, D])");
  if (positions.numel() > 0) {
    const int64_t lo = positions.min().to(kI64).item<int64_t>(), hi = positions.max().to(kI64).item<int64_t>();
    MOELAB_CHECK(lo >= 0 && hi < max_seq_len_, "RotaryEmbedding: positions range over ", lo, "..", hi,
                 " but must lie in 0..", max_seq_len_ - 1, " (max_seq_len)");
  }
  Tensor idx = positions.reshape({-1}).to(kI64);
  Shape shape = positions.shape();
  shape.push_back(head_dim_);
  Tensor c = index_select(cos_, 0, idx).view(shape), s = index_select(sin_, 0, idx).view(shape);
  if (positions.dim() == 2 && x.dim() == 4) {
    c = c.unsqueeze(1);
    s = s.unsqueeze(1);
  }
  return apply_rotary_emb(x, c, s);
}

}  // namespace moelab::nn
