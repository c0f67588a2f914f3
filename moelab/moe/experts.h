// Expert feed-forward networks: E experts whose weights live as one tensor per projection,
//   w1 [E, d_model, d_ff], w2 [E, d_ff, d_model] (and w3 [E, d_model, d_ff] for SwiGLU),
// run on the expert-major segments that dispatch (moe/dispatch.h) makes, one grouped GEMM per
// projection (moe/grouped_gemm.h): no per-expert tensors, no padding.
//
//   expert_e(x) = act(x @ w1[e]) @ w2[e]                     relu, gelu, silu
//   expert_e(x) = (silu(x @ w1[e]) * (x @ w3[e])) @ w2[e]    swiglu (Mixtral, DeepSeek, Qwen-MoE)
//
// Names follow HF Mixtral's expert (w1 gate, w3 up, w2 down); the layout is x @ w (w1[e] is the
// transpose of Mixtral's nn.Linear weight), so each GEMM reads its weight without a copy.
// Fine-grained experts (DeepSeekMoE's expert segmentation) are just more, smaller experts: split
// each of E experts of width f into m experts of width f / m and route to k * m of the E * m; the
// compute per token stays the same and grouped GEMM handles the many small segments.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "moelab/nn/module.h"

namespace moelab::moe {

enum class ExpertActivation { kReLU, kGELU, kSiLU, kSwiGLU };

// "relu", "gelu", "silu" or "swiglu" -> the enum; anything else is an Error naming `op`.
ExpertActivation parse_expert_activation(const std::string& name, const char* op = "ExpertFFN");

struct ExpertOptions {
  int64_t num_experts = 0;
  int64_t d_model = 0;
  int64_t d_ff = 0;
  std::string activation = "swiglu";
  DType dtype = kF32;
};

class ExpertFFN : public nn::Module {
 public:
  explicit ExpertFFN(const ExpertOptions& options);
  ExpertFFN(int64_t num_experts, int64_t d_model, int64_t d_ff, const std::string& activation = "swiglu",
            DType dtype = kF32);

  // xs [N, d_model] with expert e's rows at offsets[e] .. offsets[e+1] (offsets: E + 1 entries,
  // offsets[E] = N) -> [N, d_model], row r computed by the expert that owns it.
  Tensor forward(const Tensor& xs, const std::vector<int64_t>& offsets);
  Tensor operator()(const Tensor& xs, const std::vector<int64_t>& offsets) { return forward(xs, offsets); }

  // U(-1/sqrt(fan_in), 1/sqrt(fan_in)) per expert, as nn::Linear's weight: fan_in = d_model for
  // w1 and w3, d_ff for w2.
  void reset_parameters();

  const ExpertOptions& options() const { return opts_; }
  int64_t num_experts() const { return opts_.num_experts; }
  int64_t d_model() const { return opts_.d_model; }
  int64_t d_ff() const { return opts_.d_ff; }
  ExpertActivation activation() const { return act_; }
  DType dtype() const { return opts_.dtype; }
  const Tensor& w1() const { return w1_; }
  const Tensor& w2() const { return w2_; }
  const Tensor& w3() const { return w3_; }  // undefined unless swiglu

 private:
  ExpertOptions opts_;
  ExpertActivation act_;
  Tensor& w1_;
  Tensor& w2_;
  Tensor& w3_;
};

}  // namespace moelab::moe
