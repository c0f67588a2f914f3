// scaled_dot_product_attention and rotary embeddings: golden values from PyTorch 1.13
// (tests/golden/gen_attention.py), gradcheck, strided inputs, dropout, edge cases and errors.
#include <cmath>
#include <limits>

#include "autograd/grad_test_util.h"
#include "nn/test_attention_util.h"

using namespace moelab;
using namespace moelab::indexing;
using moelab::testing::attention_golden;
using moelab::testing::check_close;
using moelab::testing::golden_mask;

namespace {

struct SdpaCase {
  const char* name;
  bool is_causal;
  std::optional<double> scale;
};

}  // namespace

TEST_CASE("nn attention: sdpa matches the PyTorch formula (causal, bool, float mask, GQA)") {
  const auto& g = attention_golden();
  for (SdpaCase c : {SdpaCase{"plain", false, {}}, SdpaCase{"causal", true, {}}, SdpaCase{"causal_rect", true, {}},
                     SdpaCase{"bool", false, {}}, SdpaCase{"float", false, {}}, SdpaCase{"gqa", false, {}},
                     SdpaCase{"gqa_causal", true, {}}, SdpaCase{"gqa_bool", false, {}}, SdpaCase{"scale", false, 0.3},
                     SdpaCase{"twod", false, {}}}) {
    const std::string name = std::string("sdpa_") + c.name;
    INFO(name);
    for (DType dt : {kF64, kF32}) {
      Tensor mask = golden_mask(name + ".mask", dt);
      Tensor out = scaled_dot_product_attention(g[name + ".q"].to(dt), g[name + ".k"].to(dt), g[name + ".v"].to(dt),
                                                mask, 0.0, c.is_causal, c.scale);
      check_close(out, g[name + ".out"].to(dt), dt == kF64 ? 1e-10 : 1e-4, dt == kF64 ? 1e-12 : 1e-5);
    }
    Tensor mask64 = golden_mask(name + ".mask", kF64);
    testing::check_golden_grad(g, name, {"q", "k", "v"}, [&](const std::vector<Tensor>& x) {
      Tensor m = mask64.defined() && mask64.dtype() != kBool ? mask64.to(x[0].dtype()) : mask64;
      return scaled_dot_product_attention(x[0], x[1], x[2], m, 0.0, c.is_causal, c.scale);
    });
  }
}

TEST_CASE("nn attention: sdpa gradcheck and gradgradcheck in f64") {
  manual_seed(11);
  Tensor fmask = randn({3, 4}, kF64);
  Tensor bmask = rand({2, 1, 3, 4}, kF64) > 0.3;
  bmask.index({Ellipsis, 0}).fill_(true);
  auto q = testing::leaf64({2, 2, 3, 2}), k = testing::leaf64({2, 1, 4, 2}), v = testing::leaf64({2, 1, 4, 3});
  CHECK(testing::gradcheck1([&](const auto& x) { return scaled_dot_product_attention(x[0], x[1], x[2], fmask); },
                            {q, k, v}));
  CHECK(testing::gradgradcheck1([&](const auto& x) { return scaled_dot_product_attention(x[0], x[1], x[2], bmask); },
                                {q, k, v}));
  auto q2 = testing::leaf64({2, 3, 2}), k2 = testing::leaf64({2, 3, 2}), v2 = testing::leaf64({2, 3, 2});
  CHECK(testing::gradgradcheck1(
      [&](const auto& x) { return scaled_dot_product_attention(x[0], x[1], x[2], {}, 0.0, true, 0.7); },
      {q2, k2, v2}));
}

TEST_CASE("nn attention: sdpa of non-contiguous q, k, v equals the contiguous result") {
  manual_seed(3);
  // [B, L, H, E] storage viewed as [B, H, L, E], as a projection followed by a head split gives.
  Tensor q = randn({2, 5, 4, 3}).transpose(1, 2), k = randn({2, 6, 2, 3}).transpose(1, 2);
  Tensor v = randn({2, 2, 3, 6}).transpose(-2, -1);  // [2, 2, 6, 3]
  REQUIRE_FALSE(q.is_contiguous());
  REQUIRE_FALSE(v.is_contiguous());
  Tensor mask = rand({5, 6}) > 0.5;
  mask.index({Slice(), 0}).fill_(true);
  check_close(scaled_dot_product_attention(q, k, v, mask),
              scaled_dot_product_attention(q.contiguous(), k.contiguous(), v.contiguous(), mask), 1e-5, 1e-6);
  // Strided gradients flow back with the inputs' shapes.
  auto qs = testing::strided_leaf64({2, 3, 2}), ks = testing::strided_leaf64({2, 4, 2}),
       vs = testing::strided_leaf64({2, 4, 2});
  CHECK(testing::gradcheck1([](const auto& x) { return scaled_dot_product_attention(x[0], x[1], x[2], {}, 0, true); },
                            {qs, ks, vs}));
}

TEST_CASE("nn attention: sdpa GQA equals attention with repeated kv heads") {
  manual_seed(5);
  Tensor q = randn({2, 6, 3, 4}, kF64), k = randn({2, 2, 5, 4}, kF64), v = randn({2, 2, 5, 3}, kF64);
  Tensor kr = repeat_interleave(k, 3, 1), vr = repeat_interleave(v, 3, 1);
  check_close(scaled_dot_product_attention(q, k, v, {}, 0, true), scaled_dot_product_attention(q, kr, vr, {}, 0, true),
              1e-12, 1e-12);
  // Hkv = 1 (multi-query attention).
  Tensor k1 = randn({2, 1, 5, 4}, kF64), v1 = randn({2, 1, 5, 3}, kF64);
  check_close(scaled_dot_product_attention(q, k1, v1), scaled_dot_product_attention(q, k1.expand({2, 6, 5, 4}),
                                                                                     v1.expand({2, 6, 5, 3})),
              1e-12, 1e-12);
}

TEST_CASE("nn attention: sdpa dropout is seeded and drops weights with probability p") {
  Tensor q = randn({2, 4, 32, 8}), k = randn({2, 4, 64, 8}), v = randn({2, 4, 64, 8});
  Generator g1(7), g2(7);
  Tensor a = scaled_dot_product_attention(q, k, v, {}, 0.3, false, {}, &g1);
  Tensor b = scaled_dot_product_attention(q, k, v, {}, 0.3, false, {}, &g2);
  CHECK(equal(a, b));
  CHECK_FALSE(allclose(a, scaled_dot_product_attention(q, k, v), 1e-3, 1e-3));
  Generator g3(9);
  auto [out, w] = detail::sdpa_with_weights(q, k, v, {}, 0.3, false, {}, &g3, "test");
  auto [out0, w0] = detail::sdpa_with_weights(q, k, v, {}, 0.0, false, {}, nullptr, "test");
  const double dropped = (w == 0.0).to(kF64).mean().item<double>();
  CHECK(dropped == doctest::Approx(0.3).epsilon(0.05));  // 16384 weights: sd of the fraction ~0.0036
  // Kept weights are scaled by 1 / (1 - p), and the output uses the dropped weights.
  check_close(where(w == 0.0, zeros_like(w), w0 / 0.7), w, 1e-5, 1e-6);
  check_close(out, matmul(w, v), 1e-5, 1e-5);
  // p = 0 with a generator leaves it untouched and gives the plain result.
  check_close(scaled_dot_product_attention(q, k, v, {}, 0.0, false, {}, &g3), out0);
}

TEST_CASE("nn attention: sdpa fully masked rows give NaN and empty sizes work") {
  Tensor q = randn({1, 2, 3, 4}), k = randn({1, 2, 5, 4}), v = randn({1, 2, 5, 4});
  Tensor mask = ones({3, 5}, kBool);
  mask.index({1}).fill_(false);
  Tensor out = scaled_dot_product_attention(q, k, v, mask);
  CHECK(all(isnan(out.index({Slice(), Slice(), 1}))).item<bool>());
  CHECK_FALSE(any(isnan(out.index({Slice(), Slice(), 0}))).item<bool>());
  // Empty batch, empty queries, and no keys (the output is then zeros).
  CHECK(scaled_dot_product_attention(randn({0, 2, 3, 4}), randn({0, 2, 5, 4}), randn({0, 2, 5, 6})).shape() ==
        Shape{0, 2, 3, 6});
  CHECK(scaled_dot_product_attention(randn({2, 4, 0, 4}), randn({2, 2, 5, 4}), randn({2, 2, 5, 6}), {}, 0, true)
            .shape() == Shape{2, 4, 0, 6});
  Tensor none = scaled_dot_product_attention(randn({2, 3, 4}), randn({2, 0, 4}), randn({2, 0, 6}));
  CHECK(none.shape() == Shape{2, 3, 6});
  CHECK(equal(none, zeros({2, 3, 6})));
}

TEST_CASE("nn attention: sdpa errors") {
  Tensor q = randn({2, 4, 3, 8}), k = randn({2, 3, 5, 8}), v = randn({2, 3, 5, 8});
  CHECK_MOELAB_ERROR(scaled_dot_product_attention(q, k, v), "not a multiple of the key/value head count 3");
  Tensor k2 = randn({2, 2, 5, 8}), v2 = randn({2, 2, 5, 8});
  CHECK_MOELAB_ERROR(scaled_dot_product_attention(q, k2, v2, ones({3, 4}, kBool)), "does not broadcast");
  CHECK_MOELAB_ERROR(scaled_dot_product_attention(q, k2, v2, ones({3, 2, 4, 3, 5}, kBool)), "does not broadcast");
  CHECK_MOELAB_ERROR(scaled_dot_product_attention(q, k2, v2, ones({3, 5}, kBool), 0, true), "not both");
  CHECK_MOELAB_ERROR(scaled_dot_product_attention(q, k2, v2, ones({3, 5}, kF64)), "attn_mask must be bool");
  CHECK_MOELAB_ERROR(scaled_dot_product_attention(q, randn({2, 2, 5, 7}), v2), "must end in the query's embedding");
  CHECK_MOELAB_ERROR(scaled_dot_product_attention(q, k2, randn({2, 2, 4, 8})), "every dim but the last");
  CHECK_MOELAB_ERROR(scaled_dot_product_attention(q, k2.to(kF64), v2), "share a dtype");
  CHECK_MOELAB_ERROR(scaled_dot_product_attention(q, randn({2, 5, 8}), randn({2, 5, 8})), "same number of dims");
  CHECK_MOELAB_ERROR(scaled_dot_product_attention(q, k2, v2, {}, 1.5), "dropout_p");
  CHECK_MOELAB_ERROR(scaled_dot_product_attention(randn({3}), randn({3}), randn({3})), "at least 2");
  CHECK_MOELAB_ERROR(scaled_dot_product_attention(ones({2, 3}, kI64), ones({2, 3}, kI64), ones({2, 3}, kI64)),
                     "scaled_dot_product_attention");
}

// ---- rotary ----

TEST_CASE("nn attention: rotary embedding matches the reference formula") {
  const auto& g = attention_golden();
  for (DType dt : {kF64, kF32}) {
    INFO(dt);
    const double rtol = dt == kF64 ? 1e-12 : 1e-5, atol = dt == kF64 ? 1e-12 : 1e-5;
    nn::RotaryEmbedding r1(8, 16, 10000.0, dt), r2(6, 32, 500.0, dt), r3(6, 10, 10000.0, dt);
    struct Case {
      const char* name;
      std::function<Tensor(const Tensor&)> fn;
    };
    Tensor p2 = g["rope_positions.positions"], p3 = g["rope_positions1d.positions"];
    for (const Case& c : {Case{"rope_offset", [&](const Tensor& x) { return r1.forward(x, 2); }},
                          Case{"rope_positions", [&](const Tensor& x) { return r2.forward(x, p2); }},
                          Case{"rope_positions1d", [&](const Tensor& x) { return r3.forward(x, p3); }}}) {
      INFO(c.name);
      Tensor x = g[std::string(c.name) + ".x"].to(dt).clone();
      x.requires_grad_();
      Tensor out = c.fn(x);
      check_close(out, g[std::string(c.name) + ".out"].to(dt), rtol, atol);
      Tensor dx = autograd::grad({out}, {x}, {g[std::string(c.name) + ".gout"].to(dt)})[0];
      check_close(dx, g[std::string(c.name) + ".dx"].to(dt), rtol, atol);
    }
  }
}

TEST_CASE("nn attention: rotary q.k depends only on the position difference") {
  manual_seed(2);
  nn::RotaryEmbedding rope(16, 64, 10000.0, kF64);
  Tensor q = randn({1, 16}, kF64), k = randn({1, 16}, kF64);
  auto score = [&](int64_t m, int64_t n) {
    return (rope.forward(q, m) * rope.forward(k, n)).sum().item<double>();
  };
  for (int64_t d : {0, 1, 5, 17}) {
    const double ref = score(d, 0);
    for (int64_t n : {3, 10, 40}) CHECK(score(n + d, n) == doctest::Approx(ref).epsilon(1e-12));
  }
  CHECK(score(5, 0) != doctest::Approx(score(6, 0)));  // and it does depend on the difference
  // Rotation preserves norms; position 0 is the identity.
  check_close(rope.forward(q, 0), q, 1e-14, 1e-14);
  CHECK(norm(rope.forward(q, 9)).item<double>() == doctest::Approx(norm(q).item<double>()).epsilon(1e-12));
}

TEST_CASE("nn attention: rotary tables are not state and bad inputs are errors") {
  nn::RotaryEmbedding rope(8, 16);
  CHECK(rope.state_dict().empty());
  CHECK(rope.cos_cached().shape() == Shape{16, 8});
  // Non-contiguous input (heads and sequence swapped in storage) gives the same values.
  Tensor x = randn({2, 5, 3, 8}).transpose(1, 2);
  check_close(rope.forward(x, 1), rope.forward(x.contiguous(), 1));
  CHECK_MOELAB_ERROR(nn::RotaryEmbedding(7, 16), "even");
  CHECK_MOELAB_ERROR(rope.forward(randn({2, 3, 6}), 0), "head_dim = 8");
  CHECK_MOELAB_ERROR(rope.forward(randn({2, 10, 8}), 7), "exceed max_seq_len 16");
  CHECK_MOELAB_ERROR(rope.forward(randn({2, 3, 8}), tensor<int64_t>({0, 1, 16})), "must lie in 0..15");
  CHECK_MOELAB_ERROR(rope.forward(randn({2, 3, 8}), tensor<int64_t>({0, 1})), "do not fit");
  CHECK_MOELAB_ERROR(rope.forward(randn({2, 3, 8}), tensor<float>({0, 1, 2})), "integer");
  CHECK_MOELAB_ERROR(apply_rotary_emb(randn({2, 7}), randn({2, 7}), randn({2, 7})), "even last dim");
  CHECK_MOELAB_ERROR(apply_rotary_emb(randn({2, 8}), randn({3, 8}), randn({3, 8})), "must broadcast");
  CHECK_MOELAB_ERROR(apply_rotary_emb(randn({2, 8}), randn({2, 4}), randn({2, 4})), "must broadcast");
  CHECK_MOELAB_ERROR(apply_rotary_emb(randn({2, 8}), randn({2, 8}), randn({1, 8})), "differ in shape");
  auto x64 = testing::leaf64({3, 4});
  Tensor c = randn({3, 4}, kF64), s = randn({3, 4}, kF64);
  CHECK(testing::gradgradcheck1([&](const auto& xs) { return apply_rotary_emb(xs[0], c, s); }, {x64}));
}
