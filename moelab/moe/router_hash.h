// Hash routing (Roller et al. 2021, "Hash layers for large sparse models"): a fixed,
// parameter-free baseline. Each token goes to k distinct experts with weight 1, chosen by a fixed
// mixing function: splitmix64 of a key and the seed.
//  route(x)          key = the token's position t in the batch (x's values are not looked at, so
//                    input jitter, though accepted, changes nothing);
//  route_ids(ids)    key = the token's vocabulary id: through the table buffer [vocab_size, k] when
//                    vocab_size > 0 (filled with the same hash at construction, replaceable with
//                    set_table, e.g. by a frequency-balanced assignment), else the hash of the id.
// Deterministic in train and eval, balanced in expectation. logits are zeros and probs uniform
// (1/E) so that the standard losses stay well-defined (their gradient is empty: nothing to learn).
#pragma once
#include "moelab/moe/router.h"

namespace moelab::moe {

struct HashRouterOptions {
  uint64_t seed = 0;
  int64_t vocab_size = 0;  // > 0: route_ids maps ids through a [vocab_size, k] table
};

// The k distinct experts in [0, E) of key under seed, in draw order, into out[0..k). 1 <= k <= E.
void hash_experts(uint64_t key, uint64_t seed, int64_t num_experts, int64_t k, int64_t* out);

class HashRouter : public Router {
 public:
  explicit HashRouter(const RouterOptions& opts, const HashRouterOptions& hash_opts = {});
  RoutingDecision route(const Tensor& x) override;
  // token_ids [T] i64 -> the decision for those tokens (weights in routing_dtype(options().dtype)).
  RoutingDecision route_ids(const Tensor& token_ids);

  const HashRouterOptions& hash_options() const { return hopts_; }
  const Tensor& table() const { return table_; }  // i64 [vocab_size, k], undefined when vocab_size = 0
  // Replaces the table: i64 [vocab_size, k], each row k distinct experts in [0, E).
  void set_table(const Tensor& table);

 private:
  RoutingDecision decide(const Tensor& ids, DType dt);
  HashRouterOptions hopts_;
  Tensor& table_;
};

}  // namespace moelab::moe
