// Shape ops against PyTorch goldens (tests/golden/gen_index.py), plus layouts, empty and 0-d
// shapes, negative dims and error messages.
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

// Shape ops only move values: results must be exact.
void check_same(const Tensor& actual, const Tensor& expected) { check_equal(actual, expected); }

Tensor iota(const Shape& s, DType t = kF32) { return arange(0, numel_of(s)).to(t).reshape(s); }

}  // namespace

TEST_CASE("shape: repeat, repeat_interleave, tril/triu, flip, roll and constant pad match PyTorch") {
  for (const std::string tag : {"f32", "f64", "i64"}) {
    CAPTURE(tag);
    const Tensor& a = G("shape.a." + tag);
    for (const Tensor& x : {a, non_contiguous_copy(a), a.permute({2, 0, 1}).contiguous().permute({1, 2, 0})}) {
      check_same(repeat(x, {2, 1, 1, 3}), G("repeat.a." + tag));
      check_same(repeat(x.narrow(1, 1, 1), {1, 3, 2}), G("repeat.b." + tag));
      check_same(repeat_interleave(x, 2, 1), G("rep_int.2." + tag));
      check_same(repeat_interleave(x, 2), G("rep_int.flat." + tag));
      check_same(repeat_interleave(x, tensor<int64_t>({1, 0, 3}), -2), G("rep_int.t." + tag));
      for (int diag : {0, -1, 2}) {
        CAPTURE(diag);
        check_same(tril(x, diag), G("tril." + std::to_string(diag) + "." + tag));
        check_same(triu(x, diag), G("triu." + std::to_string(diag) + "." + tag));
      }
      check_same(flip(x, {0, 2}), G("flip.02." + tag));
      check_same(flip(x, {-1}), G("flip.m1." + tag));
      check_same(roll(x, {1, -2}, {0, 1}), G("roll.01." + tag));
      check_same(roll(x, {5}), G("roll.flat." + tag));
      check_same(roll(x, {7}, {2}), G("roll.2." + tag));
      check_same(pad(x, {1, 2, 0, 1}, "constant", 3), G("pad.const." + tag));
      check_same(pad(x, {-1, 2, 1, -2}), G("pad.crop." + tag));
    }
  }
}

TEST_CASE("shape: cat and stack match PyTorch, with promotion and legacy empty tensors") {
  for (const std::string tag : {"f32", "f64"}) {
    CAPTURE(tag);
    const Tensor &a = G("cat.a." + tag), &b = G("cat.b." + tag);
    check_same(cat({a, b, a}, 1), G("cat.d1." + tag));
    check_same(cat({non_contiguous_copy(a), b.expand({2, 1, 4}), a}, -2), G("cat.d1." + tag));
    check_same(cat({a, a.narrow(0, 0, 1)}), G("cat.d0." + tag));
    check_same(stack({a, a * 2.0}, 1), G("stack.d1." + tag));
    check_same(stack({non_contiguous_copy(a), a * 2.0, a * 3.0}, -1), G("stack.dm1." + tag));
  }
  check_same(cat({G("cat.i"), zeros({0}), G("cat.f"), ones({1, 3}, kF64)}), G("cat.mixed"));
  CHECK(cat({tensor({1, 2}), tensor({3.0})}).dtype() == kF64);
  check_equal(cat({zeros({0}), zeros({0})}), zeros({0}));
  check_equal(cat({iota({2, 0}), iota({2, 3})}, 1), iota({2, 3}));
  check_equal(stack({scalar(1.f), scalar(2.f)}), tensor({1.f, 2.f}));
}

TEST_CASE("shape: reflect, replicate and circular pad match PyTorch") {
  for (const std::string tag : {"f32", "f64"}) {
    CAPTURE(tag);
    const Tensor &p = G("pad.p." + tag), &q = G("pad.q." + tag);
    for (const std::string mode : {"reflect", "replicate", "circular"}) {
      CAPTURE(mode);
      check_same(pad(p, {2, 3}, mode), G("pad." + mode + ".1." + tag));
      check_same(pad(non_contiguous_copy(p), {2, 3}, mode), G("pad." + mode + ".1." + tag));
      check_same(pad(q, {1, 2, 3, 1}, mode), G("pad." + mode + ".2." + tag));
      check_same(pad(non_contiguous_copy(q), {1, 2, 3, 1}, mode), G("pad." + mode + ".2." + tag));
      check_same(pad(q[0], {1, 2, 3, 1}, mode), G("pad." + mode + ".2." + tag)[0]);  // unbatched
    }
    check_same(pad(p, {-2, 1}, "replicate"), G("pad.replicate.neg." + tag));
  }
}

TEST_CASE("shape: split and chunk return views of the right sizes") {
  Tensor x = iota({5, 3});
  auto parts = split(x, 2);
  REQUIRE(parts.size() == 3);
  check_equal(parts[2], x.narrow(0, 4, 1));
  CHECK(parts[1].storage().get() == x.storage().get());  // views, not copies
  parts = split(x, std::vector<int64_t>{1, 0, 2}, -1);
  REQUIRE(parts.size() == 3);
  CHECK(parts[1].shape() == Shape{5, 0});
  check_equal(parts[2], x.narrow(1, 1, 2));
  check_equal(cat(split_with_sizes(x, {2, 3})), x);
  parts = chunk(x, 3);  // PyTorch: chunks of ceil(5 / 3) = 2
  REQUIRE(parts.size() == 3);
  CHECK(parts[2].shape() == Shape{1, 3});
  CHECK(chunk(iota({6}), 4).size() == 3);  // ceil(6/4) = 2: only 3 chunks, as in PyTorch
  CHECK(chunk(zeros({0}), 3).size() == 3);
  CHECK(split(zeros({0, 2}), 2).size() == 1);
  CHECK_MOELAB_ERROR(split(x, 0), "split: split_size must be positive, got 0");
  CHECK_MOELAB_ERROR(split(x, std::vector<int64_t>{2, 2}), "split_with_sizes: sizes [2, 2] sum to 4 but dim 0 has size 5");
  CHECK_MOELAB_ERROR(chunk(x, 0), "chunk: chunks must be positive");
  CHECK_MOELAB_ERROR(split(scalar(1.f), 1), "split: cannot split a 0-d tensor");
}

TEST_CASE("shape: empty, 0-d and size-1 inputs") {
  check_equal(repeat(scalar(2.f), {3}), full({3}, 2.f));
  check_equal(repeat(iota({2, 3}), {0, 2}), zeros({0, 6}));
  check_equal(repeat(iota({1, 2}), {1, 1}), iota({1, 2}));
  check_equal(repeat(iota({1, 2}), {2, 1, 1, 1, 1, 1, 1, 2}).reshape({2, 4}),
              tensor<float>({{0, 1, 0, 1}, {0, 1, 0, 1}}));
  // 5 repeated dims of size 2 need 10 view dims: tiled one dim at a time instead.
  check_equal(repeat(iota({2, 2, 2, 2}), {2, 2, 2, 2, 2}), repeat(repeat(iota({2, 2, 2, 2}), {1, 1, 2, 2}), {2, 2, 2, 1, 1}));
  check_equal(repeat_interleave(zeros({0, 2}), 3, 0), zeros({0, 2}));
  check_equal(repeat_interleave(scalar(1.f), 2), tensor({1.f, 1.f}));
  check_equal(repeat_interleave(tensor<int64_t>({2, 0, 1})), tensor<int64_t>({0, 0, 2}));
  check_equal(repeat_interleave(iota({2, 2}), tensor<int32_t>({3}), 0), index_select(iota({2, 2}), 0, tensor<int64_t>({0, 0, 0, 1, 1, 1})));
  check_equal(tril(zeros({0, 3})), zeros({0, 3}));
  check_equal(triu(iota({1, 1})), iota({1, 1}));
  check_equal(flip(zeros({2, 0}), {0, 1}), zeros({2, 0}));
  check_equal(flip(scalar(1.f), {}), scalar(1.f));
  check_equal(roll(zeros({0, 2}), {1}, {0}), zeros({0, 2}));
  check_equal(roll(iota({3}), {0}, {0}), iota({3}));
  check_equal(pad(zeros({0, 2}), {1, 1}), zeros({0, 4}));
  check_equal(pad(iota({2, 2}), {-1, -1}), zeros({2, 0}));
  check_equal(tril(ones({2, 2}, kBool)), tensor<bool>({{true, false}, {true, true}}));
}

TEST_CASE("shape: bad arguments throw naming the op and shapes") {
  Tensor x = iota({2, 3});
  CHECK_MOELAB_ERROR(cat({}), "cat: expected a non-empty list");
  CHECK_MOELAB_ERROR(cat({x, iota({3, 3})}, 1), "cat: sizes must match except in dim 1, but tensor 1 has shape [3, 3]");
  CHECK_MOELAB_ERROR(cat({x, iota({2, 3, 1})}), "cat: sizes must match");
  CHECK_MOELAB_ERROR(cat({x, scalar(1.f)}), "cat: tensor 1 is 0-d");
  CHECK_MOELAB_ERROR(cat({x}, 2), "cat");
  CHECK_MOELAB_ERROR(stack({x, iota({3, 2})}), "stack: all tensors must have one shape, but tensor 1 has [3, 2]");
  CHECK_MOELAB_ERROR(repeat(x, {2}), "repeat: 1 repeat counts for a tensor of 2 dims");
  CHECK_MOELAB_ERROR(repeat(x, {1, -1}), "repeat: repeat counts must be non-negative");
  CHECK_MOELAB_ERROR(repeat_interleave(x, tensor<int64_t>({1, 2}), 1), "repeat_interleave: repeats of shape [2]");
  CHECK_MOELAB_ERROR(repeat_interleave(x, tensor({1.f}), 1), "repeat_interleave: repeats must be an i64 or i32");
  CHECK_MOELAB_ERROR(repeat_interleave(tensor<int64_t>({1, -1})), "repeat_interleave: repeats must be non-negative");
  CHECK_MOELAB_ERROR(tril(iota({3})), "tril: expects a tensor with at least 2 dims, got shape [3]");
  CHECK_MOELAB_ERROR(flip(x, {0, 0}), "flip: dim 0 appears more than once");
  CHECK_MOELAB_ERROR(flip(x, {2}), "flip");
  CHECK_MOELAB_ERROR(roll(x, {1, 2}), "roll: without dims, expected one shift");
  CHECK_MOELAB_ERROR(roll(x, {1, 2}, {0}), "roll: 2 shifts for 1 dims");
  CHECK_MOELAB_ERROR(pad(x, {1}), "pad: the padding list must have an even length");
  CHECK_MOELAB_ERROR(pad(x, {1, 1, 1, 1, 1, 1}), "pad: padding [1, 1, 1, 1, 1, 1] covers 3 dims but the input has shape [2, 3]");
  CHECK_MOELAB_ERROR(pad(x, {-2, -2}), "pad: padding [-2, -2] makes dim 1 of the input shape [2, 3] negative");
  CHECK_MOELAB_ERROR(pad(x, {3, 0}, "reflect"), "pad: reflect padding (3, 0) must be smaller than dim 1 of size 3");
  CHECK_MOELAB_ERROR(pad(iota({3}), {1, 1}, "replicate"), "pad: mode replicate pads the last 1-3 dims");
  CHECK_MOELAB_ERROR(pad(x, {1, 1}, "edge"), "pad: mode must be constant, reflect, replicate or circular");
  CHECK_MOELAB_ERROR(pad(zeros({2, 0}), {1, 1}, "replicate"), "pad: mode replicate cannot pad dim 1 of size 0");
}

MOELAB_CONFORMANCE_CASE("cat", [] { return std::vector<Tensor>{sin(arange(0, 12).to(kF32)).reshape({3, 4}),
                                                                cos(arange(0, 6).to(kF32)).reshape({3, 2})}; },
                        [](const std::vector<Tensor>& t) { return cat({t[0], t[1]}, 1); });
MOELAB_CONFORMANCE_CASE("flip roll", [] { return std::vector<Tensor>{sin(arange(0, 12).to(kF32)).reshape({3, 4})}; },
                        [](const std::vector<Tensor>& t) { return roll(flip(t[0], {1}), {1, 2}, {0, 1}); });
MOELAB_CONFORMANCE_CASE("pad reflect", [] { return std::vector<Tensor>{sin(arange(0, 12).to(kF32)).reshape({1, 3, 4})}; },
                        [](const std::vector<Tensor>& t) { return pad(t[0], {2, 1, 1, 2}, "reflect"); });
MOELAB_CONFORMANCE_CASE("repeat tril", [] { return std::vector<Tensor>{sin(arange(0, 12).to(kF32)).reshape({3, 4})}; },
                        [](const std::vector<Tensor>& t) { return tril(repeat(t[0], {2, 1, 2}), 1); });
