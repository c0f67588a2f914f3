// Auxiliary losses of mixture-of-experts routers, as functions of the router's outputs. Each is
// written from differentiable ops, so autograd gives gradients of any order. See docs/moe.md
// ("Auxiliary losses") for the formulas and which systems use which normalisation.
//
// Notation: T tokens, E experts, k experts per token; router_probs p[t,e] (softmax over experts,
// fp32 or f64), expert_ids [T,k] i64 (slot 0 is the first choice).
#pragma once
#include <cstdint>
#include <string_view>

#include "moelab/core/tensor.h"

namespace moelab::moe {

// How the switch / GShard load-balancing loss is normalised. With counts c_e and mean probability
// P_e = mean_t p[t,e], all three read E * sum_e f_e * P_e and differ only in f_e:
enum class LoadBalanceNorm {
  kPerK,         // f_e = c_e / (k T), c_e over all k slots. Megatron-Core, MegaBlocks. Balanced: 1.
  kAllK,         // f_e = c_e / T, c_e over all k slots (= k * kPerK). HF Mixtral, flaxformer. Balanced: k.
  kFirstChoice,  // f_e = c1_e / T, c1_e from slot 0 only. DeepSpeed, fairseq, Tutel, FastMoE GShard. Balanced: 1.
};

std::string_view to_string(LoadBalanceNorm norm);

// The load-balancing loss E * sum_e f_e * P_e (multiply by your coefficient, e.g. 1e-2).
// router_probs [T,E] f32/f64 (after softmax); expert_ids [T,k] i64 in [0, E), 1 <= k <= E: the
// top-k choices before any capacity dropping. The counts are constants (no gradient flows through
// them, as in every reference system); the gradient reaches router_probs through P only.
// token_mask: optional bool [T]; false excludes a token from both the counts and P, and T becomes
// the number of true entries (HF Mixtral's attention_mask). With no token left (T = 0 or an
// all-false mask) the loss is 0, where the references would divide 0 by 0.
Tensor switch_load_balancing_loss(const Tensor& router_probs, const Tensor& expert_ids,
                                  LoadBalanceNorm norm = LoadBalanceNorm::kPerK, const Tensor& token_mask = Tensor());

// ST-MoE router z-loss: mean_t(logsumexp_e(logits[t,:])^2). logits [T,E] f32/f64, E >= 1;
// 0 when T = 0. Recommended coefficient 1e-3.
Tensor router_z_loss(const Tensor& logits);

// Shazeer et al. 2017: the squared coefficient of variation var(x) / (mean(x)^2 + 1e-10) of a 1-D
// f32/f64 tensor, with the unbiased variance (torch's x.var()); 0 for a single element, as the
// reference cv_squared does. The reference casts to f32 first; here f64 stays f64.
Tensor cv_squared(const Tensor& x);
// cv_squared(sum_t gates[t,:]): gates [T,E] are the (sparse) gate values.
Tensor importance_loss(const Tensor& gates);
// cv_squared(load): load [E] is the (differentiable) load estimate of the noisy top-k router.
Tensor load_loss(const Tensor& load);

}  // namespace moelab::moe
