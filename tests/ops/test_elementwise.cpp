#include <cmath>
#include <limits>
#include <set>

#include "support/check.h"
#include "support/golden.h"

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::check_equal;
using moelab::testing::Golden;

namespace {

const Golden& golden() {
  return Golden::get("elementwise");
}

// Tolerances per dtype: f32 ops agree with PyTorch to a few ulps; f64 to ~1e-12.
double rtol_of(const std::string& tag) { return tag == "f32" ? 2e-6 : 1e-12; }
double atol_of(const std::string& tag) { return tag == "f32" ? 1e-6 : 1e-12; }

// A non-contiguous copy of x: same values, read through a transposed view.
Tensor strided_copy(const Tensor& x) {
  Tensor storage = x.transpose(0, 1).contiguous();
  Tensor v = storage.transpose(0, 1);
  REQUIRE(!v.is_contiguous());
  return v;
}

}  // namespace

TEST_CASE("elementwise: unary ops match PyTorch, contiguous and strided") {
  using Fn = Tensor (*)(const Tensor&);
  const std::vector<std::pair<std::string, Fn>> ops = {
      {"neg", [](const Tensor& x) { return neg(x); }},
      {"abs", [](const Tensor& x) { return abs(x); }},
      {"sign", [](const Tensor& x) { return sign(x); }},
      {"exp", [](const Tensor& x) { return exp(x); }},
      {"log", [](const Tensor& x) { return log(x); }},
      {"log1p", [](const Tensor& x) { return log1p(x); }},
      {"expm1", [](const Tensor& x) { return expm1(x); }},
      {"sqrt", [](const Tensor& x) { return sqrt(x); }},
      {"rsqrt", [](const Tensor& x) { return rsqrt(x); }},
      {"square", [](const Tensor& x) { return square(x); }},
      {"reciprocal", [](const Tensor& x) { return reciprocal(x); }},
      {"sin", [](const Tensor& x) { return sin(x); }},
      {"cos", [](const Tensor& x) { return cos(x); }},
      {"tanh", [](const Tensor& x) { return tanh(x); }},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }},
      {"relu", [](const Tensor& x) { return relu(x); }},
      {"gelu", [](const Tensor& x) { return gelu(x); }},
      {"gelu_tanh", [](const Tensor& x) { return gelu(x, "tanh"); }},
      {"silu", [](const Tensor& x) { return silu(x); }},
      {"softplus", [](const Tensor& x) { return softplus(x); }},
      {"softplus_b2", [](const Tensor& x) { return softplus(x, 2.0, 5.0); }},
      {"erf", [](const Tensor& x) { return erf(x); }},
      {"floor", [](const Tensor& x) { return floor(x); }},
      {"ceil", [](const Tensor& x) { return ceil(x); }},
      {"round", [](const Tensor& x) { return round(x); }},
      {"clamp", [](const Tensor& x) { return clamp(x, -0.5, 0.7); }},
      {"clamp_min", [](const Tensor& x) { return clamp(x, 0.1, std::nullopt); }},
      {"pow3", [](const Tensor& x) { return pow(x, 3.0); }},
      {"pow_half", [](const Tensor& x) { return pow(x, 0.5); }},
  };
  const std::set<std::string> positive = {"log", "log1p", "sqrt", "rsqrt", "pow_half"};
  for (std::string tag : {"f32", "f64"}) {
    for (const auto& [name, fn] : ops) {
      CAPTURE(name);
      CAPTURE(tag);
      const Tensor& x = golden()[(positive.count(name) ? "xp." : "x.") + tag];
      const Tensor& expected = golden()[name + "." + tag];
      check_close(fn(x), expected, rtol_of(tag), atol_of(tag));
      check_close(fn(strided_copy(x)), expected, rtol_of(tag), atol_of(tag));
    }
  }
}

TEST_CASE("elementwise: binary ops broadcast and match PyTorch") {
  for (std::string tag : {"f32", "f64"}) {
    CAPTURE(tag);
    const Tensor& a = golden()["a." + tag];
    const Tensor& b = golden()["b." + tag];
    const double rt = rtol_of(tag), at = atol_of(tag);
    check_close(a + b, golden()["add." + tag], rt, at);
    check_close(add(a, b, 2.5), golden()["add_alpha." + tag], rt, at);
    check_close(a - b, golden()["sub." + tag], rt, at);
    check_close(a * b, golden()["mul." + tag], rt, at);
    check_close(a / b, golden()["div." + tag], rt, at);
    check_close(pow(abs(a), golden()["bp." + tag]), golden()["pow." + tag], rt, at);
    check_close(maximum(a, b), golden()["maximum." + tag], rt, at);
    check_close(minimum(a, b), golden()["minimum." + tag], rt, at);
    check_equal(a < b, golden()["lt." + tag]);
    check_equal(a >= b, golden()["ge." + tag]);
    // The same through an expanded (stride-0) and a transposed operand.
    Tensor a_exp = a.expand({4, 5, 3});
    check_close(a_exp + b, golden()["add." + tag], rt, at);
    Tensor bt = b.t().contiguous().t();  // [5, 1] with swapped strides
    check_close(a * bt, golden()["mul." + tag], rt, at);
  }
}

TEST_CASE("elementwise: type promotion follows PyTorch") {
  Tensor i = tensor({1, 2, 3});
  Tensor f = tensor({0.5f, 1.5f, 2.5f});
  Tensor d = tensor({1.0, 2.0, 3.0});
  CHECK((i + f).dtype() == kF32);
  CHECK((f + d).dtype() == kF64);
  CHECK((i + 1).dtype() == kI32);        // Python ints do not promote an int tensor
  CHECK((i + 1.5).dtype() == kF32);      // a float number makes an int tensor float
  CHECK((f * 2.0).dtype() == kF32);      // a double number keeps f32
  CHECK((i / i).dtype() == kF32);        // true division
  CHECK(exp(i).dtype() == kF32);
  CHECK(abs(i).dtype() == kI32);
  CHECK((f < 1.0).dtype() == kBool);
  // A 0-d f64 tensor does not promote a 1-d f32 tensor, but an f32 0-d does make i32 floating.
  CHECK((f + scalar(2.0)).dtype() == kF32);
  CHECK((i + scalar(2.0f)).dtype() == kF32);
  check_equal(i + 1, tensor({2, 3, 4}));
  check_close(i + 1.5, tensor({2.5f, 3.5f, 4.5f}));
  check_close(2.0 - f, tensor({1.5f, 0.5f, -0.5f}));
  check_close(1.0 / f, tensor({2.0f, 1.0f / 1.5f, 0.4f}));
}

TEST_CASE("elementwise: integer ops") {
  Tensor a = tensor({-3, 0, 4, 7});
  Tensor b = tensor({2, 5, -1, 3});
  check_equal(a * b, tensor({-6, 0, -4, 21}));
  check_equal(pow(a, 2), tensor({9, 0, 16, 49}));
  check_equal(pow(a, tensor({2, 3, 0, 1})), tensor({9, 0, 1, 7}));
  check_equal(maximum(a, b), tensor({2, 5, 4, 7}));
  check_equal(sign(a), tensor({-1, 0, 1, 1}));
  check_equal(clamp(a, -1, 5), tensor({-1, 0, 4, 5}));
  check_equal(floor(a), a);
  CHECK_MOELAB_ERROR(pow(a, -1), "negative integer powers");
}

TEST_CASE("elementwise: NaN and infinity handling") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  Tensor x = tensor({nan, 1.0f, -inf, inf});
  check_equal(isnan(x), tensor({true, false, false, false}));
  check_equal(isfinite(x), tensor({false, true, false, false}));
  Tensor y = tensor({0.0f, nan, 0.0f, 0.0f});
  check_close(maximum(x, y), tensor({nan, nan, 0.0f, inf}));
  check_close(relu(x), tensor({nan, 1.0f, 0.0f, inf}));
  check_close(clamp(x, -1.0, 1.0), tensor({nan, 1.0f, -1.0f, 1.0f}));
  check_close(sigmoid(tensor({-inf, inf})), tensor({0.0f, 1.0f}));
}

TEST_CASE("elementwise: where, logical ops, comparisons with numbers") {
  Tensor x = tensor({-1.0f, 2.0f, -3.0f, 4.0f});
  Tensor c = x > 0.0;
  check_equal(c, tensor({false, true, false, true}));
  check_close(where(c, x, zeros_like(x)), tensor({0.0f, 2.0f, 0.0f, 4.0f}));
  check_close(where(c, x, scalar_tensor(-9, kF32)), tensor({-9.0f, 2.0f, -9.0f, 4.0f}));
  check_equal(logical_xor(c, x < 3.0), tensor({true, false, true, true}));
  check_equal(c && (x < 3.0), tensor({false, true, false, false}));
  check_equal(!c, tensor({true, false, true, false}));
  check_equal(c || (x == -3.0), tensor({false, true, true, true}));
  // where broadcasts all three operands.
  Tensor w = where(tensor({true, false}).unsqueeze(1), ones({2, 3}), zeros({3}));
  check_equal(w, tensor({{1.0f, 1.0f, 1.0f}, {0.0f, 0.0f, 0.0f}}));
}

TEST_CASE("elementwise: empty and size-1 tensors") {
  Tensor e = zeros({0, 3});
  CHECK((e + 1.0).shape() == Shape{0, 3});
  CHECK(exp(e).numel() == 0);
  CHECK((e + zeros({1, 3})).shape() == Shape{0, 3});
  Tensor s = scalar(2.0f);
  CHECK((s * s).dim() == 0);
  CHECK((s * s).item<float>() == 4.0f);
  CHECK((ones({1, 1}) + ones({3})).shape() == Shape{1, 3});
}

TEST_CASE("elementwise: in-place ops write through views and bump the version") {
  Tensor x = zeros({2, 3});
  Tensor col = x.select(1, 1);
  uint32_t v0 = x.storage()->version();
  add_(col, tensor({1.0f, 2.0f}));
  check_equal(x, tensor({{0.0f, 1.0f, 0.0f}, {0.0f, 2.0f, 0.0f}}));
  CHECK(x.storage()->version() > v0);
  Tensor xi = tensor({1, 2, 3});
  mul_(xi, tensor({2.5f, 2.5f, 2.5f}));  // result cast back to i32, like PyTorch's x *= y for int x
  CHECK(xi.dtype() == kI32);
  clamp_(x, 0.5, 1.5);
  check_equal(x, tensor({{0.5f, 1.0f, 0.5f}, {0.5f, 1.5f, 0.5f}}));
}

TEST_CASE("elementwise: large inputs run on several threads with the same result") {
  Tensor a = arange(0, 200000).to(kF32) / 1000.0;
  set_num_threads(1);
  Tensor one = sin(a) * 3.0 + a;
  set_num_threads(2);
  Tensor two = sin(a) * 3.0 + a;
  check_equal(one, two);
  CHECK(one.index({12345}).item<float>() == doctest::Approx(std::sin(12.345f) * 3.0f + 12.345f).epsilon(1e-5));
}

TEST_CASE("elementwise: errors name the op and the shapes") {
  CHECK_MOELAB_ERROR(zeros({2, 3}) + zeros({4}), "add: shapes [2, 3] and [4] do not broadcast");
  CHECK_MOELAB_ERROR(mul(zeros({2}), zeros({3})), "mul: shapes [2] and [3]");
  CHECK_MOELAB_ERROR(tensor({true}) + tensor({true}), "arithmetic on bool");
  CHECK_MOELAB_ERROR(neg(tensor({true})), "neg: not defined for bool");
  CHECK_MOELAB_ERROR(gelu(zeros({2}), "fast"), "gelu: approximate");
  CHECK_MOELAB_ERROR(where(zeros({2}), zeros({2}), zeros({2})), "where: condition must be bool");
  CHECK_MOELAB_ERROR(exp(zeros({2}).to(kBF16)), "storage dtype");
  CHECK_MOELAB_ERROR(exp(Tensor()), "undefined");
  CHECK_MOELAB_ERROR(clamp(zeros({2}), std::nullopt, std::nullopt), "clamp: at least one");
}

TEST_CASE("elementwise: f32 sigmoid and silu over the whole range, their limits and NaN") {
  // -120 .. 120 in steps of 0.01 (24001 values), against f64 on the same f32 inputs, within 3 ulp;
  // below x = -88.72, where exp(-x) overflows in f32, sigmoid is 0 and the exact value at most
  // e^-88.72 = 2.9e-39 (silu's 2.6e-37).
  const Tensor x = (arange(-12000, 12001).to(kF64) * 0.01).to(kF32);
  const Tensor xr = x.to(kF64);
  check_close(sigmoid(x), sigmoid(xr).to(kF32), 4e-7, 3e-39);
  check_close(silu(x), silu(xr).to(kF32), 4e-7, 3e-37);
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor edge = from_vector<float>({-inf, -1000.f, -88.f, -0.f, 0.f, 88.f, 1000.f, inf, nan}, {9});
  const std::vector<float> s = sigmoid(edge).to_vector<float>();
  const std::vector<float> expect{0.0f, 0.0f, 0.0f, 0.5f, 0.5f, 1.0f, 1.0f, 1.0f};
  for (size_t i = 0; i < expect.size(); ++i)
    if (i != 2) CHECK(s[i] == expect[i]);
  CHECK(s[2] == doctest::Approx(6.0546e-39).epsilon(1e-3));  // e^-88, subnormal as in PyTorch
  CHECK(std::isnan(s[8]));
  const std::vector<float> si = silu(edge).to_vector<float>();
  CHECK(std::isnan(si[0]));  // -inf * 0 is NaN, as in PyTorch
  CHECK(si[7] == inf);
  CHECK(std::isnan(si[8]));
  // A strided input (the general loop) gives the same values.
  const Tensor m = x.narrow(0, 0, 24000).reshape({-1, 3}).transpose(0, 1);
  check_equal(sigmoid(m), sigmoid(m.contiguous()));
  check_equal(silu(m), silu(m.contiguous()));
}
