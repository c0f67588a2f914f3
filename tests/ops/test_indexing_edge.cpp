// Indexing ops: error messages, no partial writes on error, empty/0-d/size-1 shapes, expanded
// operands, and results that do not depend on the thread count.
#include "support/check.h"
#include "support/conformance.h"

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::check_equal;

namespace {
Tensor iota(const Shape& s, DType t = kF32) { return arange(0, numel_of(s)).to(t).reshape(s); }
Tensor idx(std::initializer_list<int64_t> v) { return tensor<int64_t>(v); }
}  // namespace

TEST_CASE("index: out-of-range indices throw naming the op, value, dim size and shapes") {
  Tensor x = iota({3, 4});
  CHECK_MOELAB_ERROR(gather(x, 1, tensor<int64_t>({{0, 4}, {1, 1}})),
                     "gather: index 4 is out of range for dim 1 of size 4 (input shape [3, 4], index shape [2, 2])");
  CHECK_MOELAB_ERROR(gather(x, 0, tensor<int64_t>({{-1}})), "gather: index -1 is out of range for dim 0 of size 3");
  CHECK_MOELAB_ERROR(index_select(x, 0, idx({0, -1})), "index_select: index -1 is out of range for dim 0 of size 3");
  CHECK_MOELAB_ERROR(index_select(x, 1, idx({7})), "index 7 is out of range for dim 1 of size 4 (input shape [3, 4]");
  CHECK_MOELAB_ERROR(scatter(x, 0, idx({3}).reshape({1, 1}), 1.0), "scatter: index 3 is out of range for dim 0");
  CHECK_MOELAB_ERROR(scatter_add(x, 1, tensor<int64_t>({{5}}), x), "scatter_add: index 5 is out of range for dim 1 of size 4");
  CHECK_MOELAB_ERROR(index_add(x, 0, idx({3}), iota({1, 4})), "index_add: index 3 is out of range for dim 0 of size 3");
  CHECK_MOELAB_ERROR(index_copy(x, 1, idx({-2}), iota({3, 1})), "index_copy: index -2 is out of range for dim 1 of size 4");
  CHECK_MOELAB_ERROR(index(x, {idx({-4})}), "index: index -4 is out of range for dim 0 of size 3");
  CHECK_MOELAB_ERROR(index(x, {idx({0}), idx({4})}), "index: index 4 is out of range for dim 1 of size 4");
  CHECK_MOELAB_ERROR(index_put(x, {idx({3})}, zeros({4})), "index_put_: index 3 is out of range for dim 0 of size 3");
  CHECK_MOELAB_ERROR(embedding(x, idx({1, 3})), "embedding: index 3 is out of range for dim 0 of size 3 (weight shape [3, 4]");
  CHECK_MOELAB_ERROR(one_hot(idx({0, 5}), 3), "one_hot: class value 5 is out of range for num_classes 3");
  CHECK_MOELAB_ERROR(one_hot(idx({-1, 2})), "one_hot: class values must be non-negative, got -1");
  CHECK_MOELAB_ERROR(one_hot(idx({}).reshape({0})), "one_hot: cannot infer the number of classes");
}

TEST_CASE("index: a failed op writes nothing") {
  Tensor x = iota({3, 4});
  const uint32_t v0 = x.storage()->version();
  CHECK_MOELAB_ERROR(index_add_(x, 0, idx({0, 1, 9}), ones({3, 4})), "index_add_: index 9");
  CHECK_MOELAB_ERROR(scatter_add_(x, 0, tensor<int64_t>({{0, 1, 2, 3}}), ones({1, 4})), "index 3");
  CHECK_MOELAB_ERROR(index_put_(x, {idx({0, 2, 3})}, ones({4})), "index 3");
  CHECK_MOELAB_ERROR(scatter_(x, 1, tensor<int64_t>({{0, 9}}), 5.0), "index 9");
  check_equal(x, iota({3, 4}));
  CHECK(x.storage()->version() == v0);
}

TEST_CASE("index: wrong index dtypes, shape mismatches and bad arguments throw") {
  Tensor x = iota({3, 4});
  CHECK_MOELAB_ERROR(gather(x, 0, zeros({3, 4})), "gather: index must be an i64 or i32 tensor, got dtype f32");
  CHECK_MOELAB_ERROR(index_select(x, 0, zeros({2}, kBool)), "index_select: index must be an i64 or i32 tensor");
  CHECK_MOELAB_ERROR(embedding(x, zeros({2}, kF64)), "embedding: indices must be an i64 or i32 tensor");
  CHECK_MOELAB_ERROR(gather(x, 0, idx({0})), "gather: index must have as many dims as the input");
  CHECK_MOELAB_ERROR(gather(x, 0, zeros({1, 5}, kI64)), "gather: index is larger than the input at dim 1");
  CHECK_MOELAB_ERROR(gather(x, 2, zeros({1, 1}, kI64)), "gather");
  CHECK_MOELAB_ERROR(scatter(x, 0, zeros({2, 2}, kI64), iota({2, 2}, kF64)), "scatter: src has dtype f64");
  CHECK_MOELAB_ERROR(scatter(x, 0, zeros({2, 3}, kI64), iota({2, 2})), "scatter: index is larger than src at dim 1");
  CHECK_MOELAB_ERROR(scatter_reduce(x, 0, zeros({1, 1}, kI64), x, "max"), "reduce must be one of sum, prod, mean");
  CHECK_MOELAB_ERROR(index_select(x, 0, zeros({1, 1}, kI64)), "index_select: index must be 0-d or 1-d");
  CHECK_MOELAB_ERROR(index_add(x, 0, idx({0, 1}), iota({3, 4})), "index_add: source must have the input's shape");
  CHECK_MOELAB_ERROR(index_add(x, 1, idx({0}), iota({3, 1}, kF64)), "index_add: source has dtype f64");
  CHECK_MOELAB_ERROR(index_add(iota({3}, kI64), 0, idx({0}), iota({1}, kI64), 2.5),
                     "index_add: alpha 2.5 must be an integer for an input of dtype i64");
  CHECK_MOELAB_ERROR(index_put(x, {idx({0})}, zeros({4}, kF64)), "index_put_: values have dtype f64");
  CHECK_MOELAB_ERROR(index_put(x, {idx({0, 1})}, zeros({3, 4})), "index_put_: values of shape [3, 4] do not broadcast");
  CHECK_MOELAB_ERROR(index(x, {idx({0, 1}), idx({0, 1, 2})}), "index: shapes [2] and [3] do not broadcast");
  CHECK_MOELAB_ERROR(index(x, {idx({0}), idx({0}), idx({0})}), "index: too many indices (3)");
  CHECK_MOELAB_ERROR(index(x, {zeros({3, 5}, kBool)}), "index: a bool index of shape [3, 5] must match");
  CHECK_MOELAB_ERROR(masked_fill(x, zeros({4}), 1.0), "masked_fill: mask must be bool, got f32");
  CHECK_MOELAB_ERROR(masked_select(x, zeros({5}, kBool)), "masked_select");
  Tensor y = iota({1, 4});
  CHECK_MOELAB_ERROR(masked_fill_(y, zeros({3, 4}, kBool), 1.0), "masked_fill_: mask of shape [3, 4] does not broadcast");
  CHECK_MOELAB_ERROR(embedding(iota({4}), idx({0})), "embedding: weight must be 2-D");
}

TEST_CASE("index: in-place writes into an expanded tensor are refused") {
  Tensor e = zeros({4}).expand({3, 4});
  CHECK_MOELAB_ERROR(index_add_(e, 0, idx({0}), ones({1, 4})), "index_add_: the destination of shape [3, 4] is an expanded");
  CHECK_MOELAB_ERROR(scatter_(e, 1, zeros({1, 1}, kI64), 1.0), "scatter_: the destination");
  CHECK_MOELAB_ERROR(masked_fill_(e, ones({4}, kBool), 1.0), "masked_fill_: the destination");
  CHECK_MOELAB_ERROR(index_put_(e, {idx({1})}, ones({4})), "index_put_: the destination");
  // Out of place, an expanded input is fine.
  check_equal(index_add(e, 0, idx({1}), ones({1, 4})), tensor<float>({{0, 0, 0, 0}, {1, 1, 1, 1}, {0, 0, 0, 0}}));
}

TEST_CASE("index: expanded and sliced operands read correctly") {
  Tensor row = tensor({1.f, 2.f, 3.f});
  Tensor x = row.expand({4, 3});  // stride 0 on dim 0
  check_equal(gather(x, 1, tensor<int64_t>({{2, 0}, {1, 1}})), tensor<float>({{3, 1}, {2, 2}}));
  check_equal(index_select(x, 1, idx({2, 2, 0})), tensor<float>({{3, 3, 1}, {3, 3, 1}, {3, 3, 1}, {3, 3, 1}}));
  // An expanded index broadcasting one row of indices, and a sliced (step 2) input.
  Tensor y = iota({4, 6}).slice(1, 0, std::nullopt, 2);  // [4, 3], strides [6, 2]
  Tensor ie = idx({2, 0, 1}).expand({4, 3});
  check_equal(gather(y, 1, ie), index_select(y, 1, idx({2, 0, 1})));
  check_equal(embedding(y, idx({3, 0})), tensor<float>({{18, 20, 22}, {0, 2, 4}}));
  check_equal(scatter_add(zeros({2, 3}), 0, zeros({4, 3}, kI64), y), tensor<float>({{36, 44, 52}, {0, 0, 0}}));
  check_equal(masked_select(y, ones({1}, kBool)), y.reshape({-1}));
}

TEST_CASE("index: empty, 0-d and size-1 shapes") {
  Tensor x = iota({3, 4});
  Tensor none = zeros({0}, kI64);
  check_equal(index_select(x, 0, none), zeros({0, 4}));
  check_equal(index_select(x, 1, none), zeros({3, 0}));
  check_equal(index_select(zeros({0, 2}), 1, idx({1, 1})), zeros({0, 2}));
  check_equal(gather(x, 1, zeros({3, 0}, kI64)), zeros({3, 0}));
  check_equal(scatter_add(x, 0, zeros({0, 4}, kI64), zeros({0, 4})), x);
  check_equal(index_add(x, 0, none, zeros({0, 4})), x);
  check_equal(index(x, {none}), zeros({0, 4}));
  check_equal(index_put(x, {none}, zeros({4})), x);
  check_equal(embedding(x, zeros({2, 0}, kI64)), zeros({2, 0, 4}));
  check_equal(one_hot(zeros({0}, kI64), 3), zeros({0, 3}, kI64));
  check_equal(nonzero(zeros({2, 0})), zeros({0, 2}, kI64));
  check_equal(nonzero(zeros({3})), zeros({0, 1}, kI64));
  check_equal(masked_select(x, zeros({3, 4}, kBool)), zeros({0}));
  // 0-d tensors act as 1-element 1-d ones, and results stay 0-d (as in PyTorch).
  Tensor s = scalar(5.f);
  check_equal(gather(s, 0, scalar<int64_t>(0)), s);
  check_equal(index_select(s, 0, scalar<int64_t>(0)), s);
  check_equal(scatter(s, 0, scalar<int64_t>(0), 2.0), scalar(2.f));
  check_equal(nonzero(s), zeros({1, 0}, kI64));
  check_equal(nonzero(scalar(0.f)), zeros({0, 0}, kI64));
  check_equal(masked_select(s, scalar(true)), tensor({5.f}));
  check_equal(masked_fill(s, scalar(true), 1), scalar(1.f));
  check_equal(one_hot(scalar<int64_t>(2), 3), tensor<int64_t>({0, 0, 1}));
  check_equal(index(x, {scalar<int64_t>(-1)}), tensor({8.f, 9.f, 10.f, 11.f}));
  check_equal(index(x, {scalar<int64_t>(1), scalar<int64_t>(2)}), scalar(6.f));
  // Size-1 dims.
  Tensor one = iota({1, 4});
  check_equal(gather(one, 0, zeros({1, 4}, kI64)), one);
  check_equal(index_select(one, 0, idx({0, 0})), tensor<float>({{0, 1, 2, 3}, {0, 1, 2, 3}}));
  check_equal(index_add(one, 0, idx({0, 0}), ones({2, 4})), tensor<float>({{2, 3, 4, 5}}));
  check_equal(nonzero(one), tensor<int64_t>({{0, 1}, {0, 2}, {0, 3}}));
}

TEST_CASE("index: negative dims, bool and mixed advanced indices") {
  Tensor x = iota({2, 3, 4});
  check_equal(gather(x, -3, zeros({1, 3, 4}, kI64)), x.narrow(0, 0, 1));
  check_equal(index_select(x, -2, idx({2})), x.narrow(1, 2, 1));
  check_equal(index_add(x, -1, idx({3}), ones({2, 3, 1})).select(2, 3), x.select(2, 3) + 1.0);
  // A bool mask over the first two dims, and a mask mixed with an integer index.
  Tensor m = tensor<bool>({{true, false, true}, {false, false, true}});
  check_equal(index(x, {m}), stack({x[0][0], x[0][2], x[1][2]}));
  check_equal(index(x, {idx({1}), tensor<bool>({false, true, true})}), stack({x[1][1], x[1][2]}));
  Tensor y = index_put(x, {m}, tensor({-1.f}));
  check_equal(masked_select(y, m.unsqueeze(-1)), full({12}, -1.f));
  // Negative indices count from the end in advanced indexing.
  check_equal(index(x, {idx({-1}), idx({-3}), idx({-1})}), tensor({15.f}));
  // Bool inputs copy and fill.
  Tensor b = zeros({2, 3}, kBool);
  check_equal(index_put(b, {idx({1}), idx({2})}, scalar(true)), tensor<bool>({{false, false, false}, {false, false, true}}));
  check_equal(masked_fill(b, tensor<bool>({true, false, false}), true),
              tensor<bool>({{true, false, false}, {true, false, false}}));
}

TEST_CASE("index: accumulating ops give the same bits with 1 and 4 threads") {
  const int saved = get_num_threads();
  // Large enough to take the parallel paths; many collisions per destination.
  Tensor src = sin(arange(0, 200000).to(kF32) * 0.731).reshape({4000, 50});
  Tensor idx_rows = (arange(0, 4000) * 7919).to(kI64);
  idx_rows = idx_rows - floor(idx_rows.to(kF64) / 37.0).to(kI64) * 37;  // values in [0, 37)
  Tensor scat_idx = idx_rows.unsqueeze(1).expand({4000, 50}).contiguous();
  auto run = [&] {
    std::vector<Tensor> r;
    r.push_back(index_add(zeros({37, 50}), 0, idx_rows, src));
    r.push_back(scatter_add(zeros({37, 50}), 0, scat_idx, src));
    r.push_back(index_put(zeros({37, 50}), {idx_rows}, src, true));
    r.push_back(index_put(zeros({37}), {scat_idx.reshape({-1})}, src.reshape({-1}), true));
    r.push_back(scatter_reduce(zeros({37, 50}), 0, scat_idx, src, "mean"));
    r.push_back(nonzero(src > 0.5));
    return r;
  };
  set_num_threads(1);
  std::vector<Tensor> a = run();
  set_num_threads(4);
  std::vector<Tensor> b = run();
  set_num_threads(saved);
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    check_equal(a[i], b[i]);
  }
  // And the serial order is the index order: compare index_add with a plain loop.
  std::vector<float> ref(37 * 50, 0.f);
  std::vector<float> s = src.to_vector<float>();
  std::vector<int64_t> ir = idx_rows.to_vector<int64_t>();
  for (int64_t j = 0; j < 4000; ++j)
    for (int64_t c = 0; c < 50; ++c) ref[static_cast<size_t>(ir[static_cast<size_t>(j)] * 50 + c)] += s[static_cast<size_t>(j * 50 + c)];
  check_equal(a[0], from_vector(ref, {37, 50}));
}

TEST_CASE("index: one_hot and embedding on larger inputs agree with gather/index_select") {
  Tensor w = sin(arange(0, 3000).to(kF64)).reshape({100, 30});
  Tensor ids = (arange(0, 5000) * 13).to(kI64);
  ids = ids - floor(ids.to(kF64) / 100.0).to(kI64) * 100;
  Tensor e = embedding(w, ids.reshape({50, 100}));
  check_equal(e.reshape({5000, 30}), index_select(w, 0, ids));
  Tensor oh = one_hot(ids, 100);
  check_equal(argmax(oh, 1), ids);
  check_equal(oh.sum(1), ones({5000}, kI64));
}

MOELAB_CONFORMANCE_CASE("gather", [] { return std::vector<Tensor>{sin(arange(0, 20).to(kF32)).reshape({4, 5}),
                                                                   tensor<int64_t>({{4, 0, 1}, {2, 2, 3}})}; },
                        [](const std::vector<Tensor>& t) { return gather(t[0], 1, t[1]); });
MOELAB_CONFORMANCE_CASE("index_select", [] { return std::vector<Tensor>{sin(arange(0, 20).to(kF32)).reshape({4, 5}),
                                                                         tensor<int64_t>({3, 0, 3})}; },
                        [](const std::vector<Tensor>& t) { return index_select(t[0], 1, t[1]); });
MOELAB_CONFORMANCE_CASE("scatter_add", [] { return std::vector<Tensor>{sin(arange(0, 20).to(kF32)).reshape({4, 5}),
                                                                        tensor<int64_t>({{0, 0}, {3, 0}, {1, 1}})}; },
                        [](const std::vector<Tensor>& t) { return scatter_add(zeros({4, 2}), 0, t[1], t[0]); });
MOELAB_CONFORMANCE_CASE("index_put accumulate",
                        [] { return std::vector<Tensor>{sin(arange(0, 20).to(kF32)).reshape({4, 5}),
                                                        tensor<int64_t>({{1, 1}, {0, 1}})}; },
                        [](const std::vector<Tensor>& t) { return index_put(t[0], {t[1]}, ones({5}), true); });
MOELAB_CONFORMANCE_CASE("masked_select", [] { return std::vector<Tensor>{sin(arange(0, 20).to(kF32)).reshape({4, 5})}; },
                        [](const std::vector<Tensor>& t) { return masked_select(t[0], t[0] > 0.2); });
