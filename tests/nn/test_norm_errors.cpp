// User errors of the normalisation layers: wrong channel counts, ranks, groups, dtypes, options.
#include "support/check.h"

using namespace moelab;

TEST_CASE("nn norm: batch_norm and BatchNorm errors") {
  Tensor x = randn({4, 3});
  Tensor rm = zeros({3}), rv = ones({3});
  CHECK_MOELAB_ERROR(batch_norm(randn({1, 3}), rm, rv, {}, {}, true),
                     "batch_norm: Expected more than 1 value per channel when training, got input of shape [1, 3]");
  CHECK_MOELAB_ERROR(batch_norm(randn({1, 3, 1, 1}), {}, {}, {}, {}, true),
                     "Expected more than 1 value per channel when training");
  CHECK(batch_norm(randn({1, 3}), rm, rv).shape() == Shape{1, 3});  // eval takes a single value
  CHECK_MOELAB_ERROR(batch_norm(x, zeros({4}), rv, {}, {}, true),
                     "batch_norm: running_mean of shape [4] does not match the expected [3] for input of shape [4, 3]");
  CHECK_MOELAB_ERROR(batch_norm(x, rm, rv, ones({2})), "batch_norm: weight of shape [2] does not match");
  CHECK_MOELAB_ERROR(batch_norm(x, rm, rv, {}, ones({4})), "batch_norm: bias of shape [4]");
  CHECK_MOELAB_ERROR(batch_norm(x, zeros({3}, kF64), rv, {}, {}, true),
                     "batch_norm: running_mean has dtype f64 but the input has f32");
  CHECK_MOELAB_ERROR(batch_norm(x, rm, rv, ones({3}, kF64)), "batch_norm: weight has dtype f64 but the input has f32");
  CHECK_MOELAB_ERROR(batch_norm(zeros({4, 3}, kI32), {}, {}, {}, {}, true), "batch_norm");
  CHECK_MOELAB_ERROR(batch_norm(randn({4}), {}, {}, {}, {}, true), "batch_norm: input must be [N, C, *] (at least 2-D)");
  CHECK_MOELAB_ERROR(batch_norm(x, {}, {}), "batch_norm: running_mean and running_var are required when not training");
  CHECK_MOELAB_ERROR(batch_norm(x, rm, {}, {}, {}, true), "both be given or both be undefined");
  CHECK_MOELAB_ERROR(batch_norm(Tensor(), rm, rv), "batch_norm");
  // A failed call leaves the running stats alone.
  CHECK(equal(rm, zeros({3})));

  nn::BatchNorm1d bn1(3);
  CHECK_MOELAB_ERROR(bn1(randn({2, 3, 4, 5})), "BatchNorm1d: expected 2D or 3D input (got 4D input");
  CHECK_MOELAB_ERROR(bn1(randn({3})), "BatchNorm1d: expected 2D or 3D input (got 1D input");
  CHECK_MOELAB_ERROR(bn1(randn({2, 4})), "BatchNorm1d: input of shape [2, 4] has 4 channels, expected num_features = 3");
  CHECK_MOELAB_ERROR(bn1(randn({1, 3})), "Expected more than 1 value per channel when training");
  CHECK(bn1.num_batches_tracked().item<int64_t>() == 0);  // failed forwards are not counted
  CHECK_MOELAB_ERROR(bn1(randn({4, 3}, kF64)), "batch_norm: running_mean has dtype f32 but the input has f64");
  nn::BatchNorm2d bn2(3);
  CHECK_MOELAB_ERROR(bn2(randn({2, 3, 4})), "BatchNorm2d: expected 4D input (got 3D input");
  CHECK_MOELAB_ERROR(bn2(randn({2, 2, 4, 4})), "BatchNorm2d: input of shape [2, 2, 4, 4] has 2 channels");
  CHECK_MOELAB_ERROR(nn::BatchNorm2d(0), "BatchNorm2d: num_features must be positive");
}

TEST_CASE("nn norm: group_norm, GroupNorm, rms_norm and RMSNorm errors") {
  CHECK_MOELAB_ERROR(group_norm(randn({2, 4}), 3),
                     "group_norm: the number of channels 4 of input of shape [2, 4] is not divisible by num_groups = 3");
  CHECK_MOELAB_ERROR(group_norm(randn({2, 4}), 0), "group_norm: num_groups must be positive");
  CHECK_MOELAB_ERROR(group_norm(randn({4}), 2), "group_norm: input must be [N, C, *] (at least 2-D), got shape [4]");
  CHECK_MOELAB_ERROR(group_norm(randn({2, 4}), 2, ones({2})), "group_norm: weight of shape [2] does not match");
  CHECK_MOELAB_ERROR(group_norm(randn({2, 4}), 2, ones({4}), zeros({4}, kF64)), "group_norm: bias has dtype f64");
  CHECK_MOELAB_ERROR(group_norm(zeros({2, 4}, kI64), 2), "group_norm");
  CHECK_MOELAB_ERROR(nn::GroupNorm(3, 4), "GroupNorm: num_channels (4) must be divisible by num_groups (3)");
  CHECK_MOELAB_ERROR(nn::GroupNorm(0, 4), "GroupNorm: num_groups must be positive");
  nn::GroupNorm gn(2, 4);
  CHECK_MOELAB_ERROR(gn(randn({2, 6, 3})), "GroupNorm: expected input [N, 4, *], got shape [2, 6, 3]");
  CHECK_MOELAB_ERROR(gn(randn({2, 4}, kF64)), "group_norm: weight has dtype f32 but the input has f64");

  CHECK_MOELAB_ERROR(rms_norm(randn({2, 3}), {4}), "rms_norm: normalized_shape [4] does not match the trailing dims of input [2, 3]");
  CHECK_MOELAB_ERROR(rms_norm(randn({2, 3}), {}), "rms_norm: normalized_shape [] does not match");
  CHECK_MOELAB_ERROR(rms_norm(randn({2, 3}), {3}, ones({2})), "rms_norm: weight of shape [2] does not match the expected [3]");
  CHECK_MOELAB_ERROR(rms_norm(randn({2, 3}), {3}, ones({3}, kF64)), "rms_norm: weight has dtype f64");
  CHECK_MOELAB_ERROR(rms_norm(zeros({2, 3}, kI32), {3}), "rms_norm");
  CHECK_MOELAB_ERROR(nn::RMSNorm(Shape{}), "RMSNorm: normalized_shape must have at least one dim");
  nn::RMSNorm rms({3});
  CHECK_MOELAB_ERROR(rms(randn({3, 2})), "rms_norm: normalized_shape [3] does not match");
}
