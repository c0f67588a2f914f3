#include <cmath>
#include <limits>

#include "support/check.h"
#include "support/golden.h"

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::check_equal;
using moelab::testing::Golden;

namespace {
const Golden& golden() {
  return Golden::get("elementwise");
}
double rtol_of(const std::string& tag) { return tag == "f32" ? 1e-5 : 1e-12; }
double atol_of(const std::string& tag) { return tag == "f32" ? 1e-5 : 1e-12; }

// [2, 3, 4] values stored as a permuted buffer: the same tensor, non-contiguous.
Tensor permuted_copy(const Tensor& r) {
  Tensor v = r.permute({2, 0, 1}).contiguous().permute({1, 2, 0});
  REQUIRE(!v.is_contiguous());
  return v;
}
}  // namespace

TEST_CASE("reduce: sums, means, extrema, var/std, norms, logsumexp match PyTorch") {
  for (std::string tag : {"f32", "f64"}) {
    CAPTURE(tag);
    const double rt = rtol_of(tag), at = atol_of(tag);
    for (bool strided : {false, true}) {
      CAPTURE(strided);
      Tensor r = strided ? permuted_copy(golden()["r." + tag]) : golden()["r." + tag];
      auto g = [&](const std::string& n) { return golden()[n + "." + tag]; };
      check_close(r.sum(), g("sum_all"), rt, at);
      check_close(r.sum(1), g("sum_1"), rt, at);
      check_close(sum(r, {0, 2}, true), g("sum_02_keep"), rt, at);
      check_close(r.mean(-1), g("mean_m1"), rt, at);
      check_close(prod(r, {1}), g("prod_1"), rt, at);
      check_close(amax(r, {0, 2}), g("amax_02"), rt, at);
      check_close(amin(r, {1}), g("amin_1"), rt, at);
      auto [v2, i2] = max(r, 2);
      check_close(v2, g("max2_values"), rt, at);
      check_equal(i2, g("max2_indices"));
      auto [v0, i0] = min(r, 0, true);
      check_close(v0, g("min0_values"), rt, at);
      check_equal(i0, g("min0_indices"));
      check_equal(r.argmax(), g("argmax_all"));
      check_equal(argmin(r, 1), g("argmin_1"));
      check_close(var(r, {1}), g("var_1"), rt, at);
      check_close(var(r, {}, 0), g("var_all_pop"), rt, at);
      check_close(moelab::std(r, {0, 2}), g("std_02"), rt, at);
      check_close(norm(r, 1, {2}), g("norm1_2"), rt, at);
      check_close(norm(r, 2), g("norm2_all"), rt, at);
      check_close(norm(r, std::numeric_limits<double>::infinity(), {1}), g("norminf_1"), rt, at);
      check_close(norm(r, 3, {0}), g("norm3_0"), rt, at);
      check_close(logsumexp(r, {2}), g("logsumexp_2"), rt, at);
      check_close(logsumexp(r * 50.0, {0, 1}), g("logsumexp_01"), rt, at);
    }
  }
}

TEST_CASE("reduce: integer and bool reductions") {
  const Tensor& ri = golden()["ri"];
  check_equal(ri.sum(0), golden()["ri_sum_0"]);
  check_equal(prod(ri, {1}), golden()["ri_prod_1"]);
  check_equal(any(ri > 3, {1}), golden()["ri_any_1"]);
  check_equal(all(ri > -4, {0}), golden()["ri_all_0"]);
  CHECK(tensor({true, true, false}).sum().dtype() == kI64);
  CHECK(tensor({true, true, false}).sum().item<int64_t>() == 2);
  CHECK(tensor({1, 2}).sum().dtype() == kI64);
  CHECK(sum(tensor({1, 2}), {}, false, kF64).dtype() == kF64);
}

TEST_CASE("reduce: ties go to the lowest index, NaN propagates") {
  Tensor x = tensor({{1.0f, 3.0f, 3.0f, 0.0f}, {2.0f, 2.0f, 2.0f, 2.0f}});
  check_equal(argmax(x, 1), tensor<int64_t>({1, 0}));
  check_equal(argmin(x, 1), tensor<int64_t>({3, 0}));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor y = tensor({1.0f, nan, 5.0f});
  CHECK(std::isnan(y.max().item<float>()));
  CHECK(std::isnan(y.sum().item<float>()));
  CHECK(y.argmax().item<int64_t>() == 1);
  CHECK(y.argmin().item<int64_t>() == 1);
}

TEST_CASE("reduce: empty tensors and 0-d tensors") {
  Tensor e = zeros({0, 3});
  check_equal(e.sum(0), zeros({3}));
  CHECK(e.sum(1).shape() == Shape{0});
  check_equal(prod(e, {0}), ones({3}));
  CHECK(std::isnan(e.mean().item<float>()));
  CHECK(amax(e, {1}).shape() == Shape{0});
  CHECK_MOELAB_ERROR(amax(e, {0}), "amax: cannot reduce over a dim of size 0");
  CHECK_MOELAB_ERROR(e.max(), "max: the tensor is empty");
  CHECK_MOELAB_ERROR(argmax(e, 0), "argmax: cannot reduce over dim 0 of size 0");
  Tensor s = scalar(3.0f);
  CHECK(s.sum().item<float>() == 3.0f);
  CHECK(s.sum(0).item<float>() == 3.0f);
  CHECK(s.argmax().item<int64_t>() == 0);
  check_close(logsumexp(tensor({-INFINITY, -INFINITY}), {0}), scalar(-INFINITY));
}

TEST_CASE("reduce: large reductions agree across thread counts") {
  Tensor x = sin(arange(0, 300000).to(kF64) / 77.0).reshape({300, 1000});
  set_num_threads(1);
  Tensor a = x.sum(1), b = x.sum(0), c = var(x, {1});
  set_num_threads(2);
  check_equal(x.sum(1), a);
  check_equal(x.sum(0), b);
  check_equal(var(x, {1}), c);
}

TEST_CASE("reduce: errors") {
  Tensor x = zeros({2, 3});
  CHECK_MOELAB_ERROR(x.sum(2), "sum: dim 2 is out of range for a tensor with 2 dimensions");
  CHECK_MOELAB_ERROR(sum(x, {1, -1}), "sum: dim 1 appears more than once");
  CHECK_MOELAB_ERROR(tensor({1, 2}).mean(), "mean: expected a floating dtype");
  CHECK_MOELAB_ERROR(norm(x, -1), "norm: p must be positive");
  CHECK_MOELAB_ERROR(x.to(kF16).sum(), "storage dtype");
}
