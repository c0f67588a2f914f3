// Grouped expert GEMMs (moe/grouped_gemm.h) against per-segment matmul, with gradients to second
// order, transposed and non-contiguous operands, empty experts and errors.
#include <vector>

#include "autograd/grad_test_util.h"
#include "support/check.h"

using namespace moelab;
using namespace moelab::testing;

namespace {

// y[seg e] = x[seg e] @ w[e], one matmul per segment.
Tensor reference_gmm(const Tensor& x, const Tensor& w, const std::vector<int64_t>& offs) {
  std::vector<Tensor> parts;
  for (size_t e = 0; e + 1 < offs.size(); ++e)
    parts.push_back(matmul(x.narrow(0, offs[e], offs[e + 1] - offs[e]), w.select(0, static_cast<int64_t>(e))));
  return cat(parts, 0);
}

}  // namespace

TEST_CASE("moe grouped_matmul: equals per-segment matmul, f32 and f64") {
  manual_seed(7);
  // Segment sizes include empty experts at the start, middle and end, and one large enough (here
  // 80 x 70 x 90 > 64^3) to take the BLAS-threaded path.
  const std::vector<int64_t> offs = {0, 0, 3, 83, 83, 84, 90, 90};
  for (DType dt : {kF64, kF32}) {
    INFO("dtype " << dt);
    const double tol = dt == kF64 ? 1e-12 : 1e-4;
    const Tensor x = randn({90, 70}, dt), w = randn({7, 70, 90}, dt);
    check_close(moe::grouped_matmul(x, w, offs), reference_gmm(x, w, offs), tol, tol);
    check_close(moe::grouped_matmul(x, w, from_vector(offs, {8})), reference_gmm(x, w, offs), tol, tol);
    // w as a transposed view (no copy) and a sliced x (copied).
    const Tensor wt = randn({7, 90, 70}, dt).transpose(1, 2);
    check_close(moe::grouped_matmul(x, wt, offs), reference_gmm(x, wt, offs), tol, tol);
    const Tensor xs = randn({70, 180}, dt).t().slice(0, 0, std::nullopt, 2);
    check_close(moe::grouped_matmul(xs, w, offs), reference_gmm(xs, w, offs), tol, tol);
    // The weight-gradient form: out[e] = x_seg^T @ y_seg, zeros for empty experts.
    const Tensor y = randn({90, 5}, dt);
    const Tensor g = moe::grouped_matmul_tn(x, y, offs);
    REQUIRE(g.shape() == Shape{7, 70, 5});
    for (int64_t e = 0; e < 7; ++e) {
      const int64_t r0 = offs[e], n = offs[e + 1] - r0;
      check_close(g.select(0, e), matmul(x.narrow(0, r0, n).t(), y.narrow(0, r0, n)), tol, tol);
    }
  }
}

TEST_CASE("moe grouped_matmul: empty shapes") {
  const Tensor w = randn({3, 4, 5}, kF64);
  CHECK(moe::grouped_matmul(zeros({0, 4}, kF64), w, {0, 0, 0, 0}).shape() == Shape{0, 5});
  // d_in = 0: an empty sum, so zeros.
  check_equal(moe::grouped_matmul(zeros({2, 0}, kF64), zeros({3, 0, 5}, kF64), {0, 1, 1, 2}), zeros({2, 5}, kF64));
  check_equal(moe::grouped_matmul_tn(zeros({0, 4}, kF64), zeros({0, 2}, kF64), {0, 0, 0}), zeros({2, 4, 2}, kF64));
}

TEST_CASE("moe grouped_matmul: gradients, experts with no rows get zero grad_w") {
  manual_seed(2);
  const std::vector<int64_t> offs = {0, 2, 2, 5};
  Tensor x = randn({5, 3}, kF64), w = randn({3, 3, 4}, kF64);
  x.requires_grad_();
  w.requires_grad_();
  const Tensor gy = randn({5, 4}, kF64);
  (moe::grouped_matmul(x, w, offs) * gy).sum().backward();
  check_close(w.grad().select(0, 1), zeros({3, 4}, kF64));
  const Tensor xd = x.detach();
  check_close(w.grad().select(0, 0), matmul(xd.narrow(0, 0, 2).t(), gy.narrow(0, 0, 2)), 1e-12, 1e-12);
  check_close(x.grad().narrow(0, 2, 3), matmul(gy.narrow(0, 2, 3), w.detach().select(0, 2).t()), 1e-12, 1e-12);
}

TEST_CASE("moe grouped_matmul: gradcheck and gradgradcheck") {
  manual_seed(4);
  const std::vector<int64_t> offs = {0, 2, 2, 5, 6};
  auto gmm = [&](const std::vector<Tensor>& in) { return moe::grouped_matmul(in[0], in[1], offs); };
  auto gmm_tn = [&](const std::vector<Tensor>& in) { return moe::grouped_matmul_tn(in[0], in[1], offs); };
  CHECK(gradcheck1(gmm, {leaf64({6, 3}), leaf64({4, 3, 2})}));
  CHECK(gradgradcheck1(gmm, {leaf64({6, 3}), leaf64({4, 3, 2})}));
  CHECK(gradcheck1(gmm, {strided_leaf64({6, 3}), strided_leaf64({4, 3, 2})}));
  CHECK(gradgradcheck1(gmm, {strided_leaf64({6, 3}), strided_leaf64({4, 3, 2})}));
  CHECK(gradcheck1(gmm_tn, {leaf64({6, 3}), leaf64({6, 2})}));
  CHECK(gradgradcheck1(gmm_tn, {leaf64({6, 3}), leaf64({6, 2})}));
}

TEST_CASE("moe grouped_matmul: indirect_matmul") {
  manual_seed(9);
  const int64_t T = 11, E = 5;
  const Tensor ids = randint(0, 3, {T});  // experts 3 and 4 unused
  for (DType dt : {kF64, kF32}) {
    const Tensor x = randn({T, 4}, dt), w = randn({E, 4, 6}, dt);
    const Tensor y = moe::indirect_matmul(x, w, ids);
    const auto id = ids.to_vector<int64_t>();
    std::vector<Tensor> rows;
    for (int64_t t = 0; t < T; ++t) rows.push_back(matmul(x.narrow(0, t, 1), w.select(0, id[t])));
    const double tol = dt == kF64 ? 1e-12 : 1e-5;
    check_close(y, cat(rows, 0), tol, tol);
  }
  auto fn = [&](const std::vector<Tensor>& in) { return moe::indirect_matmul(in[0], in[1], ids); };
  CHECK(gradcheck1(fn, {leaf64({T, 3}), leaf64({E, 3, 2})}));
  CHECK(gradgradcheck1(fn, {leaf64({T, 3}), leaf64({E, 3, 2})}));
}

TEST_CASE("moe grouped_matmul: errors") {
  const Tensor x = randn({5, 3}), w = randn({2, 3, 4});
  CHECK_MOELAB_ERROR(moe::grouped_matmul(x, w, {0, 2}), "offsets must have E + 1 = 3 entries");
  CHECK_MOELAB_ERROR(moe::grouped_matmul(x, w, {1, 2, 5}), "offsets[0] must be 0");
  CHECK_MOELAB_ERROR(moe::grouped_matmul(x, w, {0, 4, 3}), "non-decreasing");
  CHECK_MOELAB_ERROR(moe::grouped_matmul(x, w, {0, 2, 4}), "must equal the number of rows 5");
  CHECK_MOELAB_ERROR(moe::grouped_matmul(x, randn({2, 4, 4}), {0, 2, 5}), "disagree on d_in");
  CHECK_MOELAB_ERROR(moe::grouped_matmul(x, w.to(kF64), {0, 2, 5}), "must have one dtype");
  CHECK_MOELAB_ERROR(moe::grouped_matmul(x.to(kI64), w.to(kI64), {0, 2, 5}), "must be f32 or f64");
  CHECK_MOELAB_ERROR(moe::grouped_matmul(x, randn({3, 4}), {0, 2, 5}), "w must have 3 dims");
  CHECK_MOELAB_ERROR(moe::grouped_matmul(x, w, from_vector(std::vector<int64_t>{0, 2, 5}, {3}).to(kF32)),
                     "offsets must be a 1-D i64 CPU tensor");
  CHECK_MOELAB_ERROR(moe::grouped_matmul_tn(x, randn({4, 2}), {0, 5}), "disagree on N");
  CHECK_MOELAB_ERROR(moe::indirect_matmul(x, w, from_vector(std::vector<int64_t>{0, 1}, {2})), "ids must be [T]");
  CHECK_MOELAB_ERROR(moe::indirect_matmul(x, w, from_vector(std::vector<int64_t>{0, 1, 2, 0, 1}, {5})),
                     "out of range");
}

TEST_CASE("moe grouped_matmul: the same bits on one thread and on several") {
  manual_seed(21);
  const int64_t T = 512, k = 2, E = 16, d = 64, f = 32;  // small experts: spread over the pool
  const Tensor x = randn({T, d}), W = randn({E, d, f}), w = rand({T, k});
  const Tensor ids = randint(0, E, {T, k});
  auto run = [&] {
    const moe::DispatchPlan plan = moe::plan_dispatch(ids, E);
    const Tensor h = moe::grouped_matmul(moe::dispatch(x, plan), W, plan.offsets_cpu);
    return moe::combine(h, w, plan, T);
  };
  const int saved = get_num_threads();
  set_num_threads(1);
  const Tensor one = run();
  set_num_threads(2);
  const Tensor two = run();
  set_num_threads(saved);
  check_equal(one, two);
}
