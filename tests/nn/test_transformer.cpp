// Transformer layers and PatchEmbedding against PyTorch 1.13 (tests/golden/gen_attention.py):
// torch state dicts loaded by name, eval-mode outputs and gradients of inputs and parameters.
#include "autograd/grad_test_util.h"
#include "nn/test_attention_util.h"

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::golden_mask;

namespace {

const std::vector<std::string> kLayerParams{"self_attn.in_proj_weight", "linear1.weight", "norm1.weight",
                                            "linear2.bias"};

}  // namespace

TEST_CASE("nn transformer: encoder layers match torch, post-norm and pre-norm") {
  for (DType dt : {kF64, kF32}) {
    nn::TransformerEncoderLayer post(4, 2, 6, 0.1, "relu", 1e-5, false, false, dt);
    nn::TransformerEncoderLayer pre(4, 2, 6, 0.1, "gelu", 1e-5, true, true, dt);
    for (auto* m : {&post, &pre}) {
      m->eval();
      const std::string name = m == &post ? "enc_post" : "enc_pre";
      testing::load_golden_state(*m, name);
      Tensor mask = golden_mask(name + ".src_mask", dt), kpm = golden_mask(name + ".src_key_padding_mask", dt);
      testing::check_module_case(name, *m, dt, {"src"}, kLayerParams, [&](const std::vector<Tensor>& x) {
        return std::vector<Tensor>{m->forward(x[0], mask, kpm)};
      });
    }
  }
}

TEST_CASE("nn transformer: decoder layers match torch, post-norm and pre-norm") {
  std::vector<std::string> params = kLayerParams;
  params.push_back("multihead_attn.in_proj_weight");
  params.push_back("norm3.weight");
  for (DType dt : {kF64, kF32}) {
    nn::TransformerDecoderLayer post(4, 2, 6, 0.1, "relu", 1e-5, false, false, dt);
    nn::TransformerDecoderLayer pre(4, 2, 6, 0.1, "gelu", 1e-5, true, true, dt);
    for (auto* m : {&post, &pre}) {
      m->eval();
      const std::string n = m == &post ? "dec_post" : "dec_pre";
      testing::load_golden_state(*m, n);
      Tensor tm = golden_mask(n + ".tgt_mask", dt), mm = golden_mask(n + ".memory_mask", dt);
      Tensor tk = golden_mask(n + ".tgt_key_padding_mask", dt), mk = golden_mask(n + ".memory_key_padding_mask", dt);
      testing::check_module_case(n, *m, dt, {"tgt", "memory"}, params, [&](const std::vector<Tensor>& x) {
        return std::vector<Tensor>{m->forward(x[0], x[1], tm, mm, tk, mk)};
      });
    }
  }
}

TEST_CASE("nn transformer: TransformerEncoder stack with a final norm matches torch") {
  for (DType dt : {kF64, kF32}) {
    nn::TransformerEncoderLayerOptions o;
    o.d_model = 4, o.nhead = 2, o.dim_feedforward = 6, o.dropout = 0.0, o.batch_first = true, o.dtype = dt;
    nn::TransformerEncoder enc(o, 2, std::make_shared<nn::LayerNorm>(Shape{4}, 1e-5, true, dt));
    CHECK(enc.layers().size() == 2);
    enc.eval();
    testing::load_golden_state(enc, "encoder");
    Tensor kpm = golden_mask("encoder.src_key_padding_mask", dt);
    testing::check_module_case("encoder", enc, dt, {"src"}, {"layers.0.linear1.weight", "layers.1.norm2.bias",
                                                             "norm.weight"},
                               [&](const std::vector<Tensor>& x) { return std::vector<Tensor>{enc(x[0], {}, kpm)}; });
  }
  // Layers made by a factory are independent.
  nn::TransformerEncoder enc([] { return std::make_shared<nn::TransformerEncoderLayer>(8, 2, 16, 0.0); }, 3);
  CHECK(enc.named_parameters().size() == 3 * 12);
  CHECK_FALSE(equal(enc.tensor_slot("layers.0.linear1.weight"), enc.tensor_slot("layers.1.linear1.weight")));
  CHECK_FALSE(enc.norm());
}

TEST_CASE("nn transformer: parameter names follow PyTorch") {
  nn::TransformerDecoderLayer dec(8, 2, 16);
  std::vector<std::string> keys;
  for (auto& kv : dec.named_parameters()) keys.push_back(kv.first);
  const std::vector<std::string> want{
      "self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight", "self_attn.out_proj.bias",
      "multihead_attn.in_proj_weight", "multihead_attn.in_proj_bias", "multihead_attn.out_proj.weight",
      "multihead_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
      "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias", "norm3.weight", "norm3.bias"};
  CHECK(keys == want);
  std::vector<std::string> mods;
  for (auto& kv : dec.named_children()) mods.push_back(kv.first);
  CHECK(mods == std::vector<std::string>{"self_attn", "multihead_attn", "linear1", "dropout", "linear2", "norm1",
                                         "norm2", "norm3", "dropout1", "dropout2", "dropout3"});
}

TEST_CASE("nn transformer: gradcheck, causal flag, dropout, strided input and errors") {
  manual_seed(6);
  nn::TransformerEncoderLayer layer(4, 2, 6, 0.2, "gelu", 1e-5, true, false, kF64);
  layer.eval();
  auto x = testing::leaf64({2, 3, 4});
  CHECK(testing::gradcheck1([&](const auto& xs) { return layer(xs[0], {}, {}, true); }, {x}));
  Tensor causal = triu(ones({3, 3}), 1) > 0.5;
  check_close(layer(x, {}, {}, true), layer(x, causal), 1e-12, 1e-12);
  // Non-contiguous input.
  Tensor xt = randn({3, 2, 4}, kF64).transpose(0, 1);
  check_close(layer(xt), layer(xt.contiguous()), 1e-12, 1e-12);
  // Unbatched input [S, E] equals a batch of one.
  Tensor u = randn({3, 4}, kF64);
  check_close(layer(u, {}, {}, true), layer(u.unsqueeze(0), {}, {}, true).squeeze(0), 1e-12, 1e-12);
  // Training mode applies dropout.
  layer.train();
  CHECK_FALSE(allclose(layer(x), layer(x), 1e-6, 1e-6));
  layer.eval();
  CHECK(equal(layer(x), layer(x)));
  nn::TransformerDecoderLayer dec(4, 2, 6, 0.0, "relu", 1e-5, false, true, kF64);
  auto t = testing::leaf64({3, 1, 4}), mem = testing::leaf64({2, 1, 4});
  CHECK(testing::gradcheck1([&](const auto& xs) { return dec(xs[0], xs[1], {}, {}, {}, {}, true); }, {t, mem}));
  check_close(dec(t.squeeze(1), mem.squeeze(1)), dec(t, mem).squeeze(1), 1e-12, 1e-12);
  CHECK_MOELAB_ERROR(nn::TransformerEncoderLayer(4, 2, 6, 0.1, "tanh"), "activation must be");
  CHECK_MOELAB_ERROR(nn::TransformerDecoderLayer(4, 2, 6, 0.1, "swish"), "activation must be");
  CHECK_MOELAB_ERROR(nn::TransformerEncoderLayer(6, 4), "divisible by num_heads");
  CHECK_MOELAB_ERROR(layer(randn({2, 3, 5}, kF64)), "shapes do not fit");
  CHECK_MOELAB_ERROR(layer(x, ones({2, 2}, kBool)), "attn_mask of shape");
  CHECK_MOELAB_ERROR(dec(randn({3, 1, 4}, kF64), Tensor()), "memory must be defined");
  CHECK_MOELAB_ERROR(nn::TransformerEncoder(nn::TransformerEncoderLayerOptions{}, -1), "num_layers");
}

// ---- patch embedding ----

TEST_CASE("nn transformer: PatchEmbedding matches conv + flatten + transpose") {
  const auto& g = testing::attention_golden();
  for (DType dt : {kF64, kF32}) {
    INFO(dt);
    nn::PatchEmbedding pe({4, 6}, 2, 2, 3, true, dt);
    CHECK(pe.num_patches() == 6);
    pe.load_state_dict({{"proj.weight", g["patch.weight"]}, {"proj.bias", g["patch.bias"]}});
    Tensor x = g["patch.x"].to(dt).clone();
    x.requires_grad_();
    Tensor out = pe(x);
    const double tol = dt == kF64 ? 1e-12 : 1e-5;
    check_close(out, g["patch.out"].to(dt), tol, tol);
    auto gr = autograd::grad({out}, {x, pe.tensor_slot("proj.weight"), pe.tensor_slot("proj.bias")},
                             {g["patch.gout"].to(dt)});
    check_close(gr[0], g["patch.dx"].to(dt), tol, tol);
    check_close(gr[1], g["patch.dweight"].to(dt), tol, tol);
    check_close(gr[2], g["patch.dbias"].to(dt), tol, tol);
  }
  nn::PatchEmbedding pe(8, 4, 3, 5);
  CHECK(pe.state_dict().count("proj.weight") == 1);
  CHECK(pe.weight().shape() == Shape{5, 3, 4, 4});
  CHECK(pe(randn({0, 3, 8, 8})).shape() == Shape{0, 4, 5});
  // Non-contiguous (channels-last storage) input.
  Tensor xc = randn({2, 8, 8, 3}).permute({0, 3, 1, 2});
  check_close(pe(xc), pe(xc.contiguous()), 1e-5, 1e-6);
  CHECK_MOELAB_ERROR(nn::PatchEmbedding(10, 4), "not divisible");
  CHECK_MOELAB_ERROR(nn::PatchEmbedding({8, 9}, {4, 4}), "not divisible");
  CHECK_MOELAB_ERROR(pe(randn({2, 3, 8, 12})), "must be [B, 3, 8, 8]");
  CHECK_MOELAB_ERROR(pe(randn({3, 8, 8})), "must be [B, 3, 8, 8]");
  CHECK_MOELAB_ERROR(pe(randn({2, 1, 8, 8})), "in_chans");
  nn::PatchEmbedding small(4, 2, 1, 2, true, kF64);
  auto xs = testing::leaf64({1, 1, 4, 4});
  CHECK(testing::gradcheck1([&](const auto& v) { return small(v[0]); }, {xs}));
}
