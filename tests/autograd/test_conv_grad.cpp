// Autograd of the conv family: conv2d, conv_transpose2d, max/avg/adaptive pooling and their
// gradient ops (recorded too, so gradients of gradients work). f64 finite-difference checks with
// strided, padded, dilated, grouped and non-contiguous cases; gradients vs PyTorch's autograd from
// tests/golden/conv.txt (gen_conv.py records torch's x.grad, w.grad, b.grad for an upstream gy).
#include <string>
#include <vector>

#include "support/check.h"
#include "support/golden.h"

using namespace moelab;
using moelab::testing::check_close;

namespace {

// A leaf of the given shape, f64, values in (-1, 1) from a fixed seed.
Tensor leaf(const Shape& s, uint64_t seed) {
  manual_seed(seed);
  Tensor t = randn(s, kF64);
  t.requires_grad_();
  return t;
}

// A non-contiguous leaf: the given shape, laid out with its last two dims transposed in memory.
Tensor leaf_t(const Shape& s, uint64_t seed) {
  Shape st = s;
  std::swap(st[s.size() - 1], st[s.size() - 2]);
  manual_seed(seed);
  Tensor t = randn(st, kF64).transpose(-1, -2);
  CHECK(!t.is_contiguous());
  t.requires_grad_();
  return t;
}

struct ConvCase {
  const char* name;
  Shape x, w;
  bool bias;
  Int2 stride, padding, dilation;
  int64_t groups;
  bool noncontig;
};

const ConvCase kConv[] = {
    {"plain", {2, 2, 4, 5}, {3, 2, 2, 3}, true, 1, 0, 1, 1, false},
    {"stride_pad", {1, 2, 5, 5}, {2, 2, 3, 3}, true, {2, 1}, {1, 0}, 1, 1, true},
    {"dilation_nobias", {1, 2, 5, 6}, {2, 2, 2, 2}, false, 1, 1, {2, 1}, 1, false},
    {"groups", {1, 4, 4, 4}, {4, 2, 3, 2}, true, {1, 2}, 1, 1, 2, true},
    {"depthwise_remainder", {1, 2, 5, 5}, {2, 1, 2, 2}, false, {2, 3}, 0, 1, 2, false},
    {"unbatched", {2, 4, 3}, {2, 2, 2, 2}, true, 1, {0, 1}, 1, 1, true},
};

const moelab::testing::Golden& golden() {
  static moelab::testing::Golden g("conv");
  return g;
}
std::vector<int64_t> params(const std::string& pre) { return golden()[pre + ".params"].to_vector<int64_t>(); }
// A fresh leaf holding a golden tensor (the golden tensors themselves are shared).
Tensor golden_leaf(const std::string& name) {
  Tensor t = golden()[name].clone();
  t.requires_grad_();
  return t;
}
Tensor golden_opt_leaf(const std::string& name) { return golden().has(name) ? golden_leaf(name) : Tensor(); }

struct Tol {
  double rtol, atol;
};
Tol tol(const std::string& dtype) { return dtype == "f32" ? Tol{1e-4, 1e-4} : Tol{1e-10, 1e-10}; }
const char* kDtypes[] = {"f32", "f64"};

}  // namespace

TEST_CASE("autograd conv: conv2d gradcheck (stride, padding, dilation, groups, non-contiguous)") {
  uint64_t seed = 1;
  for (const ConvCase& k : kConv) {
    CAPTURE(k.name);
    Tensor x = k.noncontig ? leaf_t(k.x, seed++) : leaf(k.x, seed++);
    Tensor w = k.noncontig ? leaf_t(k.w, seed++) : leaf(k.w, seed++);
    Tensor b = k.bias ? leaf({k.w[0]}, seed++) : Tensor();
    auto fn = [&k](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{conv2d(in[0], in[1], in[2], k.stride, k.padding, k.dilation, k.groups)};
    };
    CHECK(autograd::gradcheck(fn, {x, w, b}));
  }
}

TEST_CASE("autograd conv: conv2d gradgradcheck") {
  uint64_t seed = 100;
  for (const ConvCase& k : kConv) {
    CAPTURE(k.name);
    Tensor x = k.noncontig ? leaf_t(k.x, seed++) : leaf(k.x, seed++);
    Tensor w = leaf(k.w, seed++);
    Tensor b = k.bias ? leaf({k.w[0]}, seed++) : Tensor();
    auto fn = [&k](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{conv2d(in[0], in[1], in[2], k.stride, k.padding, k.dilation, k.groups)};
    };
    CHECK(autograd::gradgradcheck(fn, {x, w, b}));
  }
}

TEST_CASE("autograd conv: conv2d with only some inputs requiring grad") {
  Tensor x = leaf({1, 2, 4, 4}, 7);
  manual_seed(8);
  Tensor w = randn({3, 2, 3, 3}, kF64);
  Tensor b = leaf({3}, 9);
  auto fn = [&w](const std::vector<Tensor>& in) { return std::vector<Tensor>{conv2d(in[0], w, in[1], 1, 1)}; };
  CHECK(autograd::gradcheck(fn, {x, b}));
  CHECK(autograd::gradgradcheck(fn, {x, b}));
  // Bias only: its gradient is g summed over batch and space.
  Tensor xc = x.detach();
  Tensor y = conv2d(xc, w, b, 1, 1);
  Tensor g = randn(y.shape(), kF64);
  y.backward(g);
  check_close(b.grad(), g.sum({0, 2, 3}), 1e-12, 1e-12);
  // Nothing requires grad: nothing is recorded.
  CHECK(conv2d(xc, w).grad_fn() == nullptr);
  NoGradGuard no_grad;
  CHECK(!conv2d(x, w, b).requires_grad());
}

TEST_CASE("autograd conv: conv2d gradient ops are differentiable themselves") {
  // conv2d_backward_input / _weight as ops: first and second order checks on their own.
  Tensor g = leaf({1, 2, 3, 3}, 20), w = leaf({2, 2, 2, 2}, 21), x = leaf({1, 2, 5, 4}, 22);
  Shape xs{1, 2, 5, 4};
  auto bi = [&xs](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{conv2d_backward_input(in[0], in[1], xs, {2, 1}, {1, 0})};
  };
  CHECK(autograd::gradcheck(bi, {g, w}));
  CHECK(autograd::gradgradcheck(bi, {g, w}));
  auto bw = [](const std::vector<Tensor>& in) {
    auto [gw, gb] = conv2d_backward_weight(in[0], in[1], {2, 2, 2, 2}, true, {2, 1}, {1, 0});
    return std::vector<Tensor>{gw, gb};
  };
  CHECK(autograd::gradcheck(bw, {g, x}));
  CHECK(autograd::gradgradcheck(bw, {g, x}));
  // A grad_out shorter than conv2d's output (conv_transpose2d's weight gradient) counts as
  // zero-extended at the bottom/right.
  Tensor g_short = leaf({1, 2, 2, 3}, 23);
  CHECK(autograd::gradcheck(bw, {g_short, x}));
  CHECK(autograd::gradgradcheck(bw, {g_short, x}));
}

TEST_CASE("autograd conv: conv_transpose2d gradcheck and gradgradcheck") {
  struct Case {
    const char* name;
    Shape x, w;
    bool bias;
    Int2 stride, padding, output_padding;
    int64_t groups;
    Int2 dilation;
    bool noncontig;
  };
  const Case cases[] = {
      {"stride_outpad", {1, 2, 3, 3}, {2, 2, 3, 3}, true, 2, 1, 1, 1, 1, false},
      // output_padding >= stride (allowed as it is < dilation): trailing rows no input row reaches.
      {"groups_dilation", {1, 4, 3, 2}, {4, 1, 2, 2}, false, {1, 2}, {0, 1}, {1, 0}, 2, {2, 1}, true},
      {"unbatched", {2, 3, 3}, {2, 3, 2, 2}, true, 1, 0, 0, 1, 1, true},
  };
  uint64_t seed = 200;
  for (const Case& k : cases) {
    CAPTURE(k.name);
    Tensor x = k.noncontig ? leaf_t(k.x, seed++) : leaf(k.x, seed++);
    Tensor w = k.noncontig ? leaf_t(k.w, seed++) : leaf(k.w, seed++);
    Tensor b = k.bias ? leaf({k.w[1] * k.groups}, seed++) : Tensor();
    auto fn = [&k](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{
          conv_transpose2d(in[0], in[1], in[2], k.stride, k.padding, k.output_padding, k.groups, k.dilation)};
    };
    CHECK(autograd::gradcheck(fn, {x, w, b}));
    CHECK(autograd::gradgradcheck(fn, {x, w, b}));
  }
}

TEST_CASE("autograd conv: max_pool2d gradcheck and gradgradcheck") {
  struct Case {
    const char* name;
    Shape x;
    Int2 kernel;
    std::optional<Int2> stride;
    Int2 padding, dilation;
    bool ceil;
    bool noncontig;
  };
  const Case cases[] = {
      {"overlapping", {2, 2, 5, 5}, 3, 2, 1, 1, false, false},
      {"ceil_noncontig", {1, 2, 5, 6}, {2, 3}, std::optional<Int2>({2, 1}), {0, 1}, 1, true, true},
      {"dilation", {1, 1, 6, 5}, {3, 2}, std::optional<Int2>({1, 2}), 1, {2, 2}, false, false},
      {"unbatched", {2, 4, 4}, 2, std::nullopt, 0, 1, false, true},
  };
  uint64_t seed = 300;
  for (const Case& k : cases) {
    CAPTURE(k.name);
    // randn values are distinct, so the maxima are stable under the finite-difference steps.
    Tensor x = k.noncontig ? leaf_t(k.x, seed++) : leaf(k.x, seed++);
    auto fn = [&k](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{max_pool2d(in[0], k.kernel, k.stride, k.padding, k.dilation, k.ceil)};
    };
    CHECK(autograd::gradcheck(fn, {x}));
    CHECK(autograd::gradgradcheck(fn, {x}));
    auto fn_idx = [&k](const std::vector<Tensor>& in) {
      auto [v, idx] = max_pool2d_with_indices(in[0], k.kernel, k.stride, k.padding, k.dilation, k.ceil);
      CHECK(!idx.requires_grad());
      return std::vector<Tensor>{v, idx};
    };
    CHECK(autograd::gradcheck(fn_idx, {x}));
  }
  // max_pool2d_backward as an op: linear in grad_out, its adjoint gathers at the indices.
  Tensor x = leaf({1, 2, 5, 5}, 310);
  auto [v, idx] = max_pool2d_with_indices(x.detach(), 3, 2, 1);
  Tensor g = leaf(v.shape(), 311);
  auto bk = [&idx](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{max_pool2d_backward(in[0], {1, 2, 5, 5}, idx)};
  };
  CHECK(autograd::gradcheck(bk, {g}));
  CHECK(autograd::gradgradcheck(bk, {g}));
}

TEST_CASE("autograd conv: avg_pool2d gradcheck and gradgradcheck") {
  struct Case {
    const char* name;
    Shape x;
    Int2 kernel;
    std::optional<Int2> stride;
    Int2 padding;
    bool ceil, include_pad;
    std::optional<int64_t> divisor;
    bool noncontig;
  };
  const Case cases[] = {
      {"include_pad", {2, 2, 5, 5}, 3, 2, 1, false, true, std::nullopt, false},
      {"exclude_pad_ceil", {1, 2, 5, 6}, {3, 2}, std::optional<Int2>({2, 2}), 1, true, false, std::nullopt, true},
      {"ceil_include_pad", {1, 1, 6, 5}, {3, 2}, std::optional<Int2>({2, 2}), 1, true, true, std::nullopt, false},
      {"divisor", {1, 2, 4, 5}, {2, 3}, std::optional<Int2>({1, 2}), {1, 0}, false, true, 5, false},
      {"unbatched", {2, 5, 4}, 2, 1, 0, false, true, std::nullopt, true},
  };
  uint64_t seed = 400;
  for (const Case& k : cases) {
    CAPTURE(k.name);
    Tensor x = k.noncontig ? leaf_t(k.x, seed++) : leaf(k.x, seed++);
    auto fn = [&k](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{avg_pool2d(in[0], k.kernel, k.stride, k.padding, k.ceil, k.include_pad, k.divisor)};
    };
    CHECK(autograd::gradcheck(fn, {x}));
    CHECK(autograd::gradgradcheck(fn, {x}));
  }
}

TEST_CASE("autograd conv: adaptive_avg_pool2d gradcheck and gradgradcheck") {
  struct Case {
    const char* name;
    Shape x;
    Int2 out;
    bool noncontig;
  };
  const Case cases[] = {
      {"uneven", {1, 2, 5, 7}, {3, 4}, false},
      {"global_noncontig", {2, 2, 4, 3}, 1, true},
      {"upsample", {1, 1, 2, 3}, {3, 4}, false},
      {"unbatched", {2, 5, 4}, {2, 3}, true},
  };
  uint64_t seed = 500;
  for (const Case& k : cases) {
    CAPTURE(k.name);
    Tensor x = k.noncontig ? leaf_t(k.x, seed++) : leaf(k.x, seed++);
    auto fn = [&k](const std::vector<Tensor>& in) { return std::vector<Tensor>{adaptive_avg_pool2d(in[0], k.out)}; };
    CHECK(autograd::gradcheck(fn, {x}));
    CHECK(autograd::gradgradcheck(fn, {x}));
  }
}

TEST_CASE("autograd conv: conv2d and conv_transpose2d gradients match PyTorch autograd") {
  for (const char* dt : kDtypes) {
    for (const char* name : {"basic", "stride_pad_nobias", "dilation", "groups", "depthwise", "stride_remainder",
                             "one_by_one", "unbatched"}) {
      std::string pre = std::string(dt) + ".conv2d." + name;
      CAPTURE(pre);
      auto p = params(pre);
      Tensor x = golden_leaf(pre + ".x"), w = golden_leaf(pre + ".w"), b = golden_opt_leaf(pre + ".b");
      Tensor y = conv2d(x, w, b, {p[0], p[1]}, {p[2], p[3]}, {p[4], p[5]}, p[6]);
      y.backward(golden()[pre + ".gy"]);
      Tol t = tol(dt);
      check_close(x.grad(), golden()[pre + ".gx"], t.rtol, t.atol);
      check_close(w.grad(), golden()[pre + ".gw"], t.rtol, t.atol);
      if (b.defined()) check_close(b.grad(), golden()[pre + ".gb"], t.rtol, t.atol);
    }
    for (const char* name : {"basic", "groups_dilation", "unbatched"}) {
      std::string pre = std::string(dt) + ".conv_transpose2d." + name;
      CAPTURE(pre);
      auto p = params(pre);
      Tensor x = golden_leaf(pre + ".x"), w = golden_leaf(pre + ".w"), b = golden_opt_leaf(pre + ".b");
      Tensor y = conv_transpose2d(x, w, b, {p[0], p[1]}, {p[2], p[3]}, {p[4], p[5]}, p[8], {p[6], p[7]});
      y.backward(golden()[pre + ".gy"]);
      Tol t = tol(dt);
      check_close(x.grad(), golden()[pre + ".gx"], t.rtol, t.atol);
      check_close(w.grad(), golden()[pre + ".gw"], t.rtol, t.atol);
      if (b.defined()) check_close(b.grad(), golden()[pre + ".gb"], t.rtol, t.atol);
    }
  }
}

TEST_CASE("autograd conv: pooling gradients match PyTorch autograd") {
  for (const char* dt : kDtypes) {
    Tol t = tol(dt);
    for (const char* name : {"basic", "ceil", "dilation", "ceil_pad", "unbatched", "ties_nan"}) {
      std::string pre = std::string(dt) + ".max_pool2d." + name;
      CAPTURE(pre);
      auto p = params(pre);
      Tensor x = golden_leaf(pre + ".x");
      max_pool2d(x, {p[0], p[1]}, Int2{p[2], p[3]}, {p[4], p[5]}, {p[6], p[7]}, p[8] != 0)
          .backward(golden()[pre + ".gy"]);
      check_close(x.grad(), golden()[pre + ".gx"], t.rtol, t.atol);
    }
    for (const char* name : {"basic", "exclude_pad", "ceil_include_pad", "ceil_exclude_pad", "divisor", "unbatched"}) {
      std::string pre = std::string(dt) + ".avg_pool2d." + name;
      CAPTURE(pre);
      auto p = params(pre);
      std::optional<int64_t> divisor = p[8] ? std::optional<int64_t>(p[8]) : std::nullopt;
      Tensor x = golden_leaf(pre + ".x");
      avg_pool2d(x, {p[0], p[1]}, Int2{p[2], p[3]}, {p[4], p[5]}, p[6] != 0, p[7] != 0, divisor)
          .backward(golden()[pre + ".gy"]);
      check_close(x.grad(), golden()[pre + ".gx"], t.rtol, t.atol);
    }
    for (const char* name : {"uneven", "global", "upsample", "unbatched"}) {
      std::string pre = std::string(dt) + ".adaptive_avg_pool2d." + name;
      CAPTURE(pre);
      auto p = params(pre);
      Tensor x = golden_leaf(pre + ".x");
      adaptive_avg_pool2d(x, {p[0], p[1]}).backward(golden()[pre + ".gy"]);
      check_close(x.grad(), golden()[pre + ".gx"], t.rtol, t.atol);
    }
  }
}

TEST_CASE("autograd conv: size-0 batch") {
  Tensor x = leaf({0, 2, 4, 4}, 700), w = leaf({3, 2, 3, 3}, 701), b = leaf({3}, 702);
  auto y = conv2d(x, w, b, 1, 1);
  std::vector<Tensor> g1 = autograd::grad({y.sum()}, {x, w, b}, {}, true, true);
  CHECK(g1[0].shape() == x.shape());
  check_close(g1[1], zeros({3, 2, 3, 3}, kF64));
  check_close(g1[2], zeros({3}, kF64));
  for (auto pool : {+[](const Tensor& t) { return max_pool2d(t, 2); }, +[](const Tensor& t) { return avg_pool2d(t, 2); },
                    +[](const Tensor& t) { return adaptive_avg_pool2d(t, 3); }}) {
    Tensor z = pool(x);
    Tensor gz = leaf(z.shape(), 703);
    std::vector<Tensor> gp = autograd::grad({z}, {x}, {gz}, true, true);
    CHECK(gp[0].shape() == x.shape());
    // Second order: through the gradient op back to gz.
    std::vector<Tensor> gg = autograd::grad({gp[0].sum()}, {gz}, {}, true, false, true);
    CHECK(gg[0].shape() == gz.shape());
  }
}

TEST_CASE("autograd conv: errors") {
  // The saved input of conv2d modified in place before backward: the error names conv2d.
  Tensor x = leaf({1, 2, 4, 4}, 600), w = leaf({2, 2, 3, 3}, 601);
  Tensor h = x * 2.0;
  Tensor y = conv2d(h, w);
  add_(h, ones_like(h));
  CHECK_MOELAB_ERROR(y.sum().backward(), "conv2d");
  // Same for max_pool2d's saved indices.
  Tensor z = x * 1.0;
  auto [v, idx] = max_pool2d_with_indices(z, 2);
  idx.zero_();
  CHECK_MOELAB_ERROR(v.sum().backward(), "max_pool2d");
  // Argument errors are still raised before anything is recorded.
  CHECK_MOELAB_ERROR(conv2d(x, w, {}, 0), "conv2d: stride must be positive");
}
