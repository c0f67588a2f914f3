// Transformer layers as torch.nn (PyTorch 1.13 / 2.x), with PyTorch's parameter names so that torch
// state_dicts load: self_attn.*, (multihead_attn.*,) linear1, linear2, norm1, norm2, (norm3), and the
// dropout modules dropout, dropout1, dropout2, (dropout3).
//
//   nn::TransformerEncoderLayer layer(512, 8, 2048, 0.1, "gelu", 1e-5, /*batch_first=*/true);
//   Tensor y = layer.forward(x, {}, padding_mask);                       // x [N, S, 512]
//   nn::TransformerEncoder enc(nn::TransformerEncoderLayerOptions{512, 8}, 6,
//                              std::make_shared<nn::LayerNorm>(Shape{512}));
//
// norm_first = false: x = norm1(x + sa(x)); x = norm2(x + ff(x)). norm_first = true:
// x = x + sa(norm1(x)); x = x + ff(norm2(x)). Masks as nn::MultiheadAttention (bool true = blocked,
// float added). is_causal without a mask builds the causal mask (PyTorch needs the mask as well).
// Deviations: activation is "relu" or "gelu" only (no callable); no nested-tensor fast path.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "moelab/nn/attention.h"
#include "moelab/nn/dropout.h"
#include "moelab/nn/linear.h"
#include "moelab/nn/normalization.h"

namespace moelab::nn {

struct TransformerEncoderLayerOptions {
  int64_t d_model = 512;
  int64_t nhead = 8;
  int64_t dim_feedforward = 2048;
  double dropout = 0.1;
  std::string activation = "relu";
  double layer_norm_eps = 1e-5;
  bool batch_first = false;
  bool norm_first = false;
  DType dtype = kF32;
};
using TransformerDecoderLayerOptions = TransformerEncoderLayerOptions;

class TransformerEncoderLayer : public Module {
 public:
  TransformerEncoderLayer(int64_t d_model, int64_t nhead, int64_t dim_feedforward = 2048, double dropout = 0.1,
                          const std::string& activation = "relu", double layer_norm_eps = 1e-5,
                          bool batch_first = false, bool norm_first = false, DType dtype = kF32);
  explicit TransformerEncoderLayer(const TransformerEncoderLayerOptions& o);

  Tensor forward(const Tensor& src, const Tensor& src_mask = {}, const Tensor& src_key_padding_mask = {},
                 bool is_causal = false);
  Tensor operator()(const Tensor& src, const Tensor& src_mask = {}, const Tensor& src_key_padding_mask = {},
                    bool is_causal = false) {
    return forward(src, src_mask, src_key_padding_mask, is_causal);
  }

  std::shared_ptr<MultiheadAttention> self_attn;
  std::shared_ptr<Linear> linear1;
  std::shared_ptr<Dropout> dropout;
  std::shared_ptr<Linear> linear2;
  std::shared_ptr<LayerNorm> norm1, norm2;
  std::shared_ptr<Dropout> dropout1, dropout2;

 private:
  Tensor ff_block(const Tensor& x);
  std::string activation_;
  bool norm_first_;
};

class TransformerDecoderLayer : public Module {
 public:
  TransformerDecoderLayer(int64_t d_model, int64_t nhead, int64_t dim_feedforward = 2048, double dropout = 0.1,
                          const std::string& activation = "relu", double layer_norm_eps = 1e-5,
                          bool batch_first = false, bool norm_first = false, DType dtype = kF32);
  explicit TransformerDecoderLayer(const TransformerDecoderLayerOptions& o);

  Tensor forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask = {}, const Tensor& memory_mask = {},
                 const Tensor& tgt_key_padding_mask = {}, const Tensor& memory_key_padding_mask = {},
                 bool tgt_is_causal = false, bool memory_is_causal = false);
  Tensor operator()(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask = {},
                    const Tensor& memory_mask = {}, const Tensor& tgt_key_padding_mask = {},
                    const Tensor& memory_key_padding_mask = {}, bool tgt_is_causal = false,
                    bool memory_is_causal = false) {
    return forward(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask, tgt_is_causal,
                   memory_is_causal);
  }

  std::shared_ptr<MultiheadAttention> self_attn, multihead_attn;
  std::shared_ptr<Linear> linear1;
  std::shared_ptr<Dropout> dropout;
  std::shared_ptr<Linear> linear2;
  std::shared_ptr<LayerNorm> norm1, norm2, norm3;
  std::shared_ptr<Dropout> dropout1, dropout2, dropout3;

 private:
  std::string activation_;
  bool norm_first_;
};

// A stack of num_layers encoder layers (parameters "layers.0.*", "layers.1.*", ...) and an optional
// final norm ("norm.*"). PyTorch deep-copies one layer; here a factory makes each layer (or layers are
// built from options), so every layer has its own parameters.
class TransformerEncoder : public Module {
 public:
  using LayerFactory = std::function<std::shared_ptr<TransformerEncoderLayer>()>;
  TransformerEncoder(const LayerFactory& make_layer, int64_t num_layers, std::shared_ptr<LayerNorm> norm = nullptr);
  TransformerEncoder(const TransformerEncoderLayerOptions& layer, int64_t num_layers,
                     std::shared_ptr<LayerNorm> norm = nullptr);

  Tensor forward(const Tensor& src, const Tensor& mask = {}, const Tensor& src_key_padding_mask = {},
                 bool is_causal = false);
  Tensor operator()(const Tensor& src, const Tensor& mask = {}, const Tensor& src_key_padding_mask = {},
                    bool is_causal = false) {
    return forward(src, mask, src_key_padding_mask, is_causal);
  }

  const std::vector<std::shared_ptr<TransformerEncoderLayer>>& layers() const { return layers_; }
  const std::shared_ptr<LayerNorm>& norm() const { return norm_; }

 private:
  std::vector<std::shared_ptr<TransformerEncoderLayer>> layers_;
  std::shared_ptr<LayerNorm> norm_;
};

}  // namespace moelab::nn
