// Gradients of softmax and log_softmax: finite differences (first and second order) and PyTorch.
#include "support/check.h"
#include "support/golden.h"

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::Golden;

namespace {
const Golden& golden() {
  static const Golden g("sort_scan_grad");
  return g;
}

Tensor leaf(const Tensor& t) {
  Tensor l = t.detach().clone();
  l.requires_grad_();
  return l;
}

Tensor randn_f64(const Shape& s) { return randn(s, kF64); }

using Fn = Tensor (*)(const Tensor&, int64_t, std::optional<DType>);
const std::pair<const char*, Fn> kOps[] = {{"softmax", &softmax}, {"log_softmax", &log_softmax}};
}  // namespace

TEST_CASE("autograd softmax: golden gradients vs PyTorch along every dim, f32 and f64") {
  for (const char* tag : {"f32", "f64"}) {
    const double tol = std::string(tag) == "f32" ? 1e-5 : 1e-12;
    Tensor g = golden()[std::string("g.") + tag];
    for (int d = 0; d < 3; ++d)
      for (auto [name, fn] : kOps) {
        CAPTURE(name);
        CAPTURE(d);
        Tensor x = leaf(golden()[std::string("x.") + tag]);
        fn(x, d, std::nullopt).backward(g);
        check_close(x.grad(), golden()[std::string(name) + "_" + std::to_string(d) + "." + tag], tol, tol);
      }
  }
}

TEST_CASE("autograd softmax: second-order golden vs PyTorch through create_graph") {
  for (auto [name, fn] : kOps) {
    CAPTURE(name);
    Tensor x = leaf(golden()["x2.f64"]);
    Tensor dx = autograd::grad({fn(x, 1, std::nullopt)}, {x}, {golden()["g2.f64"]}, std::nullopt, true)[0];
    CHECK(dx.requires_grad());
    Tensor ddx = autograd::grad({dx}, {x}, {golden()["v2.f64"]})[0];
    check_close(ddx, golden()[std::string(name) + ".gg.f64"], 1e-10, 1e-12);
  }
}

TEST_CASE("autograd softmax: gradcheck and gradgradcheck on non-contiguous inputs along different dims") {
  manual_seed(3);
  for (auto [name, fn] : kOps) {
    CAPTURE(name);
    Tensor x = leaf(randn_f64({4, 3, 2}));
    for (int64_t d : {0, 1, -1}) {
      CAPTURE(d);
      // Transposed view: the softmax rows are strided.
      auto f = [fn, d](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{fn(in[0].transpose(0, 2), d, std::nullopt)};
      };
      CHECK(autograd::gradcheck(f, {x}));
      CHECK(autograd::gradgradcheck(f, {x}));
    }
    // A non-contiguous leaf (a slice with a step), and an expanded (broadcast) input.
    Tensor base = randn_f64({6, 5});
    Tensor sliced = base.slice(0, 0, 6, 2);
    sliced.requires_grad_();
    CHECK(!sliced.is_contiguous());
    auto fs = [fn](const std::vector<Tensor>& in) { return std::vector<Tensor>{fn(in[0], 1, std::nullopt)}; };
    CHECK(autograd::gradcheck(fs, {sliced}));
    CHECK(autograd::gradgradcheck(fs, {sliced}));
    Tensor row = leaf(randn_f64({1, 5}));
    auto fe = [fn](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{fn(in[0].expand({3, 5}), 0, std::nullopt) * arange(1, 16).to(kF64).reshape({3, 5})};
    };
    CHECK(autograd::gradcheck(fe, {row}));
    CHECK(autograd::gradgradcheck(fe, {row}));
  }
}

TEST_CASE("autograd softmax: dtype= conversion, 0-d and size-1 dims, f32 input") {
  for (auto [name, fn] : kOps) {
    CAPTURE(name);
    // The f32 input gets an f32 gradient through the differentiable conversion to f64.
    Tensor x32 = leaf(tensor({0.5f, -1.0f, 2.0f}));
    Tensor y = fn(x32, 0, kF64);
    CHECK(y.dtype() == kF64);
    (y * tensor({1.0, 2.0, 3.0})).sum().backward();
    CHECK(x32.grad().dtype() == kF32);
    Tensor x64 = leaf(x32.to(kF64));
    (fn(x64, 0, std::nullopt) * tensor({1.0, 2.0, 3.0})).sum().backward();
    check_close(x32.grad(), x64.grad().to(kF32), 1e-5, 1e-6);
    // Size-1 dim: softmax is constant 1 (log: 0), so the gradient is 0.
    Tensor one = leaf(randn_f64({3, 1}));
    (fn(one, 1, std::nullopt) * 5.0).sum().backward();
    check_close(one.grad(), zeros({3, 1}, kF64));
    Tensor s = leaf(scalar_tensor(1.5, kF64));
    fn(s, 0, std::nullopt).backward();
    check_close(s.grad(), scalar_tensor(0.0, kF64));
    // Empty input.
    Tensor e = leaf(zeros({0, 4}, kF64));
    fn(e, 1, std::nullopt).sum().backward();
    CHECK(e.grad().shape() == Shape{0, 4});
  }
}

TEST_CASE("autograd softmax: modifying the output in place before backward is an error naming the op") {
  for (auto [name, fn] : kOps) {
    Tensor x = leaf(tensor({0.1, 0.2, 0.3}));
    Tensor y = fn(x, 0, std::nullopt);
    Tensor z = y * 2.0;
    mul_(y, scalar_tensor(3.0, kF64));
    CHECK_MOELAB_ERROR(z.sum().backward(), name);
  }
}
