// Embedding (with padding_idx) and Bilinear, functional and modules, against PyTorch 1.13
// (tests/golden/gen_norm.py), gradcheck, and their user errors.
#include <cmath>

#include "support/check.h"
#include "support/conformance.h"
#include "support/golden.h"

using namespace moelab;
using autograd::gradcheck;
using autograd::gradgradcheck;
using moelab::testing::check_close;
using moelab::testing::check_equal;
using moelab::testing::Golden;
using moelab::testing::non_contiguous_copy;

namespace {
const Tensor& G(const std::string& name) { return Golden::get("norm")[name]; }

Tensor leaf(const Tensor& t, DType dt = kF64, bool strided = false) {
  Tensor l = (strided ? non_contiguous_copy(t.to(dt)) : t.to(dt).clone()).detach();
  l.requires_grad_();
  return l;
}

double rtol_of(DType dt) { return dt == kF64 ? 1e-10 : 1e-4; }
double atol_of(DType dt) { return dt == kF64 ? 1e-12 : 1e-5; }
}  // namespace

TEST_CASE("nn embedding: embedding with padding_idx matches PyTorch, padding row gets no gradient") {
  for (DType dt : {kF64, kF32}) {
    for (bool strided : {false, true}) {
      const std::string label = std::string(dtype_name(dt)) + (strided ? " non-contiguous" : "");
      INFO(label);
      for (auto [name, pad] : {std::pair<std::string, std::optional<int64_t>>{"emb", 2}, {"emb_neg", -1},
                               {"emb_none", std::nullopt}}) {
        INFO(name);
        Tensor w = leaf(G(name + ".weight"), dt, strided);
        Tensor idx = G(name + ".i");
        if (strided) idx = non_contiguous_copy(idx).to(kI32);
        Tensor out = embedding(idx, w, pad);
        check_close(out, G(name + ".out").to(dt), rtol_of(dt), atol_of(dt));
        Tensor dw = autograd::grad({out}, {w}, {G(name + ".gout").to(dt)})[0];
        check_close(dw, G(name + ".dweight").to(dt), rtol_of(dt), atol_of(dt));
      }
    }
  }
  // Index 2 occurs three times in "emb" but its gradient row stays zero.
  Tensor w = leaf(G("emb.weight"));
  embedding(G("emb.i"), w, 2).sum().backward();
  check_equal(w.grad().select(0, 2), zeros({4}, kF64));
  check_equal(w.grad().select(0, 3), full({4}, 2.0, kF64));

  // gradcheck and gradgradcheck of the masked backward (it is linear in the output gradient). The
  // padding row's zero gradient is by design not the true derivative, so these ids avoid it.
  Tensor ids = tensor<int64_t>({{0, 1, 4}, {4, 3, 1}});
  auto f = [&](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{embedding(ids, in[0], 2) * in[0].sum()};
  };
  CHECK(gradcheck(f, {leaf(randn({3, 5}, kF64).t())}));
  CHECK(gradgradcheck(f, {leaf(randn({3, 5}, kF64).t())}));
  // Empty and 0-d indices.
  CHECK(embedding(zeros({2, 0}, kI64), randn({5, 3}), 1).shape() == Shape{2, 0, 3});
  check_equal(embedding(scalar<int64_t>(3), G("emb.weight"), 0), G("emb.weight").select(0, 3));
}

TEST_CASE("nn embedding: Embedding module init, padding row, from_pretrained, state_dict") {
  manual_seed(0);
  nn::Embedding e(1000, 8, 3);
  CHECK(e.padding_idx() == 3);
  check_equal(e.weight().select(0, 3), zeros({8}));
  Tensor rest = cat({e.weight().narrow(0, 0, 3), e.weight().narrow(0, 4, 996)}, 0);
  // N(0, 1): mean and std of 7968 draws.
  CHECK(std::abs(rest.mean().item<float>()) < 0.05);
  CHECK(std::abs(moelab::std(rest).item<float>() - 1) < 0.05);
  CHECK(nn::Embedding(5, 2, -1).padding_idx() == 4);
  CHECK(e.state_dict().size() == 1);
  CHECK(e.state_dict().count("weight") == 1);

  nn::Embedding m(10, 4, 2, kF64);
  m.load_state_dict({{"weight", G("emb.weight")}});
  Tensor out = m(G("emb.i"));
  check_close(out, G("emb.out"), 1e-12, 1e-12);
  out.backward(G("emb.gout"));
  check_close(m.weight().grad(), G("emb.dweight"), 1e-12, 1e-12);

  Tensor pre = G("emb.weight").clone();
  auto frozen = nn::Embedding::from_pretrained(pre);
  CHECK(!frozen->weight().requires_grad());
  CHECK(frozen->weight().storage().get() == pre.storage().get());  // shares storage, as PyTorch
  CHECK(frozen->num_embeddings() == 10);
  CHECK(frozen->embedding_dim() == 4);
  check_close((*frozen)(G("emb.i")), G("emb.out"), 1e-12, 1e-12);  // row 2 is not zeroed
  auto trainable = nn::Embedding::from_pretrained(pre, /*freeze=*/false, 2);
  CHECK(trainable->weight().requires_grad());
  CHECK(trainable->padding_idx() == 2);
  (*trainable)(G("emb.i")).backward(G("emb.gout"));
  check_close(trainable->weight().grad(), G("emb.dweight"), 1e-12, 1e-12);
}

TEST_CASE("nn embedding: embedding errors") {
  Tensor w = randn({3, 4});
  CHECK_MOELAB_ERROR(embedding(tensor<int64_t>({1, 3}), w, std::nullopt),
                     "embedding: index 3 is out of range for dim 0 of size 3");
  CHECK_MOELAB_ERROR(embedding(tensor<int64_t>({-1}), w, 0), "embedding: index -1 is out of range");
  CHECK_MOELAB_ERROR(embedding(tensor<int32_t>({7}), w, 1), "embedding: index 7 is out of range");
  CHECK_MOELAB_ERROR(embedding(tensor<float>({1}), w, 0), "embedding: indices must be an i64 or i32 tensor, got dtype f32");
  CHECK_MOELAB_ERROR(embedding(tensor<int64_t>({1}), w, 3), "embedding: padding_idx 3 is out of range for num_embeddings 3");
  CHECK_MOELAB_ERROR(embedding(tensor<int64_t>({1}), w, -4), "embedding: padding_idx -4 is out of range");
  CHECK_MOELAB_ERROR(embedding(tensor<int64_t>({1}), randn({3}), 0), "embedding: weight must be 2-D");
  // Arguments in torch.embedding's (weight, indices) order by mistake.
  CHECK_MOELAB_ERROR(embedding(w, tensor<int64_t>({1}), 0), "embedding: weight must be 2-D");
  CHECK_MOELAB_ERROR(nn::Embedding(3, 2, 3), "Embedding: padding_idx 3 must be within num_embeddings 3");
  CHECK_MOELAB_ERROR(nn::Embedding(-1, 2), "Embedding: num_embeddings must be non-negative");
  CHECK_MOELAB_ERROR(nn::Embedding::from_pretrained(randn({3})), "Embedding::from_pretrained: embeddings must be 2-D");
  nn::Embedding e(3, 2);
  CHECK_MOELAB_ERROR(e(tensor<int64_t>({0, 5})), "embedding: index 5 is out of range");
  CHECK_MOELAB_ERROR(e(tensor<double>({0})), "embedding: indices must be an i64 or i32 tensor");
}

TEST_CASE("nn bilinear: bilinear matches PyTorch, non-contiguous inputs, gradcheck") {
  for (DType dt : {kF64, kF32}) {
    for (bool strided : {false, true}) {
      const std::string label = std::string(dtype_name(dt)) + (strided ? " non-contiguous" : "");
      INFO(label);
      Tensor x1 = leaf(G("bil.x1"), dt, strided), x2 = leaf(G("bil.x2"), dt, strided);
      Tensor w = leaf(G("bil.weight"), dt, strided), b = leaf(G("bil.bias"), dt, strided);
      Tensor out = bilinear(x1, x2, w, b);
      check_close(out, G("bil.out").to(dt), rtol_of(dt), atol_of(dt));
      auto g = autograd::grad({out}, {x1, x2, w, b}, {G("bil.gout").to(dt)});
      check_close(g[0], G("bil.dx1").to(dt), rtol_of(dt), atol_of(dt));
      check_close(g[1], G("bil.dx2").to(dt), rtol_of(dt), atol_of(dt));
      check_close(g[2], G("bil.dweight").to(dt), rtol_of(dt), atol_of(dt));
      check_close(g[3], G("bil.dbias").to(dt), rtol_of(dt), atol_of(dt));
      // 1-D inputs, no bias.
      Tensor a = leaf(G("bil_1d.x1"), dt, strided), c = leaf(G("bil_1d.x2"), dt, strided);
      Tensor v = leaf(G("bil_1d.weight"), dt, strided);
      Tensor o = bilinear(a, c, v);
      check_close(o, G("bil_1d.out").to(dt), rtol_of(dt), atol_of(dt));
      auto h = autograd::grad({o}, {a, c, v}, {G("bil_1d.gout").to(dt)});
      check_close(h[0], G("bil_1d.dx1").to(dt), rtol_of(dt), atol_of(dt));
      check_close(h[1], G("bil_1d.dx2").to(dt), rtol_of(dt), atol_of(dt));
      check_close(h[2], G("bil_1d.dweight").to(dt), rtol_of(dt), atol_of(dt));
    }
  }
  auto f = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{bilinear(in[0], in[1], in[2], in[3])}; };
  std::vector<Tensor> in{leaf(randn({4, 3}, kF64).t()), leaf(randn({3, 2}, kF64)), leaf(randn({2, 4, 2}, kF64)),
                         leaf(randn({2}, kF64))};
  CHECK(gradcheck(f, in));
  CHECK(gradgradcheck(f, in));
  // Empty batch.
  Tensor e = bilinear(zeros({0, 4}), zeros({0, 2}), randn({3, 4, 2}), randn({3}));
  CHECK(e.shape() == Shape{0, 3});
}

TEST_CASE("nn bilinear: Bilinear module init, forward, state_dict, errors") {
  manual_seed(1);
  nn::Bilinear m(16, 3, 50);
  CHECK(m.weight().shape() == Shape{50, 16, 3});
  CHECK(m.bias().shape() == Shape{50});
  const float bound = 0.25f;  // 1 / sqrt(in1_features)
  CHECK(m.weight().max().item<float>() <= bound);
  CHECK(m.weight().min().item<float>() >= -bound);
  CHECK(m.weight().max().item<float>() > 0.9f * bound);  // U(-b, b), not a narrower range
  CHECK(m.bias().abs().max().item<float>() <= bound);
  CHECK(m.state_dict().size() == 2);
  CHECK(m.state_dict().count("weight") == 1);
  CHECK(nn::Bilinear(2, 3, 4, /*bias=*/false).state_dict().size() == 1);

  nn::Bilinear g(4, 5, 6, true, kF64);
  g.load_state_dict({{"weight", G("bil.weight")}, {"bias", G("bil.bias")}});
  check_close(g(G("bil.x1"), G("bil.x2")), G("bil.out"), 1e-12, 1e-12);

  Tensor w = randn({6, 4, 5});
  CHECK_MOELAB_ERROR(bilinear(randn({2, 4}), randn({3, 5}), w),
                     "bilinear: expected input1 [*, 4] and input2 [*, 5] with the same leading dims");
  CHECK_MOELAB_ERROR(bilinear(randn({2, 3}), randn({2, 5}), w), "got input1 [2, 3] and input2 [2, 5]");
  CHECK_MOELAB_ERROR(bilinear(randn({2, 4}), randn({2, 1, 5}), w), "bilinear: expected input1");
  CHECK_MOELAB_ERROR(bilinear(randn({2, 4}), randn({2, 5}), randn({6, 4})), "bilinear: weight must be 3-D");
  CHECK_MOELAB_ERROR(bilinear(randn({2, 4}), randn({2, 5}), w, randn({5})), "bilinear: bias must be [6]");
  CHECK_MOELAB_ERROR(bilinear(randn({2, 4}, kF64), randn({2, 5}), w), "bilinear: input1 (f64), input2 (f32) and weight (f32) must share a dtype");
  CHECK_MOELAB_ERROR(bilinear(zeros({2, 4}, kI32), zeros({2, 5}, kI32), zeros({6, 4, 5}, kI32)), "bilinear");
  CHECK_MOELAB_ERROR(nn::Bilinear(2, -1, 3), "Bilinear: in2_features must be non-negative");
  CHECK_MOELAB_ERROR(g(G("bil.x1"), G("bil.x1")), "bilinear: expected input1");
}
