#include "moelab/moe/aux_losses.h"

#include <algorithm>

#include "moelab/core/error.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/reduce.h"
#include "moelab/ops/sort.h"

namespace moelab::moe {
namespace {

bool is_f32_or_f64(DType t) { return t == kF32 || t == kF64; }

// The shared checks of the [T,E] router tensors (probabilities, logits, gates).
void check_router_matrix(const Tensor& x, const char* fn, const char* arg) {
  MOELAB_CHECK(x.defined(), fn, ": ", arg, " is undefined");
  MOELAB_CHECK(x.dim() == 2, fn, ": ", arg, " must be 2-d [T, E], got shape ", x.shape());
  MOELAB_CHECK(is_f32_or_f64(x.dtype()), fn, ": ", arg,
               " must be f32 or f64 (routing math runs in fp32), got dtype ", x.dtype(), " (shape ", x.shape(), ")");
  MOELAB_CHECK(x.size(1) >= 1, fn, ": ", arg, " must have at least one expert, got shape ", x.shape());
}

void check_vector(const Tensor& x, const char* fn, const char* arg) {
  MOELAB_CHECK(x.defined(), fn, ": ", arg, " is undefined");
  MOELAB_CHECK(x.dim() == 1, fn, ": ", arg, " must be 1-d [E], got shape ", x.shape());
  MOELAB_CHECK(is_f32_or_f64(x.dtype()), fn, ": ", arg, " must be f32 or f64, got dtype ", x.dtype());
  MOELAB_CHECK(x.numel() >= 1, fn, ": ", arg, " must have at least one expert, got shape ", x.shape());
}

Tensor cv_squared_unchecked(const Tensor& x) {
  // davidmrau/mixture-of-experts returns a constant 0 for one expert (var() would be NaN there);
  // x.sum() * 0 is that 0 while keeping the graph, so backward through it still works.
  if (x.numel() == 1) return x.sum() * 0.0;
  return var(x) / (square(mean(x)) + 1e-10);
}

}  // namespace

std::string_view to_string(LoadBalanceNorm norm) {
  switch (norm) {
    case LoadBalanceNorm::kPerK: return "per_k";
    case LoadBalanceNorm::kAllK: return "all_k";
    case LoadBalanceNorm::kFirstChoice: return "first_choice";
  }
  return "unknown";
}

Tensor switch_load_balancing_loss(const Tensor& router_probs, const Tensor& expert_ids, LoadBalanceNorm norm,
                                  const Tensor& token_mask) {
  constexpr const char* fn = "switch_load_balancing_loss";
  check_router_matrix(router_probs, fn, "router_probs");
  const int64_t T = router_probs.size(0), E = router_probs.size(1);
  MOELAB_CHECK(expert_ids.defined(), fn, ": expert_ids is undefined");
  MOELAB_CHECK(expert_ids.dim() == 2 && expert_ids.size(0) == T, fn, ": expert_ids must be [T, k] with T = ", T,
               " as router_probs ", router_probs.shape(), ", got shape ", expert_ids.shape());
  MOELAB_CHECK(expert_ids.dtype() == kI64, fn, ": expert_ids must be i64, got dtype ", expert_ids.dtype());
  const int64_t k = expert_ids.size(1);
  MOELAB_CHECK(k >= 1 && k <= E, fn, ": k (expert_ids ", expert_ids.shape(), ") must be in [1, E] with E = ", E,
               " (router_probs ", router_probs.shape(), ")");
  MOELAB_CHECK(norm == LoadBalanceNorm::kPerK || norm == LoadBalanceNorm::kAllK ||
                   norm == LoadBalanceNorm::kFirstChoice,
               fn, ": unknown norm ", static_cast<int>(norm));
  MOELAB_CHECK(expert_ids.device() == router_probs.device(), fn, ": expert_ids and router_probs are on different devices");
  if (token_mask.defined()) {
    MOELAB_CHECK(token_mask.dim() == 1 && token_mask.size(0) == T, fn, ": token_mask must be [T] with T = ", T,
                 " as router_probs ", router_probs.shape(), ", got shape ", token_mask.shape());
    MOELAB_CHECK(token_mask.dtype() == kBool, fn, ": token_mask must be bool, got dtype ", token_mask.dtype());
    MOELAB_CHECK(token_mask.device() == router_probs.device(), fn,
                 ": token_mask and router_probs are on different devices");
  }
  if (expert_ids.numel() > 0) {
    const int64_t lo = amin(expert_ids).item<int64_t>(), hi = amax(expert_ids).item<int64_t>();
    MOELAB_CHECK(lo >= 0 && hi < E, fn, ": expert_ids must be in [0, ", E, "), got values in [", lo, ", ", hi,
                 "] (expert_ids ", expert_ids.shape(), ", router_probs ", router_probs.shape(), ")");
  }

  const DType dt = router_probs.dtype();
  const bool first = norm == LoadBalanceNorm::kFirstChoice;
  // Counts in one pass over the ids (bincount), never a one-hot [T,k,E]; they are constants, so
  // no gradient flows through them, as in Megatron, HF and DeepSpeed.
  Tensor ids = first ? expert_ids.select(1, 0) : expert_ids.reshape({T * k});
  Tensor mask, weights, n;
  if (token_mask.defined()) {
    mask = token_mask.to(dt);
    weights = first ? mask : mask.unsqueeze(1).expand({T, k}).reshape({T * k});
    n = clamp(mask.sum(), 1.0, std::nullopt);  // no token left gives 0 / 1 = 0, not 0 / 0
  }
  Tensor counts = bincount(ids, weights, E);
  if (!weights.defined()) counts = counts.to(dt);
  // sum_t p[t,e] over the counted tokens. Masked: a broadcast multiply and a column sum, whose
  // backward is one broadcast multiply; matmul(mask, probs) would be a GEMV forward, but its
  // backward, a rank-1 GEMM [T,1] @ [1,E], measured 3x slower than the whole of this at T=16k, E=64.
  Tensor prob_sums = mask.defined() ? (router_probs * mask.unsqueeze(1)).sum(0) : router_probs.sum(0);
  const double per_k = norm == LoadBalanceNorm::kPerK ? static_cast<double>(k) : 1.0;
  // E * sum_e (c_e / (k' n)) * (S_e / n) = sum_e S_e c_e * E / (k' n^2), Megatron's order of operations.
  Tensor weighted = sum(prob_sums * counts);
  if (!n.defined()) return weighted * (static_cast<double>(E) / (per_k * std::max<double>(T, 1) * std::max<double>(T, 1)));
  return weighted * (static_cast<double>(E) / per_k) / square(n);
}

Tensor router_z_loss(const Tensor& logits) {
  check_router_matrix(logits, "router_z_loss", "logits");
  Tensor z2 = square(logsumexp(logits, {1}));
  return logits.size(0) > 0 ? mean(z2) : sum(z2);  // the sum of nothing is 0; the mean would be NaN
}

Tensor cv_squared(const Tensor& x) {
  check_vector(x, "cv_squared", "x");
  return cv_squared_unchecked(x);
}

Tensor importance_loss(const Tensor& gates) {
  check_router_matrix(gates, "importance_loss", "gates");
  return cv_squared_unchecked(gates.sum(0));
}

Tensor load_loss(const Tensor& load) {
  check_vector(load, "load_loss", "load");
  return cv_squared_unchecked(load);
}

}  // namespace moelab::moe
