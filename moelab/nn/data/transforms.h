// Image transforms (torchvision.transforms) applied per example to a floating [..., H, W] tensor
// (usually [C, H, W]). Random transforms draw from the Generator they are given: a DataLoader
// passes one seeded from (seed, epoch), so augmented epochs are reproducible; called without one
// they use the default generator. Each transform returns a new tensor (or its input, untouched).
#pragma once
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "moelab/core/generator.h"
#include "moelab/core/tensor.h"

namespace moelab::data {

class Transform {
 public:
  virtual ~Transform() = default;
  virtual Tensor apply(const Tensor& x, Generator& gen) const = 0;
  Tensor operator()(const Tensor& x, Generator& gen) const { return apply(x, gen); }
  Tensor operator()(const Tensor& x) const { return apply(x, default_generator()); }
};

// (x - mean[c]) / std[c] per channel (dim -3). mean and std have one entry per channel, or one in all.
class Normalize : public Transform {
 public:
  Normalize(std::vector<double> mean, std::vector<double> std);
  Tensor apply(const Tensor& x, Generator& gen) const override;

 private:
  std::vector<double> mean_, std_;
};

// Pads every side by `padding` with `fill`, then crops a random size[0] x size[1] window.
class RandomCrop : public Transform {
 public:
  RandomCrop(std::pair<int64_t, int64_t> size, int64_t padding = 0, double fill = 0);
  RandomCrop(int64_t size, int64_t padding = 0, double fill = 0) : RandomCrop({size, size}, padding, fill) {}
  Tensor apply(const Tensor& x, Generator& gen) const override;

 private:
  int64_t h_, w_, padding_;
  double fill_;
};

// Reverses the last dim with probability p.
class RandomHorizontalFlip : public Transform {
 public:
  explicit RandomHorizontalFlip(double p = 0.5);
  Tensor apply(const Tensor& x, Generator& gen) const override;

 private:
  double p_;
};

// Rotates by an angle drawn uniformly from [degrees.first, degrees.second] (counter-clockwise for
// positive angles, as torchvision) about the image centre ((W - 1) / 2, (H - 1) / 2), with bilinear
// sampling; samples outside the image read `fill`. RandomRotation(d) means the range [-d, d] with
// fill 0 (use the pair form for another fill).
class RandomRotation : public Transform {
 public:
  RandomRotation(std::pair<double, double> degrees, double fill = 0);
  explicit RandomRotation(double degrees);
  Tensor apply(const Tensor& x, Generator& gen) const override;

 private:
  double lo_, hi_, fill_;
};

// Rotates [..., H, W] by `degrees` exactly as RandomRotation does for that angle (deterministic).
Tensor rotate(const Tensor& x, double degrees, double fill = 0);

// Adds mean + std * N(0, 1) noise to every element (torchvision.transforms.v2.GaussianNoise without
// clipping).
class GaussianNoise : public Transform {
 public:
  explicit GaussianNoise(double std, double mean = 0);
  Tensor apply(const Tensor& x, Generator& gen) const override;

 private:
  double std_, mean_;
};

// Contrast inversion x -> max_value - x with probability p (torchvision's RandomInvert has
// max_value = 1 for float images).
class RandomInvert : public Transform {
 public:
  explicit RandomInvert(double p = 0.5, double max_value = 1.0);
  Tensor apply(const Tensor& x, Generator& gen) const override;

 private:
  double p_, max_value_;
};

// Applies transforms in order.
class Compose : public Transform {
 public:
  explicit Compose(std::vector<std::shared_ptr<const Transform>> transforms);
  Tensor apply(const Tensor& x, Generator& gen) const override;

 private:
  std::vector<std::shared_ptr<const Transform>> transforms_;
};

// Wraps a function (torchvision.transforms.Lambda); it gets the generator too.
class Lambda : public Transform {
 public:
  explicit Lambda(std::function<Tensor(const Tensor&, Generator&)> fn);
  Tensor apply(const Tensor& x, Generator& gen) const override;

 private:
  std::function<Tensor(const Tensor&, Generator&)> fn_;
};

// One uniform double in [0, 1) from gen (one Philox block): what the random transforms draw.
double uniform_double(Generator& gen);

}  // namespace moelab::data
