// conv family: the primitive cache, empty and size-1 dims, thread-count independence, errors.
#include "support/check.h"

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::check_equal;

TEST_CASE("conv: repeated conv2d with one geometry builds its oneDNN primitive once") {
  detail::clear_conv_cache();
  Tensor x = ones({2, 3, 8, 8});
  Tensor w = ones({4, 3, 3, 3});
  Tensor b = zeros({4});
  ConvCacheStats s0 = detail::conv_cache_stats();
  CHECK(s0.primitives_created == 0);
  CHECK(s0.size == 0);
  Tensor y1 = conv2d(x, w, b, 1, 1);
  Tensor y2 = conv2d(x + 1.0, w, b, 1, 1);  // new data, same geometry
  ConvCacheStats s1 = detail::conv_cache_stats();
  CHECK(s1.primitives_created == 1);
  CHECK(s1.hits == 1);
  CHECK(s1.size == 1);
  check_close(y2, y1 * 2.0);
  // Another geometry (stride), and no bias, are other primitives.
  (void)conv2d(x, w, b, 2, 1);
  (void)conv2d(x, w, {}, 1, 1);
  CHECK(detail::conv_cache_stats().primitives_created == 3);
  (void)conv2d(x, w, {}, 1, 1);
  CHECK(detail::conv_cache_stats().primitives_created == 3);
  CHECK(detail::conv_cache_stats().hits == 2);
  // The backward passes have their own entries, cached the same way.
  (void)conv2d_backward_input(y1, w, x.shape(), 1, 1);
  (void)conv2d_backward_input(y1, w, x.shape(), 1, 1);
  CHECK(detail::conv_cache_stats().primitives_created == 4);
  // f64 does not go through oneDNN.
  (void)conv2d(x.to(kF64), w.to(kF64), {}, 1, 1);
  CHECK(detail::conv_cache_stats().primitives_created == 4);
}

TEST_CASE("conv: f32 (oneDNN) and f64 (GEMM) paths agree on a larger case") {
  Tensor x = sin(linspace(-1, 1, 2 * 6 * 9 * 11).reshape({2, 6, 9, 11}));
  Tensor w = cos(linspace(-2, 1, 4 * 3 * 3 * 2).reshape({4, 3, 3, 2}));
  Tensor b = tensor({0.5f, -1.f, 2.f, 0.f});
  Tensor y32 = conv2d(x, w, b, {2, 1}, {1, 2}, {1, 2}, 2);
  Tensor y64 = conv2d(x.to(kF64), w.to(kF64), b.to(kF64), {2, 1}, {1, 2}, {1, 2}, 2);
  check_close(y32, y64.to(kF32), 1e-4, 1e-4);
  Tensor gy = cos(y64);
  check_close(conv2d_backward_input(gy.to(kF32), w, x.shape(), {2, 1}, {1, 2}, {1, 2}, 2),
              conv2d_backward_input(gy, w.to(kF64), x.shape(), {2, 1}, {1, 2}, {1, 2}, 2).to(kF32), 1e-4, 1e-4);
  auto [gw32, gb32] = conv2d_backward_weight(gy.to(kF32), x, w.shape(), true, {2, 1}, {1, 2}, {1, 2}, 2);
  auto [gw64, gb64] = conv2d_backward_weight(gy, x.to(kF64), w.shape(), true, {2, 1}, {1, 2}, {1, 2}, 2);
  check_close(gw32, gw64.to(kF32), 1e-4, 1e-4);
  check_close(gb32, gb64.to(kF32), 1e-4, 1e-4);
}

TEST_CASE("conv: results do not depend on the thread count") {
  Tensor x = sin(linspace(-3, 3, 8 * 4 * 10 * 10, kF64).reshape({8, 4, 10, 10}));
  Tensor w = linspace(-1, 1, 5 * 4 * 3 * 3).reshape({5, 4, 3, 3}).to(kF64);
  int saved = get_num_threads();
  set_num_threads(1);
  Tensor y1 = conv2d(x, w, {}, 1, 1);
  auto [gw1, gb1] = conv2d_backward_weight(y1, x, w.shape(), true, 1, 1);
  Tensor m1 = max_pool2d(x, 3, 1, 1);
  set_num_threads(2);
  Tensor y2 = conv2d(x, w, {}, 1, 1);
  auto [gw2, gb2] = conv2d_backward_weight(y2, x, w.shape(), true, 1, 1);
  Tensor m2 = max_pool2d(x, 3, 1, 1);
  set_num_threads(saved);
  check_equal(y1, y2);
  check_equal(gw1, gw2);
  check_equal(gb1, gb2);
  check_equal(m1, m2);
}

TEST_CASE("conv: size-0 and size-1 dims") {
  for (DType dt : {kF32, kF64}) {
    CAPTURE(dt);
    // Empty batch.
    CHECK(conv2d(zeros({0, 3, 5, 5}, dt), zeros({2, 3, 3, 3}, dt)).shape() == Shape{0, 2, 3, 3});
    CHECK(conv_transpose2d(zeros({0, 3, 5, 5}, dt), zeros({3, 2, 3, 3}, dt)).shape() == Shape{0, 2, 7, 7});
    CHECK(max_pool2d(zeros({0, 2, 4, 4}, dt), 2).shape() == Shape{0, 2, 2, 2});
    CHECK(avg_pool2d(zeros({0, 2, 4, 4}, dt), 2).shape() == Shape{0, 2, 2, 2});
    CHECK(adaptive_avg_pool2d(zeros({0, 2, 4, 4}, dt), 3).shape() == Shape{0, 2, 3, 3});
    CHECK(adaptive_avg_pool2d(ones({1, 2, 4, 4}, dt), {0, 3}).shape() == Shape{1, 2, 0, 3});
    // No input channels: the output is the bias alone, as in PyTorch.
    Tensor b = full({2}, 1.5, dt);
    check_close(conv2d(zeros({1, 0, 4, 4}, dt), zeros({2, 0, 3, 3}, dt), b), full({1, 2, 2, 2}, 1.5, dt));
    // No output channels.
    CHECK(conv2d(ones({1, 3, 4, 4}, dt), zeros({0, 3, 3, 3}, dt)).shape() == Shape{1, 0, 2, 2});
    // 1x1 everything.
    check_close(conv2d(full({1, 1, 1, 1}, 3.0, dt), full({1, 1, 1, 1}, 2.0, dt), full({1}, 1.0, dt)),
                full({1, 1, 1, 1}, 7.0, dt));
    auto [v, i] = max_pool2d_with_indices(full({1, 1, 1, 1}, 4.0, dt), 1);
    check_close(v, full({1, 1, 1, 1}, 4.0, dt));
    check_equal(i, zeros({1, 1, 1, 1}, kI64));
    check_close(avg_pool2d(full({1, 1, 1, 1}, 4.0, dt), 1), full({1, 1, 1, 1}, 4.0, dt));
    // Gradients of an empty batch.
    CHECK(conv2d_backward_input(zeros({0, 2, 3, 3}, dt), zeros({2, 3, 3, 3}, dt), {0, 3, 5, 5}).shape() ==
          Shape{0, 3, 5, 5});
    auto [gw, gb] = conv2d_backward_weight(zeros({0, 2, 3, 3}, dt), zeros({0, 3, 5, 5}, dt), {2, 3, 3, 3}, true);
    check_close(gw, zeros({2, 3, 3, 3}, dt));
    check_close(gb, zeros({2}, dt));
  }
}

TEST_CASE("conv: errors name the op and the shapes") {
  Tensor x = ones({2, 4, 6, 6});
  Tensor w = ones({6, 2, 3, 3});
  CHECK_MOELAB_ERROR(conv2d(ones({4, 6, 6}).flatten(), w), "conv2d: expected input of shape [N, C, H, W]");
  CHECK_MOELAB_ERROR(conv2d(ones({1, 2, 4, 6, 6}), w), "got [1, 2, 4, 6, 6]");
  CHECK_MOELAB_ERROR(conv2d(x, ones({6, 2, 3})), "conv2d: expected weight of rank 4, got shape [6, 2, 3]");
  CHECK_MOELAB_ERROR(conv2d(x, w), "conv2d: input has 4 channels but weight shape [6, 2, 3, 3] with groups=1 expects 2");
  CHECK_MOELAB_ERROR(conv2d(x, w, {}, 1, 0, 1, 4), "conv2d: out channels (weight shape [6, 2, 3, 3]) must be divisible by groups=4");
  CHECK_MOELAB_ERROR(conv2d(x, w, {}, 1, 0, 1, 0), "conv2d: groups must be positive");
  CHECK_MOELAB_ERROR(conv2d(x, w, {}, 0, 0, 1, 2), "conv2d: stride must be positive, got (0, 0)");
  CHECK_MOELAB_ERROR(conv2d(x, w, {}, 1, -1, 1, 2), "conv2d: padding must be non-negative");
  CHECK_MOELAB_ERROR(conv2d(x, w, {}, 1, 0, {1, 0}, 2), "conv2d: dilation must be positive");
  CHECK_MOELAB_ERROR(conv2d(ones({1, 4, 2, 6}), w, {}, 1, 0, 1, 2),
                     "conv2d: padded input size (2) is smaller than the dilated kernel size (3) in dim 2");
  CHECK_MOELAB_ERROR(conv2d(x, w, {}, 1, 0, 3, 2), "dilated kernel size (7)");
  CHECK_MOELAB_ERROR(conv2d(x, w, ones({5}), 1, 0, 1, 2), "conv2d: expected bias of shape [6], got [5]");
  CHECK_MOELAB_ERROR(conv2d(x, w.to(kF64), {}, 1, 0, 1, 2), "conv2d: input dtype f32 and weight dtype f64 differ");
  CHECK_MOELAB_ERROR(conv2d(x, w, ones({6}, kF64), 1, 0, 1, 2), "conv2d: bias dtype f64 differs");
  CHECK_MOELAB_ERROR(conv2d(x.to(kI64), w.to(kI64), {}, 1, 0, 1, 2), "conv2d: input must be f32 or f64, got i64");
  CHECK_MOELAB_ERROR(conv2d(Tensor(), w), "conv2d");

  Tensor wt = ones({4, 3, 3, 3});
  CHECK_MOELAB_ERROR(conv_transpose2d(ones({1, 5, 4, 4}), wt), "conv_transpose2d: input has 5 channels but weight shape [4, 3, 3, 3] expects 4");
  CHECK_MOELAB_ERROR(conv_transpose2d(ones({1, 4, 4, 4}), wt, {}, 2, 0, 2), "conv_transpose2d: output_padding (2) must be smaller than either stride (2) or dilation (1)");
  CHECK_MOELAB_ERROR(conv_transpose2d(ones({1, 4, 4, 4}), wt, {}, 1, 0, 0, 3), "conv_transpose2d: in channels (weight shape [4, 3, 3, 3]) must be divisible by groups=3");
  CHECK_MOELAB_ERROR(conv_transpose2d(ones({1, 4, 1, 1}), wt, {}, 1, 2), "conv_transpose2d: output size -1 is not positive");
  CHECK_MOELAB_ERROR(conv_transpose2d(ones({1, 4, 4, 4}), wt, ones({4})), "conv_transpose2d: expected bias of shape [3], got [4]");

  CHECK_MOELAB_ERROR(max_pool2d(ones({4, 4}), 2), "max_pool2d: expected input of shape [N, C, H, W] or [C, H, W], got [4, 4]");
  CHECK_MOELAB_ERROR(max_pool2d(x, 0), "max_pool2d: kernel_size must be positive");
  CHECK_MOELAB_ERROR(max_pool2d(x, 2, Int2{0}), "max_pool2d: stride must be positive");
  CHECK_MOELAB_ERROR(max_pool2d(x, 2, std::nullopt, 2), "max_pool2d: padding (2, 2) must be at most half of kernel_size (2, 2)");
  CHECK_MOELAB_ERROR(max_pool2d(x, 7), "max_pool2d: input shape [2, 4, 6, 6] gives output size (0, 0)");
  CHECK_MOELAB_ERROR(max_pool2d(ones({1, 0, 4, 4}), 2), "max_pool2d: expected non-zero channel and spatial sizes");
  CHECK_MOELAB_ERROR(max_pool2d(x.to(kI32), 2), "max_pool2d: input must be f32 or f64, got i32");
  CHECK_MOELAB_ERROR(avg_pool2d(x, 2, std::nullopt, 0, false, true, 0), "avg_pool2d: divisor_override must not be zero");
  CHECK_MOELAB_ERROR(avg_pool2d(x, {2, 3}, Int2{1, -1}), "avg_pool2d: stride must be positive, got (1, -1)");
  CHECK_MOELAB_ERROR(adaptive_avg_pool2d(x, {-1, 2}), "adaptive_avg_pool2d: output_size must be non-negative");
  CHECK_MOELAB_ERROR(adaptive_avg_pool2d(ones({2, 3, 0, 4}), 2), "adaptive_avg_pool2d: expected non-zero channel and spatial sizes");

  CHECK_MOELAB_ERROR(conv2d_backward_input(ones({2, 6, 3, 3}), w, {2, 4, 6, 6}, 1, 0, 1, 2),
                     "conv2d_backward_input: grad_out shape [2, 6, 3, 3] does not match conv2d's output for input shape [2, 4, 6, 6]");
  CHECK_MOELAB_ERROR(max_pool2d_backward(ones({1, 1, 2, 2}), {1, 1, 4, 4}, full({1, 1, 2, 2}, 16, kI64)),
                     "max_pool2d_backward: indices must lie in [0, 16)");
  CHECK_MOELAB_ERROR(avg_pool2d_backward(ones({1, 1, 3, 3}), {1, 1, 4, 4}, 2),
                     "avg_pool2d_backward: grad_out shape [1, 1, 3, 3] does not match the output shape");
}
