// linear (the addmm path behind nn::Linear): values and gradients against matmul + add, which have
// their own PyTorch goldens, gradcheck / gradgradcheck in f64, layouts, empty batches and errors.
#include <moelab/moelab.h>

#include "autograd/grad_test_util.h"

using namespace moelab;
using namespace moelab::testing;

namespace {

Tensor reference(const Tensor& x, const Tensor& w, const Tensor& b) {
  Tensor y = matmul(x, w.t());
  return b.defined() ? y + b : y;
}

// Forward values and all three gradients of linear agree with the reference formula.
void check_against_reference(const Tensor& x, const Tensor& w, const Tensor& b, double tol) {
  Tensor y = linear(x, w, b), r = reference(x, w, b);
  check_close(y, r, tol, tol);
  Tensor gout = randn(y.shape(), y.dtype());
  std::vector<Tensor> in{x, w};
  if (b.defined()) in.push_back(b);
  std::vector<Tensor> g = autograd::grad({y}, in, {gout}), gr = autograd::grad({r}, in, {gout});
  for (size_t i = 0; i < g.size(); ++i) {
    INFO("gradient " << i);
    check_close(g[i], gr[i], tol, tol);
    CHECK(g[i].is_contiguous());
  }
}

Tensor leaf(const Shape& s, DType dt) {
  Tensor t = randn(s, dt);
  t.requires_grad_();
  return t;
}

}  // namespace

TEST_CASE("linalg grad: linear matches matmul + bias in f32 and f64") {
  manual_seed(11);
  for (DType dt : {kF64, kF32}) {
    const double tol = dt == kF64 ? 1e-12 : 1e-5;
    check_against_reference(leaf({5, 4}, dt), leaf({3, 4}, dt), leaf({3}, dt), tol);
    check_against_reference(leaf({2, 5, 4}, dt), leaf({3, 4}, dt), leaf({3}, dt), tol);  // batched input
    check_against_reference(leaf({4}, dt), leaf({3, 4}, dt), leaf({3}, dt), tol);        // 1-D input -> [3]
    check_against_reference(leaf({5, 4}, dt), leaf({3, 4}, dt), Tensor(), tol);          // no bias
  }
  CHECK(linear(ones({4}), ones({3, 4})).shape() == Shape{3});
  CHECK(linear(ones({2, 5, 4}), ones({3, 4})).shape() == Shape{2, 5, 3});
}

TEST_CASE("linalg grad: linear on non-contiguous input and weight") {
  manual_seed(12);
  Tensor x = strided_leaf64({6, 4}), w = strided_leaf64({3, 4}), b = strided_leaf64({3});
  check_against_reference(x, w, b, 1e-12);
  Tensor x3 = randn({4, 5, 2}, kF64).permute({2, 1, 0});  // [2, 5, 4], not foldable into rows
  x3.requires_grad_();
  check_against_reference(x3, w, b, 1e-12);
}

TEST_CASE("linalg grad: linear gradcheck and gradgradcheck") {
  manual_seed(13);
  Tensor x = leaf64({3, 4}), w = leaf64({2, 4}), b = leaf64({2});
  auto f = [](const std::vector<Tensor>& t) { return linear(t[0], t[1], t[2]); };
  CHECK(gradcheck1(f, {x, w, b}));
  CHECK(gradgradcheck1(f, {x, w, b}));
  Tensor x3 = strided_leaf64({2, 3, 4});
  CHECK(gradcheck1(f, {x3, w, b}));
  CHECK(gradgradcheck1(f, {x3, w, b}));
  auto nobias = [](const std::vector<Tensor>& t) { return linear(t[0], t[1]); };
  CHECK(gradcheck1(nobias, {x, w}));
  CHECK(gradgradcheck1(nobias, {x, w}));
  // Only some inputs require grad: the others get none and are not saved.
  Tensor xc = randn({3, 4}, kF64);
  CHECK(gradcheck1(f, {xc, w, b}));
}

TEST_CASE("linalg grad: linear with empty batches and zero in_features") {
  Tensor w = leaf({3, 4}, kF32), b = leaf({3}, kF32);
  Tensor x = zeros({0, 4});
  x.requires_grad_();
  Tensor y = linear(x, w, b);
  CHECK(y.shape() == Shape{0, 3});
  y.sum().backward();
  check_close(w.grad(), zeros({3, 4}));
  check_close(b.grad(), zeros({3}));
  CHECK(x.grad().shape() == Shape{0, 4});
  // in_features = 0: the output is the bias (or zeros).
  Tensor w0 = zeros({3, 0});
  check_close(linear(zeros({2, 0}), w0, ones({3})), ones({2, 3}));
  check_close(linear(zeros({2, 0}), w0), zeros({2, 3}));
}

TEST_CASE("linalg grad: linear errors") {
  Tensor x = ones({2, 4}), w = ones({3, 4}), b = ones({3});
  CHECK_MOELAB_ERROR(linear(ones({2, 5}), w, b), "linear: input of shape [2, 5] does not end in in_features = 4");
  CHECK_MOELAB_ERROR(linear(x, ones({3, 4, 1}), b), "linear: weight must be 2-D");
  CHECK_MOELAB_ERROR(linear(x, w, ones({2})), "linear: bias must be [out_features] = [3], got shape [2]");
  CHECK_MOELAB_ERROR(linear(x, w.to(kF64), b), "linear: input and weight dtypes differ");
  CHECK_MOELAB_ERROR(linear(x, w, b.to(kF64)), "linear: bias dtype");
  CHECK_MOELAB_ERROR(linear(x.to(kI64), w.to(kI64)), "linear: dtype i64 is not supported");
  CHECK_MOELAB_ERROR(linear(ones({}), w), "linear: input of shape []");
  CHECK_MOELAB_ERROR(linear(Tensor(), w), "linear: input and weight must be defined");
}
