// The blocked path for sums over leading dims of a dense input (bias gradients) against the general
// strided walk, which a transposed copy of the same values takes: equal to the bit, f32 and f64.
#include <moelab/moelab.h>

#include "support/check.h"

using namespace moelab;
using moelab::testing::check_close;

TEST_CASE("reduce: sum over leading dims matches the strided walk exactly") {
  manual_seed(31);
  for (DType dt : {kF32, kF64}) {
    Tensor x = randn({37, 300}, dt);
    Tensor strided = x.t().contiguous().t();  // same values, column-major: the general path
    CHECK(!strided.is_contiguous());
    CHECK(equal(sum(x, {0}), sum(strided, {0})));
    CHECK(equal(sum(x, {0}, true), sum(strided, {0}, true)));
    CHECK(sum(x, {0}, true).shape() == Shape{1, 300});
    Tensor y = randn({3, 5, 2, 9}, dt);  // two leading dims reduced, [2, 9] kept
    Tensor ys = y.permute({3, 2, 1, 0}).contiguous().permute({3, 2, 1, 0});
    CHECK(equal(sum(y, {0, 1}), sum(ys, {0, 1})));
    check_close(sum(y, {0, 1}), sum(sum(y, {0}), {0}), 1e-5, 1e-5);
  }
  // Not leading dims, or too few columns: the general path, still right.
  Tensor z = randn({4, 6, 10});
  check_close(sum(z, {1}), sum(z.permute({1, 0, 2}), {0}), 1e-6, 1e-6);
  check_close(sum(ones({100, 3}), {0}), full({3}, 100.0));
  CHECK(sum(zeros({0, 20}), {0}).shape() == Shape{20});
}
