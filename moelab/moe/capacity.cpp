#include "moelab/moe/capacity.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "moelab/autograd/function.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/indexing.h"
#include "moelab/ops/reduce.h"
#include "moelab/ops/sort.h"

namespace moelab::moe {

int64_t expert_capacity(const CapacityOptions& o, int64_t num_tokens, int64_t top_k, int64_t num_experts) {
  MOELAB_CHECK(std::isfinite(o.factor) && o.factor >= 0, "expert_capacity: factor must be finite and >= 0, got ",
               o.factor);
  MOELAB_CHECK(o.min_capacity >= 0, "expert_capacity: min_capacity must be >= 0, got ", o.min_capacity);
  MOELAB_CHECK(num_experts > 0, "expert_capacity: num_experts must be positive, got ", num_experts);
  MOELAB_CHECK(num_tokens >= 0, "expert_capacity: num_tokens must be >= 0, got ", num_tokens);
  MOELAB_CHECK(top_k >= 1, "expert_capacity: top_k must be >= 1, got ", top_k);
  if (o.factor == 0.0) return -1;
  const auto T = static_cast<double>(num_tokens), E = static_cast<double>(num_experts);
  double c = 0;
  switch (o.formula) {
    case CapacityFormula::kMegatron:
      c = std::ceil((static_cast<double>(num_tokens * top_k) / E) * o.factor);
      break;
    case CapacityFormula::kDeepSpeed: {
      // torch.ceil((num_tokens / num_experts) * torch.tensor(cf * k)): a python float times a 0-d fp32
      // tensor is computed in fp32.
      const float r = static_cast<float>(T / E) * static_cast<float>(o.factor * static_cast<double>(top_k));
      c = static_cast<double>(std::ceil(r));
      break;
    }
    case CapacityFormula::kTutel:
      c = static_cast<double>(top_k) * std::floor(o.factor * std::ceil(T / E));
      break;
  }
  return std::max(static_cast<int64_t>(c), o.min_capacity);
}

namespace {

void check_slots(const char* fn, const Tensor& ids, const Tensor& weights, const Tensor& kept, int64_t E,
                 bool need_weights) {
  MOELAB_CHECK(ids.defined() && ids.dim() == 2, fn, ": expert_ids must be [T, k], got shape ",
               ids.defined() ? ids.shape() : Shape{});
  MOELAB_CHECK(ids.dtype() == kI64 || ids.dtype() == kI32, fn, ": expert_ids must be i64 or i32, got ", ids.dtype());
  MOELAB_CHECK(E >= 1, fn, ": num_experts must be >= 1, got ", E);
  if (need_weights || weights.defined()) {
    MOELAB_CHECK(weights.defined(), fn, ": this drop policy needs the weights");
    MOELAB_CHECK(weights.shape() == ids.shape(), fn, ": weights of shape ", weights.shape(),
                 " do not match expert_ids of shape ", ids.shape());
    MOELAB_CHECK(is_floating(weights.dtype()), fn, ": weights must be floating, got ", weights.dtype());
  }
  if (kept.defined()) {
    MOELAB_CHECK(kept.dtype() == kBool, fn, ": kept must be bool, got ", kept.dtype());
    MOELAB_CHECK(kept.shape() == ids.shape(), fn, ": kept of shape ", kept.shape(), " does not match expert_ids of shape ",
                 ids.shape());
  }
}

}  // namespace

Tensor capacity_mask(const Tensor& expert_ids, const Tensor& weights, const Tensor& kept, int64_t num_experts,
                     int64_t capacity, DropPolicy policy) {
  const bool need_w = policy == DropPolicy::kScore || policy == DropPolicy::kBatchPriority;
  check_slots("capacity_mask", expert_ids, weights, kept, num_experts, need_w);
  MOELAB_CHECK(capacity >= 0, "capacity_mask: capacity must be >= 0, got ", capacity);
  autograd::NoGradGuard no_grad;
  const int64_t T = expert_ids.size(0), k = expert_ids.size(1), S = T * k, E = num_experts;
  const Tensor ids_t = expert_ids.to(kI64).contiguous();
  const int64_t* ids = ids_t.data_ptr<int64_t>();
  for (int64_t s = 0; s < S; ++s)
    MOELAB_CHECK(ids[s] >= 0 && ids[s] < E, "capacity_mask: expert id ", ids[s], " at [", s / k, ", ", s % k,
                 "] is out of range for num_experts = ", E);
  Tensor out = kept.defined() ? kept.contiguous().clone() : ones({T, k}, kBool);
  bool* keep = out.data_ptr<bool>();
  Tensor w_t = need_w ? weights.to(kF64).contiguous() : Tensor();
  const double* w = need_w ? w_t.data_ptr<double>() : nullptr;
  std::vector<int64_t> count(static_cast<size_t>(E), 0);
  // Visit kept slots in priority order; each expert keeps the first `capacity` it sees.
  auto take = [&](int64_t s) {
    if (!keep[s]) return;
    int64_t& c = count[static_cast<size_t>(ids[s])];
    if (c < capacity)
      ++c;
    else
      keep[s] = false;
  };
  switch (policy) {
    case DropPolicy::kPosition:
      for (int64_t j = 0; j < k; ++j)
        for (int64_t t = 0; t < T; ++t) take(t * k + j);
      break;
    case DropPolicy::kTokenOrder:
      for (int64_t s = 0; s < S; ++s) take(s);
      break;
    case DropPolicy::kBatchPriority: {
      std::vector<double> prio(static_cast<size_t>(T), -std::numeric_limits<double>::infinity());
      for (int64_t s = 0; s < S; ++s)
        if (keep[s]) prio[static_cast<size_t>(s / k)] = std::max(prio[static_cast<size_t>(s / k)], w[s]);
      std::vector<int64_t> order(static_cast<size_t>(T));
      std::iota(order.begin(), order.end(), int64_t{0});
      std::stable_sort(order.begin(), order.end(),
                       [&](int64_t a, int64_t b) { return prio[static_cast<size_t>(a)] > prio[static_cast<size_t>(b)]; });
      for (int64_t j = 0; j < k; ++j)
        for (int64_t t : order) take(t * k + j);
      break;
    }
    case DropPolicy::kScore: {
      // Bucket the kept slots by expert (counting sort), then keep each bucket's best `capacity`.
      std::vector<int64_t> off(static_cast<size_t>(E + 1), 0);
      for (int64_t s = 0; s < S; ++s)
        if (keep[s]) ++off[static_cast<size_t>(ids[s] + 1)];
      for (int64_t e = 0; e < E; ++e) off[static_cast<size_t>(e + 1)] += off[static_cast<size_t>(e)];
      std::vector<int64_t> slots(static_cast<size_t>(off.back()));
      std::vector<int64_t> cur(off.begin(), off.end() - 1);
      for (int64_t s = 0; s < S; ++s)
        if (keep[s]) slots[static_cast<size_t>(cur[static_cast<size_t>(ids[s])]++)] = s;
      // Higher weight first; equal weights: lower flat index (= lower token, then lower slot).
      auto better = [&](int64_t a, int64_t b) { return w[a] > w[b] || (w[a] == w[b] && a < b); };
      for (int64_t e = 0; e < E; ++e) {
        auto b = slots.begin() + off[static_cast<size_t>(e)], en = slots.begin() + off[static_cast<size_t>(e + 1)];
        if (en - b <= capacity) continue;
        std::nth_element(b, b + capacity, en, better);
        for (auto it = b + capacity; it != en; ++it) keep[*it] = false;
      }
      break;
    }
  }
  return out;
}

Tensor renormalize_kept(const Tensor& weights, const Tensor& kept, double eps) {
  MOELAB_CHECK(weights.defined() && weights.dim() == 2 && is_floating(weights.dtype()),
               "renormalize_kept: weights must be floating [T, k], got ",
               weights.defined() ? weights.shape() : Shape{});
  MOELAB_CHECK(kept.defined() && kept.dtype() == kBool && kept.shape() == weights.shape(),
               "renormalize_kept: kept must be bool of the weights' shape ", weights.shape());
  if (eps < 0)
    eps = weights.dtype() == kF64 ? std::numeric_limits<double>::epsilon()
                                  : static_cast<double>(std::numeric_limits<float>::epsilon());
  const Tensor w = weights * kept.to(weights.dtype());
  return w / clamp(sum(w, {1}, true), eps, std::nullopt);
}

void apply_capacity(RoutingDecision& d, int64_t num_experts, int64_t capacity, DropPolicy policy, bool renormalize) {
  MOELAB_CHECK(d.weights.defined(), "apply_capacity: the decision has no weights");
  if (!d.routed.defined()) d.routed = d.kept.defined() ? d.kept : ones(d.expert_ids.shape(), kBool);
  d.kept = capacity_mask(d.expert_ids, d.weights, d.kept, num_experts, capacity, policy);
  // Differentiable masking: a dropped slot's weight is 0 with a zero gradient.
  d.weights = renormalize ? renormalize_kept(d.weights, d.kept) : d.weights * d.kept.to(d.weights.dtype());
}

void apply_capacity(RoutingDecision& d, int64_t num_experts, const CapacityOptions& o) {
  MOELAB_CHECK(d.expert_ids.defined() && d.expert_ids.dim() == 2, "apply_capacity: expert_ids must be [T, k]");
  const int64_t c = expert_capacity(o, d.num_tokens(), d.top_k(), num_experts);
  if (c < 0) return;
  apply_capacity(d, num_experts, c, o.policy, o.renormalize);
}

Tensor kept_counts(const RoutingDecision& d, int64_t num_experts) {
  MOELAB_CHECK(d.expert_ids.defined() && d.expert_ids.dim() == 2, "kept_counts: expert_ids must be [T, k]");
  MOELAB_CHECK(num_experts >= 1, "kept_counts: num_experts must be >= 1, got ", num_experts);
  autograd::NoGradGuard no_grad;
  Tensor ids = d.expert_ids.to(kI64).reshape({-1});
  if (d.kept.defined()) ids = masked_select(ids, d.kept.reshape({-1}));
  return bincount(ids, Tensor(), num_experts).narrow(0, 0, num_experts);
}

}  // namespace moelab::moe
