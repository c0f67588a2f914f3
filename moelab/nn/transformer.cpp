#include "moelab/nn/transformer.h"

#include "moelab/ops/elementwise.h"

namespace moelab::nn {
namespace {

std::string checked_activation(const std::string& a, const char* op) {
  MOELAB_CHECK(a == "relu" || a == "gelu", op, ": activation must be \"relu\" or \"gelu\", got \"", a, "\"");
  return a;
}

Tensor activate(const Tensor& x, const std::string& a) { return a == "relu" ? relu(x) : gelu(x); }

// The feed-forward block linear2(dropout(act(linear1(x)))).
Tensor feed_forward(Linear& l1, Dropout& d, Linear& l2, const Tensor& x, const std::string& a) {
  return l2.forward(d.forward(activate(l1.forward(x), a)));
}

}  // namespace

TransformerEncoderLayer::TransformerEncoderLayer(int64_t d_model, int64_t nhead, int64_t dim_feedforward,
                                                 double dropout_p, const std::string& activation,
                                                 double layer_norm_eps, bool batch_first, bool norm_first,
                                                 DType dtype)
    : Module("TransformerEncoderLayer"),
      activation_(checked_activation(activation, "TransformerEncoderLayer")),
      norm_first_(norm_first) {
  self_attn = register_module("self_attn", std::make_shared<MultiheadAttention>(
                                               d_model, nhead, dropout_p, true, batch_first, std::nullopt,
                                               std::nullopt, std::nullopt, dtype));
  linear1 = register_module("linear1", std::make_shared<Linear>(d_model, dim_feedforward, true, dtype));
  dropout = register_module("dropout", std::make_shared<Dropout>(dropout_p));
  linear2 = register_module("linear2", std::make_shared<Linear>(dim_feedforward, d_model, true, dtype));
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(Shape{d_model}, layer_norm_eps, true, dtype));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(Shape{d_model}, layer_norm_eps, true, dtype));
  dropout1 = register_module("dropout1", std::make_shared<Dropout>(dropout_p));
  dropout2 = register_module("dropout2", std::make_shared<Dropout>(dropout_p));
}

TransformerEncoderLayer::TransformerEncoderLayer(const TransformerEncoderLayerOptions& o)
    : TransformerEncoderLayer(o.d_model, o.nhead, o.dim_feedforward, o.dropout, o.activation, o.layer_norm_eps,
                              o.batch_first, o.norm_first, o.dtype) {}

Tensor TransformerEncoderLayer::ff_block(const Tensor& x) {
  return dropout2->forward(feed_forward(*linear1, *dropout, *linear2, x, activation_));
}

Tensor TransformerEncoderLayer::forward(const Tensor& src, const Tensor& src_mask,
                                        const Tensor& src_key_padding_mask, bool is_causal) {
  auto sa = [&](const Tensor& x) {
    return dropout1->forward(self_attn->forward(x, x, x, src_key_padding_mask, false, src_mask, true, is_causal).first);
  };
  Tensor x = src;
  if (norm_first_) {
    x = x + sa(norm1->forward(x));
    x = x + ff_block(norm2->forward(x));
  } else {
    x = norm1->forward(x + sa(x));
    x = norm2->forward(x + ff_block(x));
  }
  return x;
}

TransformerDecoderLayer::TransformerDecoderLayer(int64_t d_model, int64_t nhead, int64_t dim_feedforward,
                                                 double dropout_p, const std::string& activation,
                                                 double layer_norm_eps, bool batch_first, bool norm_first,
                                                 DType dtype)
    : Module("TransformerDecoderLayer"),
      activation_(checked_activation(activation, "TransformerDecoderLayer")),
      norm_first_(norm_first) {
  auto mha = [&] {
    return std::make_shared<MultiheadAttention>(d_model, nhead, dropout_p, true, batch_first, std::nullopt,
                                                std::nullopt, std::nullopt, dtype);
  };
  self_attn = register_module("self_attn", mha());
  multihead_attn = register_module("multihead_attn", mha());
  linear1 = register_module("linear1", std::make_shared<Linear>(d_model, dim_feedforward, true, dtype));
  dropout = register_module("dropout", std::make_shared<Dropout>(dropout_p));
  linear2 = register_module("linear2", std::make_shared<Linear>(dim_feedforward, d_model, true, dtype));
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(Shape{d_model}, layer_norm_eps, true, dtype));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(Shape{d_model}, layer_norm_eps, true, dtype));
  norm3 = register_module("norm3", std::make_shared<LayerNorm>(Shape{d_model}, layer_norm_eps, true, dtype));
  dropout1 = register_module("dropout1", std::make_shared<Dropout>(dropout_p));
  dropout2 = register_module("dropout2", std::make_shared<Dropout>(dropout_p));
  dropout3 = register_module("dropout3", std::make_shared<Dropout>(dropout_p));
}

TransformerDecoderLayer::TransformerDecoderLayer(const TransformerDecoderLayerOptions& o)
    : TransformerDecoderLayer(o.d_model, o.nhead, o.dim_feedforward, o.dropout, o.activation, o.layer_norm_eps,
                              o.batch_first, o.norm_first, o.dtype) {}

Tensor TransformerDecoderLayer::forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask,
                                        const Tensor& memory_mask, const Tensor& tgt_key_padding_mask,
                                        const Tensor& memory_key_padding_mask, bool tgt_is_causal,
                                        bool memory_is_causal) {
  MOELAB_CHECK(memory.defined(), "TransformerDecoderLayer: memory must be defined");
  auto sa = [&](const Tensor& x) {
    return dropout1->forward(
        self_attn->forward(x, x, x, tgt_key_padding_mask, false, tgt_mask, true, tgt_is_causal).first);
  };
  auto ca = [&](const Tensor& x) {
    return dropout2->forward(multihead_attn
                                 ->forward(x, memory, memory, memory_key_padding_mask, false, memory_mask, true,
                                           memory_is_causal)
                                 .first);
  };
  auto ff = [&](const Tensor& x) {
    return dropout3->forward(feed_forward(*linear1, *dropout, *linear2, x, activation_));
  };
  Tensor x = tgt;
  if (norm_first_) {
    x = x + sa(norm1->forward(x));
    x = x + ca(norm2->forward(x));
    x = x + ff(norm3->forward(x));
  } else {
    x = norm1->forward(x + sa(x));
    x = norm2->forward(x + ca(x));
    x = norm3->forward(x + ff(x));
  }
  return x;
}

TransformerEncoder::TransformerEncoder(const LayerFactory& make_layer, int64_t num_layers,
                                       std::shared_ptr<LayerNorm> norm)
    : Module("TransformerEncoder"), norm_(std::move(norm)) {
  MOELAB_CHECK(num_layers >= 0, "TransformerEncoder: num_layers must be non-negative, got ", num_layers);
  MOELAB_CHECK(make_layer != nullptr, "TransformerEncoder: the layer factory is empty");
  auto list = register_module("layers", std::make_shared<Module>("ModuleList"));
  for (int64_t i = 0; i < num_layers; ++i) {
    auto layer = make_layer();
    MOELAB_CHECK(layer != nullptr, "TransformerEncoder: the layer factory returned null for layer ", i);
    layers_.push_back(list->register_module(std::to_string(i), layer));
  }
  if (norm_) register_module("norm", norm_);
}

TransformerEncoder::TransformerEncoder(const TransformerEncoderLayerOptions& layer, int64_t num_layers,
                                       std::shared_ptr<LayerNorm> norm)
    : TransformerEncoder([&layer] { return std::make_shared<TransformerEncoderLayer>(layer); }, num_layers,
                         std::move(norm)) {}

Tensor TransformerEncoder::forward(const Tensor& src, const Tensor& mask, const Tensor& src_key_padding_mask,
                                   bool is_causal) {
  Tensor x = src;
  for (auto& layer : layers_) x = layer->forward(x, mask, src_key_padding_mask, is_causal);
  return norm_ ? norm_->forward(x) : x;
}

}  // namespace moelab::nn
