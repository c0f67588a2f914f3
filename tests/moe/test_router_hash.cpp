// HashRouter (Roller et al. 2021): pinned splitmix64 draws, distinct experts, balance, ids and table.
#include <cmath>

#include "moe/router_test_util.h"
#include "support/check.h"
#include "support/golden.h"

using namespace moelab;
using moelab::testing::router_options;
using moelab::testing::set_tensor;
using moelab::testing::check_close;
using moelab::testing::check_equal;
using moelab::testing::Golden;
using moe::HashRouter;
using moe::HashRouterOptions;
using moe::RouterOptions;

namespace {
HashRouterOptions hopts(uint64_t seed, int64_t vocab = 0) {
  HashRouterOptions h;
  h.seed = seed;
  h.vocab_size = vocab;
  return h;
}
}  // namespace

TEST_CASE("moe hash router: position hash matches the reference splitmix64 draws") {
  const Golden& g = Golden::get("moe_routers_a");
  struct Case {
    int64_t E, k;
    uint64_t seed;
  };
  for (const Case& c : {Case{8, 1, 0}, Case{8, 3, 0}, Case{5, 2, 42}, Case{4, 4, 7}}) {
    INFO("E " << c.E << " k " << c.k << " seed " << c.seed);
    Tensor expect = g["hash.E" + std::to_string(c.E) + ".k" + std::to_string(c.k) + ".s" + std::to_string(c.seed) + ".ids"];
    HashRouter r(router_options(3, c.E, c.k), hopts(c.seed));
    auto d = r(randn({20, 3}));
    check_equal(d.expert_ids, expect);
    // Ids hash the same way as positions when there is no table.
    check_equal(r.route_ids(arange(int64_t{0}, int64_t{20}, int64_t{1}, kI64)).expert_ids, expect);
    check_equal(d.weights, ones({20, c.k}));
    check_equal(d.kept, ones({20, c.k}, kBool));
    check_close(d.probs, full({20, c.E}, 1.0 / c.E), 1e-7);
    check_equal(d.logits, zeros({20, c.E}));
  }
}

TEST_CASE("moe hash router: distinct experts, balanced in expectation, deterministic") {
  const int64_t T = 8000, E = 8, k = 2;
  HashRouter r(router_options(2, E, k), hopts(3));
  Tensor x = randn({T, 2});
  auto d = r(x);
  Tensor ids = d.expert_ids;
  CHECK(sum(eq(ids.select(1, 0), ids.select(1, 1)).to(kI64)).item<int64_t>() == 0);
  CHECK(amin(ids).item<int64_t>() == 0);
  CHECK(amax(ids).item<int64_t>() == E - 1);
  Tensor counts = bincount(ids.reshape({T * k}), Tensor(), E).to(kF64);
  // Expected 2000 per expert, binomial std ~ 41: 6 std either side.
  CHECK(amin(counts).item<double>() > 1750);
  CHECK(amax(counts).item<double>() < 2250);
  // Same in train and eval, with jitter on, and whatever the token values; another seed differs.
  auto o = router_options(2, E, k);
  o.jitter_eps = 0.5;
  HashRouter j(o, hopts(3));
  check_equal(j(randn({T, 2})).expert_ids, ids);
  j.eval();
  check_equal(j(x).expert_ids, ids);
  HashRouter other(router_options(2, E, k), hopts(4));
  CHECK_FALSE(equal(other(x).expert_ids, ids));
  // f64 tokens give f64 weights; the standard losses are well defined.
  auto lo = router_options(2, E, k, kF64);
  lo.load_balance_coef = 0.01;
  lo.z_loss_coef = 0.001;
  HashRouter l(lo, hopts(3));
  auto dl = l(x.to(kF64));
  CHECK(dl.weights.dtype() == kF64);
  CHECK(std::isfinite(dl.aux_loss.item<double>()));
  CHECK(dl.losses.at("z_loss").item<double>() == doctest::Approx(std::log(8.0) * std::log(8.0)));
  CHECK(r.named_parameters().empty());
}

TEST_CASE("moe hash router: vocabulary table, set_table and id routing") {
  HashRouter r(router_options(2, 6, 2), hopts(9, /*vocab=*/50));
  REQUIRE(r.table().shape() == Shape{50, 2});
  HashRouter h(router_options(2, 6, 2), hopts(9));
  Tensor ids = tensor({int64_t{3}, int64_t{49}, int64_t{0}, int64_t{3}});
  // The table is filled with the same hash, so both agree; repeated ids route the same.
  auto d = r.route_ids(ids);
  check_equal(d.expert_ids, h.route_ids(ids).expert_ids);
  check_equal(d.expert_ids.select(0, 0), d.expert_ids.select(0, 3));
  check_equal(d.expert_ids, index_select(r.table(), 0, ids));
  // A replaced table is used as given; the strided id view reads the right ids.
  Tensor t = tensor({int64_t{5}, int64_t{0}, int64_t{1}, int64_t{2}, int64_t{4}, int64_t{3}}).view({3, 2});
  r.set_table(t);
  Tensor strided = tensor({int64_t{2}, int64_t{-7}, int64_t{0}, int64_t{-7}}).slice(0, 0, std::nullopt, 2);
  check_equal(r.route_ids(strided).expert_ids, tensor({int64_t{4}, int64_t{3}, int64_t{5}, int64_t{0}}).view({2, 2}));
  // Empty batch.
  CHECK(r.route_ids(zeros({0}, kI64)).expert_ids.shape() == Shape{0, 2});
  CHECK(h(zeros({0, 2})).expert_ids.shape() == Shape{0, 2});
  // Table in state_dict (a buffer, no parameter).
  CHECK(r.state_dict().count("table") == 1);
}

TEST_CASE("moe hash router: bad ids, tables and options are errors") {
  CHECK_MOELAB_ERROR(HashRouter(router_options(2, 4, 1), hopts(0, -1)), "vocab_size");
  CHECK_MOELAB_ERROR(HashRouter(router_options(2, 4, 5)), "top_k");
  HashRouter r(router_options(2, 4, 2), hopts(0, 10));
  CHECK_MOELAB_ERROR(r.route_ids(tensor({int64_t{10}})), "outside the table's vocabulary [0, 10)");
  CHECK_MOELAB_ERROR(r.route_ids(tensor({int64_t{-1}})), "token_ids[0] = -1");
  CHECK_MOELAB_ERROR(r.route_ids(tensor({1.0f})), "i64");
  CHECK_MOELAB_ERROR(r.route_ids(zeros({2, 2}, kI64)), "1-d");
  HashRouter h(router_options(2, 4, 2));
  CHECK_MOELAB_ERROR(h.route_ids(tensor({int64_t{-3}})), "negative");
  CHECK_MOELAB_ERROR(r.set_table(zeros({3, 1}, kI64)), "k = 2");
  CHECK_MOELAB_ERROR(r.set_table(zeros({3, 2}, kF32)), "i64");
  CHECK_MOELAB_ERROR(r.set_table(tensor({int64_t{0}, int64_t{4}}).view({1, 2})), "not an expert");
  CHECK_MOELAB_ERROR(r.set_table(tensor({int64_t{1}, int64_t{1}}).view({1, 2})), "twice");
  CHECK_MOELAB_ERROR(r(randn({3, 3})), "d_model = 2");
}
