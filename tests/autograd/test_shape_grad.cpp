// Gradients of the shape ops: gradcheck (f64, non-contiguous inputs), a few gradgradchecks,
// golden gradients vs PyTorch (tests/golden/gen_index_grad.py) and errors.
#include "autograd/grad_test_util.h"

using namespace moelab;
using namespace moelab::testing;

namespace {
const Golden& golden() {
  return Golden::get("index_grad");
}
}  // namespace

TEST_CASE("autograd shape: cat and stack") {
  manual_seed(11);
  Tensor a = strided_leaf64({2, 3}), b = leaf64({2, 1}), c = strided_leaf64({2, 4});
  CHECK(gradcheck1([](const auto& v) { return cat({v[0], v[1], v[2]}, 1); }, {a, b, c}));
  CHECK(gradgradcheck1([](const auto& v) { return cat({v[0], v[1]}, -1) * cat({v[1], v[0]}, 1); }, {a, b}));
  Tensor e = leaf64({0});  // a legacy 1-D empty tensor is skipped
  CHECK(gradcheck1([](const auto& v) { return cat({v[0], v[1]}, 0); }, {strided_leaf64({3}), e}));
  CHECK(gradcheck1([](const auto& v) { return stack({v[0], v[1]}, 1); }, {a, strided_leaf64({2, 3})}));
  // Mixed dtypes: each input's gradient comes back in its own dtype.
  Tensor f = randn({2, 3}, kF32);
  f.requires_grad_();
  Tensor d = leaf64({1, 3});
  cat({f, d}, 0).sum().backward();
  check_close(f.grad(), ones({2, 3}, kF32));
  check_close(d.grad(), ones({1, 3}, kF64));
}

TEST_CASE("autograd shape: split and chunk are differentiable views") {
  manual_seed(12);
  Tensor x = strided_leaf64({3, 5});
  CHECK(gradcheck1([](const auto& v) {
          std::vector<Tensor> p = split(v[0], 2, 1);
          return p[0] * 2.0 + p[1] * p[1];
        }, {x}));
  CHECK(gradcheck1([](const auto& v) { return split_with_sizes(v[0], {1, 2}, 0)[1]; }, {x}));
  CHECK(gradcheck1([](const auto& v) { return chunk(v[0], 2, 1)[1]; }, {x}));
}

TEST_CASE("autograd shape: repeat and repeat_interleave") {
  manual_seed(13);
  Tensor x = strided_leaf64({2, 3});
  CHECK(gradcheck1([](const auto& v) { return repeat(v[0], {2, 1, 3}); }, {x}));
  CHECK(gradgradcheck1([](const auto& v) { return repeat(v[0], {2, 2}) * repeat(v[0], {2, 2}); }, {x}));
  CHECK(gradcheck1([](const auto& v) { return repeat(v[0], {0, 2}); }, {x}));  // empty result: zero gradient
  CHECK(gradcheck1([](const auto& v) { return repeat_interleave(v[0], 3, 1); }, {x}));
  CHECK(gradcheck1([](const auto& v) { return repeat_interleave(v[0], 2); }, {x}));  // flattened
  Tensor r = from_vector(std::vector<int64_t>{2, 0}, {2});
  CHECK(gradcheck1([&](const auto& v) { return repeat_interleave(v[0], r, 0); }, {x}));
  // Eight repeated dims take the tile-one-dim-at-a-time path (too many dims for one view).
  Tensor s = strided_leaf64({2});
  CHECK(gradcheck1([](const auto& v) { return repeat(v[0], {2, 2, 2, 2, 2, 2, 2, 2}); }, {s}));
}

TEST_CASE("autograd shape: tril, triu, flip and roll") {
  manual_seed(14);
  Tensor x = strided_leaf64({2, 3, 4});
  CHECK(gradcheck1([](const auto& v) { return tril(v[0], -1); }, {x}));
  CHECK(gradcheck1([](const auto& v) { return triu(v[0], 1); }, {x}));
  CHECK(gradcheck1([](const auto& v) { return flip(v[0], {0, 2}); }, {x}));
  CHECK(gradgradcheck1([](const auto& v) { return flip(v[0], {1}) * v[0]; }, {x}));
  CHECK(gradcheck1([](const auto& v) { return roll(v[0], {1, -2}, {0, 2}); }, {x}));
  CHECK(gradcheck1([](const auto& v) { return roll(v[0], {5}); }, {x}));
}

TEST_CASE("autograd shape: pad in every mode") {
  manual_seed(15);
  Tensor x = strided_leaf64({2, 3, 4});
  CHECK(gradcheck1([](const auto& v) { return pad(v[0], {1, 2, -1, 1}, "constant", 0.5); }, {x}));
  CHECK(gradgradcheck1([](const auto& v) { return pad(v[0], {1, -2}) * pad(v[0], {1, -2}); }, {x}));
  CHECK(gradcheck1([](const auto& v) { return pad(v[0], {0, 0, -3, 0}); }, {x}));  // everything cropped
  CHECK(gradcheck1([](const auto& v) { return pad(v[0], {2, 1}, "reflect"); }, {x}));
  CHECK(gradcheck1([](const auto& v) { return pad(v[0], {2, 3, 1, 0}, "replicate"); }, {x}));
  CHECK(gradcheck1([](const auto& v) { return pad(v[0], {1, 2}, "circular"); }, {x}));
}

TEST_CASE("autograd shape: gradients match PyTorch") {
  const Golden& g = golden();
  check_golden_grad(g, "cat", {"a", "b", "c"}, [](const auto& v) { return cat({v[0], v[1], v[2]}, 1); });
  check_golden_grad(g, "stack", {"a", "b"}, [](const auto& v) { return stack({v[0], v[1]}, 1); });
  check_golden_grad(g, "split", {"x"}, [](const auto& v) {
    std::vector<Tensor> p = split(v[0], 2, 1), q;
    for (size_t k = 0; k < p.size(); ++k) q.push_back(p[k] * static_cast<double>(k + 1));
    return cat(q, 1);
  });
  check_golden_grad(g, "chunk", {"x"}, [](const auto& v) { return chunk(v[0], 2, 0)[1]; });
  check_golden_grad(g, "repeat", {"x"}, [](const auto& v) { return repeat(v[0], {2, 1, 3}); });
  check_golden_grad(g, "repeat_interleave", {"x"}, [](const auto& v) { return repeat_interleave(v[0], 3, 1); });
  check_golden_grad(g, "repeat_interleave_t", {"x"},
                    [&](const auto& v) { return repeat_interleave(v[0], g["repeat_interleave_t.r"], 0); });
  check_golden_grad(g, "tril", {"x"}, [](const auto& v) { return tril(v[0], -1); });
  check_golden_grad(g, "triu", {"x"}, [](const auto& v) { return triu(v[0], 1); });
  check_golden_grad(g, "flip", {"x"}, [](const auto& v) { return flip(v[0], {0, 2}); });
  check_golden_grad(g, "roll", {"x"}, [](const auto& v) { return roll(v[0], {1, -2}, {0, 1}); });
  check_golden_grad(g, "roll_flat", {"x"}, [](const auto& v) { return roll(v[0], {5}); });
  check_golden_grad(g, "pad_constant", {"x"}, [](const auto& v) { return pad(v[0], {1, 2, -1, 1}, "constant", 0.5); });
  check_golden_grad(g, "pad_reflect", {"x"}, [](const auto& v) { return pad(v[0], {2, 1}, "reflect"); });
  check_golden_grad(g, "pad_replicate", {"x"}, [](const auto& v) { return pad(v[0], {2, 3, 1, 0}, "replicate"); });
  check_golden_grad(g, "pad_circular", {"x"}, [](const auto& v) { return pad(v[0], {1, 2}, "circular"); });
}

TEST_CASE("autograd shape: errors") {
  Tensor x = leaf64({2, 3});
  // A bad use is still caught by the op's own checks while recording, before anything is recorded.
  CHECK_MOELAB_ERROR(cat({x, leaf64({3, 3})}, 1), "cat: sizes must match except in dim 1");
  CHECK_MOELAB_ERROR(repeat(x, {2}), "repeat: 1 repeat counts for a tensor of 2 dims");
  CHECK_MOELAB_ERROR(pad(x, {1}), "pad: the padding list must have an even length");
  // The pieces of split are views: writing into one in place while recording is refused.
  Tensor h = x * 1.0;
  Tensor piece = split(h, 1, 0)[0];
  CHECK_MOELAB_ERROR(masked_fill_(piece, ones({1, 3}, kBool), 0.0), "in-place ops on views are not differentiable");
}
