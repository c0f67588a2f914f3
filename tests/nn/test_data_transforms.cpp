#include <cmath>
#include <memory>
#include <numbers>
#include <vector>

#include "support/check.h"

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::check_equal;

namespace {
// [C, H, W] with distinct values c * 100 + h * 10 + w.
Tensor image(int64_t c, int64_t h, int64_t w, DType dtype = kF32) {
  return arange(int64_t{0}, c, int64_t{1}, dtype).view({c, 1, 1}) * 100.0 +
         arange(int64_t{0}, h, int64_t{1}, dtype).view({1, h, 1}) * 10.0 +
         arange(int64_t{0}, w, int64_t{1}, dtype).view({1, 1, w});
}
}  // namespace

TEST_CASE("nn data transforms: Normalize per channel") {
  for (DType dt : {kF32, kF64}) {
    Tensor x = image(2, 3, 4, dt);
    data::Normalize norm({1.0, 100.0}, {2.0, 4.0});
    Tensor y = norm(x);
    Tensor expected = stack({(x.select(0, 0) - 1.0) / 2.0, (x.select(0, 1) - 100.0) / 4.0}, 0);
    check_close(y, expected, 1e-6, 1e-6);
    // One mean/std for every channel, and a batched input [N, C, H, W].
    check_close(data::Normalize({0.5}, {0.25})(x), (x - 0.5) * 4.0, 1e-6, 1e-6);
    check_close(norm(x.unsqueeze(0)), expected.unsqueeze(0), 1e-6, 1e-6);
    // A non-contiguous input.
    Tensor xt = image(2, 4, 3, dt).transpose(1, 2);
    check_close(norm(xt), norm(xt.contiguous()), 1e-6, 1e-6);
  }
  CHECK_MOELAB_ERROR(data::Normalize({0.0}, {0.0}), "std must be finite and non-zero");
  CHECK_MOELAB_ERROR(data::Normalize({0.0, 1.0}, {1.0}), "mean and std need the same non-zero length");
  CHECK_MOELAB_ERROR(data::Normalize({0.0, 1.0}, {1.0, 1.0})(zeros({3, 2, 2})), "2 means for an image of shape [3, 2, 2]");
  CHECK_MOELAB_ERROR(data::Normalize({0.0}, {1.0})(zeros({2, 2})), "at least 3 dims");
  CHECK_MOELAB_ERROR(data::Normalize({0.0}, {1.0})(zeros({1, 2, 2}, kI64)), "expected an f32 or f64 image");
}

TEST_CASE("nn data transforms: RandomHorizontalFlip is exact and follows p") {
  Tensor x = image(2, 3, 4);
  Generator gen(1);
  check_equal(data::RandomHorizontalFlip(1.0)(x, gen), flip(x, {2}));
  check_equal(data::RandomHorizontalFlip(0.0)(x, gen), x);
  // Flip twice is the identity; by hand: column j holds the input's column 3 - j.
  Tensor f = data::RandomHorizontalFlip(1.0)(x, gen);
  check_equal(f.select(2, 0), x.select(2, 3));
  check_equal(f.select(2, 3), x.select(2, 0));
  int flips = 0;
  data::RandomHorizontalFlip half;
  for (int i = 0; i < 400; ++i) flips += equal(half(x, gen), x) ? 0 : 1;
  CHECK(flips > 150);
  CHECK(flips < 250);
  CHECK_MOELAB_ERROR(data::RandomHorizontalFlip(1.5), "p must be in [0, 1]");
  CHECK_MOELAB_ERROR(data::RandomHorizontalFlip()(zeros({4})), "at least 2 dims");
}

TEST_CASE("nn data transforms: RandomCrop places the padded window") {
  Tensor x = image(1, 3, 3) + 1.0;  // no zeros inside the image
  Generator gen(3);
  // Without padding and at full size, the crop is the image.
  check_equal(data::RandomCrop(3)(x, gen), x);
  // Padding 2, crop 3: every crop is a window of the zero-padded 7x7 image.
  Tensor padded = zeros({1, 7, 7});
  padded.narrow(1, 2, 3).narrow(2, 2, 3).copy_(x);
  bool seen_corner = false, seen_centre = false;
  for (int i = 0; i < 200; ++i) {
    Tensor c = data::RandomCrop({3, 3}, 2)(x, gen);
    REQUIRE(c.shape() == Shape{1, 3, 3});
    bool found = false;
    for (int64_t top = 0; top <= 4 && !found; ++top)
      for (int64_t left = 0; left <= 4 && !found; ++left)
        if (equal(c, padded.narrow(1, top, 3).narrow(2, left, 3))) {
          found = true;
          seen_corner |= top == 0 && left == 0;  // all zeros but the image's top-left pixel
          seen_centre |= top == 2 && left == 2;
        }
    CHECK(found);
  }
  CHECK(seen_corner);
  CHECK(seen_centre);
  // The top-left window has the image's first pixel at its bottom-right.
  Tensor corner = padded.narrow(1, 0, 3).narrow(2, 0, 3);
  CHECK(corner.sum().item<float>() == 1.0f);
  CHECK(corner.index({0, 2, 2}).item<float>() == 1.0f);
  // Non-square crop with fill.
  Tensor c = data::RandomCrop({1, 5}, 1, -1.0)(x, gen);
  CHECK(c.shape() == Shape{1, 1, 5});
  CHECK(c.index({0, 0, 0}).item<float>() == -1.0f);
  CHECK_MOELAB_ERROR(data::RandomCrop(4)(x, gen), "crop size (4, 4) is larger than the padded image (3, 3)");
  CHECK_MOELAB_ERROR(data::RandomCrop(0), "size must be positive");
  CHECK_MOELAB_ERROR(data::RandomCrop(2, -1), "padding must be non-negative");
}

TEST_CASE("nn data transforms: rotation by 90 degrees is a transpose and a flip") {
  for (DType dt : {kF32, kF64}) {
    Tensor x = image(2, 5, 5, dt);
    // Counter-clockwise: out[i][j] = x[j][W - 1 - i] (torch.rot90(x, 1, [1, 2])).
    Tensor rot90 = flip(x.transpose(1, 2), {1});
    check_close(data::rotate(x, 90.0), rot90, 1e-6, 1e-4);
    check_close(data::rotate(x, -90.0), flip(x.transpose(1, 2), {2}), 1e-6, 1e-4);
    check_close(data::rotate(x, 180.0), flip(x, {1, 2}), 1e-6, 1e-4);
    check_close(data::rotate(x, 0.0), x, 0, 0);
    check_close(data::RandomRotation({90.0, 90.0})(x), rot90, 1e-6, 1e-4);
    // A non-square image by 90 degrees: the centre stays, what falls outside reads the fill.
    Tensor r = data::rotate(image(1, 3, 5, dt), 90.0, -7.0);
    CHECK(r.index({0, 1, 2}).item<double>() == doctest::Approx(12.0));
    CHECK(r.index({0, 0, 0}).item<double>() == doctest::Approx(-7.0));
  }
  // Bilinear: 45 degrees on a constant image keeps the interior constant, corners read the fill.
  Tensor ones_img = ones({1, 9, 9});
  Tensor r = data::rotate(ones_img, 45.0);
  CHECK(r.index({0, 4, 4}).item<float>() == doctest::Approx(1.0f));
  CHECK(r.index({0, 3, 5}).item<float>() == doctest::Approx(1.0f));
  CHECK(r.index({0, 0, 0}).item<float>() == 0.0f);
  // A half-pixel shift by formula: rotating a 2x2 image by 45 degrees samples each pixel's value
  // at a point sqrt(2)/2 along the diagonal; check the sample at (0, 0) by hand.
  Tensor small = from_vector<double>({1, 2, 3, 4}, {1, 2, 2});
  const double c = std::cos(std::numbers::pi / 4), s = std::sin(std::numbers::pi / 4);
  const double sx = 0.5 + c * -0.5 - s * -0.5, sy = 0.5 + s * -0.5 + c * -0.5;  // = (0.5, 0.5 - sqrt(2)/2)
  const double ax = sx, ay = sy + 1;  // floor(sx) = 0, floor(sy) = -1: the row above reads 0
  const double expected = (1 - ay) * 0.0 + ay * ((1 - ax) * 1 + ax * 2);
  CHECK(data::rotate(small, 45.0).index({0, 0, 0}).item<double>() == doctest::Approx(expected));
  // Random angles stay in range: rotations by +-10 degrees of a centred dot keep the centre.
  Generator gen(5);
  for (int i = 0; i < 10; ++i) CHECK(data::RandomRotation(10.0)(ones_img, gen).index({0, 4, 4}).item<float>() == doctest::Approx(1.0f));
  CHECK_MOELAB_ERROR(data::RandomRotation({10.0, -10.0}), "min <= max");
  CHECK_MOELAB_ERROR(data::RandomRotation(-3.0), "must be non-negative");
  CHECK_MOELAB_ERROR(data::rotate(zeros({3}), 1.0), "at least 2 dims");
}

TEST_CASE("nn data transforms: GaussianNoise, RandomInvert, Compose, Lambda") {
  Tensor x = image(1, 4, 4) / 100.0;
  Generator gen(9);
  // Noise: mean and std of the difference over a big image.
  Tensor big = zeros({1, 200, 200}, kF64);
  Tensor noisy = data::GaussianNoise(0.5, 1.0)(big, gen);
  CHECK(noisy.dtype() == kF64);
  CHECK(noisy.mean().item<double>() == doctest::Approx(1.0).epsilon(0.02));
  CHECK((noisy - 1.0).square().mean().sqrt().item<double>() == doctest::Approx(0.5).epsilon(0.02));
  check_equal(data::GaussianNoise(0.0)(x, gen), x);
  CHECK_MOELAB_ERROR(data::GaussianNoise(-1.0), "std must be finite and non-negative");

  check_close(data::RandomInvert(1.0)(x, gen), 1.0 - x);
  check_close(data::RandomInvert(1.0, 255.0)(x, gen), 255.0 - x);
  check_equal(data::RandomInvert(0.0)(x, gen), x);
  CHECK_MOELAB_ERROR(data::RandomInvert(-0.1), "p must be in [0, 1]");

  // Compose applies in order: invert then flip == flip then invert, normalize after both.
  data::Compose pipeline({std::make_shared<data::RandomInvert>(1.0), std::make_shared<data::RandomHorizontalFlip>(1.0),
                          std::make_shared<data::Normalize>(std::vector<double>{0.5}, std::vector<double>{0.5})});
  check_close(pipeline(x, gen), (flip(1.0 - x, {2}) - 0.5) / 0.5);
  data::Lambda twice([](const Tensor& t, Generator&) { return t * 2.0; });
  check_close(twice(x), x * 2.0);
  CHECK_MOELAB_ERROR(data::Compose({nullptr}), "transform 0 is null");

  // The same generator state gives the same augmentation.
  data::Compose aug({std::make_shared<data::RandomCrop>(4, 2), std::make_shared<data::RandomRotation>(30.0),
                     std::make_shared<data::GaussianNoise>(0.1)});
  Generator g1(11), g2(11);
  check_equal(aug(x, g1), aug(x, g2));
  Tensor first = aug(x, g1), second = aug(x, g1);
  CHECK(!equal(first, second));
  const double u = data::uniform_double(g1);
  CHECK(u >= 0.0);
  CHECK(u < 1.0);
}
