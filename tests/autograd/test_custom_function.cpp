// Custom functions (autograd::apply_function): user forward/backward pairs on the graph.
#include "support/check.h"

using namespace moelab;
using moelab::testing::check_close;

namespace {
Tensor leaf(const Tensor& t) {
  Tensor l = t.detach().clone();
  l.requires_grad_();
  return l;
}

// Straight-through estimator: round in the forward, identity in the backward.
Tensor round_ste(const Tensor& x) {
  return autograd::apply_function(
      "round_ste", {x},
      [](autograd::FunctionCtx&, const std::vector<Tensor>& in) { return std::vector<Tensor>{round(in[0])}; },
      [](autograd::FunctionCtx&, const std::vector<Tensor>& g) { return std::vector<Tensor>{g[0]}; })[0];
}

// x^2 with a backward written with differentiable ops (so it has a second derivative).
Tensor custom_square(const Tensor& x) {
  return autograd::apply_function(
      "custom_square", {x},
      [](autograd::FunctionCtx& ctx, const std::vector<Tensor>& in) {
        CHECK(!autograd::GradMode::is_enabled());  // the forward never records
        ctx.save_for_backward({in[0]});
        return std::vector<Tensor>{in[0] * in[0]};
      },
      [](autograd::FunctionCtx& ctx, const std::vector<Tensor>& g) {
        return std::vector<Tensor>{ctx.saved_tensors()[0] * g[0] * 2.0};
      })[0];
}
}  // namespace

TEST_CASE("autograd custom function: a straight-through estimator trains through round") {
  Tensor w = leaf(tensor({0.2, 1.7, -0.6}));
  Tensor target = tensor({2.0, -1.0, 0.0});
  Tensor y = round_ste(w);
  check_close(y.detach(), tensor({0.0, 2.0, -1.0}));
  CHECK(y.requires_grad());
  CHECK(y.grad_fn()->name() == "round_ste");
  // Plain round has a zero gradient; the estimator passes the loss gradient straight through.
  ((y - target) * (y - target)).sum().backward();
  check_close(w.grad(), tensor({-4.0, 6.0, -2.0}));
  // A few SGD steps move w so that round(w) reaches the target.
  for (int step = 0; step < 20; ++step) {
    w.mutable_grad() = Tensor();
    Tensor r = round_ste(w) - target;
    (r * r).sum().backward();
    NoGradGuard no_grad;
    sub_(w, w.grad() * 0.1);
  }
  check_close(round(w.detach()), target);
}

TEST_CASE("autograd custom function: custom square passes gradcheck and gradgradcheck") {
  manual_seed(11);
  Tensor x = leaf(randn({3, 4}, kF64));
  auto f = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{custom_square(in[0].transpose(0, 1))}; };
  CHECK(autograd::gradcheck(f, {x}));
  CHECK(autograd::gradgradcheck(f, {x}));
  // Same second derivative as the built-in: d2/dx2 sum(x^2) = 2.
  Tensor dx = autograd::grad({custom_square(x).sum()}, {x}, {}, std::nullopt, true)[0];
  check_close(dx, x.detach() * 2.0);
  check_close(autograd::grad({dx.sum()}, {x})[0], full({3, 4}, 2.0, kF64));
}

TEST_CASE("autograd custom function: several inputs and outputs, saved outputs, ctx values") {
  // f(a, b) = (a * b, exp(a)): saves an output and a shape-free scalar; b does not require grad.
  auto f = [](const Tensor& a, const Tensor& b, double scale) {
    return autograd::apply_function(
        "mul_exp", {a, b},
        [scale](autograd::FunctionCtx& ctx, const std::vector<Tensor>& in) {
          Tensor e = exp(in[0]);
          ctx.save_for_backward({in[0], in[1], e});
          ctx.set("scale", scale);
          return std::vector<Tensor>{in[0] * in[1] * scale, e};
        },
        [](autograd::FunctionCtx& ctx, const std::vector<Tensor>& g) {
          auto s = ctx.saved_tensors();
          const double k = ctx.get<double>("scale");
          std::vector<Tensor> r(2);
          if (ctx.needs_input_grad(0)) r[0] = g[0] * s[1] * k + g[1] * s[2];
          if (ctx.needs_input_grad(1)) r[1] = g[0] * s[0] * k;
          return r;
        });
  };
  manual_seed(12);
  Tensor a = leaf(randn({2, 3}, kF64));
  Tensor b = leaf(randn({2, 3}, kF64));
  auto fn = [&f](const std::vector<Tensor>& in) { return f(in[0], in[1], 1.5); };
  CHECK(autograd::gradcheck(fn, {a, b}));
  CHECK(autograd::gradgradcheck(fn, {a, b}));
  // Only one output used: the other's gradient is zeros.
  Tensor c = b.detach();
  auto outs = f(a, c, 2.0);
  CHECK(!autograd::grad({outs[1].sum()}, {a}, {}, true)[0].requires_grad());
  check_close(autograd::grad({outs[0].sum()}, {a})[0], c * 2.0);
  // No input requires grad: nothing is recorded.
  auto plain = f(a.detach(), c, 2.0);
  CHECK(!plain[0].requires_grad());
}

TEST_CASE("autograd custom function: a saved tensor modified in place is the version error") {
  Tensor a = leaf(tensor({1.0, 2.0}));
  Tensor x = a * 1.0;
  Tensor y = custom_square(x);
  mul_(x, scalar_tensor(3.0, kF64));
  CHECK_MOELAB_ERROR(y.sum().backward(), "custom_square for backward was modified by an in-place operation");
}

TEST_CASE("autograd custom function: misuse is a clear error") {
  Tensor a = leaf(tensor({1.0, 2.0}));
  auto wrong_count = autograd::apply_function(
      "wrong_count", {a},
      [](autograd::FunctionCtx&, const std::vector<Tensor>& in) { return std::vector<Tensor>{in[0] * 2.0}; },
      [](autograd::FunctionCtx&, const std::vector<Tensor>& g) { return std::vector<Tensor>{g[0], g[0]}; });
  CHECK_MOELAB_ERROR(wrong_count[0].sum().backward(),
                     "wrong_count: the backward function returned 2 gradients for 1 inputs");
  autograd::FunctionCtx ctx;
  CHECK_MOELAB_ERROR(ctx.saved_tensors(), "may only be called in the backward function");
  CHECK_MOELAB_ERROR(ctx.save_for_backward({a}), "may only be called in the forward function");
  // Returning an input unchanged does not hijack the input's own history.
  auto same = autograd::apply_function(
      "identity", {a},
      [](autograd::FunctionCtx&, const std::vector<Tensor>& in) { return std::vector<Tensor>{in[0]}; },
      [](autograd::FunctionCtx&, const std::vector<Tensor>& g) { return std::vector<Tensor>{g[0] * 5.0}; });
  CHECK(a.is_leaf());
  CHECK(same[0].grad_fn()->name() == "identity");
  same[0].sum().backward();
  check_close(a.grad(), tensor({5.0, 5.0}));
}
