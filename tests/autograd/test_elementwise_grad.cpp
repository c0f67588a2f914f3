// Gradients of the elementwise, reduction, view and copy ops: f64 finite differences (first and
// second order) on non-contiguous and broadcast inputs.
#include "support/check.h"
#include "support/conformance.h"

using namespace moelab;
using autograd::gradcheck;
using autograd::gradgradcheck;
using moelab::testing::non_contiguous_copy;

namespace {

// Deterministic f64 values in [lo, hi], laid out non-contiguously, requiring grad.
Tensor input(Shape s, double lo = -1.5, double hi = 1.5, uint64_t seed = 1) {
  Tensor t = (sin(arange(0, numel_of(s)).to(kF64) * (0.7 + 0.1 * static_cast<double>(seed)) + 0.3) + 1.0) *
                 ((hi - lo) / 2) + lo;
  t = non_contiguous_copy(t.reshape(s)).detach();
  t.requires_grad_();
  return t;
}

using Unary = Tensor (*)(const Tensor&);

}  // namespace

TEST_CASE("autograd elementwise: unary ops pass gradcheck and gradgradcheck") {
  const std::vector<std::tuple<std::string, Unary, double, double>> ops = {
      {"neg", [](const Tensor& x) { return neg(x); }, -2, 2},
      {"abs", [](const Tensor& x) { return abs(x); }, 0.1, 2},
      {"square", [](const Tensor& x) { return square(x); }, -2, 2},
      {"relu", [](const Tensor& x) { return relu(x); }, 0.1, 2},
      {"exp", [](const Tensor& x) { return exp(x); }, -2, 2},
      {"log", [](const Tensor& x) { return log(x); }, 0.2, 3},
      {"log1p", [](const Tensor& x) { return log1p(x); }, -0.5, 2},
      {"expm1", [](const Tensor& x) { return expm1(x); }, -2, 2},
      {"sqrt", [](const Tensor& x) { return sqrt(x); }, 0.2, 3},
      {"rsqrt", [](const Tensor& x) { return rsqrt(x); }, 0.2, 3},
      {"reciprocal", [](const Tensor& x) { return reciprocal(x); }, 0.3, 3},
      {"sin", [](const Tensor& x) { return sin(x); }, -3, 3},
      {"cos", [](const Tensor& x) { return cos(x); }, -3, 3},
      {"tanh", [](const Tensor& x) { return tanh(x); }, -2, 2},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, -3, 3},
      {"gelu", [](const Tensor& x) { return gelu(x); }, -3, 3},
      {"gelu_tanh", [](const Tensor& x) { return gelu(x, "tanh"); }, -3, 3},
      {"silu", [](const Tensor& x) { return silu(x); }, -3, 3},
      {"softplus", [](const Tensor& x) { return softplus(x, 2.0, 3.0); }, -1, 1},
      {"erf", [](const Tensor& x) { return erf(x); }, -2, 2},
      {"clamp", [](const Tensor& x) { return clamp(x, -0.7, 0.8); }, -2, 2},
      {"pow", [](const Tensor& x) { return pow(x, 2.5); }, 0.2, 2},
      {"pow_int", [](const Tensor& x) { return pow(x, 3); }, -2, 2},
  };
  for (const auto& [name, fn, lo, hi] : ops) {
    CAPTURE(name);
    Tensor x = input({3, 4}, lo, hi);
    auto f = [fn = fn](const std::vector<Tensor>& in) { return std::vector<Tensor>{fn(in[0])}; };
    CHECK(gradcheck(f, {x}));
    CHECK(gradgradcheck(f, {x}));
  }
}

TEST_CASE("autograd elementwise: binary ops with broadcasting, first and second order") {
  using Binary = Tensor (*)(const Tensor&, const Tensor&);
  const std::vector<std::pair<std::string, Binary>> ops = {
      {"add", [](const Tensor& a, const Tensor& b) { return add(a, b, 2.5); }},
      {"sub", [](const Tensor& a, const Tensor& b) { return a - b; }},
      {"mul", [](const Tensor& a, const Tensor& b) { return a * b; }},
      {"div", [](const Tensor& a, const Tensor& b) { return a / b; }},
      {"pow", [](const Tensor& a, const Tensor& b) { return pow(a, b); }},
      {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }},
      {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); }},
      {"where", [](const Tensor& a, const Tensor& b) { return where(a > 1.0, a, b); }},
  };
  for (const auto& [name, fn] : ops) {
    CAPTURE(name);
    Tensor a = input({2, 3, 4}, 0.3, 2.0, 2);
    Tensor b = input({3, 1}, 0.5, 1.5, 3);  // broadcast along dims 0 and 2
    auto f = [fn = fn](const std::vector<Tensor>& in) { return std::vector<Tensor>{fn(in[0], in[1])}; };
    CHECK(gradcheck(f, {a, b}));
    CHECK(gradgradcheck(f, {a, b}));
  }
}

TEST_CASE("autograd elementwise: mixed dtypes give each input a gradient of its own dtype") {
  Tensor a = ones({3});
  a.requires_grad_();
  Tensor b = tensor({1.0, 2.0, 3.0});
  b.requires_grad_();
  (a * b).sum().backward();
  CHECK(a.grad().dtype() == kF32);
  CHECK(b.grad().dtype() == kF64);
  testing::check_close(a.grad(), tensor({1.0f, 2.0f, 3.0f}));
}

TEST_CASE("autograd reduce: reductions pass gradcheck, sum and mean second order too") {
  Tensor x = input({3, 4, 2});
  auto check = [&](std::string name, auto fn, bool second_order) {
    CAPTURE(name);
    auto f = [fn](const std::vector<Tensor>& in) { return std::vector<Tensor>{fn(in[0])}; };
    CHECK(gradcheck(f, {x}));
    if (second_order) CHECK(gradgradcheck(f, {x}));
  };
  check("sum", [](const Tensor& t) { return t.sum(); }, true);
  check("sum dims", [](const Tensor& t) { return sum(t, {0, 2}, true); }, true);
  check("mean", [](const Tensor& t) { return t.mean(1); }, true);
  check("prod", [](const Tensor& t) { return prod(t, {1}); }, true);
  check("amax", [](const Tensor& t) { return amax(t, {0, 1}); }, false);
  check("amin", [](const Tensor& t) { return amin(t, {2}); }, false);
  check("max dim", [](const Tensor& t) { return std::get<0>(max(t, 1)); }, false);
  check("min dim keepdim", [](const Tensor& t) { return std::get<0>(min(t, 2, true)); }, false);
  check("var", [](const Tensor& t) { return var(t, {1}); }, true);
  check("std", [](const Tensor& t) { return moelab::std(t, {0, 2}); }, false);
  check("norm2", [](const Tensor& t) { return norm(t, 2, {1}); }, false);
  check("norm1", [](const Tensor& t) { return norm(t, 1); }, false);
  check("norm3", [](const Tensor& t) { return norm(t, 3, {2}); }, false);
  check("logsumexp", [](const Tensor& t) { return logsumexp(t, {1}); }, true);
}

TEST_CASE("autograd reduce: prod with zeros and norm at zero have exact gradients") {
  Tensor x = tensor({{2.0, 0.0, 3.0}, {0.0, 0.0, 5.0}, {1.0, 2.0, 4.0}});
  x.requires_grad_();
  prod(x, {1}).sum().backward();
  testing::check_close(x.grad(), tensor({{0.0, 6.0, 0.0}, {0.0, 0.0, 0.0}, {8.0, 4.0, 2.0}}));
  Tensor z = zeros({3}, kF64);
  z.requires_grad_();
  norm(z).backward();
  testing::check_equal(z.grad(), zeros({3}, kF64));
}

TEST_CASE("autograd views: every view op passes gradcheck and gradgradcheck") {
  Tensor x = input({3, 4, 2});
  auto check = [&](std::string name, auto fn) {
    CAPTURE(name);
    auto f = [fn](const std::vector<Tensor>& in) { return std::vector<Tensor>{fn(in[0]) * 1.5}; };
    CHECK(gradcheck(f, {x}));
    CHECK(gradgradcheck(f, {x}));
  };
  using indexing::Slice;
  check("view", [](const Tensor& t) { return t.contiguous().view({6, 4}); });
  check("reshape", [](const Tensor& t) { return t.reshape({4, 6}); });
  check("permute", [](const Tensor& t) { return t.permute({2, 0, 1}); });
  check("transpose", [](const Tensor& t) { return t.transpose(0, 2); });
  check("narrow", [](const Tensor& t) { return t.narrow(1, 1, 2); });
  check("slice step", [](const Tensor& t) { return t.slice(1, 0, std::nullopt, 2); });
  check("select", [](const Tensor& t) { return t.select(2, -1); });
  check("index", [](const Tensor& t) { return t.index({Slice(1, std::nullopt), indexing::None, 2, Slice()}); });
  check("expand", [](const Tensor& t) { return t.select(1, 0).unsqueeze(1).expand({3, 5, 2}); });
  check("squeeze", [](const Tensor& t) { return t.narrow(1, 0, 1).squeeze(1); });
  check("flatten", [](const Tensor& t) { return t.flatten(1); });
  check("unflatten", [](const Tensor& t) { return t.unflatten(1, {2, 2}); });
  check("clone", [](const Tensor& t) { return t.clone(); });
}

TEST_CASE("autograd views: a dtype conversion passes the gradient back in the source dtype") {
  // (Finite differences through f32 would measure f32 rounding, so this is checked exactly.)
  Tensor x = input({2, 3});
  Tensor y = x.to(kF32) * 3.0;
  CHECK(y.dtype() == kF32);
  y.sum().backward();
  CHECK(x.grad().dtype() == kF64);
  testing::check_equal(x.grad(), full({2, 3}, 3.0, kF64));
}

TEST_CASE("autograd copy: copy_ into a fresh tensor carries the source's gradient") {
  Tensor src = input({3}, -1, 1);
  Tensor dst = zeros({2, 3}, kF64);
  dst.copy_(src);  // broadcast
  CHECK(dst.requires_grad());
  (dst * dst).sum().backward();
  testing::check_close(src.grad(), src.detach() * 4.0);
  CHECK_MOELAB_ERROR(src.as_strided({2}, {1}, 0), "as_strided: not differentiable");
}

TEST_CASE("elementwise grad: expm1's gradient keeps its precision for very negative inputs") {
  Tensor x = tensor({-30.0, -20.0, -1e-8, 0.0, 3.0}).requires_grad_(true);
  expm1(x).sum().backward();
  Tensor expected = exp(x.detach());
  CHECK(allclose(x.grad(), expected, 1e-14, 0.0));
}
