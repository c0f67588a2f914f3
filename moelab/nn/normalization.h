// Normalisation layers, as torch.nn:
// - LayerNorm normalises over the trailing normalized_shape dims with a learned elementwise affine
//   (weight 1, bias 0 at start).
// - BatchNorm1d ([N, C] or [N, C, L]) and BatchNorm2d ([N, C, H, W]) normalise each channel over the
//   batch while training and keep running statistics (buffers running_mean, running_var,
//   num_batches_tracked, named as in PyTorch) that eval mode uses. momentum = std::nullopt means a
//   cumulative moving average (factor 1 / num_batches_tracked).
// - GroupNorm normalises groups of channels per sample; RMSNorm (torch 2.4) scales by the inverse
//   root mean square over the trailing dims.
#pragma once
#include <optional>

#include "moelab/nn/module.h"

namespace moelab::nn {

class LayerNorm : public UnaryModule {
 public:
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true, DType dtype = kF32);
  Tensor forward(const Tensor& x) override;
  void reset_parameters();

  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }

 private:
  Shape shape_;
  double eps_;
  Tensor& weight_;
  Tensor& bias_;
};

// PyTorch's _BatchNorm: the shared body of BatchNorm1d/2d (which only add the input-rank check).
class BatchNormBase : public UnaryModule {
 public:
  Tensor forward(const Tensor& x) override;
  // Running stats back to mean 0, variance 1, num_batches_tracked 0.
  void reset_running_stats();
  void reset_parameters();

  int64_t num_features() const { return num_features_; }
  double eps() const { return eps_; }
  std::optional<double> momentum() const { return momentum_; }
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }
  const Tensor& running_mean() const { return running_mean_; }
  const Tensor& running_var() const { return running_var_; }
  const Tensor& num_batches_tracked() const { return num_batches_tracked_; }

 protected:
  BatchNormBase(const char* type_name, int64_t num_features, double eps, std::optional<double> momentum, bool affine,
                bool track_running_stats, DType dtype);
  virtual void check_input_dim(const Tensor& x) const = 0;

 private:
  int64_t num_features_;
  double eps_;
  std::optional<double> momentum_;
  Tensor& weight_;
  Tensor& bias_;
  Tensor& running_mean_;
  Tensor& running_var_;
  Tensor& num_batches_tracked_;
};

class BatchNorm1d : public BatchNormBase {
 public:
  explicit BatchNorm1d(int64_t num_features, double eps = 1e-5, std::optional<double> momentum = 0.1,
                       bool affine = true, bool track_running_stats = true, DType dtype = kF32)
      : BatchNormBase("BatchNorm1d", num_features, eps, momentum, affine, track_running_stats, dtype) {}

 protected:
  void check_input_dim(const Tensor& x) const override;
};

class BatchNorm2d : public BatchNormBase {
 public:
  explicit BatchNorm2d(int64_t num_features, double eps = 1e-5, std::optional<double> momentum = 0.1,
                       bool affine = true, bool track_running_stats = true, DType dtype = kF32)
      : BatchNormBase("BatchNorm2d", num_features, eps, momentum, affine, track_running_stats, dtype) {}

 protected:
  void check_input_dim(const Tensor& x) const override;
};

class GroupNorm : public UnaryModule {
 public:
  GroupNorm(int64_t num_groups, int64_t num_channels, double eps = 1e-5, bool affine = true, DType dtype = kF32);
  Tensor forward(const Tensor& x) override;
  void reset_parameters();

  int64_t num_groups() const { return num_groups_; }
  int64_t num_channels() const { return num_channels_; }
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }

 private:
  int64_t num_groups_, num_channels_;
  double eps_;
  Tensor& weight_;
  Tensor& bias_;
};

class RMSNorm : public UnaryModule {
 public:
  explicit RMSNorm(Shape normalized_shape, std::optional<double> eps = std::nullopt, bool elementwise_affine = true,
                   DType dtype = kF32);
  Tensor forward(const Tensor& x) override;
  void reset_parameters();

  const Tensor& weight() const { return weight_; }

 private:
  Shape shape_;
  std::optional<double> eps_;
  Tensor& weight_;
};

}  // namespace moelab::nn
