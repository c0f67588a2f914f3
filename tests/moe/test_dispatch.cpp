// Pad-free dispatch/combine (moe/dispatch.h): the counting-sort plan, the gather and the weighted
// scatter-add, checked against a naive per-token loop, with gradients to second order.
#include <vector>

#include "autograd/grad_test_util.h"
#include "moelab/backends/backend.h"
#include "moelab/backends/index_kernels.h"
#include "support/check.h"

using namespace moelab;
using namespace moelab::testing;
using moe::DispatchPlan;

namespace {

Tensor i64(const std::vector<int64_t>& v, const Shape& s) { return from_vector(v, s); }

// Random expert ids drawn only from `allowed`, so the other experts get no tokens.
Tensor ids_from(const std::vector<int64_t>& allowed, int64_t T, int64_t k) {
  Tensor pick = randint(0, static_cast<int64_t>(allowed.size()), {T, k});
  return index_select(from_vector(allowed, {static_cast<int64_t>(allowed.size())}), 0, pick.reshape({-1}))
      .reshape({T, k});
}

// out[t] += w[t, j] * x[t] @ W[ids[t, j]] for each kept slot, one token at a time.
Tensor naive_moe(const Tensor& x, const Tensor& W, const Tensor& ids, const Tensor& w, const Tensor& kept) {
  const int64_t T = ids.size(0), k = ids.size(1);
  const std::vector<int64_t> id = ids.to_vector<int64_t>();
  const std::vector<bool> keep = kept.defined() ? kept.to_vector<bool>() : std::vector<bool>(T * k, true);
  Tensor out = zeros({T, W.size(2)}, x.dtype());
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < k; ++j) {
      const size_t s = static_cast<size_t>(t * k + j);
      if (!keep[s]) continue;
      Tensor row = matmul(x.narrow(0, t, 1), W.select(0, id[s])) * w.narrow(0, t, 1).narrow(1, j, 1).to(x.dtype());
      out = index_add(out, 0, i64({t}, {1}), row);
    }
  return out;
}

Tensor run_moe(const Tensor& x, const Tensor& W, const Tensor& ids, const Tensor& w, const Tensor& kept) {
  const DispatchPlan plan = moe::plan_dispatch(ids, W.size(0), kept);
  const Tensor h = moe::grouped_matmul(moe::dispatch(x, plan), W, plan.offsets);
  return moe::combine(h, w, plan, x.size(0));
}

}  // namespace

TEST_CASE("moe dispatch: plan of a small example") {
  // Token 0 -> experts 2, 0; token 1 -> 0, 2; token 2 -> 1, 0. Four experts, expert 3 unused.
  const Tensor ids = i64({2, 0, 0, 2, 1, 0}, {3, 2});
  DispatchPlan p = moe::plan_dispatch(ids, 4);
  check_equal(p.order, i64({1, 2, 5, 4, 0, 3}, {6}));
  check_equal(p.token_of, i64({0, 1, 2, 2, 0, 1}, {6}));
  check_equal(p.row_of, i64({4, 0, 1, 5, 3, 2}, {6}));
  check_equal(p.offsets, i64({0, 3, 4, 6, 6}, {5}));
  check_equal(p.counts, i64({3, 1, 2, 0}, {4}));
  CHECK(p.offsets_cpu == std::vector<int64_t>{0, 3, 4, 6, 6});
  CHECK(p.num_rows() == 6);
  CHECK(p.num_tokens == 3);
  CHECK(p.top_k == 2);

  // Dropping slot (1, 0) removes one of expert 0's rows; i32 ids work too.
  const Tensor kept = from_vector(std::vector<bool>{true, true, false, true, true, true}, {3, 2});
  p = moe::plan_dispatch(ids.to(kI32), 4, kept);
  check_equal(p.order, i64({1, 5, 4, 0, 3}, {5}));
  check_equal(p.token_of, i64({0, 2, 2, 0, 1}, {5}));
  check_equal(p.row_of, i64({3, 0, -1, 4, 2, 1}, {6}));
  check_equal(p.counts, i64({2, 1, 2, 0}, {4}));
  CHECK(p.num_rows() == 5);
}

TEST_CASE("moe dispatch: the sort is stable and covers every kept slot once") {
  manual_seed(3);
  const int64_t T = 300, k = 3, E = 7;
  const Tensor ids = randint(0, E, {T, k});
  const Tensor kept = rand({T, k}) < 0.8;
  const DispatchPlan p = moe::plan_dispatch(ids, E, kept);
  const auto order = p.order.to_vector<int64_t>();
  const auto id = ids.to_vector<int64_t>();
  const auto keep = kept.to_vector<bool>();
  const auto row_of = p.row_of.to_vector<int64_t>();
  int64_t n_kept = 0;
  for (bool b : keep) n_kept += b;
  REQUIRE(static_cast<int64_t>(order.size()) == n_kept);
  for (int64_t e = 0; e < E; ++e)
    for (int64_t r = p.offsets_cpu[e]; r < p.offsets_cpu[e + 1]; ++r) {
      CHECK(id[order[r]] == e);
      CHECK(keep[order[r]]);
      CHECK(row_of[order[r]] == r);
      if (r > p.offsets_cpu[e]) CHECK(order[r] > order[r - 1]);  // equal experts keep token order
    }
  for (size_t s = 0; s < keep.size(); ++s)
    if (!keep[s]) CHECK(row_of[s] == -1);
  const auto token_of = p.token_of.to_vector<int64_t>();
  for (size_t r = 0; r < order.size(); ++r) CHECK(token_of[r] == order[r] / k);
}

TEST_CASE("moe dispatch: dispatch, grouped_matmul and combine equal a per-token loop") {
  manual_seed(11);
  const int64_t T = 13, d = 5, f = 7, E = 6;
  for (DType dt : {kF64, kF32})
    for (int64_t k : {1, 2, 4})
      for (bool drop : {false, true}) {
        INFO("dtype " << dt << " k " << k << " drop " << drop);
        const Tensor x = randn({T, d}, dt), W = randn({E, d, f}, dt);
        const Tensor ids = ids_from({0, 2, 3, 5}, T, k);  // experts 1 and 4 get no tokens
        const Tensor w = rand({T, k});                      // router weights are f32
        const Tensor kept = drop ? rand({T, k}) < 0.7 : Tensor();
        const double tol = dt == kF64 ? 1e-12 : 1e-5;
        check_close(run_moe(x, W, ids, w, kept), naive_moe(x, W, ids, w, kept), tol, tol);
      }
}

TEST_CASE("moe dispatch: golden forward and gradients against PyTorch (HF Mixtral-style loop)") {
  const Golden& g = Golden::get("moe_dispatch");
  for (const char* name : {"k2_drop", "k1", "k4_drop"})
    for (DType dt : {kF64, kF32}) {
      const std::string n = name;
      INFO(n << " in " << dt);
      Tensor x = g[n + ".x"].to(dt).clone(), W = g[n + ".W"].to(dt).clone(), w = g[n + ".w"].to(dt).clone();
      x.requires_grad_();
      W.requires_grad_();
      w.requires_grad_();
      const Tensor ids = g[n + ".ids"], kept = g[n + ".kept"];
      const moe::DispatchPlan plan = moe::plan_dispatch(ids, W.size(0), kept);
      check_equal(plan.order, g[n + ".order"]);  // the stable sort matches torch.sort(stable=True)
      const Tensor out = run_moe(x, W, ids, w, kept);
      const double tol = dt == kF64 ? 1e-12 : 1e-5;
      check_close(out, g[n + ".out"].to(dt), tol, tol);
      out.backward(g[n + ".gout"].to(dt));
      check_close(x.grad(), g[n + ".dx"].to(dt), tol, tol);
      check_close(W.grad(), g[n + ".dW"].to(dt), tol, tol);
      check_close(w.grad(), g[n + ".dw"].to(dt), tol, tol);
    }
}

TEST_CASE("moe dispatch: every slot dropped and zero tokens") {
  const Tensor ids = i64({0, 1, 1, 0}, {2, 2});
  const Tensor none = zeros({2, 2}, kBool);
  const DispatchPlan p = moe::plan_dispatch(ids, 2, none);
  CHECK(p.num_rows() == 0);
  const Tensor x = randn({2, 3}, kF64);
  const Tensor xs = moe::dispatch(x, p);
  CHECK(xs.shape() == Shape{0, 3});
  check_equal(moe::combine(xs, ones({2, 2}), p, 2), zeros({2, 3}, kF64));

  const DispatchPlan p0 = moe::plan_dispatch(zeros({0, 2}, kI64), 3);
  CHECK(p0.num_rows() == 0);
  CHECK(p0.offsets_cpu == std::vector<int64_t>{0, 0, 0, 0});
  CHECK(moe::combine(moe::dispatch(zeros({0, 4}), p0), zeros({0, 2}), p0, 0).shape() == Shape{0, 4});
}

TEST_CASE("moe dispatch: gradcheck and gradgradcheck of dispatch and combine") {
  manual_seed(5);
  const int64_t T = 4, k = 2, E = 3, d = 3, f = 2;
  const Tensor ids = i64({0, 2, 2, 0, 0, 2, 2, 0}, {T, k});  // expert 1 unused
  const Tensor kept = from_vector(std::vector<bool>{true, true, false, true, true, true, true, false}, {T, k});
  for (const Tensor& keep : {Tensor(), kept}) {
    const DispatchPlan plan = moe::plan_dispatch(ids, E, keep);
    auto fn = [&](const std::vector<Tensor>& in) {
      return moe::combine(moe::grouped_matmul(moe::dispatch(in[0], plan), in[1], plan.offsets), in[2], plan, T);
    };
    const std::vector<Tensor> inputs = {leaf64({T, d}), leaf64({E, d, f}), leaf64({T, k})};
    CHECK(gradcheck1(fn, inputs));
    CHECK(gradgradcheck1(fn, inputs));
    // Non-contiguous x and weights.
    const std::vector<Tensor> strided = {strided_leaf64({T, d}), leaf64({E, d, f}), strided_leaf64({T, k})};
    CHECK(gradcheck1(fn, strided));
  }
}

TEST_CASE("moe dispatch: a dropped slot's weight gets a zero gradient") {
  const Tensor ids = i64({0, 1, 1, 0}, {2, 2});
  const Tensor kept = from_vector(std::vector<bool>{true, false, true, true}, {2, 2});
  const DispatchPlan p = moe::plan_dispatch(ids, 2, kept);
  Tensor x = randn({2, 3}, kF64), w = rand({2, 2}, kF64);
  w.requires_grad_();
  moe::combine(moe::dispatch(x, p), w, p, 2).sum().backward();
  CHECK(w.grad().to_vector<double>()[1] == 0.0);
  CHECK(w.grad().to_vector<double>()[0] != 0.0);
}

TEST_CASE("moe dispatch: errors") {
  const Tensor ids = i64({0, 1, 2, 0}, {2, 2});
  CHECK_MOELAB_ERROR(moe::plan_dispatch(ids, 2), "out of range for num_experts = 2");
  CHECK_MOELAB_ERROR(moe::plan_dispatch(i64({0, -1, 1, 0}, {2, 2}), 2), "expert id -1");
  CHECK_MOELAB_ERROR(moe::plan_dispatch(i64({0, 1}, {2}), 2), "must be [T, k]");
  CHECK_MOELAB_ERROR(moe::plan_dispatch(ids.to(kF32), 3), "must be i64 or i32");
  CHECK_MOELAB_ERROR(moe::plan_dispatch(ids, 0), "num_experts must be >= 1");
  CHECK_MOELAB_ERROR(moe::plan_dispatch(ids, 3, ones({2, 2})), "kept must be bool");
  CHECK_MOELAB_ERROR(moe::plan_dispatch(ids, 3, ones({2, 3}, kBool)), "does not match expert_ids");
  CHECK_MOELAB_ERROR(moe::plan_dispatch(Tensor(), 3), "undefined");

  const DispatchPlan p = moe::plan_dispatch(ids, 3);
  CHECK_MOELAB_ERROR(moe::dispatch(randn({3, 4}), p), "dispatch: x must be [T, d] with T = 2");
  CHECK_MOELAB_ERROR(moe::dispatch(randn({2}), p), "dispatch: x must be [T, d]");
  CHECK_MOELAB_ERROR(moe::dispatch(randn({2, 4}), DispatchPlan{}), "make it with plan_dispatch");
  const Tensor y = randn({4, 5});
  CHECK_MOELAB_ERROR(moe::combine(randn({3, 5}), ones({2, 2}), p, 2), "combine: y must be [N, d] with N = 4");
  CHECK_MOELAB_ERROR(moe::combine(y, ones({2, 3}), p, 2), "weights must be [T, k] = [2, 2]");
  CHECK_MOELAB_ERROR(moe::combine(y, ones({2, 2}), p, 3), "num_tokens = 3");
  CHECK_MOELAB_ERROR(moe::combine(y, ones({2, 2}, kI64), p, 2), "weights must be floating");
  CHECK_MOELAB_ERROR(moe::combine(y.to(kI64), ones({2, 2}), p, 2), "y must be floating");
}

TEST_CASE("backend weighted_row_sum primitives: against a loop, dropped rows, each gradient alone, errors") {
  // The IndexKernels primitives behind combine. d = 37: the 16-lane dot product's blocks and tail.
  manual_seed(12);
  IndexKernels& k = backend_for(kCPU).index();
  const int64_t T = 5, K = 3, N = 12, d = 37;
  // rows [T, K] into y's N rows, two slots dropped (-1); slots [N]: which flat slot each row serves.
  const Tensor rows = i64({0, 1, 2, 3, -1, 4, 5, 6, 7, 8, 9, -1, 10, 11, -1}, {T, K});
  std::vector<int64_t> slot_of(N, -1);
  const std::vector<int64_t> rv = rows.to_vector<int64_t>();
  for (int64_t s = 0; s < T * K; ++s)
    if (rv[size_t(s)] >= 0) slot_of[size_t(rv[size_t(s)])] = s;
  const Tensor slots = i64(slot_of, {N});
  for (DType dt : {kF32, kF64}) {
    INFO(dt);
    const double tol = dt == kF32 ? 1e-5 : 1e-12;
    const Tensor y = randn({N, d}, dt), w = randn({T, K}, dt), g = randn({T, d}, dt);
    Tensor out_ref = zeros({T, d}, dt), gy_ref = zeros({N, d}, dt), gw_ref = zeros({T, K}, dt);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 0; j < K; ++j) {
        const int64_t r = rv[size_t(t * K + j)];
        if (r < 0) continue;
        out_ref.select(0, t).copy_(out_ref.select(0, t) + y.select(0, r) * w.select(0, t).select(0, j));
        gy_ref.select(0, r).copy_(g.select(0, t) * w.select(0, t).select(0, j));
        gw_ref.select(0, t).select(0, j).copy_((g.select(0, t) * y.select(0, r)).sum());
      }
    Tensor out = empty({T, d}, dt), gy = empty({N, d}, dt), gw = empty({T, K}, dt);
    k.weighted_row_sum(out, y, w, rows);
    check_close(out, out_ref, tol);
    k.weighted_row_sum_backward(gy, gw, g, y, w, rows, slots);
    check_close(gy, gy_ref, tol);
    check_close(gw, gw_ref, tol);
    Tensor gy2 = empty({N, d}, dt), gw2 = full({T, K}, 7.0, dt);
    k.weighted_row_sum_backward(gy2, Tensor(), g, y, w, rows, slots);
    check_close(gy2, gy_ref, tol);
    k.weighted_row_sum_backward(Tensor(), gw2, g, y, w, rows, slots);
    check_close(gw2, gw_ref, tol);  // dropped slots written as 0, not left at 7
  }
  const Tensor y = zeros({N, d}), w = zeros({T, K}), g = zeros({T, d});
  CHECK_MOELAB_ERROR(k.weighted_row_sum(zeros({T, d + 1}), y, w, rows), "out [T, d], y [N, d]");
  CHECK_MOELAB_ERROR(k.weighted_row_sum(zeros({T, d}), y, w, rows.to(kI32)), "i64 rows expected");
  CHECK_MOELAB_ERROR(k.weighted_row_sum(zeros({T, d}), zeros({d, N}).transpose(0, 1), w, rows),
                     "y must be a contiguous");
  CHECK_MOELAB_ERROR(k.weighted_row_sum_backward(Tensor(), Tensor(), g, y, w, rows, slots), "neither gradient");
  CHECK_MOELAB_ERROR(k.weighted_row_sum_backward(zeros({N, d}), Tensor(), g, y, w, rows, i64({0}, {1})),
                     "slots [N] expected");
}
