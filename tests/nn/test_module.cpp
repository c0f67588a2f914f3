#include <cmath>

#include "support/check.h"

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::check_equal;

namespace {
// Two linear layers with a buffer in between, to exercise nesting and dotted names.
class TwoLayer : public nn::Module {
 public:
  TwoLayer() : Module("TwoLayer") {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(4, 3));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(3, 2, /*bias=*/false));
    register_buffer("steps", zeros({1}, kI64));
  }
  Tensor forward(const Tensor& x) { return fc2->forward(relu(fc1->forward(x))); }
  std::shared_ptr<nn::Linear> fc1, fc2;
};
}  // namespace

TEST_CASE("nn module: parameters, buffers and children with dotted names") {
  TwoLayer m;
  auto named = m.named_parameters();
  REQUIRE(named.size() == 3);
  CHECK(named[0].first == "fc1.weight");
  CHECK(named[1].first == "fc1.bias");
  CHECK(named[2].first == "fc2.weight");
  CHECK(named[0].second.shape() == Shape{3, 4});
  CHECK(named[0].second.requires_grad());
  CHECK(m.named_buffers().size() == 1);
  CHECK(m.named_buffers()[0].first == "steps");
  CHECK(m.parameters(/*recurse=*/false).empty());
  CHECK(m.children().size() == 2);
  auto mods = m.named_modules();
  REQUIRE(mods.size() == 3);
  CHECK(mods[0].first.empty());
  CHECK(mods[1].first == "fc1");
  CHECK(mods[2].first == "fc2");
  CHECK_MOELAB_ERROR(m.register_buffer("fc1", zeros({1})), "the name \"fc1\" is already registered");
  CHECK_MOELAB_ERROR(m.register_parameter("a.b", zeros({1})), "must be non-empty and contain no '.'");
  Tensor nonleaf = m.fc1->weight() * 2.0;
  CHECK_MOELAB_ERROR(m.register_parameter("w2", nonleaf), "must be a leaf tensor");
}

TEST_CASE("nn module: train/eval, zero_grad, freezing and apply") {
  TwoLayer m;
  CHECK(m.is_training());
  m.eval();
  CHECK(!m.fc1->is_training());
  m.train();
  CHECK(m.fc2->is_training());
  Tensor x = randn({5, 4});
  m.forward(x).sum().backward();
  CHECK(m.fc1->weight().grad().defined());
  m.zero_grad(/*set_to_none=*/false);
  check_equal(m.fc1->weight().grad(), zeros({3, 4}));
  m.zero_grad();
  CHECK(!m.fc1->weight().grad().defined());
  m.requires_grad_(false);
  CHECK(!m.forward(x).requires_grad());
  m.requires_grad_(true);
  int count = 0;
  m.apply([&](nn::Module&) { ++count; });
  CHECK(count == 3);
}

TEST_CASE("nn module: state_dict round trip, strict loading lists bad keys and changes nothing") {
  TwoLayer a, b;
  auto state = a.state_dict();
  CHECK(state.size() == 4);
  CHECK(!state["fc1.weight"].requires_grad());
  b.load_state_dict(state);
  Tensor x = randn({2, 4});
  check_equal(b.forward(x), a.forward(x));
  CHECK(b.fc1->weight().requires_grad());  // loading keeps the parameters trainable
  TwoLayer c;
  Tensor before = c.fc1->weight().detach().clone();
  auto bad = state;
  bad.erase("fc2.weight");
  bad["extra"] = zeros({1});
  CHECK_MOELAB_ERROR(c.load_state_dict(bad), "missing keys: \"fc2.weight\"; unexpected keys: \"extra\"");
  check_equal(c.fc1->weight().detach(), before);
  c.load_state_dict(bad, /*strict=*/false);  // loads what matches
  check_equal(c.fc1->weight().detach(), state["fc1.weight"]);
  auto wrong = state;
  wrong["fc1.bias"] = zeros({4});
  CHECK_MOELAB_ERROR(c.load_state_dict(wrong), "\"fc1.bias\" has shape [4] in the state but [3] in the module");
}

TEST_CASE("nn linear: forward is x W^T + b, gradients pass gradcheck, init bounds as PyTorch") {
  manual_seed(0);
  nn::Linear lin(5, 3, true, kF64);
  Tensor x = randn({2, 7, 5}, kF64);
  Tensor y = lin(x);
  CHECK(y.shape() == Shape{2, 7, 3});
  check_close(y, matmul(x, lin.weight().detach().t()) + lin.bias().detach(), 1e-12, 1e-12);
  double bound = 1.0 / std::sqrt(5.0);
  CHECK(amax(abs(lin.weight().detach())).item<double>() <= bound);
  CHECK(amax(abs(lin.bias().detach())).item<double>() <= bound);
  CHECK(amax(abs(lin.weight().detach())).item<double>() > 0.5 * bound);
  Tensor xs = randn({3, 5}, kF64);
  xs.requires_grad_();
  auto f = [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{lin(in[0]).tanh()}; };
  CHECK(autograd::gradcheck(f, {xs, lin.weight(), lin.bias()}));
  nn::Linear nobias(5, 3, false);
  CHECK(nobias.parameters().size() == 1);
  CHECK_MOELAB_ERROR(lin(randn({2, 4}, kF64)), "Linear: input of shape [2, 4] does not end in in_features = 5");
}

TEST_CASE("nn init: fans, gains and distributions") {
  Tensor w = empty({16, 8, 3, 3});
  auto [fan_in, fan_out] = nn::init::fans(w);
  CHECK(fan_in == 72);
  CHECK(fan_out == 144);
  CHECK(nn::init::calculate_gain("relu") == doctest::Approx(std::sqrt(2.0)));
  CHECK_MOELAB_ERROR(nn::init::calculate_gain("swish"), "unknown nonlinearity");
  manual_seed(1);
  Tensor big = empty({256, 256});
  nn::init::kaiming_normal_(big, 0, "fan_in", "relu");
  CHECK(moelab::std(big).item<float>() == doctest::Approx(std::sqrt(2.0 / 256)).epsilon(0.03));
  nn::init::xavier_uniform_(big);
  CHECK(amax(abs(big)).item<float>() <= std::sqrt(6.0 / 512) + 1e-6);
  nn::init::trunc_normal_(big, 0, 1, -0.5, 0.5);
  CHECK(amax(abs(big)).item<float>() <= 0.5f);
  Tensor p = zeros({4});
  p.requires_grad_();
  nn::init::ones_(p);  // fills a leaf that requires grad (under NoGradGuard inside)
  check_equal(p.detach(), ones({4}));
  CHECK_MOELAB_ERROR(nn::init::kaiming_uniform_(p), "need a weight with at least 2 dims");
}

TEST_CASE("nn init: orthogonal_ gives orthonormal rows or columns, torch's sign rule, gain, any dims") {
  auto gram_rows = [](const Tensor& m) { return matmul(m, m.transpose(0, 1)); };
  auto gram_cols = [](const Tensor& m) { return matmul(m.transpose(0, 1), m); };
  for (DType dt : {kF32, kF64}) {
    INFO(dt);
    const double tol = dt == kF32 ? 1e-5 : 1e-12;
    Tensor wide = empty({4, 9}, dt), tall = empty({9, 4}, dt), square = empty({6, 6}, dt);
    nn::init::orthogonal_(wide);
    nn::init::orthogonal_(tall, 0.32);
    nn::init::orthogonal_(square);
    check_close(gram_rows(wide), eye(4, dt), tol, tol);                // orthonormal rows
    check_close(gram_cols(tall), eye(4, dt) * (0.32 * 0.32), tol, tol);  // columns, scaled by gain^2
    check_close(gram_rows(square), eye(6, dt), tol, tol);
    check_close(gram_cols(square), eye(6, dt), tol, tol);
  }
  // Q is the QR factor of the same normal draw with R's diagonal made positive: Q^T A is upper
  // triangular with a positive diagonal (for a wide tensor, of A = the transposed draw).
  for (const Shape& s : {Shape{7, 3}, Shape{3, 7}}) {
    Generator g1(11), g2(11);
    Tensor q = empty(s, kF64);
    nn::init::orthogonal_(q, 1.0, &g1);
    Tensor a = empty({s[0], s[1]}, kF64);
    nn::init::normal_(a, 0, 1, &g2);
    if (s[0] < s[1]) {
      a = a.transpose(0, 1);
      q = q.transpose(0, 1);
    }
    const Tensor r = matmul(q.transpose(0, 1), a);
    check_close(tril(r, -1), zeros_like(tril(r, -1)), 1e-12, 1e-12);
    CHECK(amin(einsum("ii->i", {r})).item<double>() > 0);
  }
  // A conv weight [out, in, kh, kw] is orthogonal as [out, in * kh * kw].
  Tensor conv = empty({8, 2, 3, 3}, kF64);
  nn::init::orthogonal_(conv);
  check_close(gram_rows(conv.reshape({8, 18})), eye(8, kF64), 1e-12, 1e-12);
  Tensor p = zeros({3, 3});
  p.requires_grad_();
  nn::init::orthogonal_(p);  // a leaf that requires grad
  check_close(gram_rows(p.detach()), eye(3), 1e-5, 1e-5);
  Tensor v = zeros({5});
  CHECK_MOELAB_ERROR(nn::init::orthogonal_(v), "only tensors with 2 or more dims");
  Tensor i = zeros({3, 3}, kI64);
  CHECK_MOELAB_ERROR(nn::init::orthogonal_(i), "needs a floating tensor");
}
