#include "moelab/nn/normalization.h"

#include "moelab/autograd/grad_mode.h"
#include "moelab/nn/init.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/functional.h"
#include "moelab/ops/normalization.h"

namespace moelab::nn {

namespace {
int64_t positive(int64_t n, const char* layer, const char* what) {
  MOELAB_CHECK(n > 0, layer, ": ", what, " must be positive, got ", n);
  return n;
}
}  // namespace

LayerNorm::LayerNorm(Shape normalized_shape, double eps, bool elementwise_affine, DType dtype)
    : UnaryModule("LayerNorm"),
      shape_(normalized_shape),
      eps_(eps),
      weight_(elementwise_affine ? register_parameter("weight", empty(normalized_shape, dtype))
                                 : register_buffer("weight", Tensor())),
      bias_(elementwise_affine ? register_parameter("bias", empty(normalized_shape, dtype))
                               : register_buffer("bias", Tensor())) {
  MOELAB_CHECK(normalized_shape.size() >= 1, "LayerNorm: normalized_shape must have at least one dim");
  reset_parameters();
}

void LayerNorm::reset_parameters() {
  if (weight_.defined()) init::ones_(weight_);
  if (bias_.defined()) init::zeros_(bias_);
}

Tensor LayerNorm::forward(const Tensor& x) { return layer_norm(x, shape_, weight_, bias_, eps_); }

// ---- BatchNorm ----

BatchNormBase::BatchNormBase(const char* type_name, int64_t num_features, double eps, std::optional<double> momentum,
                             bool affine, bool track_running_stats, DType dtype)
    : UnaryModule(type_name),
      num_features_(positive(num_features, type_name, "num_features")),
      eps_(eps),
      momentum_(momentum),
      weight_(affine ? register_parameter("weight", empty({num_features}, dtype)) : register_buffer("weight", Tensor())),
      bias_(affine ? register_parameter("bias", empty({num_features}, dtype)) : register_buffer("bias", Tensor())),
      running_mean_(register_buffer("running_mean", track_running_stats ? zeros({num_features}, dtype) : Tensor())),
      running_var_(register_buffer("running_var", track_running_stats ? ones({num_features}, dtype) : Tensor())),
      num_batches_tracked_(register_buffer("num_batches_tracked", track_running_stats ? zeros({}, kI64) : Tensor())) {
  reset_parameters();
}

void BatchNormBase::reset_running_stats() {
  if (!running_mean_.defined()) return;
  autograd::NoGradGuard no_grad;
  running_mean_.zero_();
  running_var_.fill_(1);
  num_batches_tracked_.zero_();
}

void BatchNormBase::reset_parameters() {
  reset_running_stats();
  if (weight_.defined()) init::ones_(weight_);
  if (bias_.defined()) init::zeros_(bias_);
}

Tensor BatchNormBase::forward(const Tensor& x) {
  MOELAB_CHECK(x.defined(), type_name(), ": input is undefined");
  check_input_dim(x);
  MOELAB_CHECK(x.size(1) == num_features_, type_name(), ": input of shape ", x.shape(), " has ", x.size(1),
               " channels, expected num_features = ", num_features_);
  const bool track = running_mean_.defined();
  // As PyTorch: while training with running stats, num_batches_tracked counts this batch and a
  // null momentum averages cumulatively. The counter is bumped only after the forward succeeded.
  double factor = momentum_.value_or(0.0);
  int64_t batches = 0;
  if (is_training() && track) {
    batches = num_batches_tracked_.item<int64_t>() + 1;
    if (!momentum_) factor = 1.0 / static_cast<double>(batches);
  }
  // Without running stats (undefined buffers) even eval mode normalises with batch statistics.
  Tensor y = batch_norm(x, running_mean_, running_var_, weight_, bias_, is_training() || !track, factor, eps_);
  if (is_training() && track) {
    autograd::NoGradGuard no_grad;
    num_batches_tracked_.fill_(batches);
  }
  return y;
}

void BatchNorm1d::check_input_dim(const Tensor& x) const {
  MOELAB_CHECK(x.dim() == 2 || x.dim() == 3, "BatchNorm1d: expected 2D or 3D input (got ", x.dim(),
               "D input of shape ", x.shape(), ")");
}

void BatchNorm2d::check_input_dim(const Tensor& x) const {
  MOELAB_CHECK(x.dim() == 4, "BatchNorm2d: expected 4D input (got ", x.dim(), "D input of shape ", x.shape(), ")");
}

// ---- GroupNorm ----

GroupNorm::GroupNorm(int64_t num_groups, int64_t num_channels, double eps, bool affine, DType dtype)
    : UnaryModule("GroupNorm"),
      num_groups_(positive(num_groups, "GroupNorm", "num_groups")),
      num_channels_(num_channels),
      eps_(eps),
      weight_(affine ? register_parameter("weight", empty({num_channels}, dtype)) : register_buffer("weight", Tensor())),
      bias_(affine ? register_parameter("bias", empty({num_channels}, dtype)) : register_buffer("bias", Tensor())) {
  MOELAB_CHECK(num_channels >= 0 && num_channels % num_groups == 0, "GroupNorm: num_channels (", num_channels,
               ") must be divisible by num_groups (", num_groups, ")");
  reset_parameters();
}

void GroupNorm::reset_parameters() {
  if (weight_.defined()) init::ones_(weight_);
  if (bias_.defined()) init::zeros_(bias_);
}

Tensor GroupNorm::forward(const Tensor& x) {
  MOELAB_CHECK(x.defined() && x.dim() >= 2 && x.size(1) == num_channels_, "GroupNorm: expected input [N, ",
               num_channels_, ", *], got shape ", x.defined() ? x.shape() : Shape{});
  return group_norm(x, num_groups_, weight_, bias_, eps_);
}

// ---- RMSNorm ----

RMSNorm::RMSNorm(Shape normalized_shape, std::optional<double> eps, bool elementwise_affine, DType dtype)
    : UnaryModule("RMSNorm"),
      shape_(normalized_shape),
      eps_(eps),
      weight_(elementwise_affine ? register_parameter("weight", empty(normalized_shape, dtype))
                                 : register_buffer("weight", Tensor())) {
  MOELAB_CHECK(normalized_shape.size() >= 1, "RMSNorm: normalized_shape must have at least one dim");
  reset_parameters();
}

void RMSNorm::reset_parameters() {
  if (weight_.defined()) init::ones_(weight_);
}

Tensor RMSNorm::forward(const Tensor& x) { return rms_norm(x, shape_, weight_, eps_); }

}  // namespace moelab::nn
