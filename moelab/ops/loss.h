// Loss functions (PyTorch 1.13's torch.nn.functional losses): names, argument order, defaults and
// values as there. Each is written from differentiable ops, so gradients of any order come from
// autograd.
//
// reduction is "mean", "sum" or "none" everywhere (kl_div also takes "batchmean"); anything else is
// an Error. Input and target must have the same shape where PyTorch would broadcast them with a
// warning (the regression and binary losses): a mismatch is almost always a bug, so it is an Error.
#pragma once
#include <string_view>

#include "moelab/core/tensor.h"

namespace moelab {

// ---- classification ----

// Negative log-likelihood of log-probabilities. input [N, C], [N, C, d1, ...] or [C]; target class
// indices (i64 or i32) of shape [N], [N, d1, ...] or []. weight: [C] per-class weights (optional).
// Targets equal to ignore_index contribute nothing; "mean" divides by the summed weights of the
// targets that are not ignored (so an all-ignored batch gives NaN, as in PyTorch).
Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight = {}, int64_t ignore_index = -100,
                std::string_view reduction = "mean");

// log_softmax over the class dim (1, or 0 for a [C] input) followed by nll_loss. The target is
// either class indices (as for nll_loss) or class probabilities (floating, the shape of input).
// label_smoothing in [0, 1] mixes the target with the uniform distribution:
//   indices:       (1 - s) * nll + s / C * sum_c w_c * (-log p_c), "mean" dividing by the summed
//                  weights of the non-ignored targets (PyTorch 1.13's formula);
//   probabilities: target' = target * (1 - s) + s / C, loss = -sum_c w_c target'_c log p_c, "mean"
//                  dividing by the number of samples (N * d1 * ...), not by the weights.
// ignore_index must stay negative (unused) with probability targets, as in PyTorch.
Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = {},
                     int64_t ignore_index = -100, std::string_view reduction = "mean", double label_smoothing = 0.0);
// Shorthand for cross_entropy(input, target, {}, -100, reduction): cross_entropy(x, t, "sum").
Tensor cross_entropy(const Tensor& input, const Tensor& target, std::string_view reduction);

// -w * (t * log(x) + (1 - t) * log(1 - x)), each log clamped to >= -100 as in PyTorch. input must be
// in [0, 1]; weight broadcasts to the input's shape.
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = {},
                            std::string_view reduction = "mean");

// binary_cross_entropy(sigmoid(input), target) in a numerically stable form:
//   w * ((1 - t) * x + (1 + (pos_weight - 1) * t) * log(1 + exp(-x))).
// weight and pos_weight broadcast to the input's shape (pos_weight is usually [C], the last dim).
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const Tensor& weight = {},
                                        std::string_view reduction = "mean", const Tensor& pos_weight = {});

// Kullback-Leibler divergence with input = log q: target * (log target - input) (0 where target is 0),
// or exp(target) * (target - input) when log_target. "batchmean" divides the sum by input.size(0),
// the mathematically correct KL divergence per sample; "mean" divides by the number of elements.
Tensor kl_div(const Tensor& input, const Tensor& target, std::string_view reduction = "mean",
              bool log_target = false);

// ---- regression ----

Tensor mse_loss(const Tensor& input, const Tensor& target, std::string_view reduction = "mean");
Tensor l1_loss(const Tensor& input, const Tensor& target, std::string_view reduction = "mean");
// 0.5 * d^2 / beta where |d| < beta, else |d| - 0.5 * beta (l1_loss when beta = 0); beta >= 0.
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, std::string_view reduction = "mean",
                      double beta = 1.0);
// 0.5 * d^2 where |d| < delta, else delta * (|d| - 0.5 * delta); delta > 0.
Tensor huber_loss(const Tensor& input, const Tensor& target, std::string_view reduction = "mean",
                  double delta = 1.0);

// ---- similarity and embedding losses ----

// Cosine of the angle between x1 and x2 (broadcast together) along dim, as PyTorch 1.13 computes it:
// each input is divided by sqrt(max(||x||^2, eps^2)), then the products are summed. The clamp is
// invisible to the gradient (it flows as if the squared norm were unclamped), matching PyTorch.
Tensor cosine_similarity(const Tensor& x1, const Tensor& x2, int64_t dim = 1, double eps = 1e-8);

// x1, x2 [N, D] with y [N] (or [D] with a 0-d y) of +1 / -1:
// 1 - cos where y = 1, max(0, cos - margin) where y = -1, 0 otherwise (cos with PyTorch's 1e-12
// added to each squared norm).
Tensor cosine_embedding_loss(const Tensor& x1, const Tensor& x2, const Tensor& y, double margin = 0.0,
                             std::string_view reduction = "mean");

// max(0, -y * (x1 - x2) + margin); the three broadcast together and have the same number of dims.
Tensor margin_ranking_loss(const Tensor& x1, const Tensor& x2, const Tensor& y, double margin = 0.0,
                           std::string_view reduction = "mean");

// InfoNCE (contrastive predictive coding / SimCLR-style) loss. query and positive_key [N, D] are
// L2-normalised along D (x / max(||x||, 1e-12)); logits are cosine similarities / temperature, and
// the loss is cross_entropy(logits, labels, reduction):
// - negative_keys undefined: logits = q @ p^T [N, N], labels = arange(N) (each query's positive is
//   its own row; the other rows' positives are its negatives);
// - negative_mode "unpaired", negative_keys [M, D]: logits = [q.p | q @ n^T] [N, 1 + M], labels 0;
// - negative_mode "paired", negative_keys [N, M, D] (each query its own negatives): logits
//   [N, 1 + M] with row i = [q_i.p_i, q_i.n_i1, ..., q_i.n_iM], labels 0.
Tensor info_nce(const Tensor& query, const Tensor& positive_key, const Tensor& negative_keys = {},
                double temperature = 0.1, std::string_view reduction = "mean",
                std::string_view negative_mode = "unpaired");

namespace detail {
// Applies "mean", "sum" or "none" to elementwise losses; any other string throws naming op.
Tensor reduce_loss(const Tensor& loss, std::string_view reduction, const char* op);
// input and target defined, on one device, of the same shape, both floating; else an Error naming op.
void check_same_shape_floating(const Tensor& input, const Tensor& target, const char* op);
}  // namespace detail

}  // namespace moelab
