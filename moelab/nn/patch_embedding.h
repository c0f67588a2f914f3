// PatchEmbedding: the ViT patch embedding, as timm's PatchEmbed: a convolution with kernel = stride =
// patch_size (parameters proj.weight [embed_dim, in_chans, ph, pw] and proj.bias [embed_dim],
// initialised as nn.Conv2d), then flatten and transpose:
//   x [B, in_chans, H, W] -> [B, num_patches, embed_dim],  num_patches = (H/ph) * (W/pw).
// As timm's default (strict_img_size), the input's H and W must equal img_size, and img_size must
// be divisible by patch_size.
#pragma once
#include "moelab/nn/module.h"
#include "moelab/ops/conv.h"

namespace moelab::nn {

class PatchEmbedding : public UnaryModule {
 public:
  PatchEmbedding(Int2 img_size = 224, Int2 patch_size = 16, int64_t in_chans = 3, int64_t embed_dim = 768,
                 bool bias = true, DType dtype = kF32);
  Tensor forward(const Tensor& x) override;
  void reset_parameters();

  int64_t num_patches() const { return grid_.h * grid_.w; }
  Int2 grid_size() const { return grid_; }
  const Tensor& weight() const { return weight_; }  // proj.weight
  const Tensor& bias() const { return bias_; }      // proj.bias

 private:
  Int2 img_, patch_, grid_;
  int64_t in_chans_, embed_dim_;
  std::shared_ptr<Module> proj_;
  Tensor& weight_;
  Tensor& bias_;
};

}  // namespace moelab::nn
