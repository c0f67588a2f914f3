// Loss modules: same values as the functional forms, weights as buffers, option checks.
#include "support/check.h"

using namespace moelab;
using moelab::testing::check_close;

TEST_CASE("nn loss: modules compute their functional forms with the stored options") {
  manual_seed(21);
  Tensor x = randn({4, 3}, kF64), y = randn({4, 3}, kF64), w = rand({3}, kF64) + 0.5;
  Tensor t = tensor<int64_t>({0, 2, -100, 1});
  nn::CrossEntropyLoss ce(w, -100, "sum", 0.2);
  check_close(ce(x, t), cross_entropy(x, t, w, -100, "sum", 0.2), 0, 0);
  CHECK(ce.named_buffers().size() == 1);
  CHECK(ce.named_buffers()[0].first == "weight");
  CHECK(ce.parameters().empty());
  CHECK(nn::CrossEntropyLoss().named_buffers().empty());
  nn::NLLLoss nll(w, 2, "none");
  check_close(nll(log_softmax(x, 1), t.abs().clamp(0, 2)), nll_loss(log_softmax(x, 1), t.abs().clamp(0, 2), w, 2, "none"), 0, 0);
  check_close(nn::MSELoss("sum")(x, y), mse_loss(x, y, "sum"), 0, 0);
  check_close(nn::L1Loss()(x, y), l1_loss(x, y), 0, 0);
  check_close(nn::SmoothL1Loss("none", 0.5)(x, y), smooth_l1_loss(x, y, "none", 0.5), 0, 0);
  check_close(nn::HuberLoss("mean", 2.0)(x, y), huber_loss(x, y, "mean", 2.0), 0, 0);
  Tensor p = sigmoid(x), q = sigmoid(y);
  check_close(nn::BCELoss(w)(p, q), binary_cross_entropy(p, q, w), 0, 0);
  nn::BCEWithLogitsLoss bcel(w, "sum", w * 2);
  check_close(bcel(x, q), binary_cross_entropy_with_logits(x, q, w, "sum", w * 2), 0, 0);
  CHECK(bcel.named_buffers().size() == 2);
  CHECK(bcel.named_buffers()[1].first == "pos_weight");
  Tensor lq = log_softmax(x, 1), pt = softmax(y, 1);
  check_close(nn::KLDivLoss("batchmean")(lq, pt), kl_div(lq, pt, "batchmean"), 0, 0);
  check_close(nn::KLDivLoss("sum", true)(lq, lq), kl_div(lq, lq, "sum", true), 0, 0);
  Tensor s = tensor<double>({1, -1, -1, 1});
  check_close(nn::CosineEmbeddingLoss(0.1)(x, y, s), cosine_embedding_loss(x, y, s, 0.1), 0, 0);
  check_close(nn::MarginRankingLoss(0.3, "none")(x.select(1, 0), y.select(1, 0), s),
              margin_ranking_loss(x.select(1, 0), y.select(1, 0), s, 0.3, "none"), 0, 0);
  // Gradients flow through the module call.
  Tensor xl = x.clone();
  xl.requires_grad_();
  ce(xl, t).backward();
  CHECK(xl.grad().defined());
}

TEST_CASE("nn loss: modules check their options at construction") {
  CHECK_MOELAB_ERROR(nn::MSELoss("avg"), "MSELoss: reduction must be \"mean\", \"sum\" or \"none\", got \"avg\"");
  CHECK_MOELAB_ERROR(nn::CrossEntropyLoss({}, -100, "mean", 2.0), "CrossEntropyLoss: label_smoothing must be in [0, 1]");
  CHECK_MOELAB_ERROR(nn::KLDivLoss("avg"), "KLDivLoss: reduction must be \"mean\", \"batchmean\"");
  CHECK_MOELAB_ERROR(nn::L1Loss("batchmean"), "L1Loss: reduction must be");
  CHECK_MOELAB_ERROR(nn::SmoothL1Loss("mean", -1.0), "SmoothL1Loss: beta must be >= 0");
  CHECK_MOELAB_ERROR(nn::HuberLoss("mean", 0.0), "HuberLoss: delta must be > 0");
  CHECK_MOELAB_ERROR(nn::MarginRankingLoss(0.0, "max"), "MarginRankingLoss: reduction must be");
  CHECK_MOELAB_ERROR(nn::CosineEmbeddingLoss(0.0, ""), "CosineEmbeddingLoss: reduction must be");
}
