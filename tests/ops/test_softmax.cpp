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
  return Golden::get("sort_scan");
}
}  // namespace

TEST_CASE("softmax: golden vs PyTorch along every dim, f32 and f64") {
  for (const char* tag : {"f32", "f64"}) {
    const Tensor& x = golden()[std::string("x.") + tag];
    double tol = std::string(tag) == "f32" ? 1e-5 : 1e-12;
    for (int d = 0; d < 3; ++d) {
      INFO("dtype " << tag << " dim " << d);
      check_close(softmax(x, d), golden()["softmax_" + std::to_string(d) + "." + tag], tol, tol);
      check_close(log_softmax(x, d), golden()["log_softmax_" + std::to_string(d) + "." + tag], tol, tol);
      check_close(x.softmax(d - 3), golden()["softmax_" + std::to_string(d) + "." + tag], tol, tol);
    }
  }
}

TEST_CASE("softmax: non-contiguous input (transposed view)") {
  for (const char* tag : {"f32", "f64"}) {
    Tensor xt = golden()[std::string("x.") + tag].transpose(0, 2);
    REQUIRE(!xt.is_contiguous());
    check_close(softmax(xt, 1), golden()[std::string("softmax_t1.") + tag], 1e-5, 1e-6);
    check_close(log_softmax(xt, 1), golden()[std::string("log_softmax_t1.") + tag], 1e-5, 1e-6);
  }
}

TEST_CASE("softmax: NaN propagates and an all -inf row gives NaN, as in PyTorch") {
  for (const char* tag : {"f32", "f64"}) {
    const Tensor& xn = golden()[std::string("xn.") + tag];
    check_close(softmax(xn, 1), golden()[std::string("softmax_nan.") + tag]);
    check_close(log_softmax(xn, 1), golden()[std::string("log_softmax_nan.") + tag]);
    CHECK(all(isnan(softmax(xn, 1))).item<bool>());
  }
}

TEST_CASE("softmax: stable for huge logits, rows sum to 1") {
  Tensor x = tensor<float>({{1000.f, 1001.f, 999.f}, {-1000.f, -1001.f, -1002.f}});
  Tensor y = softmax(x, 1);
  CHECK(all(isfinite(y)).item<bool>());
  check_close(y.sum(1), ones({2}), 1e-6, 1e-6);
  check_close(y.select(0, 0), tensor<float>({0.24472847f, 0.66524096f, 0.09003057f}), 1e-5, 1e-6);
  check_close(log_softmax(x, 1).select(0, 0), tensor<float>({-1.40760596f, -0.40760596f, -2.40760596f}), 1e-5, 1e-5);
}

TEST_CASE("softmax: size-0, size-1 and 0-d inputs; dtype argument; 16-bit floats") {
  CHECK(softmax(zeros({2, 0}), 1).shape() == Shape{2, 0});
  CHECK(softmax(zeros({0, 3}), 1).shape() == Shape{0, 3});
  check_equal(softmax(zeros({3, 1}), 1), ones({3, 1}));
  check_equal(log_softmax(zeros({3, 1}), 1), zeros({3, 1}));
  check_equal(softmax(scalar(3.0f), 0), scalar(1.0f));
  Tensor xi = tensor<int64_t>({1, 2, 3});
  Tensor y = softmax(xi, 0, kF64);
  CHECK(y.dtype() == kF64);
  check_close(y, softmax(xi.to(kF64), 0));
  Tensor h = tensor<float>({0.5f, 1.5f, -1.f}).to(kBF16);
  Tensor yh = softmax(h, 0);
  CHECK(yh.dtype() == kBF16);
  check_close(yh.to(kF32), softmax(h.to(kF32), 0), 1e-2, 1e-2);
}

TEST_CASE("softmax: large rows and many rows run in parallel, same result as one thread") {
  Tensor x = arange(0, 200000, 1, kF32).reshape({400, 500}) * 0.001;
  set_num_threads(1);
  Tensor a = softmax(x, 1), c = softmax(x, 0);
  set_num_threads(2);
  Tensor b = softmax(x, 1), e = softmax(x, 0);
  check_equal(a, b);
  check_equal(c, e);
  check_close(a.sum(1), ones({400}), 1e-5, 1e-5);
}

TEST_CASE("softmax: errors name the op") {
  CHECK_MOELAB_ERROR(softmax(zeros({2, 3}), 2), "softmax: dim 2 is out of range");
  CHECK_MOELAB_ERROR(log_softmax(zeros({2, 3}), -3), "log_softmax: dim -3 is out of range");
  CHECK_MOELAB_ERROR(softmax(tensor<int64_t>({1, 2}), 0), "softmax: expected a floating input");
  CHECK_MOELAB_ERROR(softmax(Tensor(), 0), "softmax: input is an undefined tensor");
}

TEST_CASE("softmax: contiguous f32 rows (the vectorised kernel) of every length, masked entries, in place") {
  // Lengths 1..40 cover the 16-lane blocks and every tail; values up to +-60 and -inf masks, checked
  // against the f64 kernel.
  manual_seed(21);
  const float ninf = -std::numeric_limits<float>::infinity();
  for (int64_t n = 1; n <= 40; ++n) {
    INFO("row length " << n);
    Tensor x = randn({3, n}) * 20.0;
    if (n > 2) {
      x.select(0, 1).narrow(0, 1, n / 2).fill_(ninf);  // a masked stretch
      x.select(0, 2).select(0, n - 1).fill_(-1000.0);  // far below the row max
    }
    const Tensor x64 = x.to(kF64);
    const Tensor p = softmax(x, 1), lp = log_softmax(x, 1);
    check_close(p, softmax(x64, 1).to(kF32), 1e-6, 1e-7);
    const Tensor finite = isfinite(x);
    check_close(where(finite, lp, zeros_like(lp)), where(finite, log_softmax(x64, 1), zeros({3, n}, kF64)).to(kF32),
                1e-5, 1e-5);
    if (n > 2) {
      CHECK(sum(p.select(0, 1).narrow(0, 1, n / 2)).item<float>() == 0.0f);  // exactly 0 where masked
      CHECK(amax(lp.select(0, 1).narrow(0, 1, n / 2)).item<float>() == ninf);
      CHECK(p.select(0, 2).select(0, n - 1).item<float>() == 0.0f);  // e^-1000 underflows to 0
    }
    check_close(sum(p, {1}), ones({3}), 1e-6, 1e-6);
  }
  // Every row of a larger batch, split across threads, equals the same row alone.
  Tensor big = randn({64, 37});
  const Tensor pb = softmax(big, 1);
  check_equal(pb.select(0, 50), softmax(big.narrow(0, 50, 1), 1).squeeze(0));
}
