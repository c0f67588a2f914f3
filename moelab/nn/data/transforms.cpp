#include "moelab/nn/data/transforms.h"

#include <cmath>
#include <numbers>

#include "moelab/autograd/grad_mode.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/random.h"
#include "moelab/ops/shape_ops.h"

namespace moelab::data {
namespace {

void check_image(const Tensor& x, const char* name, int min_dim = 2) {
  MOELAB_CHECK(x.defined(), name, ": got an undefined tensor");
  MOELAB_CHECK(x.dtype() == kF32 || x.dtype() == kF64, name, ": expected an f32 or f64 image, got ", x.dtype(),
               " of shape ", x.shape());
  MOELAB_CHECK(x.dim() >= min_dim, name, ": expected an image of at least ", min_dim, " dims (",
               min_dim == 3 ? "[..., C, H, W]" : "[..., H, W]", "), got shape ", x.shape());
}

void check_probability(double p, const char* name) {
  MOELAB_CHECK(p >= 0 && p <= 1, name, ": p must be in [0, 1], got ", p);
}

// An integer uniform on [0, n).
int64_t uniform_int(Generator& gen, int64_t n) {
  return std::min(n - 1, static_cast<int64_t>(uniform_double(gen) * static_cast<double>(n)));
}

// out = x rotated: out[i, j] = bilinear sample of x at the point that rotates onto (i, j).
template <class T>
void rotate_planes(const T* in, T* out, int64_t planes, int64_t h, int64_t w, double cos_a, double sin_a,
                   T fill) {
  const double cy = 0.5 * static_cast<double>(h - 1), cx = 0.5 * static_cast<double>(w - 1);
  for (int64_t p = 0; p < planes; ++p) {
    const T* src = in + p * h * w;
    T* dst = out + p * h * w;
    auto at = [&](int64_t r, int64_t c) { return r >= 0 && r < h && c >= 0 && c < w ? src[r * w + c] : fill; };
    for (int64_t i = 0; i < h; ++i) {
      const double oy = static_cast<double>(i) - cy;
      for (int64_t j = 0; j < w; ++j) {
        // With y pointing down, a counter-clockwise rotation by a sends offset (ox, oy) to
        // (cos a ox + sin a oy, -sin a ox + cos a oy); the inverse gives where (i, j) reads from.
        const double ox = static_cast<double>(j) - cx;
        const double sx = cx + cos_a * ox - sin_a * oy, sy = cy + sin_a * ox + cos_a * oy;
        const double fx0 = std::floor(sx), fy0 = std::floor(sy);
        const double ax = sx - fx0, ay = sy - fy0;
        const auto c0 = static_cast<int64_t>(fx0), r0 = static_cast<int64_t>(fy0);
        const double v = (1 - ay) * ((1 - ax) * at(r0, c0) + ax * at(r0, c0 + 1)) +
                         ay * ((1 - ax) * at(r0 + 1, c0) + ax * at(r0 + 1, c0 + 1));
        dst[i * w + j] = static_cast<T>(v);
      }
    }
  }
}

std::pair<double, double> symmetric_range(double degrees) {
  MOELAB_CHECK(degrees >= 0, "RandomRotation: a single degrees value must be non-negative, got ", degrees);
  return {-degrees, degrees};
}

}  // namespace

double uniform_double(Generator& gen) {
  const PhiloxState st = gen.reserve(1);
  const PhiloxCounter b = philox_block(st.seed, st.offset);
  const uint64_t bits = ((static_cast<uint64_t>(b[0]) << 32) | b[1]) >> 11;  // 53 random bits
  return static_cast<double>(bits) * 0x1.0p-53;
}

Normalize::Normalize(std::vector<double> mean, std::vector<double> std) : mean_(std::move(mean)), std_(std::move(std)) {
  MOELAB_CHECK(!mean_.empty() && mean_.size() == std_.size(), "Normalize: mean and std need the same non-zero length, got ",
               mean_.size(), " and ", std_.size());
  for (double s : std_) MOELAB_CHECK(s != 0 && std::isfinite(s), "Normalize: std must be finite and non-zero, got ", s);
}

Tensor Normalize::apply(const Tensor& x, Generator&) const {
  check_image(x, "Normalize", 3);
  const auto c = static_cast<int64_t>(mean_.size());
  MOELAB_CHECK(c == 1 || x.size(-3) == c, "Normalize: ", c, " means for an image of shape ", x.shape(), " (",
               x.size(-3), " channels)");
  std::vector<double> inv_std(std_.size());
  for (size_t i = 0; i < std_.size(); ++i) inv_std[i] = 1.0 / std_[i];
  const Tensor m = from_vector(mean_, {c, 1, 1}).to(x.dtype());
  const Tensor s = from_vector(inv_std, {c, 1, 1}).to(x.dtype());
  return (x - m) * s;
}

RandomCrop::RandomCrop(std::pair<int64_t, int64_t> size, int64_t padding, double fill)
    : h_(size.first), w_(size.second), padding_(padding), fill_(fill) {
  MOELAB_CHECK(h_ > 0 && w_ > 0, "RandomCrop: size must be positive, got (", h_, ", ", w_, ")");
  MOELAB_CHECK(padding_ >= 0, "RandomCrop: padding must be non-negative, got ", padding_);
}

Tensor RandomCrop::apply(const Tensor& x, Generator& gen) const {
  check_image(x, "RandomCrop");
  const int64_t ph = x.size(-2) + 2 * padding_, pw = x.size(-1) + 2 * padding_;
  MOELAB_CHECK(h_ <= ph && w_ <= pw, "RandomCrop: crop size (", h_, ", ", w_, ") is larger than the padded image (",
               ph, ", ", pw, ") of an input of shape ", x.shape(), " with padding ", padding_);
  const Tensor padded = padding_ > 0 ? pad(x, {padding_, padding_, padding_, padding_}, "constant", fill_) : x;
  const int64_t top = uniform_int(gen, ph - h_ + 1);  // torchvision draws the row first
  const int64_t left = uniform_int(gen, pw - w_ + 1);
  return padded.narrow(-2, top, h_).narrow(-1, left, w_).contiguous();
}

RandomHorizontalFlip::RandomHorizontalFlip(double p) : p_(p) { check_probability(p, "RandomHorizontalFlip"); }

Tensor RandomHorizontalFlip::apply(const Tensor& x, Generator& gen) const {
  check_image(x, "RandomHorizontalFlip");
  return uniform_double(gen) < p_ ? flip(x, {-1}) : x;
}

RandomRotation::RandomRotation(std::pair<double, double> degrees, double fill)
    : lo_(degrees.first), hi_(degrees.second), fill_(fill) {
  MOELAB_CHECK(std::isfinite(lo_) && std::isfinite(hi_) && lo_ <= hi_,
               "RandomRotation: degrees must be a finite range (min, max) with min <= max, got (", lo_, ", ", hi_, ")");
}

RandomRotation::RandomRotation(double degrees) : RandomRotation(symmetric_range(degrees)) {}

Tensor RandomRotation::apply(const Tensor& x, Generator& gen) const {
  check_image(x, "RandomRotation");
  return rotate(x, lo_ + (hi_ - lo_) * uniform_double(gen), fill_);
}

Tensor rotate(const Tensor& x, double degrees, double fill) {
  check_image(x, "rotate");
  MOELAB_CHECK(std::isfinite(degrees), "rotate: degrees must be finite, got ", degrees);
  autograd::NoGradGuard no_grad;  // a raw loop: no gradient flows through it
  const Tensor in = x.contiguous();
  Tensor out = empty(x.shape(), x.dtype());
  const int64_t h = x.size(-2), w = x.size(-1), planes = h * w == 0 ? 0 : x.numel() / (h * w);
  const double a = degrees * std::numbers::pi / 180.0;
  visit_dtype<DTypes::Float>(x.dtype(), "rotate", [&]<class T>() {
    rotate_planes<T>(in.data_ptr<T>(), out.data_ptr<T>(), planes, h, w, std::cos(a), std::sin(a),
                     static_cast<T>(fill));
  });
  return out;
}

GaussianNoise::GaussianNoise(double std, double mean) : std_(std), mean_(mean) {
  MOELAB_CHECK(std >= 0 && std::isfinite(std), "GaussianNoise: std must be finite and non-negative, got ", std);
  MOELAB_CHECK(std::isfinite(mean), "GaussianNoise: mean must be finite, got ", mean);
}

Tensor GaussianNoise::apply(const Tensor& x, Generator& gen) const {
  check_image(x, "GaussianNoise", 1);
  Tensor noise = randn_like(x, &gen);
  return x + (noise * std_ + mean_);
}

RandomInvert::RandomInvert(double p, double max_value) : p_(p), max_value_(max_value) {
  check_probability(p, "RandomInvert");
}

Tensor RandomInvert::apply(const Tensor& x, Generator& gen) const {
  check_image(x, "RandomInvert", 1);
  return uniform_double(gen) < p_ ? max_value_ - x : x;
}

Compose::Compose(std::vector<std::shared_ptr<const Transform>> transforms) : transforms_(std::move(transforms)) {
  for (size_t i = 0; i < transforms_.size(); ++i)
    MOELAB_CHECK(transforms_[i] != nullptr, "Compose: transform ", i, " is null");
}

Tensor Compose::apply(const Tensor& x, Generator& gen) const {
  Tensor y = x;
  for (const auto& t : transforms_) y = t->apply(y, gen);
  return y;
}

Lambda::Lambda(std::function<Tensor(const Tensor&, Generator&)> fn) : fn_(std::move(fn)) {
  MOELAB_CHECK(static_cast<bool>(fn_), "Lambda: got an empty function");
}

Tensor Lambda::apply(const Tensor& x, Generator& gen) const { return fn_(x, gen); }

}  // namespace moelab::data
