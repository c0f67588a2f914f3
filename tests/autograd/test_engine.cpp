#include <cmath>

#include "support/check.h"

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::check_equal;

namespace {
Tensor leaf(std::initializer_list<double> v) {
  Tensor t = tensor(v);
  t.requires_grad_();
  return t;
}
}  // namespace

TEST_CASE("autograd: leaves accumulate gradients, non-leaves do not keep them") {
  Tensor a = leaf({1.0, 2.0, 3.0});
  Tensor y = (a * a).sum();
  CHECK(y.requires_grad());
  CHECK(!y.is_leaf());
  CHECK(a.is_leaf());
  CHECK(y.grad_fn() != nullptr);
  y.backward();
  check_close(a.grad(), tensor({2.0, 4.0, 6.0}));
  // A second graph accumulates into the same .grad().
  (a * 3.0).sum().backward();
  check_close(a.grad(), tensor({5.0, 7.0, 9.0}));
  Tensor h = a * 2.0;
  Tensor z = h.sum();
  h.retain_grad();
  z.backward();
  check_close(h.grad(), tensor({1.0, 1.0, 1.0}));
}

TEST_CASE("autograd: a tensor used twice gets the summed gradient, hooks run once") {
  Tensor a = leaf({1.0, -2.0});
  int calls = 0;
  a.register_hook([&](const Tensor& g) {
    ++calls;
    return g * 10.0;  // replaces the gradient
  });
  Tensor y = (a * a + a * 3.0).sum();
  y.backward();
  check_close(a.grad(), tensor({50.0, -10.0}));  // 10 * (2a + 3)
  CHECK(calls == 1);
}

TEST_CASE("autograd: hooks on non-leaves can replace the gradient") {
  Tensor a = leaf({1.0, 2.0});
  Tensor h = a * 2.0;
  int handle = h.register_hook([](const Tensor& g) { return g * 0.0 + 1.0; });
  (h * h).sum().backward();
  check_close(a.grad(), tensor({2.0, 2.0}));
  a.mutable_grad() = Tensor();
  Tensor h2 = a * 2.0;
  h2.register_hook([](const Tensor&) { return Tensor(); });  // undefined: keep the gradient
  h.remove_hook(handle);
  (h2 * h2).sum().backward();
  check_close(a.grad(), tensor({8.0, 16.0}));
}

TEST_CASE("autograd: grad() with respect to any tensor, inputs included") {
  Tensor x = leaf({0.5, -1.0, 2.0});
  Tensor h = x.exp();
  Tensor y = (h * x).sum();
  auto g = autograd::grad({y}, {x, h}, {}, true);
  check_close(g[0], exp(x.detach()) * (x.detach() + 1.0));
  check_close(g[1], x.detach());
  CHECK(!x.grad().defined());  // grad() does not accumulate
  Tensor unused = leaf({1.0});
  CHECK_MOELAB_ERROR(autograd::grad({y}, {unused}, {}, true), "was not used");
  CHECK(!autograd::grad({y}, {unused}, {}, true, false, true)[0].defined());
}

TEST_CASE("autograd: higher order gradients through create_graph") {
  Tensor x = leaf({0.3, -0.7});
  Tensor y = (x * x * x).sum();  // dy/dx = 3x^2, d2y/dx2 = 6x
  Tensor dx = autograd::grad({y}, {x}, {}, std::nullopt, true)[0];
  CHECK(dx.requires_grad());
  check_close(dx, tensor({0.27, 1.47}), 1e-12, 1e-12);
  Tensor ddx = autograd::grad({dx.sum()}, {x})[0];
  check_close(ddx, tensor({1.8, -4.2}), 1e-12, 1e-12);
  // Hessian-vector product of f = sum(exp(x) * x): H = diag(exp(x)(x + 2)).
  Tensor v = tensor({1.0, 2.0});
  Tensor f = (exp(x) * x).sum();
  Tensor gx = autograd::grad({f}, {x}, {}, std::nullopt, true)[0];
  Tensor hv = autograd::grad({(gx * v).sum()}, {x})[0];
  check_close(hv, exp(x.detach()) * (x.detach() + 2.0) * v, 1e-12, 1e-12);
}

TEST_CASE("autograd: a chain of 100000 ops backpropagates and frees without recursion") {
  Tensor x = leaf({1.0});
  Tensor y = x;
  for (int i = 0; i < 100000; ++i) y = y * 1.0000001;
  y.sum().backward();
  CHECK(x.grad().item<double>() == doctest::Approx(std::pow(1.0000001, 100000)).epsilon(1e-9));
  y = Tensor();  // freeing the graph must not overflow the stack either
}

TEST_CASE("autograd: a second backward through freed buffers is a clear error") {
  Tensor x = leaf({1.0, 2.0});
  Tensor y = (x.exp()).sum();
  y.backward(Tensor(), /*retain_graph=*/true);
  y.backward();  // retained: works, accumulates
  check_close(x.grad(), exp(x.detach()) * 2.0);
  CHECK_MOELAB_ERROR(y.backward(), "a second time");
}

TEST_CASE("autograd: in-place change of a saved tensor is an error naming the op") {
  Tensor x = leaf({1.0, 2.0});
  Tensor h = x * 1.0;
  Tensor y = h.exp();  // saves its output
  mul_(y, tensor({2.0, 2.0}));
  // y was rebased onto mul's history; exp's saved output changed: backward must refuse.
  CHECK_MOELAB_ERROR(y.sum().backward(), "exp for backward was modified by an in-place operation");
  Tensor z = x * 2.0;
  Tensor w = sin(z);   // saves z
  add_(z, tensor({1.0, 1.0}));
  CHECK_MOELAB_ERROR(w.sum().backward(), "sin for backward was modified");
  CHECK_MOELAB_ERROR(add_(x, tensor({1.0, 1.0})), "a leaf tensor that requires grad cannot be modified in place");
  {
    NoGradGuard no_grad;
    add_(x, tensor({1.0, 1.0}));  // fine, as optimizers do
  }
  check_close(x.detach(), tensor({2.0, 3.0}));
}

TEST_CASE("autograd: in-place ops on non-leaves are differentiable") {
  Tensor x = leaf({1.0, 2.0});
  Tensor h = x * 3.0;
  add_(h, x);          // h = 4x
  mul_(h, tensor({4.0, 8.0}));  // h = 4x * c
  h.sum().backward();
  check_close(x.grad(), tensor({16.0, 32.0}));
  // Multiplying by a detached alias of itself changes a tensor the backward reads: an error, as
  // in PyTorch.
  Tensor k = x * 1.0;
  mul_(k, k.detach());
  CHECK_MOELAB_ERROR(k.sum().backward(), "saved by mul for backward was modified");
  x.mutable_grad() = Tensor();
  Tensor v = x * 1.0;
  Tensor part = v.narrow(0, 0, 1);
  CHECK_MOELAB_ERROR(add_(part, tensor({1.0})), "in-place ops on views are not differentiable yet");
  Tensor f = x * 2.0;
  f.fill_(5.0);  // history ends: no gradient flows
  (f * x).sum().backward();
  check_close(x.grad(), tensor({5.0, 5.0}));
}

TEST_CASE("autograd: NoGradGuard records nothing, EnableGradGuard re-enables") {
  Tensor x = leaf({1.0});
  {
    NoGradGuard g;
    Tensor y = x * 2.0;
    CHECK(!y.requires_grad());
    CHECK(y.grad_fn() == nullptr);
    {
      EnableGradGuard e;
      CHECK((x * 2.0).requires_grad());
    }
  }
  CHECK((x * 2.0).requires_grad());
  CHECK(!x.detach().requires_grad());
  CHECK(x.detach().storage() == x.storage());
}

TEST_CASE("autograd: only inputs that need a gradient get one") {
  Tensor a = leaf({1.0, 2.0});
  Tensor b = tensor({3.0, 4.0});  // no grad
  Tensor y = (a * b).sum();
  y.backward();
  check_close(a.grad(), b);
  CHECK(!b.grad().defined());
  Tensor i = tensor({1, 2});
  CHECK_MOELAB_ERROR(i.requires_grad_(), "only floating tensors can require grad");
  CHECK_MOELAB_ERROR((a * 2.0).requires_grad_(false), "only leaf tensors");
}

TEST_CASE("autograd: backward argument errors") {
  Tensor a = leaf({1.0, 2.0});
  CHECK_MOELAB_ERROR((a * 2.0).backward(), "implicitly only for a scalar output");
  CHECK_MOELAB_ERROR(tensor({1.0}).backward(), "does not require grad");
  CHECK_MOELAB_ERROR((a * 2.0).backward(tensor({1.0})), "the gradient of output 0 has shape [1]");
  (a * 2.0).backward(tensor({1.0, 0.5}));
  check_close(a.grad(), tensor({2.0, 1.0}));
}

TEST_CASE("autograd: anomaly mode names the op whose backward made a NaN") {
  Tensor x = leaf({0.0, 1.0});
  {
    autograd::DetectAnomalyGuard anomaly;
    Tensor y = sqrt(x).sum();  // d sqrt / dx at 0 is inf
    CHECK_MOELAB_ERROR(y.backward(), "the backward of sqrt produced NaN or Inf");
  }
  sqrt(x).sum().backward();  // without anomaly mode: no error, inf in the gradient
  CHECK(std::isinf(x.grad().to_vector<double>()[0]));
}

TEST_CASE("autograd: max(dim) and argmax indices carry no gradient, values do") {
  Tensor x = tensor({{1.0, 5.0, 5.0}, {7.0, 2.0, 0.0}});
  x.requires_grad_();
  auto [v, i] = max(x, 1);
  CHECK(v.requires_grad());
  CHECK(!i.requires_grad());
  v.sum().backward();
  check_equal(x.grad(), tensor({{0.0, 1.0, 0.0}, {1.0, 0.0, 0.0}}));
  x.mutable_grad() = Tensor();
  amax(x, {1}).sum().backward();  // ties share the gradient evenly
  check_equal(x.grad(), tensor({{0.0, 0.5, 0.5}, {1.0, 0.0, 0.0}}));
}
