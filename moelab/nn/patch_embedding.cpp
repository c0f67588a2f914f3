#include "moelab/nn/patch_embedding.h"

#include <cmath>

#include "moelab/nn/init.h"
#include "moelab/ops/factory.h"

namespace moelab::nn {
namespace {

Int2 checked_grid(Int2 img, Int2 patch) {
  MOELAB_CHECK(patch.h > 0 && patch.w > 0 && img.h > 0 && img.w > 0, "PatchEmbedding: img_size (", img.h, ", ", img.w,
               ") and patch_size (", patch.h, ", ", patch.w, ") must be positive");
  MOELAB_CHECK(img.h % patch.h == 0 && img.w % patch.w == 0, "PatchEmbedding: img_size (", img.h, ", ", img.w,
               ") is not divisible by patch_size (", patch.h, ", ", patch.w, ")");
  return Int2(img.h / patch.h, img.w / patch.w);
}

}  // namespace

PatchEmbedding::PatchEmbedding(Int2 img_size, Int2 patch_size, int64_t in_chans, int64_t embed_dim, bool bias,
                               DType dtype)
    : UnaryModule("PatchEmbedding"),
      img_(img_size),
      patch_(patch_size),
      grid_(checked_grid(img_size, patch_size)),
      in_chans_(in_chans),
      embed_dim_(embed_dim),
      proj_(register_module("proj", std::make_shared<Module>("Conv2d"))),
      weight_(proj_->register_parameter("weight", empty({embed_dim, in_chans, patch_size.h, patch_size.w}, dtype))),
      bias_(bias ? proj_->register_parameter("bias", empty({embed_dim}, dtype)) : proj_->register_buffer("bias", {})) {
  MOELAB_CHECK(in_chans > 0 && embed_dim > 0, "PatchEmbedding: in_chans (", in_chans, ") and embed_dim (", embed_dim,
               ") must be positive");
  reset_parameters();
}

void PatchEmbedding::reset_parameters() {
  // nn.Conv2d's reset_parameters: kaiming_uniform(a = sqrt(5)) and U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  init::kaiming_uniform_(weight_, std::sqrt(5.0));
  if (bias_.defined()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in_chans_ * patch_.h * patch_.w));
    init::uniform_(bias_, -bound, bound);
  }
}

Tensor PatchEmbedding::forward(const Tensor& x) {
  MOELAB_CHECK(x.defined() && x.dim() == 4 && x.size(1) == in_chans_ && x.size(2) == img_.h && x.size(3) == img_.w,
               "PatchEmbedding: input of shape ", x.defined() ? x.shape() : Shape{}, " must be [B, ", in_chans_, ", ",
               img_.h, ", ", img_.w, "] (in_chans, img_size)");
  // [B, E, H/ph, W/pw] -> [B, N, E]
  return conv2d(x, weight_, bias_, patch_, 0).flatten(2).transpose(1, 2);
}

}  // namespace moelab::nn
