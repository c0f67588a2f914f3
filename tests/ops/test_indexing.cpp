// Indexing ops against PyTorch goldens (tests/golden/gen_index.py): f32, f64, i64 and i32 inputs,
// contiguous and non-contiguous layouts, i64 and i32 index tensors.
#include <cmath>
#include <limits>

#include "support/check.h"
#include "support/conformance.h"
#include "support/golden.h"

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::check_equal;
using moelab::testing::Golden;
using moelab::testing::non_contiguous_copy;

namespace {

const Golden& golden() {
  return Golden::get("index");
}
const Tensor& G(const std::string& name) { return golden()[name]; }

const std::vector<std::string> kTags = {"f32", "f64", "i64", "i32"};

// Floats to a few ulps (PyTorch accumulates in the same order), integers exactly.
void check_tag(const Tensor& actual, const Tensor& expected, const std::string& tag) {
  if (tag == "f32") check_close(actual, expected, 1e-6, 1e-5);
  else if (tag == "f64") check_close(actual, expected, 1e-12, 1e-12);
  else check_equal(actual, expected);
}

}  // namespace

TEST_CASE("index: gather matches PyTorch on every dtype and layout") {
  for (const std::string& tag : kTags) {
    CAPTURE(tag);
    const Tensor& x = G("gather.x." + tag);
    const Tensor &i1 = G("gather.i1." + tag), &i2 = G("gather.i2." + tag);
    check_tag(gather(x, 1, i1), G("gather.d1." + tag), tag);
    check_tag(gather(x, -1, i2), G("gather.d2." + tag), tag);
    // Strided input and index, and an i32 index.
    check_tag(gather(non_contiguous_copy(x), 1, non_contiguous_copy(i1)), G("gather.d1." + tag), tag);
    check_tag(gather(x.transpose(0, 2).contiguous().transpose(0, 2), -1, i2.to(kI32)), G("gather.d2." + tag), tag);
  }
}

TEST_CASE("index: scatter, scatter value and scatter_add match PyTorch") {
  for (const std::string& tag : kTags) {
    CAPTURE(tag);
    const Tensor &x = G("scatter.x." + tag), &i = G("scatter.i." + tag), &src = G("scatter.src." + tag);
    check_tag(scatter(x, 0, i, src), G("scatter.out." + tag), tag);
    check_tag(scatter(non_contiguous_copy(x), 0, non_contiguous_copy(i), non_contiguous_copy(src)),
              G("scatter.out." + tag), tag);
    check_tag(scatter(x, 0, i.to(kI32), 7), G("scatter.value." + tag), tag);
    const Tensor &ai = G("scatter_add.i." + tag), &asrc = G("scatter_add.src." + tag);
    check_tag(scatter_add(x, 1, ai, asrc), G("scatter_add.out." + tag), tag);
    check_tag(scatter_add(non_contiguous_copy(x), -1, ai, non_contiguous_copy(asrc)), G("scatter_add.out." + tag), tag);

    // In place: writes through the input's strides, bumps the version, leaves the source alone.
    Tensor y = x.t().contiguous().t();
    const uint32_t v0 = y.storage()->version();
    Tensor& r = scatter_add_(y, 1, ai, asrc);
    CHECK(&r == &y);
    CHECK(y.storage()->version() > v0);
    check_tag(y, G("scatter_add.out." + tag), tag);
    Tensor z = x.clone();
    scatter_(z, 0, i, src);
    check_tag(z, G("scatter.out." + tag), tag);
    scatter_(z, 0, i, 7);
    check_tag(z, G("scatter.value." + tag), tag);
  }
}

TEST_CASE("index: scatter_reduce matches PyTorch for every reduction, with and without self") {
  for (const std::string tag : {"f32", "f64", "i64"}) {
    const Tensor &x = G("scatter.x." + tag), &ai = G("scatter_add.i." + tag), &asrc = G("scatter_add.src." + tag);
    for (const std::string red : {"sum", "prod", "mean", "amax", "amin"}) {
      for (bool inc : {true, false}) {
        CAPTURE(tag);
        CAPTURE(red);
        CAPTURE(inc);
        const Tensor& expected = G("scatter_reduce." + red + "." + std::to_string(int(inc)) + "." + tag);
        if (tag == "f32") check_close(scatter_reduce(x, 1, ai, asrc, red, inc), expected, 1e-5, 1e-4);
        else check_tag(scatter_reduce(x, 1, ai, asrc, red, inc), expected, tag);
        if (tag != "f32") check_tag(scatter_reduce(non_contiguous_copy(x), 1, ai, asrc, red, inc), expected, tag);
      }
    }
  }
}

TEST_CASE("index: scatter_reduce amax and amin propagate NaN like PyTorch") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Tensor x = tensor({1.0, nan, 3.0});
  Tensor idx = tensor<int64_t>({0, 0, 2, 1});
  Tensor src = tensor({nan, 5.0, 2.0, 0.0});
  Tensor mx = scatter_reduce(x, 0, idx, src, "amax");
  CHECK(std::isnan(mx.to_vector<double>()[0]));
  CHECK(std::isnan(mx.to_vector<double>()[1]));  // NaN in self stays
  CHECK(mx.to_vector<double>()[2] == 3.0);
  Tensor mn = scatter_reduce(x, 0, idx, src, "amin", false);
  CHECK(std::isnan(mn.to_vector<double>()[0]));
  CHECK(mn.to_vector<double>()[1] == 0.0);
  CHECK(mn.to_vector<double>()[2] == 2.0);
}

TEST_CASE("index: index_select, index_add and index_copy match PyTorch") {
  for (const std::string& tag : kTags) {
    CAPTURE(tag);
    const Tensor &x = G("isel.x." + tag), &i = G("isel.i." + tag);
    check_tag(index_select(x, 0, i), G("isel.d0." + tag), tag);
    check_tag(index_select(non_contiguous_copy(x), 0, i.to(kI32)), G("isel.d0." + tag), tag);
    const Tensor& i1 = G("isel.i1." + tag);
    check_tag(index_select(x, -1, i1), G("isel.d1." + tag), tag);
    check_tag(index_select(non_contiguous_copy(x), 1, i1), G("isel.d1." + tag), tag);

    const Tensor &ia = G("iadd.i." + tag), &s0 = G("iadd.src0." + tag), &s1 = G("iadd.src1." + tag);
    check_tag(index_add(x, 0, ia, s0), G("iadd.d0." + tag), tag);
    check_tag(index_add(non_contiguous_copy(x), 1, ia.to(kI32), non_contiguous_copy(s1), 3), G("iadd.d1." + tag), tag);
    Tensor y = non_contiguous_copy(x);
    const uint32_t v0 = y.storage()->version();
    index_add_(y, 0, ia, s0);
    CHECK(y.storage()->version() > v0);
    check_tag(y, G("iadd.d0." + tag), tag);

    const Tensor& ic = G("icopy.i." + tag);
    check_tag(index_copy(x, 0, ic, s0.narrow(0, 0, 3)), G("icopy.d0." + tag), tag);
    Tensor z = x.clone();
    index_copy_(z, 0, ic, s0.narrow(0, 0, 3));
    check_tag(z, G("icopy.d0." + tag), tag);
  }
}

TEST_CASE("index: advanced indexing (index, index_put, bool masks) matches PyTorch") {
  for (const std::string& tag : kTags) {
    CAPTURE(tag);
    const Tensor &x = G("adv.x." + tag), &i0 = G("adv.i0." + tag), &i1 = G("adv.i1." + tag);
    check_tag(index(x, {i0, i1}), G("adv.get." + tag), tag);
    check_tag(index(non_contiguous_copy(x), {i0.to(kI32), i1}), G("adv.get." + tag), tag);
    check_tag(index_put(x, {i0, i1}, G("adv.vals." + tag)), G("adv.put." + tag), tag);
    check_tag(index_put(x, {G("adv.d0." + tag)}, G("adv.dvals." + tag), true), G("adv.acc." + tag), tag);
    Tensor y = non_contiguous_copy(x);
    const uint32_t v0 = y.storage()->version();
    index_put_(y, {G("adv.d0." + tag)}, non_contiguous_copy(G("adv.dvals." + tag)), true);
    CHECK(y.storage()->version() > v0);
    check_tag(y, G("adv.acc." + tag), tag);
    check_tag(index(x, {G("adv.mask." + tag)}), G("adv.getmask." + tag), tag);
  }
}

TEST_CASE("index: masked_fill, masked_select and nonzero match PyTorch") {
  for (const std::string& tag : kTags) {
    CAPTURE(tag);
    const Tensor &x = G("mask.x." + tag), &row = G("mask.row." + tag), &col = G("mask.col." + tag);
    const bool fl = tag[0] == 'f';
    const Scalar v = fl ? Scalar(-2.5) : Scalar(-2);
    check_tag(masked_fill(x, row, v), G("mask.fill." + tag), tag);
    check_tag(masked_fill(non_contiguous_copy(x), row, v), G("mask.fill." + tag), tag);
    Tensor y = non_contiguous_copy(x);
    const uint32_t v0 = y.storage()->version();
    masked_fill_(y, row, v);
    CHECK(y.storage()->version() > v0);
    check_tag(y, G("mask.fill." + tag), tag);
    check_tag(masked_select(x, col), G("mask.select." + tag), tag);
    check_tag(masked_select(non_contiguous_copy(x), col.expand({3, 4})), G("mask.select." + tag), tag);
    const Tensor& z = G("nonzero.x." + tag);
    check_equal(nonzero(z), G("nonzero.out." + tag));
    check_equal(nonzero(z.transpose(0, 2).contiguous().transpose(0, 2)), G("nonzero.out." + tag));
  }
}

TEST_CASE("index: one_hot and embedding match PyTorch") {
  check_equal(one_hot(G("one_hot.i"), 5), G("one_hot.5"));
  check_equal(one_hot(G("one_hot.i").to(kI32)), G("one_hot.auto"));
  check_equal(one_hot(non_contiguous_copy(G("one_hot.i")), 5), G("one_hot.5"));
  for (const std::string tag : {"f32", "f64"}) {
    CAPTURE(tag);
    const Tensor &w = G("embedding.w." + tag), &i = G("embedding.i." + tag);
    check_tag(embedding(w, i), G("embedding.out." + tag), tag);
    check_tag(embedding(non_contiguous_copy(w), non_contiguous_copy(i).to(kI32)), G("embedding.out." + tag), tag);
  }
}
