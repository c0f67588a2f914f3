// nn::MultiheadAttention against torch.nn.MultiheadAttention (1.13) with copied weights, GQA,
// parameter names, masks, dropout and errors.
#include <cmath>

#include "autograd/grad_test_util.h"
#include "nn/test_attention_util.h"

using namespace moelab;
using namespace moelab::indexing;
using moelab::testing::check_close;
using moelab::testing::golden_mask;

namespace {

struct MhaCase {
  const char* name;
  bool batch_first, self, bias = true, need_weights = true, average = true;
  std::optional<int64_t> kdim, vdim;
};

}  // namespace

TEST_CASE("nn attention: MultiheadAttention matches torch with copied weights") {
  const MhaCase cases[] = {
      {"mha_seq", false, false, true, true, true, {}, {}},
      {"mha_bf_self", true, true, true, true, /*average=*/false, {}, {}},
      {"mha_kvdim", false, false, true, true, true, 6, 7},
      {"mha_unbatched", false, false, true, true, true, {}, {}},
      {"mha_nobias", true, false, /*bias=*/false, /*need_weights=*/false, true, {}, {}},
  };
  for (const MhaCase& c : cases) {
    for (DType dt : {kF64, kF32}) {
      nn::MultiheadAttention m(4, 2, 0.0, c.bias, c.batch_first, c.kdim, c.vdim, std::nullopt, dt);
      m.eval();
      testing::load_golden_state(m, c.name);
      const std::string n = c.name;
      Tensor kpm = golden_mask(n + ".key_padding_mask", dt), am = golden_mask(n + ".attn_mask", dt);
      std::vector<std::string> inputs = c.self ? std::vector<std::string>{"query"}
                                               : std::vector<std::string>{"query", "key", "value"};
      std::vector<std::string> params{m.packed() ? "in_proj_weight" : "k_proj_weight", "out_proj.weight"};
      if (c.bias) params.push_back("in_proj_bias");
      testing::check_module_case(n, m, dt, inputs, params, [&](const std::vector<Tensor>& x) {
        const Tensor& k = c.self ? x[0] : x[1];
        const Tensor& v = c.self ? x[0] : x[2];
        auto [out, w] = m.forward(x[0], k, v, kpm, c.need_weights, am, c.average);
        CHECK(w.defined() == c.need_weights);
        return c.need_weights ? std::vector<Tensor>{out, w} : std::vector<Tensor>{out};
      });
    }
  }
}

TEST_CASE("nn attention: MultiheadAttention parameter names and init follow PyTorch") {
  nn::MultiheadAttention m(8, 2);
  auto names = m.named_parameters();
  REQUIRE(names.size() == 4);
  CHECK(names[0].first == "in_proj_weight");
  CHECK(names[0].second.shape() == Shape{24, 8});
  CHECK(names[1].first == "in_proj_bias");
  CHECK(names[2].first == "out_proj.weight");
  CHECK(names[3].first == "out_proj.bias");
  CHECK(equal(m.tensor_slot("in_proj_bias"), zeros({24})));
  CHECK(equal(m.tensor_slot("out_proj.bias"), zeros({8})));
  // xavier_uniform on [24, 8]: bound sqrt(6 / 32).
  CHECK(m.tensor_slot("in_proj_weight").abs().max().item<float>() <= std::sqrt(6.0f / 32.0f));
  nn::MultiheadAttention sep(8, 4, 0.0, false, false, 5, 6, 2);
  std::vector<std::string> keys;
  for (auto& kv : sep.named_parameters()) keys.push_back(kv.first);
  CHECK(keys == std::vector<std::string>{"q_proj_weight", "k_proj_weight", "v_proj_weight", "out_proj.weight"});
  CHECK(sep.tensor_slot("k_proj_weight").shape() == Shape{4, 5});  // 2 kv heads of dim 2
  CHECK(sep.tensor_slot("v_proj_weight").shape() == Shape{4, 6});
}

TEST_CASE("nn attention: MultiheadAttention with GQA equals MHA with repeated kv projections") {
  manual_seed(4);
  const int64_t E = 8, H = 4, Hkv = 2, hd = 2, G = H / Hkv;
  nn::MultiheadAttention gqa(E, H, 0.0, true, true, std::nullopt, std::nullopt, Hkv, kF64);
  nn::MultiheadAttention full(E, H, 0.0, true, true, std::nullopt, std::nullopt, std::nullopt, kF64);
  CHECK_FALSE(gqa.packed());
  CHECK(gqa.tensor_slot("in_proj_bias").shape() == Shape{E + 2 * Hkv * hd});
  {
    autograd::NoGradGuard ng;
    gqa.tensor_slot("in_proj_bias").copy_(randn({E + 2 * Hkv * hd}, kF64));
    // kv head j serves query heads j*G .. j*G+G-1: repeat each kv head's rows G times.
    auto rep = [&](const Tensor& w) { return repeat_interleave(w.unflatten(0, {Hkv, hd}), G, 0).flatten(0, 1); };
    Tensor b = gqa.tensor_slot("in_proj_bias");
    full.tensor_slot("in_proj_weight")
        .copy_(cat({gqa.tensor_slot("q_proj_weight"), rep(gqa.tensor_slot("k_proj_weight")),
                    rep(gqa.tensor_slot("v_proj_weight"))}));
    full.tensor_slot("in_proj_bias")
        .copy_(cat({b.narrow(0, 0, E), rep(b.narrow(0, E, Hkv * hd).unsqueeze(1)).squeeze(1),
                    rep(b.narrow(0, E + Hkv * hd, Hkv * hd).unsqueeze(1)).squeeze(1)}));
    full.tensor_slot("out_proj.weight").copy_(gqa.tensor_slot("out_proj.weight"));
    full.tensor_slot("out_proj.bias").copy_(gqa.tensor_slot("out_proj.bias"));
  }
  Tensor x = randn({2, 5, E}, kF64), mem = randn({2, 3, E}, kF64);
  Tensor kpm = zeros({2, 3}, kBool);
  kpm.index({1, 2}).fill_(true);
  auto [a, wa] = gqa.forward(x, mem, mem, kpm, true, {}, false);
  auto [b, wb] = full.forward(x, mem, mem, kpm, true, {}, false);
  check_close(a, b, 1e-12, 1e-12);
  check_close(wa, wb, 1e-12, 1e-12);
  CHECK(wa.shape() == Shape{2, H, 5, 3});
  auto q = testing::leaf64({2, 2, E});
  CHECK(testing::gradcheck1([&](const auto& xs) { return gqa.forward(xs[0], xs[0], xs[0], {}, false).first; }, {q}));
}

TEST_CASE("nn attention: MultiheadAttention is_causal, dropout, layouts and empty batches") {
  manual_seed(8);
  nn::MultiheadAttention m(8, 2, 0.5);
  Tensor x = randn({5, 3, 8});  // [L, N, E]
  m.eval();
  Tensor blocked = triu(ones({5, 5}), 1) > 0.5;
  check_close(m.forward(x, x, x, {}, false, {}, true, true).first, m.forward(x, x, x, {}, false, blocked).first);
  // Eval ignores dropout; training applies it (and only then does the output change).
  Tensor eval_out = m.forward(x, x, x).first;
  m.train();
  CHECK_FALSE(allclose(m.forward(x, x, x).first, eval_out, 1e-4, 1e-4));
  m.eval();
  // A non-contiguous (batch-first storage) input gives the same result as its contiguous copy.
  Tensor xt = randn({3, 5, 8}).transpose(0, 1);
  check_close(m.forward(xt, xt, xt).first, m.forward(xt.contiguous(), xt.contiguous(), xt.contiguous()).first, 1e-5,
              1e-6);
  // Empty batch.
  auto [e, ew] = m.forward(zeros({5, 0, 8}), zeros({4, 0, 8}), zeros({4, 0, 8}));
  CHECK(e.shape() == Shape{5, 0, 8});
  CHECK(ew.shape() == Shape{0, 5, 4});
}

TEST_CASE("nn attention: MultiheadAttention errors") {
  CHECK_MOELAB_ERROR(nn::MultiheadAttention(10, 3), "divisible by num_heads");
  CHECK_MOELAB_ERROR(nn::MultiheadAttention(8, 4, 0.0, true, false, std::nullopt, std::nullopt, 3),
                     "multiple of num_kv_heads");
  CHECK_MOELAB_ERROR(nn::MultiheadAttention(8, 2, 1.5), "dropout");
  nn::MultiheadAttention m(8, 2);
  Tensor x = randn({5, 3, 8});
  CHECK_MOELAB_ERROR(m.forward(x, randn({4, 8}), randn({4, 8})), "all 3-D");
  CHECK_MOELAB_ERROR(m.forward(x, randn({4, 2, 8}), randn({4, 2, 8})), "shapes do not fit");
  CHECK_MOELAB_ERROR(m.forward(randn({5, 3, 6}), x, x), "shapes do not fit");
  CHECK_MOELAB_ERROR(m.forward(x, x, x, ones({3, 4}, kBool)), "key_padding_mask of shape");
  CHECK_MOELAB_ERROR(m.forward(x, x, x, {}, true, ones({4, 5}, kBool)), "attn_mask of shape");
  CHECK_MOELAB_ERROR(m.forward(x, x, x, {}, true, ones({2, 5, 5}, kBool)), "attn_mask of shape");
  CHECK_MOELAB_ERROR(m.forward(x, x, x, {}, true, ones({5, 5}, kI64)), "must be bool or the query's dtype");
  CHECK_MOELAB_ERROR(m.forward(x.to(kF64), x.to(kF64), x.to(kF64)), "module's dtype");
}
