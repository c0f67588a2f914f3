#include "moelab/nn/loss.h"

#include "moelab/ops/loss.h"

namespace moelab::nn {
namespace {
std::string checked_reduction(const std::string& type, std::string reduction, bool batchmean_ok = false) {
  MOELAB_CHECK(reduction == "mean" || reduction == "sum" || reduction == "none" ||
                   (batchmean_ok && reduction == "batchmean"),
               type, ": reduction must be \"mean\", ", batchmean_ok ? "\"batchmean\", " : "",
               "\"sum\" or \"none\", got \"", reduction, "\"");
  return reduction;
}
}  // namespace

Loss::Loss(std::string type_name, std::string reduction, bool batchmean_ok)
    : Module(type_name), reduction_(checked_reduction(type_name, std::move(reduction), batchmean_ok)) {}

Tensor* Loss::optional_buffer(const std::string& name, const Tensor& t) {
  return t.defined() ? &register_buffer(name, t) : nullptr;
}

L1Loss::L1Loss(std::string reduction) : Loss("L1Loss", std::move(reduction)) {}
Tensor L1Loss::forward(const Tensor& input, const Tensor& target) { return l1_loss(input, target, reduction_); }

MSELoss::MSELoss(std::string reduction) : Loss("MSELoss", std::move(reduction)) {}
Tensor MSELoss::forward(const Tensor& input, const Tensor& target) { return mse_loss(input, target, reduction_); }

SmoothL1Loss::SmoothL1Loss(std::string reduction, double beta)
    : Loss("SmoothL1Loss", std::move(reduction)), beta_(beta) {
  MOELAB_CHECK(beta >= 0, "SmoothL1Loss: beta must be >= 0, got ", beta);
}
Tensor SmoothL1Loss::forward(const Tensor& input, const Tensor& target) {
  return smooth_l1_loss(input, target, reduction_, beta_);
}

HuberLoss::HuberLoss(std::string reduction, double delta) : Loss("HuberLoss", std::move(reduction)), delta_(delta) {
  MOELAB_CHECK(delta > 0, "HuberLoss: delta must be > 0, got ", delta);
}
Tensor HuberLoss::forward(const Tensor& input, const Tensor& target) {
  return huber_loss(input, target, reduction_, delta_);
}

NLLLoss::NLLLoss(const Tensor& weight, int64_t ignore_index, std::string reduction)
    : Loss("NLLLoss", std::move(reduction)), weight_(optional_buffer("weight", weight)), ignore_index_(ignore_index) {}
Tensor NLLLoss::forward(const Tensor& input, const Tensor& target) {
  return nll_loss(input, target, get(weight_), ignore_index_, reduction_);
}

CrossEntropyLoss::CrossEntropyLoss(const Tensor& weight, int64_t ignore_index, std::string reduction,
                                   double label_smoothing)
    : Loss("CrossEntropyLoss", std::move(reduction)),
      weight_(optional_buffer("weight", weight)),
      ignore_index_(ignore_index),
      label_smoothing_(label_smoothing) {
  MOELAB_CHECK(label_smoothing >= 0 && label_smoothing <= 1,
               "CrossEntropyLoss: label_smoothing must be in [0, 1], got ", label_smoothing);
}
Tensor CrossEntropyLoss::forward(const Tensor& input, const Tensor& target) {
  return cross_entropy(input, target, get(weight_), ignore_index_, reduction_, label_smoothing_);
}

BCELoss::BCELoss(const Tensor& weight, std::string reduction)
    : Loss("BCELoss", std::move(reduction)), weight_(optional_buffer("weight", weight)) {}
Tensor BCELoss::forward(const Tensor& input, const Tensor& target) {
  return binary_cross_entropy(input, target, get(weight_), reduction_);
}

BCEWithLogitsLoss::BCEWithLogitsLoss(const Tensor& weight, std::string reduction, const Tensor& pos_weight)
    : Loss("BCEWithLogitsLoss", std::move(reduction)),
      weight_(optional_buffer("weight", weight)),
      pos_weight_(optional_buffer("pos_weight", pos_weight)) {}
Tensor BCEWithLogitsLoss::forward(const Tensor& input, const Tensor& target) {
  return binary_cross_entropy_with_logits(input, target, get(weight_), reduction_, get(pos_weight_));
}

KLDivLoss::KLDivLoss(std::string reduction, bool log_target)
    : Loss("KLDivLoss", std::move(reduction), /*batchmean_ok=*/true), log_target_(log_target) {}
Tensor KLDivLoss::forward(const Tensor& input, const Tensor& target) {
  return kl_div(input, target, reduction_, log_target_);
}

CosineEmbeddingLoss::CosineEmbeddingLoss(double margin, std::string reduction)
    : Module("CosineEmbeddingLoss"),
      margin_(margin),
      reduction_(checked_reduction("CosineEmbeddingLoss", std::move(reduction))) {}
Tensor CosineEmbeddingLoss::forward(const Tensor& x1, const Tensor& x2, const Tensor& y) {
  return cosine_embedding_loss(x1, x2, y, margin_, reduction_);
}

MarginRankingLoss::MarginRankingLoss(double margin, std::string reduction)
    : Module("MarginRankingLoss"),
      margin_(margin),
      reduction_(checked_reduction("MarginRankingLoss", std::move(reduction))) {}
Tensor MarginRankingLoss::forward(const Tensor& x1, const Tensor& x2, const Tensor& y) {
  return margin_ranking_loss(x1, x2, y, margin_, reduction_);
}

}  // namespace moelab::nn
