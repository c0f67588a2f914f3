// Normalisation, embedding and bilinear functionals. The normalisations are written as
//   y = (x - mean) * (rsqrt(var + eps) * weight) + bias
// with the per-channel factor formed on the small [1, C, 1, ...] tensor first, so a forward makes
// only a few input-sized temporaries; autograd differentiates the composite to any order.
#include "moelab/ops/normalization.h"

#include <limits>

#include "moelab/autograd/function.h"
#include "moelab/autograd/grad_mode.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/index_helpers.h"
#include "moelab/ops/indexing.h"
#include "moelab/ops/linalg.h"
#include "moelab/ops/op_helpers.h"

namespace moelab {
namespace {

// An optional per-channel (or per-feature) tensor: undefined, or of `shape` with x's dtype and device.
void check_param(const Tensor& p, const Tensor& x, const Shape& shape, const char* op, const char* arg) {
  if (!p.defined()) return;
  MOELAB_CHECK(p.dtype() == x.dtype(), op, ": ", arg, " has dtype ", p.dtype(), " but the input has ", x.dtype());
  MOELAB_CHECK(p.device() == x.device(), op, ": ", arg, " is on another device than the input");
  MOELAB_CHECK(p.shape() == shape, op, ": ", arg, " of shape ", p.shape(), " does not match the expected ", shape,
               " for input of shape ", x.shape());
}

void check_input(const Tensor& x, const char* op, int min_dim) {
  detail::check_defined(x, op);
  detail::check_floating(x, op);
  MOELAB_CHECK(x.dim() >= min_dim, op, ": input must be [N, C, *] (at least ", min_dim, "-D), got shape ", x.shape());
}

// [1, C, 1, ...] for broadcasting a per-channel tensor against x.
Shape channel_shape(const Tensor& x) {
  Shape s = Shape::filled(x.dim(), 1);
  s[1] = x.size(1);
  return s;
}

// y = x * scale (+ shift), each per-channel factor optional.
Tensor affine(const Tensor& y, const Tensor& weight, const Tensor& bias, const Shape& cs) {
  Tensor out = weight.defined() ? y * weight.reshape(cs) : y;
  return bias.defined() ? out + bias.reshape(cs) : out;
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  const char* op = "batch_norm";
  check_input(x, op, 2);
  const int64_t C = x.size(1);
  check_param(running_mean, x, {C}, op, "running_mean");
  check_param(running_var, x, {C}, op, "running_var");
  check_param(weight, x, {C}, op, "weight");
  check_param(bias, x, {C}, op, "bias");
  MOELAB_CHECK(running_mean.defined() == running_var.defined(), op,
               ": running_mean and running_var must both be given or both be undefined");
  MOELAB_CHECK(training || running_mean.defined(), op,
               ": running_mean and running_var are required when not training (training = false)");
  int64_t count = 1;  // values per channel
  Dims dims{0};
  for (int d = 0; d < x.dim(); ++d) {
    if (d == 1) continue;
    count *= x.size(d);
    if (d > 1) dims.push_back(d);
  }
  MOELAB_CHECK(!training || count != 1, op,
               ": Expected more than 1 value per channel when training, got input of shape ", x.shape());
  const Shape cs = channel_shape(x);

  if (!training) {
    // Eval: one multiply-add per element with per-channel scale and shift.
    Tensor scale = rsqrt(running_var.reshape(cs) + eps);
    if (weight.defined()) scale = scale * weight.reshape(cs);
    Tensor shift = -running_mean.reshape(cs) * scale;
    if (bias.defined()) shift = shift + bias.reshape(cs);
    return x * scale + shift;
  }

  // An empty batch: no statistics (and no NaN in the parameters' gradients), as PyTorch.
  if (count == 0) return affine(x, weight, bias, cs);
  Tensor mean = x.mean(dims, true);
  Tensor centered = x - mean;
  Tensor var = square(centered).mean(dims, true);  // biased, as used for normalising
  if (running_mean.defined()) {
    autograd::NoGradGuard no_grad;
    // The running variance takes the unbiased estimate, as in PyTorch.
    const double unbias = static_cast<double>(count) / static_cast<double>(count - 1);
    Tensor rm = running_mean, rv = running_var;
    rm.copy_(rm * (1 - momentum) + mean.detach().reshape({C}) * momentum);
    rv.copy_(rv * (1 - momentum) + var.detach().reshape({C}) * (momentum * unbias));
  }
  Tensor scale = rsqrt(var + eps);
  if (weight.defined()) scale = scale * weight.reshape(cs);
  Tensor y = centered * scale;
  return bias.defined() ? y + bias.reshape(cs) : y;
}

Tensor group_norm(const Tensor& x, int64_t num_groups, const Tensor& weight, const Tensor& bias, double eps) {
  const char* op = "group_norm";
  check_input(x, op, 2);
  const int64_t N = x.size(0), C = x.size(1);
  MOELAB_CHECK(num_groups > 0, op, ": num_groups must be positive, got ", num_groups);
  MOELAB_CHECK(C % num_groups == 0, op, ": the number of channels ", C, " of input of shape ", x.shape(),
               " is not divisible by num_groups = ", num_groups);
  check_param(weight, x, {C}, op, "weight");
  check_param(bias, x, {C}, op, "bias");
  if (x.numel() == 0) return affine(x, weight, bias, channel_shape(x));  // no statistics, no NaN gradients
  const int64_t cpg = C / num_groups;  // channels per group
  int64_t spatial = 1;
  for (int d = 2; d < x.dim(); ++d) spatial *= x.size(d);
  // [N, G, C/G, S]: statistics over the last two dims; the per-channel weight folds into the
  // per-(sample, channel) scale, so the affine costs no extra pass over the input.
  Tensor xg = x.reshape({N, num_groups, cpg, spatial});
  Tensor centered = xg - xg.mean({2, 3}, true);
  Tensor scale = rsqrt(square(centered).mean({2, 3}, true) + eps);
  if (weight.defined()) scale = scale * weight.reshape({num_groups, cpg, 1});
  Tensor y = centered * scale;
  if (bias.defined()) y = y + bias.reshape({num_groups, cpg, 1});
  return y.reshape(x.shape());
}

Tensor rms_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, std::optional<double> eps) {
  const char* op = "rms_norm";
  detail::check_defined(x, op);
  detail::check_floating(x, op);
  const int k = normalized_shape.size();
  bool matches = k >= 1 && k <= x.dim();
  for (int i = 0; matches && i < k; ++i) matches = x.size(x.dim() - k + i) == normalized_shape[i];
  MOELAB_CHECK(matches, op, ": normalized_shape ", normalized_shape, " does not match the trailing dims of input ",
               x.shape());
  check_param(weight, x, normalized_shape, op, "weight");
  const double e = eps.value_or(x.dtype() == kF64 ? std::numeric_limits<double>::epsilon()
                                                  : static_cast<double>(std::numeric_limits<float>::epsilon()));
  Dims dims;
  for (int i = x.dim() - k; i < x.dim(); ++i) dims.push_back(i);
  Tensor y = x * rsqrt(square(x).mean(dims, true) + e);
  return weight.defined() ? y * weight : y;
}

Tensor embedding(const Tensor& indices, const Tensor& weight, std::optional<int64_t> padding_idx) {
  const char* op = "embedding";
  detail::check_defined(weight, op, "weight");
  MOELAB_CHECK(weight.dim() == 2, op, ": weight must be 2-D [num_embeddings, dim], got shape ", weight.shape());
  if (!padding_idx) return embedding(weight, indices);
  const int64_t V = weight.size(0);
  int64_t pad = *padding_idx;
  MOELAB_CHECK(pad >= -V && pad < V, op, ": padding_idx ", pad, " is out of range for num_embeddings ", V,
               " (must be in [", -V, ", ", V, "))");
  if (pad < 0) pad += V;
  Tensor out;
  {
    autograd::NoGradGuard no_grad;
    out = embedding(weight, indices);  // checks the indices and their range
  }
  if (autograd::needs_grad({&weight})) {
    // d weight = index_add of the output gradient's rows, with the rows that looked up the padding
    // row masked out. Linear in the gradient, so it differentiates again.
    Tensor flat = detail::index_as_i64(indices, op, "indices").reshape({-1});
    Tensor keep = (flat != scalar_tensor(pad, kI64)).to(weight.dtype()).unsqueeze(1);
    const Shape ws = weight.shape();
    const int64_t n = flat.numel();
    autograd::record_op(op, {&weight}, {&out}, {autograd::SavedVariable(flat, false), autograd::SavedVariable(keep, false)},
                        [ws, n](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
                          Tensor z = zeros(ws, TensorOptions(g[0].dtype(), g[0].device()));
                          return std::vector<Tensor>{index_add(z, 0, c.saved(0), g[0].reshape({n, ws[1]}) * c.saved(1))};
                        });
  }
  return out;
}

Tensor bilinear(const Tensor& x1, const Tensor& x2, const Tensor& weight, const Tensor& bias) {
  const char* op = "bilinear";
  detail::check_defined(x1, op, "input1");
  detail::check_defined(x2, op, "input2");
  detail::check_defined(weight, op, "weight");
  detail::check_floating(weight, op);
  MOELAB_CHECK(x1.dtype() == weight.dtype() && x2.dtype() == weight.dtype(), op, ": input1 (", x1.dtype(),
               "), input2 (", x2.dtype(), ") and weight (", weight.dtype(), ") must share a dtype");
  detail::check_same_device({&x1, &x2, &weight}, op);
  MOELAB_CHECK(weight.dim() == 3, op, ": weight must be 3-D [out, in1, in2], got shape ", weight.shape());
  const int64_t out = weight.size(0), in1 = weight.size(1), in2 = weight.size(2);
  bool ok = x1.dim() >= 1 && x1.dim() == x2.dim() && x1.size(-1) == in1 && x2.size(-1) == in2;
  for (int d = 0; ok && d + 1 < x1.dim(); ++d) ok = x1.size(d) == x2.size(d);
  MOELAB_CHECK(ok, op, ": expected input1 [*, ", in1, "] and input2 [*, ", in2,
               "] with the same leading dims for weight of shape ", weight.shape(), ", got input1 ", x1.shape(),
               " and input2 ", x2.shape());
  MOELAB_CHECK(!bias.defined() || (bias.shape() == Shape{out} && bias.dtype() == weight.dtype()), op,
               ": bias must be [", out, "] with the weight's dtype ", weight.dtype(), ", got ",
               bias.defined() ? bias.shape() : Shape{}, " of dtype ", bias.defined() ? bias.dtype() : weight.dtype());
  Shape lead = x1.shape();
  lead.resize(lead.size() - 1);
  int64_t B = 1;
  for (int64_t s : lead) B *= s;
  // t[b, k*in1 + i] = sum_j W[k, i, j] x2[b, j]: one GEMM against a free view of W (no copy);
  // then y[b, k] = sum_i t[b, k, i] x1[b, i], a batched matrix-vector product (several times
  // faster than a broadcast multiply and sum).
  Tensor t = matmul(x2.reshape({B, in2}), weight.reshape({out * in1, in2}).t()).reshape({B, out, in1});
  Tensor y = matmul(t, x1.reshape({B, in1, 1})).reshape({B, out});
  if (bias.defined()) y = y + bias;
  lead.push_back(out);
  return y.reshape(lead);
}

}  // namespace moelab
