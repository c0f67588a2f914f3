// MultiheadAttention as torch.nn.MultiheadAttention (PyTorch 1.13 / 2.x), with grouped-query
// attention as an option (num_kv_heads).
//
// Parameters, by PyTorch's names so that torch state_dicts load:
//   kdim == vdim == embed_dim and no GQA: in_proj_weight [3E, E], in_proj_bias [3E];
//   otherwise:  q_proj_weight [E, E], k_proj_weight [Hkv*hd, kdim], v_proj_weight [Hkv*hd, vdim],
//               in_proj_bias [E + 2*Hkv*hd]   (hd = E / num_heads; PyTorch's names for kdim/vdim);
//   and out_proj.weight [E, E], out_proj.bias [E]. bias = false drops both biases.
// Init as PyTorch: xavier_uniform_ projection weights, zero biases, out_proj.weight as Linear.
//
// forward(query, key, value, key_padding_mask, need_weights, attn_mask, average_attn_weights,
// is_causal) -> (output, weights). Shapes (batch_first = false): query [L, N, E], key [S, N, kdim],
// value [S, N, vdim] -> output [L, N, E]; batch_first = true swaps the first two dims of all; unbatched
// query [L, E], key [S, kdim], value [S, vdim]. Masks follow nn.MultiheadAttention: a bool mask is
// true where attention is NOT allowed, a float mask (the query's dtype) is added to the scores.
// key_padding_mask [N, S] (unbatched [S]); attn_mask [L, S] or [N*num_heads, L, S] (unbatched
// [num_heads, L, S]). weights: [N, L, S] averaged over heads, or [N, num_heads, L, S]; undefined
// when !need_weights. Dropout on the attention weights applies in training mode only.
// Deviations from PyTorch: no add_bias_kv / add_zero_attn; is_causal without attn_mask builds the
// causal mask (PyTorch raises), is_causal with attn_mask uses attn_mask as given (as PyTorch's hint).
#pragma once
#include <optional>
#include <utility>

#include "moelab/core/generator.h"
#include "moelab/nn/linear.h"

namespace moelab::nn {

class MultiheadAttention : public Module {
 public:
  MultiheadAttention(int64_t embed_dim, int64_t num_heads, double dropout = 0.0, bool bias = true,
                     bool batch_first = false, std::optional<int64_t> kdim = std::nullopt,
                     std::optional<int64_t> vdim = std::nullopt, std::optional<int64_t> num_kv_heads = std::nullopt,
                     DType dtype = kF32, Generator* gen = nullptr);

  std::pair<Tensor, Tensor> forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const Tensor& key_padding_mask = {}, bool need_weights = true,
                                    const Tensor& attn_mask = {}, bool average_attn_weights = true,
                                    bool is_causal = false);
  std::pair<Tensor, Tensor> operator()(const Tensor& query, const Tensor& key, const Tensor& value,
                                       const Tensor& key_padding_mask = {}, bool need_weights = true,
                                       const Tensor& attn_mask = {}, bool average_attn_weights = true,
                                       bool is_causal = false) {
    return forward(query, key, value, key_padding_mask, need_weights, attn_mask, average_attn_weights, is_causal);
  }
  void reset_parameters();

  int64_t embed_dim() const { return embed_dim_; }
  int64_t num_heads() const { return num_heads_; }
  int64_t num_kv_heads() const { return num_kv_heads_; }
  int64_t head_dim() const { return head_dim_; }
  bool batch_first() const { return batch_first_; }
  // True when q, k and v come from one packed in_proj_weight.
  bool packed() const { return packed_; }
  const std::shared_ptr<Linear>& out_proj() const { return out_proj_; }

 private:
  int64_t embed_dim_, num_heads_, num_kv_heads_, head_dim_, kdim_, vdim_;
  double dropout_;
  bool batch_first_, packed_;
  Generator* gen_;
  Tensor& in_proj_weight_;
  Tensor& q_proj_weight_;
  Tensor& k_proj_weight_;
  Tensor& v_proj_weight_;
  Tensor& in_proj_bias_;
  std::shared_ptr<Linear> out_proj_;
};

}  // namespace moelab::nn
