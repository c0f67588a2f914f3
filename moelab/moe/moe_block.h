// A transformer encoder layer with its FFN replaced by an MoE layer: nn::TransformerEncoderLayer's
// structure and parameter names (self_attn.*, norm1, norm2, dropout1, dropout2) with "moe.*" (a
// MoELayer: moe.router.*, moe.experts.*, moe.shared_experts.*) in place of linear1/dropout/linear2.
//
// norm_first = false: x = norm1(x + sa(x)); x = norm2(x + moe(x)).
// norm_first = true:  x = x + sa(norm1(x)); x = x + moe(norm2(x)).
// A token dropped by capacity gets a zero MoE output and goes on through the residual. Every
// position is routed, padded ones too (src_key_padding_mask only masks attention).
//
//   auto moe = std::make_shared<moe::MoELayer>(router, layer_options);
//   moe::MoETransformerEncoderLayer block(256, 4, moe, 0.0, 1e-5, /*batch_first=*/true, /*norm_first=*/true);
//   Tensor y = block(x);                          // x [B, S, 256]
//   Tensor loss = task_loss + block.aux_loss();
#pragma once
#include <memory>

#include "moelab/moe/moe_layer.h"
#include "moelab/nn/attention.h"
#include "moelab/nn/dropout.h"
#include "moelab/nn/normalization.h"

namespace moelab::moe {

class MoETransformerEncoderLayer : public nn::Module {
 public:
  MoETransformerEncoderLayer(int64_t d_model, int64_t nhead, std::shared_ptr<MoELayer> moe, double dropout = 0.1,
                             double layer_norm_eps = 1e-5, bool batch_first = false, bool norm_first = false,
                             DType dtype = kF32);

  Tensor forward(const Tensor& src, const Tensor& src_mask = {}, const Tensor& src_key_padding_mask = {},
                 bool is_causal = false);
  Tensor operator()(const Tensor& src, const Tensor& src_mask = {}, const Tensor& src_key_padding_mask = {},
                    bool is_causal = false) {
    return forward(src, src_mask, src_key_padding_mask, is_causal);
  }

  // The MoE layer's aux loss of the last forward (0-d).
  Tensor aux_loss() const { return moe->aux_loss(); }
  bool norm_first() const { return norm_first_; }

  std::shared_ptr<nn::MultiheadAttention> self_attn;
  std::shared_ptr<MoELayer> moe;
  std::shared_ptr<nn::LayerNorm> norm1, norm2;
  std::shared_ptr<nn::Dropout> dropout1, dropout2;

 private:
  bool norm_first_;
};

}  // namespace moelab::moe
