// Gradients of the indexing ops: gradcheck (f64, non-contiguous inputs), gradgradcheck for gather
// and index_select, golden gradients vs PyTorch (tests/golden/gen_index_grad.py) and errors.
#include "autograd/grad_test_util.h"

using namespace moelab;
using namespace moelab::testing;

namespace {
const Golden& golden() {
  return Golden::get("index_grad");
}
Tensor idx(std::initializer_list<int64_t> v, const Shape& s) { return from_vector(std::vector<int64_t>(v), s); }
// A non-leaf copy of x, so that in-place ops may write into it under autograd.
Tensor scratch(const Tensor& x) { return x * 1.0; }
}  // namespace

TEST_CASE("autograd index: gather gradcheck and gradgradcheck") {
  manual_seed(1);
  Tensor x = strided_leaf64({3, 4});
  Tensor i1 = idx({0, 3, 3, 1, 2, 2, 2, 0, 1, 3, 1, 1, 0, 0, 3}, {3, 5});  // duplicates along dim 1
  CHECK(gradcheck1([&](const auto& v) { return gather(v[0], 1, i1); }, {x}));
  CHECK(gradgradcheck1([&](const auto& v) { return gather(v[0], 1, i1); }, {x}));
  Tensor i0 = idx({2, 0, 0, 2, 1, 1}, {2, 3});  // smaller than x on dim 1
  CHECK(gradcheck1([&](const auto& v) { return gather(v[0], 0, i0); }, {x}));
  CHECK(gradgradcheck1([&](const auto& v) { return gather(v[0], 0, i0); }, {x}));
  Tensor s = leaf64({});  // 0-d
  CHECK(gradcheck1([&](const auto& v) { return gather(v[0], 0, idx({0, 0}, {2})); }, {s}));
}

TEST_CASE("autograd index: scatter, scatter_add and their in-place forms") {
  manual_seed(2);
  Tensor x = strided_leaf64({4, 5});
  Tensor src = strided_leaf64({3, 6});  // larger than the index on dim 1
  Tensor ui = idx({0, 3, 1, 2, 0, 1, 0, 2, 3, 1, 2, 1, 3, 0, 3}, {3, 5});  // unique per column
  CHECK(gradcheck1([&](const auto& v) { return scatter(v[0], 0, ui, v[1]); }, {x, src}));
  CHECK(gradcheck1([&](const auto& v) { return scatter(v[0], 0, ui, 2.5); }, {x}));
  CHECK(gradcheck1([&](const auto& v) {
          Tensor y = scratch(v[0]);
          return scatter_(y, 0, ui, v[1]);
        }, {x, src}));
  Tensor di = idx({4, 0, 4, 1, 1, 0, 2, 2, 3, 4, 0, 0, 1, 3, 3}, {3, 5});  // duplicates along dim 1
  CHECK(gradcheck1([&](const auto& v) { return scatter_add(v[0], 1, di, v[1]); }, {x, src}));
  CHECK(gradgradcheck1([&](const auto& v) { return scatter_add(v[0], 1, di, v[1]); }, {x, src}));
  CHECK(gradcheck1([&](const auto& v) {
          Tensor y = scratch(v[0]);
          return scatter_add_(y, 1, di, v[1]);
        }, {x, src}));
  // Only the source requires grad: the in-place result still takes its history.
  Tensor plain = zeros({4, 5}, kF64);
  Tensor s2 = leaf64({3, 5});
  scatter_add_(plain, 1, di, s2);
  CHECK(plain.requires_grad());
  plain.sum().backward();
  check_close(s2.grad(), ones({3, 5}, kF64));
}

TEST_CASE("autograd index: scatter_reduce sum, mean, amax, amin gradcheck") {
  manual_seed(3);
  Tensor x = strided_leaf64({3, 4});
  Tensor src = strided_leaf64({3, 5});
  Tensor i = idx({0, 0, 2, 3, 0, 1, 1, 1, 2, 0, 3, 3, 3, 1, 3}, {3, 5});
  for (const char* red : {"sum", "mean", "amax", "amin"})
    for (bool inc : {true, false}) {
      INFO(red << " include_self " << inc);
      CHECK(gradcheck1([&](const auto& v) { return scatter_reduce(v[0], 1, i, v[1], red, inc); }, {x, src}));
    }
  CHECK(gradgradcheck1([&](const auto& v) { return scatter_reduce(v[0], 1, i, v[1], "mean", false); }, {x, src}));
}

TEST_CASE("autograd index: index_select gradcheck and gradgradcheck") {
  manual_seed(4);
  Tensor x = strided_leaf64({5, 3});
  Tensor i = idx({4, 0, 0, 2}, {4});
  for (int d : {0, 1}) {
    Tensor id = d == 0 ? i : idx({2, 2, 0}, {3});
    CHECK(gradcheck1([&](const auto& v) { return index_select(v[0], d, id); }, {x}));
    CHECK(gradgradcheck1([&](const auto& v) { return index_select(v[0], d, id); }, {x}));
  }
  CHECK(gradcheck1([&](const auto& v) { return index_select(v[0], 0, idx({0}, {})); }, {leaf64({})}));
  CHECK(gradcheck1([&](const auto& v) { return index_select(v[0], 0, from_vector(std::vector<int32_t>{1, 1}, {2})); },
                   {x}));
}

TEST_CASE("autograd index: index_add and index_copy with their in-place forms") {
  manual_seed(5);
  Tensor x = strided_leaf64({4, 5});
  Tensor src = strided_leaf64({4, 3});
  Tensor dup = idx({1, 4, 1}, {3}), uni = idx({3, 0, 2}, {3});
  CHECK(gradcheck1([&](const auto& v) { return index_add(v[0], 1, dup, v[1], 2.5); }, {x, src}));
  CHECK(gradgradcheck1([&](const auto& v) { return index_add(v[0], 1, dup, v[1]); }, {x, src}));
  CHECK(gradcheck1([&](const auto& v) {
          Tensor y = scratch(v[0]);
          return index_add_(y, 1, dup, v[1], -1.0);
        }, {x, src}));
  CHECK(gradcheck1([&](const auto& v) { return index_copy(v[0], 1, uni, v[1]); }, {x, src}));
  CHECK(gradcheck1([&](const auto& v) {
          Tensor y = scratch(v[0]);
          return index_copy_(y, 1, uni, v[1]);
        }, {x, src}));
}

TEST_CASE("autograd index: advanced index and index_put") {
  manual_seed(6);
  Tensor x = strided_leaf64({4, 3, 2});
  Tensor i0 = idx({0, -1}, {2, 1}), i1 = idx({2, 0, 2}, {3});  // broadcast to [2, 3]; (0, 2) twice: accumulated
  Tensor mask = from_vector(std::vector<bool>{true, false, true, true}, {4});
  CHECK(gradcheck1([&](const auto& v) { return index(v[0], {i0, i1}); }, {x}));
  CHECK(gradcheck1([&](const auto& v) { return index(v[0], {idx({1, 1, 3}, {3})}); }, {x}));
  CHECK(gradcheck1([&](const auto& v) { return index(v[0], {mask}); }, {x}));
  CHECK(gradgradcheck1([&](const auto& v) { return index(v[0], {i0, i1}); }, {x}));
  Tensor vals = strided_leaf64({3, 1});  // broadcasts to the indexed shape [2, 3, 2]
  Tensor u1 = idx({2, 0, 1}, {3});  // unique positions: without accumulate, a repeated one keeps only one value
  CHECK(gradcheck1([&](const auto& v) { return index_put(v[0], {i0, u1}, v[1]); }, {x, vals}));
  Tensor dvals = strided_leaf64({3, 3, 2});
  CHECK(gradcheck1([&](const auto& v) { return index_put(v[0], {idx({1, 1, 3}, {3})}, v[1], true); }, {x, dvals}));
  CHECK(gradcheck1([&](const auto& v) {
          Tensor y = scratch(v[0]);
          return index_put_(y, {mask}, v[1].narrow(0, 0, 1).expand({3, 3, 2}));
        }, {x, dvals}));
}

TEST_CASE("autograd index: masked_fill, masked_fill_ and masked_select") {
  manual_seed(7);
  Tensor x = strided_leaf64({3, 4});
  Tensor mask = from_vector(std::vector<bool>{true, false, false, true}, {4});  // broadcasts over rows
  CHECK(gradcheck1([&](const auto& v) { return masked_fill(v[0], mask, 3.0); }, {x}));
  CHECK(gradcheck1([&](const auto& v) {
          Tensor y = scratch(v[0]);
          return masked_fill_(y, mask, -1.0);
        }, {x}));
  CHECK(gradcheck1([&](const auto& v) { return masked_select(v[0], mask); }, {x}));
  Tensor row = strided_leaf64({4});
  Tensor mask2 = from_vector(std::vector<bool>{true, true, false, false, true, false, true, true}, {2, 4});
  CHECK(gradcheck1([&](const auto& v) { return masked_select(v[0], mask2); }, {row}));  // x broadcast
}

TEST_CASE("autograd index: embedding weight gradient") {
  manual_seed(8);
  Tensor w = strided_leaf64({5, 3});
  Tensor i = idx({1, 4, 1, 0, 2, 2}, {2, 3});
  CHECK(gradcheck1([&](const auto& v) { return embedding(v[0], i); }, {w}));
  CHECK(gradgradcheck1([&](const auto& v) { return embedding(v[0], i) * v[0].sum(); }, {w}));
}

TEST_CASE("autograd index: gradients match PyTorch") {
  const Golden& g = golden();
  auto I = [&](const std::string& n) { return g[n]; };
  check_golden_grad(g, "gather", {"x"}, [&](const auto& v) { return gather(v[0], 1, I("gather.i")); });
  check_golden_grad(g, "scatter", {"x", "src"}, [&](const auto& v) { return scatter(v[0], 0, I("scatter.i"), v[1]); });
  check_golden_grad(g, "scatter_value", {"x"},
                    [&](const auto& v) { return scatter(v[0], 0, I("scatter_value.i"), 2.5); });
  check_golden_grad(g, "scatter_add", {"x", "src"},
                    [&](const auto& v) { return scatter_add(v[0], 1, I("scatter_add.i"), v[1]); });
  for (std::string red : {"sum", "mean", "amax", "amin"})
    for (int inc : {1, 0}) {
      const std::string n = "scatter_reduce." + red + "." + std::to_string(inc);
      check_golden_grad(g, n, {"x", "src"},
                        [&](const auto& v) { return scatter_reduce(v[0], 1, I(n + ".i"), v[1], red, inc == 1); });
    }
  check_golden_grad(g, "index_select.d0", {"x"},
                    [&](const auto& v) { return index_select(v[0], 0, I("index_select.d0.i")); });
  check_golden_grad(g, "index_select.d1", {"x"},
                    [&](const auto& v) { return index_select(v[0], 1, I("index_select.d1.i")); });
  check_golden_grad(g, "index_add", {"x", "src"},
                    [&](const auto& v) { return index_add(v[0], 1, I("index_add.i"), v[1], 3); });
  check_golden_grad(g, "index_copy", {"x", "src"},
                    [&](const auto& v) { return index_copy(v[0], 0, I("index_copy.i"), v[1]); });
  check_golden_grad(g, "index", {"x"}, [&](const auto& v) { return index(v[0], {I("index.i0"), I("index.i1")}); });
  check_golden_grad(g, "index_mask", {"x"}, [&](const auto& v) { return index(v[0], {I("index_mask.m")}); });
  check_golden_grad(g, "index_put", {"x", "v"},
                    [&](const auto& v) { return index_put(v[0], {I("index_put.i0"), I("index_put.i1")}, v[1]); });
  check_golden_grad(g, "index_put_acc", {"x", "v"},
                    [&](const auto& v) { return index_put(v[0], {I("index_put_acc.i0")}, v[1], true); });
  check_golden_grad(g, "masked_fill", {"x"}, [&](const auto& v) { return masked_fill(v[0], I("masked_fill.m"), 1.5); });
  check_golden_grad(g, "masked_select", {"x"},
                    [&](const auto& v) { return masked_select(v[0], I("masked_select.m")); });
  check_golden_grad(g, "embedding", {"weight"}, [&](const auto& v) { return embedding(v[0], I("embedding.i")); });
}

TEST_CASE("autograd index: errors") {
  // Index tensors are integers: they can never require grad, so they never get a gradient.
  Tensor i = idx({0, 1}, {2});
  CHECK_MOELAB_ERROR(i.requires_grad_(), "only floating tensors can require grad");
  Tensor x = leaf64({3, 2});
  Tensor y = gather(x, 0, idx({2, 0, 1, 1}, {2, 2}));
  CHECK(!i.requires_grad());
  // In place into a leaf that requires grad.
  CHECK_MOELAB_ERROR(scatter_(x, 0, idx({0}, {1, 1}), 1.0), "scatter_: a leaf tensor that requires grad");
  CHECK_MOELAB_ERROR(index_add_(x, 0, idx({0}, {1}), ones({1, 2}, kF64)), "index_add_: a leaf tensor");
  CHECK_MOELAB_ERROR(masked_fill_(x, ones({3, 2}, kBool), 0.0), "masked_fill_: a leaf tensor");
  // In place into a view while recording.
  Tensor h = x * 2.0;
  Tensor row = h.select(0, 1);
  CHECK_MOELAB_ERROR(index_put_(row, {idx({0}, {1})}, leaf64({1})), "index_put_: in-place ops on views");
  // prod has no gradient yet: a clear error when recording, fine without grad.
  CHECK_MOELAB_ERROR(scatter_reduce(x, 0, idx({0, 0}, {1, 2}), leaf64({1, 2}), "prod"),
                     "gradient of reduce=\"prod\" is not implemented");
  {
    autograd::NoGradGuard no_grad;
    CHECK(scatter_reduce(x, 0, idx({0, 0}, {1, 2}), ones({1, 2}, kF64), "prod").shape() == Shape{3, 2});
  }
  // The index is saved for backward: modifying it in place before backward is caught.
  Tensor gi = idx({1, 0}, {2});
  Tensor s = index_select(x, 0, gi).sum();
  gi.fill_(0);
  CHECK_MOELAB_ERROR(s.backward(), "modified");
  (void)y;
}

TEST_CASE("autograd index: size-0 indices give zero gradients") {
  Tensor x = leaf64({3, 4});
  Tensor none = from_vector(std::vector<int64_t>{}, {0});
  Tensor y = gather(x, 1, from_vector(std::vector<int64_t>{}, {3, 0})).sum() + index_select(x, 0, none).sum() +
             embedding(x, none).sum() + index(x, {none}).sum() + masked_select(x, zeros({3, 4}, kBool)).sum();
  y.backward();
  check_close(x.grad(), zeros({3, 4}, kF64));
  Tensor src = leaf64({0, 4});
  index_add(x, 0, none, src).sum().backward();
  check_close(src.grad(), zeros({0, 4}, kF64));
}
