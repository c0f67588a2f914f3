// linear = addmm(bias, input, weight^T) over the input's rows, with its backward beside it.
//   y = x W^T + b          (x [rows, in], W [out, in], b [out])
//   dx = dy W,  dW = dy^T x,  db = sum_rows dy
// dW comes out of its GEMM already [out, in] and contiguous, so the leaf accumulator takes it as
// is; the same product through matmul(x, W.t()) yields the transposed gradient and a copy.
#include "moelab/autograd/function.h"
#include "moelab/backends/elementwise_kernels.h"
#include "moelab/backends/linalg_kernels.h"
#include "moelab/ops/linalg.h"
#include "moelab/ops/op_helpers.h"
#include "moelab/ops/reduce.h"

namespace moelab {
using detail::backend_of;

namespace {

void check_linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  MOELAB_CHECK(x.defined() && w.defined(), "linear: input and weight must be defined");
  detail::check_same_device({&x, &w}, "linear");
  MOELAB_CHECK(w.dim() == 2, "linear: weight must be 2-D [out_features, in_features], got shape ", w.shape());
  MOELAB_CHECK(x.dim() >= 1 && x.size(-1) == w.size(1), "linear: input of shape ", x.shape(),
               " does not end in in_features = ", w.size(1), " (weight shape ", w.shape(), ")");
  MOELAB_CHECK(x.dtype() == w.dtype(), "linear: input and weight dtypes differ (", x.dtype(), " and ", w.dtype(),
               ")");
  MOELAB_CHECK(x.dtype() == kF32 || x.dtype() == kF64, "linear: dtype ", x.dtype(),
               " is not supported (f32 and f64 are)");
  if (b.defined()) {
    detail::check_same_device({&x, &b}, "linear");
    MOELAB_CHECK(b.dim() == 1 && b.size(0) == w.size(0), "linear: bias must be [out_features] = [", w.size(0),
                 "], got shape ", b.shape());
    MOELAB_CHECK(b.dtype() == x.dtype(), "linear: bias dtype ", b.dtype(), " differs from the input's ", x.dtype());
  }
}

// The number of rows the leading dims of shape s (all but the last) fold into.
int64_t rows_of(const Shape& s) {
  int64_t r = 1;
  for (int d = 0; d + 1 < static_cast<int>(s.size()); ++d) r *= s[d];
  return r;
}

// The backward: grads of (input, weight, bias) from g of the output's shape.
std::vector<Tensor> linear_backward(const autograd::FunctionNode::Context& c, const Tensor& g, const Tensor& x,
                                    const Tensor& w, const Shape& x_shape) {
  const int64_t rows = rows_of(x_shape);
  const Tensor g2 = g.reshape({rows, g.size(-1)});
  std::vector<Tensor> r(3);
  if (c.needs_input_grad(0)) r[0] = mm(g2, w).reshape(x_shape);
  if (c.needs_input_grad(1)) r[1] = mm(g2.t(), x.reshape({rows, x.size(-1)}));
  if (c.needs_input_grad(2)) r[2] = sum(g2, {0});
  return r;
}

}  // namespace

Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias) {
  check_linear(input, weight, bias);
  const int64_t in_f = weight.size(1), out_f = weight.size(0);
  Shape out_shape = input.shape();
  out_shape[out_shape.size() - 1] = out_f;
  Tensor out;
  {
    autograd::NoGradGuard no_grad;
    const Tensor x2 = input.reshape({rows_of(input.shape()), in_f});
    Tensor y = make_empty({x2.size(0), out_f}, input.dtype(), input.device());
    if (bias.defined()) backend_of(y).elementwise().copy(y, bias.expand(y.shape()));
    if (y.numel() > 0) {
      if (in_f > 0) backend_of(y).linalg().gemm(y, x2, weight.t(), 1.0, bias.defined() ? 1.0 : 0.0);
      else if (!bias.defined()) backend_of(y).elementwise().fill(y, 0);
    }
    out = y.view(out_shape);
    out.impl()->set_is_view(false);  // the only handle on y's storage
  }
  if (autograd::needs_grad({&input, &weight, &bias})) {
    const Shape x_shape = input.shape();
    autograd::record_op("linear", {&input, &weight, &bias}, {&out},
                        {autograd::SavedVariable(weight.requires_grad() ? input : Tensor(), false),
                         autograd::SavedVariable(input.requires_grad() ? weight : Tensor(), false)},
                        [x_shape](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
                          return linear_backward(c, g[0], c.saved(0), c.saved(1), x_shape);
                        });
  }
  return out;
}

}  // namespace moelab
