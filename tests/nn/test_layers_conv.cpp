// Conv2d, ConvTranspose2d and the pooling layers: golden output and gradients against PyTorch
// (tests/golden/gen_layers.py), initialisation bounds, empty batches and error messages.
#include <cmath>

#include "autograd/grad_test_util.h"
#include "nn/layers_test_util.h"

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::check_golden_layer;

namespace {
template <class L, class... Args>
moelab::testing::LayerFactory make(Args... args) {
  return [=](DType dt) { return std::make_shared<L>(args..., dt); };
}
template <class L, class... Args>
moelab::testing::LayerFactory make_pool(Args... args) {
  return [=](DType) { return std::make_shared<L>(args...); };
}
double max_abs(const Tensor& t) { return t.detach().abs().max().to(kF64).item<double>(); }
}  // namespace

TEST_CASE("nn layers: Conv2d matches PyTorch for padding, stride, dilation, groups and padding modes") {
  using nn::Conv2d;
  check_golden_layer("conv.basic", make<Conv2d>(3, 4, Int2(3), Int2(1), Conv2dPadding(1), Int2(1), 1, true,
                                                std::string("zeros")));
  check_golden_layer("conv.stride", make<Conv2d>(3, 4, Int2(3, 2), Int2(2, 1), Conv2dPadding(1, 0), Int2(1), 1, true,
                                                 std::string("zeros")));
  check_golden_layer("conv.dilation", make<Conv2d>(2, 3, Int2(3), Int2(1), Conv2dPadding(2), Int2(2), 1, true,
                                                   std::string("zeros")));
  check_golden_layer("conv.groups", make<Conv2d>(4, 6, Int2(3), Int2(1), Conv2dPadding(0), Int2(1), 2, false,
                                                 std::string("zeros")));
  check_golden_layer("conv.depthwise", make<Conv2d>(4, 8, Int2(3), Int2(1), Conv2dPadding(1), Int2(1), 4, true,
                                                    std::string("zeros")));
  check_golden_layer("conv.unbatched", make<Conv2d>(3, 4, Int2(3), Int2(2), Conv2dPadding(1), Int2(1), 1, true,
                                                    std::string("zeros")));
  check_golden_layer("conv.reflect", make<Conv2d>(2, 3, Int2(3), Int2(1), Conv2dPadding(1), Int2(1), 1, true,
                                                  std::string("reflect")));
}

TEST_CASE("nn layers: Conv2d with padding same and valid matches PyTorch, also for even kernels") {
  using nn::Conv2d;
  check_golden_layer("conv.same", make<Conv2d>(3, 4, Int2(3), Int2(1), Conv2dPadding("same"), Int2(1), 1, true,
                                               std::string("zeros")));
  check_golden_layer("conv.same_even", make<Conv2d>(2, 3, Int2(4, 2), Int2(1), Conv2dPadding("same"), Int2(1, 2), 1,
                                                    true, std::string("zeros")));
  check_golden_layer("conv.valid", make<Conv2d>(2, 3, Int2(2), Int2(1), Conv2dPadding("valid"), Int2(1), 1, true,
                                                std::string("zeros")));
  check_golden_layer("conv.circular_same", make<Conv2d>(2, 3, Int2(4), Int2(1), Conv2dPadding("same"), Int2(1), 1,
                                                        true, std::string("circular")));
  // The same output size as the input, for every kernel and dilation.
  nn::Conv2d c(2, 3, {4, 5}, 1, "same", {3, 2});
  CHECK(c(randn({1, 2, 9, 7})).shape() == Shape{1, 3, 9, 7});
  // Non-zero padding modes also take unbatched input.
  nn::Conv2d r(2, 3, 3, 1, 1, 1, 1, true, "replicate", kF64);
  Tensor x = randn({2, 5, 4}, kF64);
  check_close(r(x), r(x.unsqueeze(0)).squeeze(0), 1e-12, 1e-12);
  CHECK(r(x).shape() == Shape{3, 5, 4});
}

TEST_CASE("nn layers: functional conv2d with a string padding passes gradcheck and gradgradcheck") {
  using moelab::testing::leaf64;
  auto f = [](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], 1, "same", Int2(1, 2)); };
  CHECK(moelab::testing::gradcheck1(f, {leaf64({1, 2, 4, 5}), leaf64({3, 2, 2, 3}), leaf64({3})}));
  CHECK(moelab::testing::gradgradcheck1(f, {leaf64({1, 2, 3, 4}), leaf64({2, 2, 2, 2}), leaf64({2})}));
  Tensor x = randn({1, 2, 5, 5}), w = randn({3, 2, 3, 3});
  check_close(conv2d(x, w, {}, 1, "valid"), conv2d(x, w, {}, 1, 0));
  check_close(conv2d(x, w, {}, 1, "same"), conv2d(x, w, {}, 1, 1));
  CHECK_MOELAB_ERROR(conv2d(x, w, {}, 2, "same"), "conv2d: padding=\"same\" needs stride 1");
  CHECK_MOELAB_ERROR(conv2d(x, w, {}, 1, "full"), "conv2d: padding must be \"same\", \"valid\" or a size");
}

TEST_CASE("nn layers: ConvTranspose2d matches PyTorch with stride, output_padding, groups and output_size") {
  using nn::ConvTranspose2d;
  check_golden_layer("convt.basic", make<ConvTranspose2d>(3, 2, Int2(3), Int2(2), Int2(1), Int2(1), 1, true, Int2(1)));
  check_golden_layer("convt.groups",
                     make<ConvTranspose2d>(4, 6, Int2(3, 2), Int2(2, 1), Int2(0, 1), Int2(0), 2, false, Int2(1, 2)));
  check_golden_layer("convt.output_size", make<ConvTranspose2d>(2, 3, Int2(3), Int2(3), Int2(0), Int2(0), 1, true, Int2(1)),
                     [](nn::UnaryModule& m, const Tensor& x) {
                       return static_cast<ConvTranspose2d&>(m).forward(x, Shape{10, 11});
                     });
  ConvTranspose2d t(2, 3, 3, 3);
  Tensor x = randn({1, 2, 3, 3});
  CHECK(t.forward(x, Shape{1, 3, 9, 11}).shape() == Shape{1, 3, 9, 11});
  CHECK_MOELAB_ERROR(t.forward(x, Shape{12, 9}), "ConvTranspose2d: requested output size [12, 9] is not reachable");
  CHECK_MOELAB_ERROR(t.forward(x, Shape{9}), "ConvTranspose2d: output_size must hold 2 sizes");
}

TEST_CASE("nn layers: pooling layers match PyTorch (ceil_mode, dilation, count_include_pad, divisor, adaptive)") {
  using moelab::testing::check_golden_layer;
  check_golden_layer("pool.max_ceil", make_pool<nn::MaxPool2d>(Int2(3), std::optional<Int2>(2), Int2(1), Int2(1), true));
  check_golden_layer("pool.max_dilation",
                     make_pool<nn::MaxPool2d>(Int2(3, 2), std::optional<Int2>(Int2(1, 2)), Int2(1, 0), Int2(2, 1), false));
  check_golden_layer("pool.max_unbatched", make_pool<nn::MaxPool2d>(Int2(2)));
  check_golden_layer("pool.avg_ceil_nopad",
                     make_pool<nn::AvgPool2d>(Int2(3), std::optional<Int2>(2), Int2(1), true, false));
  check_golden_layer("pool.avg_pad", make_pool<nn::AvgPool2d>(Int2(2, 3), std::optional<Int2>(1), Int2(1)));
  check_golden_layer("pool.avg_divisor", make_pool<nn::AvgPool2d>(Int2(2), std::optional<Int2>(), Int2(0), false, true,
                                                                  std::optional<int64_t>(3)));
  check_golden_layer("pool.adaptive", make_pool<nn::AdaptiveAvgPool2d>(Int2(3, 2)));
  check_golden_layer("pool.adaptive_global", make_pool<nn::AdaptiveAvgPool2d>(Int2(1)));
  // Plain ints for the optional stride, as in PyTorch's MaxPool2d(3, 2, 1).
  CHECK(nn::MaxPool2d(3, 2, 1)(randn({1, 1, 5, 5})).shape() == Shape{1, 1, 3, 3});
  CHECK(nn::AvgPool2d(3, 2, 1)(randn({1, 5, 5})).shape() == Shape{1, 3, 3});
  nn::MaxPool2d mp(2);
  Tensor x = randn({1, 2, 4, 4});
  auto [v, idx] = mp.forward_with_indices(x);
  check_close(v, mp(x));
  CHECK(idx.dtype() == kI64);
  CHECK(idx.shape() == Shape{1, 2, 2, 2});
}

TEST_CASE("nn layers: Conv2d and ConvTranspose2d initialise as PyTorch, fan_in from weight dim 1") {
  // Conv2d weight [4, 3, 3, 2]: fan_in 18, gain sqrt(1/3): weight and bias bounds both 1/sqrt(18).
  nn::Conv2d c(6, 4, {3, 2}, 1, 0, 1, /*groups=*/2);
  CHECK(c.weight().shape() == Shape{4, 3, 3, 2});
  CHECK(c.weight().requires_grad());
  const double b18 = 1.0 / std::sqrt(18.0);
  CHECK(max_abs(c.weight()) <= b18);
  CHECK(max_abs(c.weight()) > 0.8 * b18);
  CHECK(max_abs(c.bias()) <= b18);
  // ConvTranspose2d weight [8, 2, 3, 3]: fan_in = 2 * 9 = 18 (not in/groups * 9 = 36).
  nn::ConvTranspose2d t(8, 4, 3, 1, 0, 0, /*groups=*/2);
  CHECK(t.weight().shape() == Shape{8, 2, 3, 3});
  CHECK(max_abs(t.weight()) <= b18);
  CHECK(max_abs(t.weight()) > 0.8 * b18);
  CHECK(max_abs(t.bias()) <= b18);
  CHECK(t.bias().shape() == Shape{4});
  nn::Conv2d nb(2, 2, 1, 1, 0, 1, 1, /*bias=*/false, "zeros", kF64);
  CHECK(!nb.bias().defined());
  CHECK(nb.weight().dtype() == kF64);
  CHECK(nb.named_parameters().size() == 1);
  CHECK(nb.state_dict().count("bias") == 0);
}

TEST_CASE("nn layers: conv and pool layers take empty batches") {
  nn::Conv2d c(3, 4, 3, 1, 1);
  Tensor x = zeros({0, 3, 5, 5});
  x.requires_grad_();
  Tensor y = c(x);
  CHECK(y.shape() == Shape{0, 4, 5, 5});
  y.sum().backward();
  CHECK(x.grad().shape() == Shape{0, 3, 5, 5});
  CHECK(c.weight().grad().defined());
  CHECK(nn::ConvTranspose2d(3, 2, 2, 2)(zeros({0, 3, 2, 2})).shape() == Shape{0, 2, 4, 4});
  CHECK(nn::MaxPool2d(2)(zeros({0, 3, 4, 4})).shape() == Shape{0, 3, 2, 2});
  CHECK(nn::AvgPool2d(2)(zeros({0, 3, 4, 4})).shape() == Shape{0, 3, 2, 2});
  CHECK(nn::AdaptiveAvgPool2d(1)(zeros({0, 3, 4, 4})).shape() == Shape{0, 3, 1, 1});
}

TEST_CASE("nn layers: conv and pool layers reject bad options and inputs with clear errors") {
  CHECK_MOELAB_ERROR(nn::Conv2d(3, 4, 3, 1, 0, 1, 2), "Conv2d: in_channels (3) must be divisible by groups (2)");
  CHECK_MOELAB_ERROR(nn::Conv2d(4, 3, 3, 1, 0, 1, 2), "Conv2d: out_channels (3) must be divisible by groups (2)");
  CHECK_MOELAB_ERROR(nn::Conv2d(4, 4, 3, 1, 0, 1, 0), "Conv2d: groups must be a positive integer");
  CHECK_MOELAB_ERROR(nn::Conv2d(3, 4, 3, 2, "same"), "Conv2d: padding=\"same\" is not supported for strided");
  CHECK_MOELAB_ERROR(nn::Conv2d(3, 4, 3, 1, "full"), "Conv2d: padding must be a size, \"same\" or \"valid\"");
  CHECK_MOELAB_ERROR(nn::Conv2d(3, 4, 3, 1, -1), "Conv2d: padding must be non-negative");
  CHECK_MOELAB_ERROR(nn::Conv2d(3, 4, {3, 0}), "Conv2d: kernel_size must be positive");
  CHECK_MOELAB_ERROR(nn::Conv2d(3, 4, 3, 0), "Conv2d: stride must be positive");
  CHECK_MOELAB_ERROR(nn::Conv2d(3, 4, 3, 1, 0, 1, 1, true, "zero"), "Conv2d: padding_mode must be");
  CHECK_MOELAB_ERROR(nn::Conv2d(3, 4, 3, 1, 0, 1, 1, true, "zeros", kI64), "Conv2d: dtype must be f32 or f64");
  nn::Conv2d c(3, 4, 3);
  CHECK_MOELAB_ERROR(c(randn({2, 5, 6, 6})), "Conv2d: expected input [N, C, H, W] or [C, H, W] with C = in_channels = 3, got shape [2, 5, 6, 6]");
  CHECK_MOELAB_ERROR(c(randn({3, 6})), "got shape [3, 6]");
  CHECK_MOELAB_ERROR(c(randn({2, 3, 6, 6}, kF64)), "Conv2d: input dtype f64 differs from the weight's f32");
  CHECK_MOELAB_ERROR(c(randn({1, 3, 2, 2})), "conv2d: padded input size (2) is smaller than the dilated kernel size (3)");
  CHECK_MOELAB_ERROR(c(Tensor()), "Conv2d: input is an undefined tensor");
  CHECK_MOELAB_ERROR(nn::ConvTranspose2d(3, 4, 3, 2, 0, 2), "ConvTranspose2d: output_padding (2, 2) must be smaller");
  CHECK_MOELAB_ERROR(nn::ConvTranspose2d(4, 3, 3, 1, 0, 0, 2), "ConvTranspose2d: out_channels (3) must be divisible");
  nn::ConvTranspose2d t(3, 4, 3);
  CHECK_MOELAB_ERROR(t(randn({1, 4, 5, 5})), "ConvTranspose2d: expected input [N, C, H, W] or [C, H, W] with C = in_channels = 3");
  CHECK_MOELAB_ERROR(nn::MaxPool2d(2, std::nullopt, 2), "MaxPool2d: padding (2, 2) must be non-negative and at most half");
  CHECK_MOELAB_ERROR(nn::MaxPool2d(0), "MaxPool2d: kernel_size must be positive");
  CHECK_MOELAB_ERROR(nn::AvgPool2d(2, Int2(0)), "AvgPool2d: stride must be positive");
  CHECK_MOELAB_ERROR(nn::AvgPool2d(2, std::nullopt, 0, false, true, 0), "AvgPool2d: divisor_override must be non-zero");
  CHECK_MOELAB_ERROR(nn::MaxPool2d(2)(randn({4, 4})), "MaxPool2d: expected input [N, C, H, W] or [C, H, W], got shape [4, 4]");
  CHECK_MOELAB_ERROR(nn::AdaptiveAvgPool2d(-1), "AdaptiveAvgPool2d: output_size must be non-negative");
  CHECK_MOELAB_ERROR(nn::AvgPool2d(2)(zeros({1, 4, 4, 4}, kI64)), "must be f32 or f64");
}
