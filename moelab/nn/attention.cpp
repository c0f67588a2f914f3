#include "moelab/nn/attention.h"

#include <cmath>
#include <limits>

#include "moelab/autograd/grad_mode.h"
#include "moelab/nn/init.h"
#include "moelab/ops/attention.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/indexing.h"
#include "moelab/ops/linalg.h"
#include "moelab/ops/reduce.h"
#include "moelab/ops/shape_ops.h"

namespace moelab::nn {
namespace {

constexpr const char* kOp = "MultiheadAttention";

int64_t checked_heads(int64_t embed_dim, int64_t num_heads) {
  MOELAB_CHECK(embed_dim > 0 && num_heads > 0 && embed_dim % num_heads == 0, kOp, ": embed_dim (", embed_dim,
               ") must be positive and divisible by num_heads (", num_heads, ")");
  return num_heads;
}

int64_t checked_kv_heads(std::optional<int64_t> kv, int64_t num_heads) {
  const int64_t h = kv.value_or(num_heads);
  MOELAB_CHECK(h > 0 && num_heads % h == 0, kOp, ": num_heads (", num_heads,
               ") must be a positive multiple of num_kv_heads (", h, ")");
  return h;
}

Tensor project(const Tensor& x, const Tensor& w, const Tensor& b) {
  Tensor y = matmul(x, w.t());
  return b.defined() ? y + b : y;
}

// A bool mask (true = blocked) becomes 0 / -inf in dtype; a float mask is used as it is.
Tensor additive(const Tensor& m, DType dtype, const char* what) {
  MOELAB_CHECK(m.dtype() == kBool || m.dtype() == dtype, kOp, ": ", what, " must be bool or the query's dtype ", dtype,
               ", got ", m.dtype());
  if (m.dtype() != kBool) return m;
  return masked_fill(zeros(m.shape(), TensorOptions(dtype, m.device())), m, -std::numeric_limits<double>::infinity());
}

}  // namespace

MultiheadAttention::MultiheadAttention(int64_t embed_dim, int64_t num_heads, double dropout, bool bias,
                                       bool batch_first, std::optional<int64_t> kdim, std::optional<int64_t> vdim,
                                       std::optional<int64_t> num_kv_heads, DType dtype, Generator* gen)
    : Module(kOp),
      embed_dim_(embed_dim),
      num_heads_(checked_heads(embed_dim, num_heads)),
      num_kv_heads_(checked_kv_heads(num_kv_heads, num_heads)),
      head_dim_(embed_dim / num_heads),
      kdim_(kdim.value_or(embed_dim)),
      vdim_(vdim.value_or(embed_dim)),
      dropout_(dropout),
      batch_first_(batch_first),
      packed_(kdim_ == embed_dim && vdim_ == embed_dim && num_kv_heads_ == num_heads),
      gen_(gen),
      in_proj_weight_(packed_ ? register_parameter("in_proj_weight", empty({3 * embed_dim, embed_dim}, dtype))
                              : register_buffer("in_proj_weight", Tensor())),
      q_proj_weight_(packed_ ? register_buffer("q_proj_weight", Tensor())
                             : register_parameter("q_proj_weight", empty({embed_dim, embed_dim}, dtype))),
      k_proj_weight_(packed_ ? register_buffer("k_proj_weight", Tensor())
                             : register_parameter("k_proj_weight", empty({num_kv_heads_ * head_dim_, kdim_}, dtype))),
      v_proj_weight_(packed_ ? register_buffer("v_proj_weight", Tensor())
                             : register_parameter("v_proj_weight", empty({num_kv_heads_ * head_dim_, vdim_}, dtype))),
      in_proj_bias_(bias ? register_parameter("in_proj_bias", empty({embed_dim + 2 * num_kv_heads_ * head_dim_}, dtype))
                         : register_buffer("in_proj_bias", Tensor())),
      out_proj_(register_module("out_proj", std::make_shared<Linear>(embed_dim, embed_dim, bias, dtype))) {
  MOELAB_CHECK(dropout >= 0 && dropout <= 1, kOp, ": dropout must be in [0, 1], got ", dropout);
  MOELAB_CHECK(kdim_ > 0 && vdim_ > 0, kOp, ": kdim and vdim must be positive, got ", kdim_, " and ", vdim_);
  reset_parameters();
}

void MultiheadAttention::reset_parameters() {
  for (Tensor* w : {&in_proj_weight_, &q_proj_weight_, &k_proj_weight_, &v_proj_weight_})
    if (w->defined()) init::xavier_uniform_(*w);
  out_proj_->reset_parameters();
  if (in_proj_bias_.defined()) init::zeros_(in_proj_bias_);
  if (out_proj_->bias().defined()) {
    Tensor b = out_proj_->bias();
    init::zeros_(b);
  }
}

std::pair<Tensor, Tensor> MultiheadAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                                      const Tensor& key_padding_mask, bool need_weights,
                                                      const Tensor& attn_mask, bool average_attn_weights,
                                                      bool is_causal) {
  MOELAB_CHECK(query.defined() && key.defined() && value.defined(), kOp, ": query, key and value must be defined");
  const bool batched = query.dim() == 3;
  MOELAB_CHECK((query.dim() == 3 || query.dim() == 2) && key.dim() == query.dim() && value.dim() == query.dim(), kOp,
               ": expected query, key and value all 3-D (batched) or all 2-D (unbatched), got query ", query.shape(),
               ", key ", key.shape(), ", value ", value.shape());
  const DType dt = out_proj_->weight().dtype();
  MOELAB_CHECK(query.dtype() == dt && key.dtype() == dt && value.dtype() == dt, kOp,
               ": query, key and value must have the module's dtype ", dt, ", got ", query.dtype(), ", ", key.dtype(),
               " and ", value.dtype());
  // Work batch-first: [N, L, E].
  auto to_nle = [&](const Tensor& t) { return !batched ? t.unsqueeze(0) : batch_first_ ? t : t.transpose(0, 1); };
  Tensor q = to_nle(query), k = to_nle(key), v = to_nle(value);
  const int64_t N = q.size(0), L = q.size(1), S = k.size(1), E = embed_dim_, KV = num_kv_heads_ * head_dim_;
  MOELAB_CHECK(q.size(2) == E && k.size(2) == kdim_ && v.size(2) == vdim_ && k.size(0) == N && v.size(0) == N &&
                   v.size(1) == S,
               kOp, ": shapes do not fit (embed_dim ", E, ", kdim ", kdim_, ", vdim ", vdim_, ", batch_first ",
               batch_first_, "): query ", query.shape(), ", key ", key.shape(), ", value ", value.shape());

  // Projections. Self-attention on one tensor uses a single GEMM with the packed weight.
  Tensor bq, bk, bv;
  if (in_proj_bias_.defined()) {
    bq = in_proj_bias_.narrow(0, 0, E);
    bk = in_proj_bias_.narrow(0, E, KV);
    bv = in_proj_bias_.narrow(0, E + KV, KV);
  }
  Tensor qp, kp, vp;
  if (packed_ && query.is_same(key) && key.is_same(value)) {
    std::vector<Tensor> qkv = chunk(project(q, in_proj_weight_, in_proj_bias_), 3, -1);
    qp = qkv[0], kp = qkv[1], vp = qkv[2];
  } else {
    qp = project(q, packed_ ? in_proj_weight_.narrow(0, 0, E) : q_proj_weight_, bq);
    kp = project(k, packed_ ? in_proj_weight_.narrow(0, E, E) : k_proj_weight_, bk);
    vp = project(v, packed_ ? in_proj_weight_.narrow(0, 2 * E, E) : v_proj_weight_, bv);
  }
  // [N, L, H, hd] -> [N, H, L, hd] (views).
  Tensor qh = qp.unflatten(2, {num_heads_, head_dim_}).transpose(1, 2);
  Tensor kh = kp.unflatten(2, {num_kv_heads_, head_dim_}).transpose(1, 2);
  Tensor vh = vp.unflatten(2, {num_kv_heads_, head_dim_}).transpose(1, 2);

  // One additive mask broadcasting to [N, H, L, S].
  Tensor mask;
  if (attn_mask.defined()) {
    const Shape want2{L, S}, want3 = batched ? Shape{N * num_heads_, L, S} : Shape{num_heads_, L, S};
    MOELAB_CHECK(attn_mask.shape() == want2 || attn_mask.shape() == want3, kOp, ": attn_mask of shape ",
                 attn_mask.shape(), " must be ", want2, " or ", want3, " (query ", query.shape(), ", key ",
                 key.shape(), ")");
    mask = additive(attn_mask.dim() == 3 ? attn_mask.reshape({N, num_heads_, L, S}) : attn_mask, q.dtype(),
                    "attn_mask");
  } else if (is_causal) {
    Tensor blocked = arange(0, L, 1, TensorOptions(kI64, q.device())).unsqueeze(1) <
                     arange(0, S, 1, TensorOptions(kI64, q.device())).unsqueeze(0);
    mask = additive(blocked, q.dtype(), "causal mask");
  }
  if (key_padding_mask.defined()) {
    const Shape want = batched ? Shape{N, S} : Shape{S};
    MOELAB_CHECK(key_padding_mask.shape() == want, kOp, ": key_padding_mask of shape ", key_padding_mask.shape(),
                 " must be ", want, " (key ", key.shape(), ")");
    Tensor kpm = additive(key_padding_mask.reshape({N, 1, 1, S}), q.dtype(), "key_padding_mask");
    mask = mask.defined() ? mask + kpm : kpm;
  }

  auto [out, weights] = detail::sdpa_with_weights(qh, kh, vh, mask, is_training() ? dropout_ : 0.0, false,
                                                  std::nullopt, gen_, kOp);
  // [N, H, L, hd] -> [L, N, E] or [N, L, E], then the output projection.
  out = !batched || batch_first_ ? out.transpose(1, 2).reshape({N, L, E}) : out.permute({2, 0, 1, 3}).reshape({L, N, E});
  out = out_proj_->forward(out);
  if (!batched) out = out.squeeze(0);
  if (!need_weights) return {out, Tensor()};
  if (average_attn_weights) weights = weights.mean(1);
  if (!batched) weights = weights.squeeze(0);
  return {out, weights};
}

}  // namespace moelab::nn
