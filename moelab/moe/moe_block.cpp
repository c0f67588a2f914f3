#include "moelab/moe/moe_block.h"

#include "moelab/ops/elementwise.h"

namespace moelab::moe {

MoETransformerEncoderLayer::MoETransformerEncoderLayer(int64_t d_model, int64_t nhead, std::shared_ptr<MoELayer> moe_layer,
                                                       double dropout_p, double layer_norm_eps, bool batch_first,
                                                       bool norm_first, DType dtype)
    : nn::Module("MoETransformerEncoderLayer"), norm_first_(norm_first) {
  MOELAB_CHECK(moe_layer != nullptr, "MoETransformerEncoderLayer: the MoE layer is null");
  MOELAB_CHECK(moe_layer->d_model() == d_model, "MoETransformerEncoderLayer: the MoE layer has d_model = ",
               moe_layer->d_model(), " but the block has d_model = ", d_model);
  MOELAB_CHECK(moe_layer->options().dtype == dtype, "MoETransformerEncoderLayer: the MoE layer has dtype ",
               moe_layer->options().dtype, " but the block has dtype ", dtype);
  self_attn = register_module("self_attn", std::make_shared<nn::MultiheadAttention>(
                                               d_model, nhead, dropout_p, true, batch_first, std::nullopt,
                                               std::nullopt, std::nullopt, dtype));
  moe = register_module("moe", std::move(moe_layer));
  norm1 = register_module("norm1", std::make_shared<nn::LayerNorm>(Shape{d_model}, layer_norm_eps, true, dtype));
  norm2 = register_module("norm2", std::make_shared<nn::LayerNorm>(Shape{d_model}, layer_norm_eps, true, dtype));
  dropout1 = register_module("dropout1", std::make_shared<nn::Dropout>(dropout_p));
  dropout2 = register_module("dropout2", std::make_shared<nn::Dropout>(dropout_p));
}

Tensor MoETransformerEncoderLayer::forward(const Tensor& src, const Tensor& src_mask,
                                           const Tensor& src_key_padding_mask, bool is_causal) {
  auto sa = [&](const Tensor& x) {
    return dropout1->forward(self_attn->forward(x, x, x, src_key_padding_mask, false, src_mask, true, is_causal).first);
  };
  auto ff = [&](const Tensor& x) { return dropout2->forward(moe->forward(x)); };
  Tensor x = src;
  if (norm_first_) {
    x = x + sa(norm1->forward(x));
    x = x + ff(norm2->forward(x));
  } else {
    x = norm1->forward(x + sa(x));
    x = norm2->forward(x + ff(x));
  }
  return x;
}

}  // namespace moelab::moe
