// Attention as torch.nn.functional (PyTorch 2.x semantics): scaled_dot_product_attention with
// grouped-query attention, and rotary position embedding in the rotate-half (GPT-NeoX / LLaMA)
// convention. Both are composites of differentiable ops (matmul, softmax, where, cat), so gradients
// of any order come from autograd.
#pragma once
#include <optional>
#include <utility>

#include "moelab/core/generator.h"
#include "moelab/core/tensor.h"

namespace moelab {

// softmax(q k^T * scale + mask) v, scale defaulting to 1/sqrt(E).
//   query [..., Hq, L, E], key [..., Hkv, S, E], value [..., Hkv, S, Ev] -> [..., Hq, L, Ev]
// All three have the same number of dims (at least 2); the leading batch dims broadcast as in
// matmul. With 3+ dims, Hq must be a multiple of Hkv: each kv head serves Hq/Hkv consecutive query
// heads (grouped-query attention, done by viewing q as [..., Hkv, G*L, E], k and v are not copied).
// attn_mask broadcasts to [..., Hq, L, S]: bool (true = may attend) or the query's dtype (added to
// the scores). is_causal masks key j > query i (top-left aligned, as PyTorch); giving both is an
// Error. dropout_p > 0 drops attention weights (always, as F.scaled_dot_product_attention does; pass
// 0 in eval). A query row whose keys are all masked gives NaN, as softmax of all -inf does (PyTorch
// up to 2.4 and nn.MultiheadAttention do the same).
Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const Tensor& attn_mask = {}, double dropout_p = 0.0, bool is_causal = false,
                                    std::optional<double> scale = std::nullopt, Generator* gen = nullptr);

// Rotary position embedding, rotate-half convention: x * cos + rotate_half(x) * sin, where
// rotate_half([x1, x2]) = [-x2, x1] splits the last dim in halves. x [..., D] with D even; cos and
// sin broadcast to x and have D in their last dim (the HF layout: the D/2 frequencies twice).
Tensor apply_rotary_emb(const Tensor& x, const Tensor& cos, const Tensor& sin);

namespace detail {
// scaled_dot_product_attention that also returns the attention weights [..., Hq, L, S] (after
// dropout), for nn::MultiheadAttention's need_weights.
std::pair<Tensor, Tensor> sdpa_with_weights(const Tensor& query, const Tensor& key, const Tensor& value,
                                            const Tensor& attn_mask, double dropout_p, bool is_causal,
                                            std::optional<double> scale, Generator* gen, const char* op);
}  // namespace detail

}  // namespace moelab
