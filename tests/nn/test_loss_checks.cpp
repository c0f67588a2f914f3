// Losses: f64 finite-difference gradients (gradgradcheck for cross_entropy and the binary cross
// entropies), empty batches, and the errors for bad shapes, dtypes, indices and options.
#include <cmath>

#include "autograd/grad_test_util.h"

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::gradcheck1;
using moelab::testing::gradgradcheck1;
using moelab::testing::leaf64;
using moelab::testing::strided_leaf64;

namespace {
Tensor probs64(const Shape& s, int64_t dim = 1) {
  Tensor p = softmax(randn(s, kF64), dim).detach();
  p.requires_grad_();
  return p;
}
Tensor uniform_leaf(const Shape& s, double lo, double hi) {
  Tensor t = (rand(s, kF64) * (hi - lo) + lo).detach();
  t.requires_grad_();
  return t;
}
}  // namespace

TEST_CASE("nn loss: cross_entropy and nll_loss pass gradcheck and gradgradcheck") {
  manual_seed(11);
  Tensor x = strided_leaf64({4, 5}), w = rand({5}, kF64) + 0.5;
  Tensor t = tensor<int64_t>({1, -100, 4, 0});
  for (double ls : {0.0, 0.3}) {
    INFO("label_smoothing " << ls);
    auto f = [&](const std::vector<Tensor>& in) { return cross_entropy(in[0], t, w, -100, "mean", ls); };
    CHECK(gradcheck1(f, {x}));
    CHECK(gradgradcheck1(f, {x}));
    Tensor p = probs64({4, 5});
    auto fp = [&](const std::vector<Tensor>& in) { return cross_entropy(in[0], in[1], w, -100, "sum", ls); };
    CHECK(gradcheck1(fp, {x, p}));
    CHECK(gradgradcheck1(fp, {x, p}));
  }
  Tensor xk = leaf64({2, 3, 2, 2});
  Tensor tk = tensor<int64_t>({0, 2, 1, 1, 2, 0, -100, 1}).view({2, 2, 2});
  CHECK(gradcheck1([&](auto& in) { return cross_entropy(in[0], tk, {}, -100, "none", 0.1); }, {xk}));
  CHECK(gradcheck1([&](auto& in) { return nll_loss(in[0], tk, w.narrow(0, 0, 3), -100, "mean"); }, {xk}));
}

TEST_CASE("nn loss: binary cross entropies and kl_div pass gradcheck and gradgradcheck") {
  manual_seed(12);
  Tensor x = uniform_leaf({3, 4}, 0.1, 0.9), t = uniform_leaf({3, 4}, 0, 1), w = rand({4}, kF64) + 0.5;
  auto bce = [&](auto& in) { return binary_cross_entropy(in[0], in[1], w, "mean"); };
  CHECK(gradcheck1(bce, {x, t}));
  CHECK(gradgradcheck1(bce, {x, t}));
  Tensor z = strided_leaf64({3, 4}), pw = rand({4}, kF64) * 3;
  auto bcel = [&](auto& in) { return binary_cross_entropy_with_logits(in[0], in[1], w, "sum", pw); };
  CHECK(gradcheck1(bcel, {z, t}));
  CHECK(gradgradcheck1(bcel, {z, t}));
  Tensor lq = log_softmax(randn({3, 4}, kF64), 1).detach().requires_grad_(), p = probs64({3, 4});
  CHECK(gradcheck1([](auto& in) { return kl_div(in[0], in[1], "batchmean"); }, {lq, p}));
  CHECK(gradcheck1([](auto& in) { return kl_div(in[0], in[1], "none", true); }, {lq, p}));
}

TEST_CASE("nn loss: regression and similarity losses pass gradcheck") {
  manual_seed(13);
  Tensor a = strided_leaf64({3, 4}), b = leaf64({3, 4});
  CHECK(gradcheck1([](auto& in) { return mse_loss(in[0], in[1]); }, {a, b}));
  CHECK(gradcheck1([](auto& in) { return l1_loss(in[0], in[1], "sum"); }, {a, b}));
  CHECK(gradcheck1([](auto& in) { return smooth_l1_loss(in[0], in[1], "none", 0.7); }, {a, b}));
  CHECK(gradcheck1([](auto& in) { return huber_loss(in[0], in[1], "mean", 0.8); }, {a, b}));
  CHECK(gradcheck1([](auto& in) { return cosine_similarity(in[0], in[1], 0); }, {a, b}));
  Tensor y = tensor<int64_t>({1, -1, -1});
  CHECK(gradcheck1([&](auto& in) { return cosine_embedding_loss(in[0], in[1], y, -0.5, "none"); }, {a, b}));
  Tensor r1 = leaf64({5}), r2 = leaf64({5}), ry = tensor<double>({1, -1, 1, 1, -1});
  CHECK(gradcheck1([&](auto& in) { return margin_ranking_loss(in[0], in[1], ry, 0.2, "sum"); }, {r1, r2}));
  Tensor q = leaf64({3, 4}), pk = strided_leaf64({3, 4}), nu = leaf64({5, 4}), np = leaf64({3, 2, 4});
  CHECK(gradcheck1([](auto& in) { return info_nce(in[0], in[1], {}, 0.5); }, {q, pk}));
  CHECK(gradcheck1([](auto& in) { return info_nce(in[0], in[1], in[2], 0.5, "sum"); }, {q, pk, nu}));
  CHECK(gradcheck1([](auto& in) { return info_nce(in[0], in[1], in[2], 0.5, "none", "paired"); }, {q, pk, np}));
}

TEST_CASE("nn loss: empty batches give PyTorch's results") {
  Tensor x = zeros({0, 4}, kF64);
  x.requires_grad_();
  Tensor t = zeros({0}, kI64);
  CHECK(std::isnan(cross_entropy(x, t).item<double>()));
  CHECK(std::isnan(cross_entropy(x, t, rand({4}, kF64), -100, "mean", 0.1).item<double>()));
  CHECK(std::isnan(cross_entropy(x, zeros({0, 4}, kF64)).item<double>()));
  CHECK(cross_entropy(x, t, {}, -100, "none").shape() == Shape{0});
  Tensor s = cross_entropy(x, t, {}, -100, "sum");
  CHECK(s.item<double>() == 0.0);
  s.backward();
  CHECK(x.grad().shape() == Shape{0, 4});
  CHECK(cross_entropy(zeros({0, 3, 2}, kF32), zeros({0, 2}, kI64), {}, -100, "none").shape() == Shape{0, 2});
  CHECK(std::isnan(mse_loss(zeros({0}, kF32), zeros({0}, kF32)).item<float>()));
  CHECK(binary_cross_entropy(zeros({0}, kF32), zeros({0}, kF32), {}, "sum").item<float>() == 0.0f);
  CHECK(std::isnan(binary_cross_entropy_with_logits(zeros({0, 2}, kF32), zeros({0, 2}, kF32)).item<float>()));
}

TEST_CASE("nn loss: cross_entropy and nll_loss reject bad shapes, dtypes, indices and options") {
  Tensor x = randn({3, 4}), t = tensor<int64_t>({0, 3, 1});
  CHECK_MOELAB_ERROR(cross_entropy(x, tensor<int64_t>({0, 4, 1})),
                     "cross_entropy: target 4 is out of range for 4 classes");
  CHECK_MOELAB_ERROR(cross_entropy(x, tensor<int64_t>({0, -3, 1})), "cross_entropy: target -3 is out of range");
  CHECK_MOELAB_ERROR(cross_entropy(x, tensor<int64_t>({-100, 9, 1})), "cross_entropy: target 9 is out of range");
  CHECK_MOELAB_ERROR(cross_entropy(x, tensor<int64_t>({0, 1})), "cross_entropy: expected logits [N, C]");
  CHECK_MOELAB_ERROR(cross_entropy(randn({2, 4, 3}), zeros({2, 4}, kI64)), "got logits [2, 4, 3] and target [2, 4]");
  CHECK_MOELAB_ERROR(cross_entropy(x, t.to(kF32)), "cross_entropy: target must hold class indices");
  CHECK_MOELAB_ERROR(cross_entropy(x, t == 1), "cross_entropy: target must hold class indices");
  CHECK_MOELAB_ERROR(cross_entropy(x.to(kI64), t), "cross_entropy");
  CHECK_MOELAB_ERROR(cross_entropy(x, t, {}, -100, "avg"), "cross_entropy: reduction must be");
  CHECK_MOELAB_ERROR(cross_entropy(x, t, {}, -100, "mean", 1.5), "cross_entropy: label_smoothing must be in [0, 1]");
  CHECK_MOELAB_ERROR(cross_entropy(x, t, ones({3})), "cross_entropy: weight should hold one value for each of the 4");
  CHECK_MOELAB_ERROR(cross_entropy(x, softmax(x, 1), {}, 0), "cross_entropy: ignore_index (0) is not supported");
  CHECK_MOELAB_ERROR(cross_entropy(scalar(1.0f), t), "cross_entropy");
  CHECK_MOELAB_ERROR(nll_loss(x, tensor<int64_t>({0, 5, 1})), "nll_loss: target 5 is out of range");
  CHECK_MOELAB_ERROR(nll_loss(x, t.unsqueeze(1)), "nll_loss: expected input [N, C]");
  CHECK_MOELAB_ERROR(nll_loss(x, t, {}, -100, "batchmean"), "nll_loss: reduction must be");
  CHECK_MOELAB_ERROR(nll_loss(x, t.to(kF64)), "nll_loss: target must hold class indices (i64 or i32), got f64");
}

TEST_CASE("nn loss: the other losses reject bad shapes, dtypes and options") {
  Tensor p = full({2, 3}, 0.5f), q = full({2, 3}, 0.25f);
  CHECK_MOELAB_ERROR(binary_cross_entropy(p * 3, q), "binary_cross_entropy: all elements of input should be between 0 and 1");
  CHECK_MOELAB_ERROR(binary_cross_entropy(p - 1, q), "got values in [-0.5, -0.5]");
  CHECK_MOELAB_ERROR(binary_cross_entropy(p, q.flatten()), "binary_cross_entropy: input [2, 3] and target [6] differ");
  CHECK_MOELAB_ERROR(binary_cross_entropy(p, q, ones({2})), "binary_cross_entropy: weight of shape [2] does not broadcast");
  CHECK_MOELAB_ERROR(binary_cross_entropy(p, q, {}, "avg"), "binary_cross_entropy: reduction must be");
  CHECK_MOELAB_ERROR(binary_cross_entropy_with_logits(p, q, {}, "mean", ones({2, 1, 3})),
                     "binary_cross_entropy_with_logits: pos_weight of shape [2, 1, 3] does not broadcast");
  CHECK_MOELAB_ERROR(binary_cross_entropy_with_logits(p, q.t()), "binary_cross_entropy_with_logits: input [2, 3]");
  CHECK_MOELAB_ERROR(binary_cross_entropy_with_logits(p, q.to(kI64)), "target must be floating");
  CHECK_MOELAB_ERROR(kl_div(p, q, "avg"), "kl_div: reduction must be \"mean\", \"batchmean\"");
  CHECK_MOELAB_ERROR(kl_div(p, q.flatten()), "kl_div: input [2, 3] and target [6] differ in shape");
  CHECK_MOELAB_ERROR(mse_loss(p, q.t()), "mse_loss: input [2, 3] and target [3, 2] differ in shape");
  CHECK_MOELAB_ERROR(l1_loss(p, q, "all"), "l1_loss: reduction must be");
  CHECK_MOELAB_ERROR(l1_loss(p.to(kI64), q.to(kI64)), "l1_loss");
  CHECK_MOELAB_ERROR(smooth_l1_loss(p, q, "mean", -1), "smooth_l1_loss: beta must be >= 0");
  CHECK_MOELAB_ERROR(huber_loss(p, q, "mean", 0), "huber_loss: delta must be > 0");
  CHECK_MOELAB_ERROR(cosine_similarity(p, ones({4})), "cosine_similarity");
  CHECK_MOELAB_ERROR(cosine_similarity(p, q, 2), "cosine_similarity");
  CHECK_MOELAB_ERROR(cosine_similarity(p.to(kI64), q.to(kI32)), "cosine_similarity: expected a floating common dtype");
  CHECK_MOELAB_ERROR(cosine_embedding_loss(p, q, ones({2, 1})), "cosine_embedding_loss: expected x1 and x2 [N, D]");
  CHECK_MOELAB_ERROR(cosine_embedding_loss(p, q, ones({3})), "got x1 [2, 3], x2 [2, 3] and y [3]");
  CHECK_MOELAB_ERROR(cosine_embedding_loss(p, q, ones({2}), 0, "avg"), "cosine_embedding_loss: reduction must be");
  CHECK_MOELAB_ERROR(margin_ranking_loss(p, q, ones({2})), "margin_ranking_loss: x1, x2 and y should have the same");
  CHECK_MOELAB_ERROR(margin_ranking_loss(p, ones({2, 4}), ones({2, 3})), "margin_ranking_loss");
  Tensor nq = randn({4, 8});
  CHECK_MOELAB_ERROR(info_nce(nq, randn({3, 8})), "info_nce: expected query and positive_key of one shape [N, D]");
  CHECK_MOELAB_ERROR(info_nce(nq, nq, randn({4, 2, 8})), "info_nce: expected negative_keys [M, D]");
  CHECK_MOELAB_ERROR(info_nce(nq, nq, randn({5, 8}), 0.1, "mean", "paired"), "info_nce: expected negative_keys [N, M, D]");
  CHECK_MOELAB_ERROR(info_nce(nq, nq, randn({4, 2, 7}), 0.1, "mean", "paired"), "got [4, 2, 7]");
  CHECK_MOELAB_ERROR(info_nce(nq, nq, {}, 0.0), "info_nce: temperature must be > 0");
  CHECK_MOELAB_ERROR(info_nce(nq, nq, {}, 0.1, "mean", "both"), "info_nce: negative_mode must be");
  CHECK_MOELAB_ERROR(info_nce(nq, nq, {}, 0.1, "avg"), "info_nce: reduction must be");
}

TEST_CASE("nn loss: non-contiguous targets, weights and channels-last inputs give the contiguous result") {
  manual_seed(14);
  Tensor x = randn({4, 5}, kF64);
  Tensor t = tensor<int64_t>({0, 9, -100, 9, 2, 9, 3, 9}).slice(0, 0, std::nullopt, 2);
  Tensor w = (rand({10}, kF64) + 0.5).slice(0, 0, std::nullopt, 2);
  REQUIRE(!t.is_contiguous());
  REQUIRE(!w.is_contiguous());
  check_close(cross_entropy(x, t, w, -100, "mean", 0.1), cross_entropy(x, t.contiguous(), w.contiguous(), -100, "mean", 0.1),
              1e-14, 1e-14);
  // [N, C, H, W] stored channels-last, targets [N, H, W] transposed
  Tensor xk = randn({2, 3, 4, 3}, kF64).permute({0, 3, 1, 2});  // [2, 3, 3, 4] with C = 3
  Tensor tk = randint(0, 3, {2, 4, 3}).transpose(1, 2);         // [2, 3, 4]
  REQUIRE(!xk.is_contiguous());
  check_close(cross_entropy(xk, tk, {}, -100, "none"), cross_entropy(xk.contiguous(), tk.contiguous(), {}, -100, "none"),
              1e-14, 1e-14);
  Tensor p = softmax(randn({2, 3, 4, 3}, kF64), 1).transpose(2, 3);
  check_close(cross_entropy(xk, p, {}, -100, "sum", 0.2), cross_entropy(xk.contiguous(), p.contiguous(), {}, -100, "sum", 0.2),
              1e-14, 1e-14);
  Tensor pw = (rand({8}, kF64) * 2).slice(0, 0, std::nullopt, 2);  // [4], strided
  Tensor z = randn({4, 3}, kF64).t(), zt = rand({3, 4}, kF64);
  check_close(binary_cross_entropy_with_logits(z, zt, {}, "none", pw),
              binary_cross_entropy_with_logits(z.contiguous(), zt, {}, "none", pw.contiguous()), 1e-14, 1e-14);
}
