#include "support/check.h"
#include "support/golden.h"

#include <moelab/ops/scan.h>

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::check_equal;
using moelab::testing::Golden;

namespace {
const Golden& golden() {
  return Golden::get("sort_scan");
}
}  // namespace

TEST_CASE("scan: cumsum and cumprod golden vs PyTorch along every dim, f32 and f64") {
  for (const char* tag : {"f32", "f64"}) {
    const Tensor& x = golden()[std::string("x.") + tag];
    double tol = std::string(tag) == "f32" ? 1e-5 : 1e-12;
    for (int d = 0; d < 3; ++d) {
      INFO("dtype " << tag << " dim " << d);
      check_close(cumsum(x, d), golden()["cumsum_" + std::to_string(d) + "." + tag], tol, tol);
      check_close(cumprod(x * 0.5, d), golden()["cumprod_" + std::to_string(d) + "." + tag], tol, tol);
    }
    Tensor xt = x.transpose(0, 2);
    check_close(cumsum(xt, 1), golden()[std::string("cumsum_t1.") + tag], tol, tol);
  }
}

TEST_CASE("scan: integer and bool inputs give i64, as in PyTorch") {
  const Tensor& xi = golden()["xi"];
  check_equal(cumsum(xi, 1), golden()["cumsum_i"]);
  check_equal(cumprod(xi, 0), golden()["cumprod_i"]);
  check_equal(cumsum(xi.to(kI32), 1), golden()["cumsum_i"]);
  check_equal(cumsum(tensor<bool>({true, false, true}), 0), tensor<int64_t>({1, 1, 2}));
  check_equal(cumprod(tensor<int32_t>({2, 3, 4}), 0), tensor<int64_t>({2, 6, 24}));
}

TEST_CASE("scan: dtype argument, size-0, size-1, 0-d, expanded input") {
  Tensor y = cumsum(tensor<float>({1.f, 2.f}), 0, kF64);
  check_equal(y, tensor<double>({1.0, 3.0}));
  check_equal(cumsum(tensor<int64_t>({1, 2}), 0, kF32), tensor<float>({1.f, 3.f}));
  CHECK(cumsum(zeros({0, 3}), 0).shape() == Shape{0, 3});
  CHECK(cumprod(zeros({2, 0}), 1).shape() == Shape{2, 0});
  check_equal(cumsum(scalar(2.5), 0), scalar(2.5));
  check_equal(cumsum(ones({3, 1}), 1), ones({3, 1}));
  Tensor e = tensor<float>({1.f, 2.f, 3.f}).unsqueeze(0).expand({2, 3});  // stride 0 on dim 0
  check_equal(cumsum(e, 0), tensor<float>({{1.f, 2.f, 3.f}, {2.f, 4.f, 6.f}}));
  check_equal(cumsum(e, 1), tensor<float>({{1.f, 3.f, 6.f}, {1.f, 3.f, 6.f}}));
}

TEST_CASE("scan: float cumsum accumulates in double (no drift over long rows)") {
  Tensor x = full({1 << 20}, 0.1f);
  float last = cumsum(x, 0).select(0, -1).item<float>();
  CHECK(std::abs(last - 104857.6f) < 0.02f);
}

TEST_CASE("scan: errors") {
  CHECK_MOELAB_ERROR(cumsum(zeros({2, 3}), 2), "cumsum: dim 2 is out of range");
  CHECK_MOELAB_ERROR(cumprod(zeros({2, 3}), -4), "cumprod: dim -4 is out of range");
  CHECK_MOELAB_ERROR(cumsum(zeros({2}), 0, kBool), "cumsum: dtype bool");
}
