// tril, triu and pad: masks and index maps built from small host-side vectors, then one
// elementwise `where`, strided copy or index_select per padded dim. tril/triu (a `where`) and the
// index_select modes of pad are differentiable as they are; constant padding records its backward,
// which is padding g by the negated amounts (crops what was added, zero-fills what was cropped).
#include <string>

#include "moelab/autograd/function.h"
#include "moelab/backends/elementwise_kernels.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/indexing.h"
#include "moelab/ops/op_helpers.h"
#include "moelab/ops/shape_ops.h"

namespace moelab {
using detail::backend_of;

// ---- tril / triu ----

namespace {
Tensor triangle(const Tensor& x, int64_t diagonal, bool lower, const char* op) {
  detail::check_defined(x, op);
  MOELAB_CHECK(x.dim() >= 2, op, ": expects a tensor with at least 2 dims, got shape ", x.shape());
  const int64_t rows = x.size(-2), cols = x.size(-1);
  // keep[i][j] = (j - i <= diagonal) for tril, (j - i >= diagonal) for triu.
  Tensor diff = arange(0, cols, 1, TensorOptions(kI64, x.device())).unsqueeze(0) -
                arange(0, rows, 1, TensorOptions(kI64, x.device())).unsqueeze(1);
  Tensor keep = lower ? diff <= diagonal : diff >= diagonal;
  return where(keep, x, zeros({}, TensorOptions(x.dtype(), x.device())));
}
}  // namespace

Tensor tril(const Tensor& x, int64_t diagonal) { return triangle(x, diagonal, true, "tril"); }
Tensor triu(const Tensor& x, int64_t diagonal) { return triangle(x, diagonal, false, "triu"); }

// ---- pad ----

namespace {

enum class PadMode { Constant, Reflect, Replicate, Circular };

PadMode parse_mode(std::string_view mode) {
  if (mode == "constant") return PadMode::Constant;
  if (mode == "reflect") return PadMode::Reflect;
  if (mode == "replicate") return PadMode::Replicate;
  if (mode == "circular") return PadMode::Circular;
  MOELAB_FAIL("pad: mode must be constant, reflect, replicate or circular; got \"", mode, "\"");
}

Tensor pad_constant(const Tensor& x, const std::vector<int64_t>& pad, Scalar value) {
  Shape s = x.shape();
  const int np = static_cast<int>(pad.size()) / 2;
  for (int i = 0; i < np; ++i) {
    const int d = x.dim() - 1 - i;
    s[d] += pad[2 * static_cast<size_t>(i)] + pad[2 * static_cast<size_t>(i) + 1];
    MOELAB_CHECK(s[d] >= 0, "pad: padding ", Dims(pad), " makes dim ", d, " of the input shape ", x.shape(),
                 " negative (", s[d], ")");
  }
  Tensor out = full(s, value, TensorOptions(x.dtype(), x.device()));
  // Copy the part of x that survives (negative pads crop) into its place in out.
  Tensor dst = out, src = x;
  for (int i = 0; i < np; ++i) {
    const int d = x.dim() - 1 - i;
    const int64_t l = pad[2 * static_cast<size_t>(i)], r = pad[2 * static_cast<size_t>(i) + 1];
    const int64_t src_lo = std::max<int64_t>(-l, 0), src_hi = x.size(d) - std::max<int64_t>(-r, 0);
    const int64_t len = std::max<int64_t>(src_hi - src_lo, 0);
    if (len == 0) return out;
    src = src.narrow(d, src_lo, len);
    dst = dst.narrow(d, std::max<int64_t>(l, 0), len);
  }
  if (dst.numel() > 0) backend_of(out).elementwise().copy(dst, src);
  return out;
}

// The source position of each output position along a dim of size n padded by (l, r).
std::vector<int64_t> pad_index(PadMode mode, int64_t n, int64_t l, int64_t r) {
  std::vector<int64_t> idx;
  for (int64_t o = 0; o < n + l + r; ++o) {
    int64_t j = o - l;
    if (mode == PadMode::Replicate) j = std::clamp<int64_t>(j, 0, n - 1);
    else if (mode == PadMode::Circular) j = ((j % n) + n) % n;
    else if (j < 0) j = -j;  // reflect without repeating the edge
    else if (j >= n) j = 2 * (n - 1) - j;
    idx.push_back(j);
  }
  return idx;
}

}  // namespace

Tensor pad(const Tensor& x, const std::vector<int64_t>& pad, std::string_view mode, Scalar value) {
  detail::check_defined(x, "pad");
  const PadMode m = parse_mode(mode);
  MOELAB_CHECK(pad.size() % 2 == 0, "pad: the padding list must have an even length, got ", Dims(pad));
  const int np = static_cast<int>(pad.size()) / 2;
  MOELAB_CHECK(np <= x.dim(), "pad: padding ", Dims(pad), " covers ", np, " dims but the input has shape ",
               x.shape());
  if (m == PadMode::Constant) {
    Tensor out;
    {
      autograd::NoGradGuard no_grad;
      out = pad_constant(x, pad, value);
    }
    if (autograd::needs_grad({&x})) {
      std::vector<int64_t> back;
      for (int64_t p : pad) back.push_back(-p);
      autograd::record_op("pad", {&x}, {&out}, {},
                          [back](autograd::FunctionNode::Context&, const std::vector<Tensor>& g) {
                            return std::vector<Tensor>{moelab::pad(g[0], back)};
                          });
    }
    return out;
  }
  MOELAB_CHECK(np >= 1 && np <= 3 && (x.dim() == np + 1 || x.dim() == np + 2), "pad: mode ", mode, " pads the last ",
               "1-3 dims of a batched or unbatched input (", np + 1, "-D or ", np + 2, "-D for ", np,
               " padded dims), got shape ", x.shape());
  Tensor t = x;
  for (int i = 0; i < np; ++i) {
    const int d = x.dim() - 1 - i;
    const int64_t n = x.size(d), l = pad[2 * static_cast<size_t>(i)], r = pad[2 * static_cast<size_t>(i) + 1];
    if (l == 0 && r == 0) continue;
    MOELAB_CHECK(n > 0, "pad: mode ", mode, " cannot pad dim ", d, " of size 0 (shape ", x.shape(), ")");
    MOELAB_CHECK(n + l + r >= 0, "pad: padding ", Dims(pad), " makes dim ", d, " of the input shape ", x.shape(),
                 " negative");
    if (m == PadMode::Reflect)
      MOELAB_CHECK(l < n && r < n, "pad: reflect padding (", l, ", ", r, ") must be smaller than dim ", d,
                   " of size ", n, " (shape ", x.shape(), ")");
    if (m == PadMode::Circular)
      MOELAB_CHECK(l <= n && r <= n, "pad: circular padding (", l, ", ", r, ") must not exceed dim ", d,
                   " of size ", n, " (shape ", x.shape(), ")");
    t = index_select(t, d, from_vector(pad_index(m, n, l, r)).to(x.device()));
  }
  return t.is_same(x) ? x.clone() : t;
}

}  // namespace moelab
