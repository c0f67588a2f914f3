// Loss modules (torch.nn.*Loss): thin wrappers that hold the options of the functional forms in
// moelab/ops/loss.h. Class weights (and pos_weight) are buffers, as in PyTorch, registered only
// when given. An invalid reduction is an Error at construction.
#pragma once
#include <string>

#include "moelab/nn/module.h"

namespace moelab::nn {

// A loss of (input, target).
class Loss : public Module {
 public:
  Loss(std::string type_name, std::string reduction, bool batchmean_ok = false);
  virtual Tensor forward(const Tensor& input, const Tensor& target) = 0;
  Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }
  const std::string& reduction() const { return reduction_; }

 protected:
  // Registers t as buffer `name` when defined; returns its slot (nullptr when undefined).
  Tensor* optional_buffer(const std::string& name, const Tensor& t);
  static Tensor get(const Tensor* slot) { return slot ? *slot : Tensor(); }
  std::string reduction_;
};

class L1Loss : public Loss {
 public:
  explicit L1Loss(std::string reduction = "mean");
  Tensor forward(const Tensor& input, const Tensor& target) override;
};

class MSELoss : public Loss {
 public:
  explicit MSELoss(std::string reduction = "mean");
  Tensor forward(const Tensor& input, const Tensor& target) override;
};

class SmoothL1Loss : public Loss {
 public:
  explicit SmoothL1Loss(std::string reduction = "mean", double beta = 1.0);
  Tensor forward(const Tensor& input, const Tensor& target) override;

 private:
  double beta_;
};

class HuberLoss : public Loss {
 public:
  explicit HuberLoss(std::string reduction = "mean", double delta = 1.0);
  Tensor forward(const Tensor& input, const Tensor& target) override;

 private:
  double delta_;
};

class NLLLoss : public Loss {
 public:
  explicit NLLLoss(const Tensor& weight = {}, int64_t ignore_index = -100, std::string reduction = "mean");
  Tensor forward(const Tensor& input, const Tensor& target) override;

 private:
  Tensor* weight_;
  int64_t ignore_index_;
};

class CrossEntropyLoss : public Loss {
 public:
  explicit CrossEntropyLoss(const Tensor& weight = {}, int64_t ignore_index = -100, std::string reduction = "mean",
                            double label_smoothing = 0.0);
  Tensor forward(const Tensor& input, const Tensor& target) override;

 private:
  Tensor* weight_;
  int64_t ignore_index_;
  double label_smoothing_;
};

class BCELoss : public Loss {
 public:
  explicit BCELoss(const Tensor& weight = {}, std::string reduction = "mean");
  Tensor forward(const Tensor& input, const Tensor& target) override;

 private:
  Tensor* weight_;
};

class BCEWithLogitsLoss : public Loss {
 public:
  explicit BCEWithLogitsLoss(const Tensor& weight = {}, std::string reduction = "mean", const Tensor& pos_weight = {});
  Tensor forward(const Tensor& input, const Tensor& target) override;

 private:
  Tensor* weight_;
  Tensor* pos_weight_;
};

class KLDivLoss : public Loss {
 public:
  explicit KLDivLoss(std::string reduction = "mean", bool log_target = false);
  Tensor forward(const Tensor& input, const Tensor& target) override;

 private:
  bool log_target_;
};

// Losses of (x1, x2, y).
class CosineEmbeddingLoss : public Module {
 public:
  explicit CosineEmbeddingLoss(double margin = 0.0, std::string reduction = "mean");
  Tensor forward(const Tensor& x1, const Tensor& x2, const Tensor& y);
  Tensor operator()(const Tensor& x1, const Tensor& x2, const Tensor& y) { return forward(x1, x2, y); }

 private:
  double margin_;
  std::string reduction_;
};

class MarginRankingLoss : public Module {
 public:
  explicit MarginRankingLoss(double margin = 0.0, std::string reduction = "mean");
  Tensor forward(const Tensor& x1, const Tensor& x2, const Tensor& y);
  Tensor operator()(const Tensor& x1, const Tensor& x2, const Tensor& y) { return forward(x1, x2, y); }

 private:
  double margin_;
  std::string reduction_;
};

}  // namespace moelab::nn
