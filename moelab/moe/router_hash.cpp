#include "moelab/moe/router_hash.h"

#include "moelab/ops/factory.h"
#include "moelab/ops/reduce.h"

namespace moelab::moe {

namespace {
constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;

uint64_t splitmix64(uint64_t z) {
  z += kGolden;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
}  // namespace

void hash_experts(uint64_t key, uint64_t seed, int64_t num_experts, int64_t k, int64_t* out) {
  // Draw j of key is splitmix64(splitmix64(seed) ^ key + j * golden), the splitmix64 stream started at
  // the key's state; a draw that repeats an expert already taken is skipped (at most k values to
  // compare, k <= E), so the k experts are distinct and each is uniform over the rest.
  const uint64_t state = splitmix64(seed) ^ key;
  const uint64_t e = static_cast<uint64_t>(num_experts);
  int64_t n = 0;
  for (uint64_t j = 0; n < k; ++j) {
    int64_t c = static_cast<int64_t>(splitmix64(state + j * kGolden) % e);
    bool seen = false;
    for (int64_t i = 0; i < n; ++i) seen = seen || out[i] == c;
    if (!seen) out[n++] = c;
  }
}

namespace {
void check_table(const Tensor& t, int64_t k, int64_t E, const char* fn) {
  MOELAB_CHECK(t.defined() && t.dim() == 2 && t.size(1) == k && t.size(0) > 0, fn,
               ": table must be [vocab_size > 0, k = ", k, "], got ", t.defined() ? t.shape() : Shape{});
  MOELAB_CHECK(t.dtype() == kI64, fn, ": table must be i64, got ", t.dtype());
  Tensor c = t.to(kCPU).contiguous();
  const int64_t* p = c.data_ptr<int64_t>();
  for (int64_t r = 0; r < c.size(0); ++r) {
    for (int64_t j = 0; j < k; ++j) {
      const int64_t v = p[r * k + j];
      MOELAB_CHECK(v >= 0 && v < E, fn, ": table[", r, ", ", j, "] = ", v, " is not an expert in [0, ", E, ")");
      for (int64_t i = 0; i < j; ++i)
        MOELAB_CHECK(p[r * k + i] != v, fn, ": table row ", r, " names expert ", v, " twice");
    }
  }
}
}  // namespace

HashRouter::HashRouter(const RouterOptions& opts, const HashRouterOptions& hash_opts)
    : Router("HashRouter", opts), hopts_(hash_opts), table_(register_buffer("table", Tensor())) {
  MOELAB_CHECK(hopts_.vocab_size >= 0, "HashRouter: vocab_size must be >= 0, got ", hopts_.vocab_size);
  if (hopts_.vocab_size > 0) {
    const int64_t k = opts_.top_k;
    Tensor t = empty({hopts_.vocab_size, k}, kI64);
    int64_t* p = t.data_ptr<int64_t>();
    for (int64_t v = 0; v < hopts_.vocab_size; ++v)
      hash_experts(static_cast<uint64_t>(v), hopts_.seed, opts_.num_experts, k, p + v * k);
    table_ = t;
  }
}

void HashRouter::set_table(const Tensor& table) {
  check_table(table, opts_.top_k, opts_.num_experts, "HashRouter::set_table");
  table_ = table.to(kCPU).contiguous().clone();
  hopts_.vocab_size = table_.size(0);
}

RoutingDecision HashRouter::decide(const Tensor& ids, DType dt) {
  const int64_t T = ids.size(0), E = opts_.num_experts;
  RoutingDecision d;
  d.expert_ids = ids;
  d.weights = ones({T, opts_.top_k}, dt);
  d.kept = ones({T, opts_.top_k}, kBool);
  d.logits = zeros({T, E}, dt);
  d.probs = full({T, E}, 1.0 / static_cast<double>(E), dt);
  add_standard_losses(d);
  return d;
}

RoutingDecision HashRouter::route(const Tensor& x) {
  const int64_t T = x.size(0), k = opts_.top_k;
  Tensor ids = empty({T, k}, kI64);
  int64_t* p = ids.data_ptr<int64_t>();
  for (int64_t t = 0; t < T; ++t) hash_experts(static_cast<uint64_t>(t), hopts_.seed, opts_.num_experts, k, p + t * k);
  // routing_input is not called: the choice never looks at x's values, so jitter would be wasted noise.
  return decide(ids, routing_dtype(x.dtype()));
}

RoutingDecision HashRouter::route_ids(const Tensor& token_ids) {
  constexpr const char* fn = "HashRouter::route_ids";
  MOELAB_CHECK(token_ids.defined() && token_ids.dim() == 1, fn, ": token_ids must be 1-d [T], got ",
               token_ids.defined() ? token_ids.shape() : Shape{});
  MOELAB_CHECK(token_ids.dtype() == kI64, fn, ": token_ids must be i64, got ", token_ids.dtype(), " (shape ",
               token_ids.shape(), ")");
  MOELAB_CHECK(token_ids.device().is_cpu(), fn, ": token_ids must be on the CPU, got ", token_ids.device());
  const int64_t T = token_ids.size(0), k = opts_.top_k;
  Tensor src = token_ids.contiguous();
  const int64_t* in = src.data_ptr<int64_t>();
  Tensor ids = empty({T, k}, kI64);
  int64_t* p = ids.data_ptr<int64_t>();
  const int64_t V = table_.defined() ? table_.size(0) : 0;
  const Tensor table = table_.defined() ? table_.to(kCPU).contiguous() : Tensor();
  const int64_t* tab = table.defined() ? table.data_ptr<int64_t>() : nullptr;
  for (int64_t t = 0; t < T; ++t) {
    const int64_t v = in[t];
    if (tab) {
      MOELAB_CHECK(v >= 0 && v < V, fn, ": token_ids[", t, "] = ", v, " is outside the table's vocabulary [0, ", V,
                   ")");
      for (int64_t j = 0; j < k; ++j) p[t * k + j] = tab[v * k + j];
    } else {
      MOELAB_CHECK(v >= 0, fn, ": token_ids[", t, "] = ", v, " is negative");
      hash_experts(static_cast<uint64_t>(v), hopts_.seed, opts_.num_experts, k, p + t * k);
    }
  }
  return decide(ids, routing_dtype(opts_.dtype));
}

}  // namespace moelab::moe
