// moe::swiglu(gate, up) = silu(gate) * up with a fused one-pass backward.
#include "autograd/grad_test_util.h"
#include "moelab/backends/backend.h"
#include "moelab/backends/elementwise_kernels.h"
#include "support/check.h"

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::gradcheck1;
using moelab::testing::gradgradcheck1;
using moelab::testing::leaf64;
using moelab::testing::strided_leaf64;

TEST_CASE("moe swiglu: equals silu(gate) * up, f32 and f64, wide range") {
  manual_seed(3);
  for (DType dt : {kF32, kF64}) {
    INFO(dt);
    // Normal values, plus the tails where exp under- or overflows.
    Tensor a = cat({randn({37, 5}, dt) * 4.0, from_vector<double>({-200, -90, -88, -20, 0, 20, 88, 90, 200, -1e-3}, {2, 5}).to(dt)}, 0);
    Tensor b = randn(a.shape(), dt);
    check_close(moe::swiglu(a, b), silu(a) * b, dt == kF32 ? 1e-6 : 1e-12);
  }
}

TEST_CASE("moe swiglu: gradients equal those of silu(gate) * up") {
  manual_seed(4);
  for (DType dt : {kF32, kF64}) {
    INFO(dt);
    Tensor a0 = randn({9, 16}, dt) * 3.0, b0 = randn({9, 16}, dt), g = randn({9, 16}, dt);
    Tensor a = a0.clone().requires_grad_(), b = b0.clone().requires_grad_();
    moe::swiglu(a, b).backward(g);
    Tensor ra = a0.clone().requires_grad_(), rb = b0.clone().requires_grad_();
    (silu(ra) * rb).backward(g);
    const double tol = dt == kF32 ? 1e-5 : 1e-12;
    check_close(a.grad(), ra.grad(), tol);
    check_close(b.grad(), rb.grad(), tol);
    // Only one input requiring grad.
    Tensor a2 = a0.clone().requires_grad_();
    moe::swiglu(a2, b0).backward(g);
    check_close(a2.grad(), ra.grad(), tol);
    Tensor b2 = b0.clone().requires_grad_();
    moe::swiglu(a0, b2).backward(g);
    check_close(b2.grad(), rb.grad(), tol);
  }
}

TEST_CASE("moe swiglu: a gradient buffer nothing else holds is reused, one that is held is not") {
  manual_seed(6);
  for (DType dt : {kF32, kF64}) {
    INFO(dt);
    Tensor a0 = randn({5, 8}, dt) * 2.0, b0 = randn({5, 8}, dt), c = randn({5, 8}, dt);
    // The gradient reaching swiglu is mul's fresh output (taken); then the caller's own (kept).
    Tensor a = a0.clone().requires_grad_(), b = b0.clone().requires_grad_();
    (moe::swiglu(a, b) * c).sum().backward();
    Tensor ra = a0.clone().requires_grad_(), rb = b0.clone().requires_grad_();
    (silu(ra) * rb * c).sum().backward();
    const double tol = dt == kF32 ? 1e-5 : 1e-12;
    check_close(a.grad(), ra.grad(), tol);
    check_close(b.grad(), rb.grad(), tol);
    const Tensor g = c.clone();
    Tensor a2 = a0.clone().requires_grad_();
    moe::swiglu(a2, b0).backward(g);
    check_close(g, c, 0.0);  // untouched
    check_close(a2.grad(), ra.grad(), tol);
  }
}

TEST_CASE("moe swiglu: gradcheck and gradgradcheck, contiguous and strided") {
  manual_seed(5);
  auto fn = [](const std::vector<Tensor>& x) { return moe::swiglu(x[0], x[1]); };
  CHECK(gradcheck1(fn, {leaf64({4, 3}), leaf64({4, 3})}));
  CHECK(gradgradcheck1(fn, {leaf64({4, 3}), leaf64({4, 3})}));
  CHECK(gradcheck1(fn, {strided_leaf64({4, 3}), strided_leaf64({4, 3})}));
  CHECK(gradgradcheck1(fn, {strided_leaf64({4, 3}), strided_leaf64({4, 3})}));
}

TEST_CASE("moe swiglu: empty input") {
  Tensor a = zeros({0, 4}).requires_grad_(), b = zeros({0, 4}).requires_grad_();
  Tensor y = moe::swiglu(a, b);
  CHECK(y.shape() == Shape{0, 4});
  y.sum().backward();
  CHECK(a.grad().shape() == Shape{0, 4});
}

TEST_CASE("moe swiglu: errors") {
  CHECK_MOELAB_ERROR(moe::swiglu(zeros({2, 3}), zeros({3, 2})), "must have one shape");
  CHECK_MOELAB_ERROR(moe::swiglu(zeros({2, 3}), zeros({2, 3}, kF64)), "must have one dtype");
  CHECK_MOELAB_ERROR(moe::swiglu(zeros({2, 3}, kI64), zeros({2, 3}, kI64)), "must be f32 or f64");
  CHECK_MOELAB_ERROR(moe::swiglu(Tensor(), zeros({2, 3})), "must be defined");
}

TEST_CASE("moe swiglu: f32 (vectorised sigmoid) is accurate over the whole range, gradients too") {
  // -120 .. 120 in steps of 0.01 (24001 values: the vector loop and a scalar tail), against f64.
  const Tensor a64 = arange(-12000, 12001).to(kF64) * 0.01;
  const Tensor b64 = cos(a64) + 1.5;
  Tensor a = a64.to(kF32), b = b64.to(kF32);
  a.requires_grad_();
  b.requires_grad_();
  const Tensor y = moe::swiglu(a, b);
  check_close(y, (silu(a.detach().to(kF64)) * b.detach().to(kF64)).to(kF32), 1e-6, 1e-30);
  CHECK(all(isfinite(y)).item<bool>());
  y.sum().backward();
  Tensor a_ref = a.detach().to(kF64), b_ref = b.detach().to(kF64);
  a_ref.requires_grad_();
  b_ref.requires_grad_();
  (silu(a_ref) * b_ref).sum().backward();
  // silu' crosses zero near -1.28 (1 + a (1 - s) cancels), where only an absolute bound makes sense.
  check_close(a.grad(), a_ref.grad().to(kF32), 2e-6, 1e-6);
  check_close(b.grad(), b_ref.grad().to(kF32), 1e-6, 1e-30);
}

TEST_CASE("backend swiglu primitives: every gradient combination, in place, against silu, and operand errors") {
  // The ElementwiseKernels::swiglu / swiglu_backward primitives that moe::swiglu and
  // grouped_swiglu_ffn call. 1000 elements: the vector loops and their scalar tails.
  manual_seed(8);
  ElementwiseKernels& k = backend_for(kCPU).elementwise();
  for (DType dt : {kF32, kF64}) {
    INFO(dt);
    const double tol = dt == kF32 ? 2e-6 : 1e-12;
    const Tensor a = randn({40, 25}, dt) * 4.0, b = randn({40, 25}, dt), g = randn({40, 25}, dt);
    const Tensor s = sigmoid(a);
    const Tensor ga_ref = g * b * s * (1.0 + a * (1.0 - s)), gb_ref = g * a * s;
    Tensor out = empty(a.shape(), dt);
    k.swiglu(out, a, b);
    check_close(out, silu(a) * b, tol);
    Tensor ga = empty(a.shape(), dt), gb = empty(a.shape(), dt);
    k.swiglu_backward(ga, gb, g, a, b);  // both, separate buffers
    check_close(ga, ga_ref, tol, tol);
    check_close(gb, gb_ref, tol, tol);
    Tensor gi = g.clone();
    k.swiglu_backward(gi, gb, gi, a, b);  // both, d gate over g
    check_close(gi, ga_ref, tol, tol);
    check_close(gb, gb_ref, tol, tol);
    gi = g.clone();
    k.swiglu_backward(gi, Tensor(), gi, a, b);  // d gate only, over g
    check_close(gi, ga_ref, tol, tol);
    k.swiglu_backward(ga, Tensor(), g, a, b);  // d gate only
    check_close(ga, ga_ref, tol, tol);
    k.swiglu_backward(Tensor(), gb, g, a, b);  // d up only
    check_close(gb, gb_ref, tol, tol);
  }
  const Tensor a = zeros({4, 6}), t = zeros({4, 6});
  CHECK_MOELAB_ERROR(k.swiglu(t, a, zeros({6, 4})), "b must be a contiguous CPU tensor of a's shape [4, 6]");
  CHECK_MOELAB_ERROR(k.swiglu(zeros({6, 4}).transpose(0, 1), a, t), "out must be a contiguous");
  CHECK_MOELAB_ERROR(k.swiglu(t, a, zeros({4, 6}, kF64)), "b must be");
  CHECK_MOELAB_ERROR(k.swiglu(zeros({4, 6}, kI64), zeros({4, 6}, kI64), zeros({4, 6}, kI64)), "f32 or f64 only");
  CHECK_MOELAB_ERROR(k.swiglu_backward(Tensor(), Tensor(), t, a, t), "neither gradient");
  CHECK_MOELAB_ERROR(k.swiglu_backward(t, Tensor(), zeros({4, 5}), a, t), "g must be");
  CHECK_MOELAB_ERROR(k.swiglu_backward(Tensor(), zeros({6, 4}).transpose(0, 1), t, a, t), "gb must be a contiguous");
}
