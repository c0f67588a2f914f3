// RotaryEmbedding: rotary position embedding (RoPE) in the rotate-half (GPT-NeoX / LLaMA HF)
// convention. It caches cos and sin tables [max_seq_len, head_dim] for positions 0..max_seq_len-1
// with inv_freq[i] = base^(-2i / head_dim), each frequency appearing twice (HF's cat(freqs, freqs)).
// The tables are plain members (computed in f64, stored in the module's dtype), not buffers, so they
// are not in state_dict (PyTorch code registers them with persistent=False).
//
//   nn::RotaryEmbedding rope(64, 2048);
//   Tensor q2 = rope.forward(q, /*offset=*/past_len);   // q [B, H, S, 64], positions past_len..
//   Tensor k2 = rope.forward(k, positions);             // positions i64 [S] or [B, S]
#pragma once
#include "moelab/nn/module.h"

namespace moelab::nn {

class RotaryEmbedding : public Module {
 public:
  RotaryEmbedding(int64_t head_dim, int64_t max_seq_len = 2048, double base = 10000.0, DType dtype = kF32);

  // x [..., S, head_dim] at positions offset .. offset+S-1.
  Tensor forward(const Tensor& x, int64_t offset = 0) const;
  // x [..., S, head_dim] at the given integer positions: [S], or [B, S] with x [B, S, D] or
  // [B, H, S, D] (the positions broadcast over the heads).
  Tensor forward(const Tensor& x, const Tensor& positions) const;

  const Tensor& cos_cached() const { return cos_; }  // [max_seq_len, head_dim]
  const Tensor& sin_cached() const { return sin_; }
  int64_t head_dim() const { return head_dim_; }
  int64_t max_seq_len() const { return max_seq_len_; }

 private:
  void check_input(const Tensor& x) const;
  int64_t head_dim_, max_seq_len_;
  double base_;
  Tensor cos_, sin_;
};

}  // namespace moelab::nn
