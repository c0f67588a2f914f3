// Gradients of the elementwise, reduction and view ops against torch.autograd (gen_elementwise_grad.py).
#include <set>
#include "support/check.h"
#include "support/golden.h"

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::Golden;

namespace {
const Golden& golden() {
  return Golden::get("elementwise_grad");
}
Tensor leaf(const Tensor& t) {
  Tensor l = t.clone();
  l.requires_grad_();
  return l;
}
// linspace(-1, 1, numel) shaped like t, the weight the generator used.
Tensor ramp_like(const Tensor& t) { return linspace(-1, 1, t.numel(), kF64).reshape(t.shape()); }
}  // namespace

TEST_CASE("autograd golden: unary op gradients match torch.autograd") {
  using Unary = Tensor (*)(const Tensor&);
  const std::vector<std::pair<std::string, Unary>> ops = {
      {"exp", [](const Tensor& t) { return exp(t); }},
      {"log", [](const Tensor& t) { return log(t); }},
      {"sqrt", [](const Tensor& t) { return sqrt(t); }},
      {"tanh", [](const Tensor& t) { return tanh(t); }},
      {"sigmoid", [](const Tensor& t) { return sigmoid(t); }},
      {"gelu", [](const Tensor& t) { return gelu(t); }},
      {"gelu_tanh", [](const Tensor& t) { return gelu(t, "tanh"); }},
      {"silu", [](const Tensor& t) { return silu(t); }},
      {"softplus", [](const Tensor& t) { return softplus(t); }},
      {"erf", [](const Tensor& t) { return erf(t); }},
      {"relu", [](const Tensor& t) { return relu(t); }},
      {"abs", [](const Tensor& t) { return abs(t); }},
      {"sin", [](const Tensor& t) { return sin(t); }},
      {"rsqrt", [](const Tensor& t) { return rsqrt(t); }},
      {"clamp", [](const Tensor& t) { return clamp(t, -0.5, 0.5); }},
      {"pow", [](const Tensor& t) { return pow(t, 2.5); }},
  };
  const std::set<std::string> positive = {"log", "sqrt", "rsqrt", "pow"};
  for (const auto& [name, fn] : ops) {
    CAPTURE(name);
    Tensor x = leaf(golden()[positive.count(name) ? "xp" : "x"]);
    (fn(x) * golden()["w"]).sum().backward();
    check_close(x.grad(), golden()[name + ".grad"], 1e-10, 1e-12);
  }
}

TEST_CASE("autograd golden: binary op gradients with broadcasting match torch.autograd") {
  using Binary = Tensor (*)(const Tensor&, const Tensor&);
  const std::vector<std::pair<std::string, Binary>> ops = {
      {"add", [](const Tensor& p, const Tensor& q) { return p + q; }},
      {"mul", [](const Tensor& p, const Tensor& q) { return p * q; }},
      {"div", [](const Tensor& p, const Tensor& q) { return p / q; }},
      {"pow", [](const Tensor& p, const Tensor& q) { return pow(abs(p), q); }},
      {"maximum", [](const Tensor& p, const Tensor& q) { return maximum(p, q); }},
  };
  for (const auto& [name, fn] : ops) {
    CAPTURE(name);
    Tensor a = leaf(golden()["a"]), b = leaf(golden()["b"]);
    (fn(a, b) * golden()["wab"]).sum().backward();
    check_close(a.grad(), golden()[name + ".grad_a"], 1e-10, 1e-12);
    check_close(b.grad(), golden()[name + ".grad_b"], 1e-10, 1e-12);
  }
}

TEST_CASE("autograd golden: reduction and view gradients match torch.autograd") {
  using Fn = Tensor (*)(const Tensor&);
  using indexing::Slice;
  const std::vector<std::pair<std::string, Fn>> ops = {
      {"sum1", [](const Tensor& t) { return t.sum(1); }},
      {"mean02", [](const Tensor& t) { return t.mean({0, 2}); }},
      {"prod2", [](const Tensor& t) { return prod(t, {2}); }},
      {"amax1", [](const Tensor& t) { return amax(t, {1}); }},
      {"var1", [](const Tensor& t) { return var(t, {1}); }},
      {"norm2", [](const Tensor& t) { return norm(t, 2, {2}); }},
      {"logsumexp0", [](const Tensor& t) { return logsumexp(t, {0}); }},
      {"max2", [](const Tensor& t) { return std::get<0>(max(t, 2)); }},
      {"permute", [](const Tensor& t) { return t.permute({2, 0, 1}); }},
      {"slice", [](const Tensor& t) { return t.index({Slice(), Slice(1, indexing::None), Slice(indexing::None, indexing::None, 2)}); }},
      {"select", [](const Tensor& t) { return t.index({1, Slice(), 2}); }},
      {"expand", [](const Tensor& t) { return t.narrow(1, 0, 1).expand({2, 5, 4}); }},
      {"reshape", [](const Tensor& t) { return t.transpose(0, 1).reshape({6, 4}); }},
  };
  for (const auto& [name, fn] : ops) {
    CAPTURE(name);
    Tensor a = leaf(golden()["a"]);
    Tensor out = fn(a);
    (out * ramp_like(out)).sum().backward();
    check_close(a.grad(), golden()[name + ".grad"], 1e-10, 1e-12);
  }
}
