#include <limits>

#include "support/check.h"
#include "support/golden.h"

#include <moelab/ops/sort.h>

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::check_equal;
using moelab::testing::Golden;

namespace {
const Golden& golden() {
  return Golden::get("sort_scan");
}
void check_pair(const std::tuple<Tensor, Tensor>& got, const std::string& name, const std::string& tag) {
  check_equal(std::get<0>(got), golden()[name + ".values." + tag]);  // selection copies values exactly
  check_equal(std::get<1>(got), golden()[name + ".indices." + tag]);
}
}  // namespace

TEST_CASE("sort: golden vs PyTorch, ascending and descending, every dim, f32 and f64") {
  for (std::string tag : {"f32", "f64"}) {
    const Tensor& x = golden()["x." + tag];
    for (int d = 0; d < 3; ++d) {
      INFO("dtype " << tag << " dim " << d);
      std::string ds = std::to_string(d);
      auto [v, i] = sort(x, d);
      check_equal(v, golden()["sort_" + ds + ".values." + tag]);
      check_equal(i, golden()["sort_" + ds + ".indices." + tag]);
      auto [vd, id] = sort(x, d, /*descending=*/true);
      check_equal(vd, golden()["sort_desc_" + ds + ".values." + tag]);
      check_equal(id, golden()["sort_desc_" + ds + ".indices." + tag]);
      check_equal(argsort(x, d), golden()["argsort_" + ds + "." + tag]);
    }
    // transposed view: sorting dim 1 of x^T(0,2) is sorting dim 1 of x
    auto [vt, it] = sort(x.transpose(0, 2), 1);
    check_equal(vt.transpose(0, 2), golden()["sort_1.values." + tag]);
    check_equal(it.transpose(0, 2), golden()["sort_1.indices." + tag]);
  }
}

TEST_CASE("sort: NaN sorts last ascending, first descending; stable for ties") {
  for (std::string tag : {"f32", "f64"}) {
    Tensor row = golden()["xn." + tag].select(0, 0);
    auto [v, i] = sort(row);
    check_close(v, golden()["sort_nan.values." + tag]);
    check_equal(i, golden()["sort_nan.indices." + tag]);
    auto [vd, id] = sort(row, -1, true);
    check_close(vd, golden()["sort_nan_desc.values." + tag]);
    check_equal(id, golden()["sort_nan_desc.indices." + tag]);
  }
  const Tensor& xi = golden()["xi"];
  check_equal(std::get<0>(sort(xi, 1)), golden()["sort_i.values"]);
  check_equal(std::get<1>(sort(xi, 1)), golden()["sort_i.indices"]);
  check_equal(std::get<1>(sort(xi, 1, true)), golden()["sort_i_desc.indices"]);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  check_equal(argsort(tensor<double>({nan, 1.0, nan, 1.0, 0.0}), 0, true), tensor<int64_t>({0, 2, 1, 3, 4}));
}

TEST_CASE("sort: size-0, size-1, 0-d, bool, 16-bit") {
  auto [v0, i0] = sort(zeros({3, 0}), 1);
  CHECK(v0.shape() == Shape{3, 0});
  CHECK(i0.shape() == Shape{3, 0});
  CHECK(std::get<0>(sort(zeros({0, 4}), 1)).shape() == Shape{0, 4});
  check_equal(std::get<1>(sort(ones({2, 1}), 1)), zeros({2, 1}, kI64));
  check_equal(std::get<0>(sort(scalar(5.0f))), scalar(5.0f));
  check_equal(std::get<1>(sort(scalar(5.0f))), scalar<int64_t>(0));
  check_equal(argsort(tensor<bool>({true, false, true, false})), tensor<int64_t>({1, 3, 0, 2}));
  Tensor h = tensor<float>({3.f, -1.f, 2.f}).to(kF16);
  check_equal(std::get<0>(sort(h)), tensor<float>({-1.f, 2.f, 3.f}).to(kF16));
}

TEST_CASE("sort: errors") {
  CHECK_MOELAB_ERROR(sort(zeros({2, 3}), 2), "sort: dim 2 is out of range");
  CHECK_MOELAB_ERROR(argsort(zeros({2, 3}), -3), "sort: dim -3 is out of range");
}

TEST_CASE("sort: topk golden vs PyTorch (small k, large k, largest/smallest, dim 0)") {
  for (std::string tag : {"f32", "f64"}) {
    const Tensor& x = golden()["x." + tag];
    for (int k : {1, 3, 5})
      for (bool largest : {true, false}) {
        INFO("dtype " << tag << " k " << k << " largest " << largest);
        check_pair(topk(x, k, -1, largest), "topk_" + std::to_string(k) + "_" + std::to_string(int(largest)), tag);
      }
    auto [v0, i0] = topk(x, 2, 0);
    check_equal(v0, golden()["topk_2_dim0.values." + tag]);
    check_equal(i0, golden()["topk_2_dim0.indices." + tag]);
    const Tensor& big = golden()["big." + tag];
    auto [vb, ib] = topk(big, 40);
    check_equal(vb, golden()["topk_big.values." + tag]);
    check_equal(ib, golden()["topk_big.indices." + tag]);
    auto [vs, is] = topk(big, 40, -1, false);
    check_equal(vs, golden()["topk_big_small.values." + tag]);
    check_equal(is, golden()["topk_big_small.indices." + tag]);
    auto [vn, in] = topk(golden()["xn." + tag].select(0, 0), 3);
    check_close(vn, golden()["topk_nan.values." + tag]);
    check_equal(in, golden()["topk_nan.indices." + tag]);
    // non-contiguous: transposed rows
    auto [vt, it] = topk(x.transpose(1, 2), 3, 1);
    check_equal(vt.transpose(1, 2), golden()["topk_3_1.values." + tag]);
    check_equal(it.transpose(1, 2), golden()["topk_3_1.indices." + tag]);
  }
}

TEST_CASE("sort: topk breaks ties towards the lowest index (router determinism)") {
  Tensor x = tensor<float>({{1.f, 3.f, 3.f, 2.f, 3.f}, {0.f, 0.f, 0.f, 0.f, 0.f}});
  auto [v, i] = topk(x, 2);
  check_equal(i, tensor<int64_t>({{1, 2}, {0, 1}}));
  check_equal(v, tensor<float>({{3.f, 3.f}, {0.f, 0.f}}));
  check_equal(std::get<1>(topk(x, 4, -1, false)), tensor<int64_t>({{0, 3, 1, 2}, {0, 1, 2, 3}}));
  // -0 and +0 tie (keyed f32 path and the generic f64 path agree)
  check_equal(std::get<1>(topk(tensor<float>({-0.f, 0.f, -1.f}), 1)), tensor<int64_t>({0}));
  check_equal(std::get<1>(topk(tensor<double>({-0.0, 0.0, -1.0}), 1)), tensor<int64_t>({0}));
  check_equal(std::get<1>(topk(tensor<float>({0.f, -0.f, 1.f}), 2, 0, false)), tensor<int64_t>({0, 1}));
  // the large-k path follows the same rule
  Tensor z = zeros({1, 64});
  check_equal(std::get<1>(topk(z, 20)), arange(0, 20).unsqueeze(0));
  check_equal(std::get<1>(topk(z, 20, -1, false)), arange(0, 20).unsqueeze(0));
  // NaN counts as the largest, ties among NaN by index too
  const float nan = std::numeric_limits<float>::quiet_NaN();
  check_equal(std::get<1>(topk(tensor<float>({1.f, nan, 5.f, nan}), 3)), tensor<int64_t>({1, 3, 2}));
  check_equal(std::get<1>(topk(tensor<float>({1.f, nan, 5.f, nan}), 3, 0, false)), tensor<int64_t>({0, 2, 1}));
}

TEST_CASE("sort: topk on a router-sized [T, E] matches a full sort, any thread count") {
  Tensor logits = sin(arange(0, 4096 * 64, 1, kF32) * 0.37f).reshape({4096, 64});
  set_num_threads(1);
  auto [v1, i1] = topk(logits, 4);
  set_num_threads(2);
  auto [v2, i2] = topk(logits, 4);
  check_equal(i1, i2);
  auto [vs, is] = sort(logits, -1, true);
  check_equal(v1, vs.narrow(1, 0, 4));
  check_equal(i1, is.narrow(1, 0, 4));
}

TEST_CASE("sort: topk size-0, k = 0, k = n, 0-d, integer input") {
  CHECK(std::get<0>(topk(zeros({3, 4}), 0)).shape() == Shape{3, 0});
  CHECK(std::get<1>(topk(zeros({0, 4}), 2)).shape() == Shape{0, 2});
  check_equal(std::get<1>(topk(tensor<int64_t>({4, 9, 1}), 3)), tensor<int64_t>({1, 0, 2}));
  check_equal(std::get<0>(topk(scalar(2.0), 1)), scalar(2.0));
  check_equal(std::get<1>(topk(tensor<int32_t>({4, 9, 1}), 1, 0, false)), tensor<int64_t>({2}));
}

TEST_CASE("sort: topk errors") {
  CHECK_MOELAB_ERROR(topk(zeros({3, 4}), 5), "topk: k (5) is out of range for dim 1 of size 4 (input shape [3, 4])");
  CHECK_MOELAB_ERROR(topk(zeros({3, 4}), -1), "topk: k (-1)");
  CHECK_MOELAB_ERROR(topk(zeros({3, 4}), 1, 2), "topk: dim 2 is out of range");
}

TEST_CASE("sort: unique golden vs PyTorch (values, inverse, counts)") {
  for (std::string tag : {"f32", "f64"}) {
    auto [u, inv, cnt] = unique(golden()["r." + tag], true, true, true);
    check_equal(u, golden()["unique.values." + tag]);
    check_equal(inv, golden()["unique.inverse." + tag]);
    check_equal(cnt, golden()["unique.counts." + tag]);
  }
  auto [u, inv, cnt] = unique(golden()["xi"].t(), true, true, true);  // non-contiguous
  check_equal(u, golden()["unique_i.values"]);
  check_equal(inv.t(), golden()["unique_i.inverse"]);
  check_equal(cnt, golden()["unique_i.counts"]);
  auto [u2, inv2, cnt2] = unique(golden()["xi"]);
  check_equal(u2, golden()["unique_i.values"]);
  CHECK(!inv2.defined());
  CHECK(!cnt2.defined());
  auto [u0, inv0, cnt0] = unique(zeros({0, 3}), true, true, true);
  CHECK(u0.shape() == Shape{0});
  CHECK(inv0.shape() == Shape{0, 3});
  CHECK(cnt0.shape() == Shape{0});
  check_equal(std::get<0>(unique(tensor<bool>({true, false, true}))), tensor<bool>({false, true}));
}

TEST_CASE("sort: bincount golden vs PyTorch, weights, minlength, errors") {
  const Tensor& b = golden()["bc"];
  check_equal(bincount(b), golden()["bincount"]);
  check_equal(bincount(b, Tensor(), 10), golden()["bincount_min10"]);
  check_equal(bincount(b.to(kI32)), golden()["bincount"]);
  for (std::string tag : {"f32", "f64"}) {
    Tensor r = bincount(b, golden()["bc_w." + tag], 3);
    check_close(r, golden()["bincount_w." + tag]);
  }
  check_equal(bincount(tensor<int64_t>({1, 1}), tensor<int64_t>({2, 3})), tensor<double>({0.0, 5.0}));
  check_equal(bincount(zeros({0}, kI64), Tensor(), 3), zeros({3}, kI64));
  Tensor strided = tensor<int64_t>({2, 9, 2, 9}).slice(0, 0, std::nullopt, 2);
  check_equal(bincount(strided), tensor<int64_t>({0, 0, 2}));
  CHECK_MOELAB_ERROR(bincount(tensor<int64_t>({1, -2})), "bincount: the input must be non-negative, got the value -2");
  CHECK_MOELAB_ERROR(bincount(tensor<float>({1.f})), "bincount: expected a 1-d tensor of integers");
  CHECK_MOELAB_ERROR(bincount(zeros({2, 2}, kI64)), "bincount: expected a 1-d tensor of integers");
  CHECK_MOELAB_ERROR(bincount(b, ones({3})), "bincount: weights must be 1-d with 10 elements");
  CHECK_MOELAB_ERROR(bincount(b, Tensor(), -1), "bincount: minlength must be non-negative");
}

TEST_CASE("sort: histc golden vs PyTorch, data range, errors") {
  for (std::string tag : {"f32", "f64"}) {
    const Tensor& x = golden()["x." + tag];
    check_equal(histc(x), golden()["histc_default." + tag]);
    check_equal(histc(x, 7, -2, 3), golden()["histc_7." + tag]);
    check_equal(histc(golden()["r." + tag], 5), golden()["histc_r." + tag]);
    check_equal(histc(x.transpose(0, 2), 7, -2, 3), golden()["histc_7." + tag]);  // order does not matter
  }
  check_equal(histc(tensor<float>({1.f, 2.f, 1.f, 4.f}), 4), tensor<float>({2.f, 1.f, 0.f, 1.f}));
  check_equal(histc(tensor<float>({2.f, 2.f}), 4), tensor<float>({0.f, 0.f, 2.f, 0.f}));
  check_equal(histc(zeros({0}), 3), zeros({3}));
  CHECK_MOELAB_ERROR(histc(ones({2}), 3, 2, 1), "histc: max (1) must be larger than min (2)");
  CHECK_MOELAB_ERROR(histc(ones({2}), 0), "histc: bins must be positive");
  CHECK_MOELAB_ERROR(histc(tensor<int64_t>({1}), 3), "histc: expected a floating input");
  const float inf = std::numeric_limits<float>::infinity();
  CHECK_MOELAB_ERROR(histc(tensor<float>({1.f, inf})), "histc: the range [1, inf] is not finite");
}
