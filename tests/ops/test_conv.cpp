// conv2d, conv_transpose2d and pooling against PyTorch (tests/golden/gen_conv.py): forward and
// gradients, f32 and f64.
#include <string>
#include <vector>

#include "support/check.h"
#include "support/golden.h"

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::check_equal;

namespace {

const moelab::testing::Golden& golden() {
  static moelab::testing::Golden g("conv");
  return g;
}

Tensor opt(const std::string& name) { return golden().has(name) ? golden()[name] : Tensor(); }
std::vector<int64_t> params(const std::string& pre) { return golden()[pre + ".params"].to_vector<int64_t>(); }

struct Tol {
  double rtol, atol;
};
Tol tol(const std::string& dtype) { return dtype == "f32" ? Tol{1e-4, 1e-4} : Tol{1e-10, 1e-10}; }

const char* kDtypes[] = {"f32", "f64"};

}  // namespace

TEST_CASE("conv: conv2d forward and gradients match PyTorch") {
  for (const char* dt : kDtypes)
    for (const char* name : {"basic", "stride_pad_nobias", "dilation", "groups", "depthwise", "stride_remainder",
                             "one_by_one", "unbatched"}) {
      std::string pre = std::string(dt) + ".conv2d." + name;
      CAPTURE(pre);
      auto p = params(pre);
      Int2 s{p[0], p[1]}, pad{p[2], p[3]}, dil{p[4], p[5]};
      const Tensor& x = golden()[pre + ".x"];
      const Tensor& w = golden()[pre + ".w"];
      Tensor b = opt(pre + ".b");
      Tol t = tol(dt);
      check_close(conv2d(x, w, b, s, pad, dil, p[6]), golden()[pre + ".out"], t.rtol, t.atol);

      const Tensor& gy = golden()[pre + ".gy"];
      check_close(conv2d_backward_input(gy, w, x.shape(), s, pad, dil, p[6]), golden()[pre + ".gx"], t.rtol, t.atol);
      auto [gw, gb] = conv2d_backward_weight(gy, x, w.shape(), b.defined(), s, pad, dil, p[6]);
      check_close(gw, golden()[pre + ".gw"], t.rtol, t.atol);
      CHECK(gb.defined() == b.defined());
      if (b.defined()) check_close(gb, golden()[pre + ".gb"], t.rtol, t.atol);
    }
}

TEST_CASE("conv: conv_transpose2d forward and gradients match PyTorch") {
  for (const char* dt : kDtypes)
    for (const char* name : {"basic", "groups_dilation", "unbatched"}) {
      std::string pre = std::string(dt) + ".conv_transpose2d." + name;
      CAPTURE(pre);
      auto p = params(pre);
      Int2 s{p[0], p[1]}, pad{p[2], p[3]}, outpad{p[4], p[5]}, dil{p[6], p[7]};
      int64_t groups = p[8];
      const Tensor& x = golden()[pre + ".x"];
      const Tensor& w = golden()[pre + ".w"];
      Tensor b = opt(pre + ".b");
      Tol t = tol(dt);
      Tensor y = conv_transpose2d(x, w, b, s, pad, outpad, groups, dil);
      check_close(y, golden()[pre + ".out"], t.rtol, t.atol);
      // The adjoint: d/dx conv_transpose2d is conv2d with the same weight; d/dw swaps x and dy.
      const Tensor& gy = golden()[pre + ".gy"];
      // With output_padding >= stride conv2d gives extra trailing rows that belong to no input row.
      Tensor gx = conv2d(gy, w, {}, s, pad, dil, groups);
      const Tensor& gx_ref = golden()[pre + ".gx"];
      gx = gx.narrow(-2, 0, gx_ref.size(-2)).narrow(-1, 0, gx_ref.size(-1));
      check_close(gx, gx_ref, t.rtol, t.atol);
      auto [gw, gb] = conv2d_backward_weight(x, gy, w.shape(), false, s, pad, dil, groups);
      check_close(gw, golden()[pre + ".gw"], t.rtol, t.atol);
      if (b.defined()) {
        Tensor gyb = gy.dim() == 3 ? gy.unsqueeze(0) : gy;
        check_close(gyb.sum({0, 2, 3}), golden()[pre + ".gb"], t.rtol, t.atol);
      }
    }
}

TEST_CASE("conv: max_pool2d values, indices and gradient match PyTorch") {
  for (const char* dt : kDtypes)
    for (const char* name : {"basic", "ceil", "dilation", "ceil_pad", "unbatched", "ties_nan"}) {
      std::string pre = std::string(dt) + ".max_pool2d." + name;
      CAPTURE(pre);
      auto p = params(pre);
      Int2 k{p[0], p[1]}, s{p[2], p[3]}, pad{p[4], p[5]}, dil{p[6], p[7]};
      bool ceil = p[8] != 0;
      const Tensor& x = golden()[pre + ".x"];
      auto [v, idx] = max_pool2d_with_indices(x, k, s, pad, dil, ceil);
      check_close(v, golden()[pre + ".out"], 0, 0);  // a max is exact
      check_equal(idx, golden()[pre + ".out1"]);
      check_close(max_pool2d(x, k, s, pad, dil, ceil), golden()[pre + ".out"], 0, 0);
      Tol t = tol(dt);
      check_close(max_pool2d_backward(golden()[pre + ".gy"], x.shape(), idx), golden()[pre + ".gx"], t.rtol, t.atol);
    }
}

TEST_CASE("conv: avg_pool2d forward and gradient match PyTorch") {
  for (const char* dt : kDtypes)
    for (const char* name :
         {"basic", "exclude_pad", "ceil_include_pad", "ceil_exclude_pad", "divisor", "unbatched"}) {
      std::string pre = std::string(dt) + ".avg_pool2d." + name;
      CAPTURE(pre);
      auto p = params(pre);
      Int2 k{p[0], p[1]}, s{p[2], p[3]}, pad{p[4], p[5]};
      bool ceil = p[6] != 0, include_pad = p[7] != 0;
      std::optional<int64_t> divisor = p[8] ? std::optional<int64_t>(p[8]) : std::nullopt;
      const Tensor& x = golden()[pre + ".x"];
      Tol t = tol(dt);
      check_close(avg_pool2d(x, k, s, pad, ceil, include_pad, divisor), golden()[pre + ".out"], t.rtol, t.atol);
      check_close(avg_pool2d_backward(golden()[pre + ".gy"], x.shape(), k, s, pad, ceil, include_pad, divisor),
                  golden()[pre + ".gx"], t.rtol, t.atol);
    }
}

TEST_CASE("conv: adaptive_avg_pool2d forward and gradient match PyTorch") {
  for (const char* dt : kDtypes)
    for (const char* name : {"uneven", "global", "upsample", "unbatched"}) {
      std::string pre = std::string(dt) + ".adaptive_avg_pool2d." + name;
      CAPTURE(pre);
      auto p = params(pre);
      const Tensor& x = golden()[pre + ".x"];
      Tol t = tol(dt);
      check_close(adaptive_avg_pool2d(x, {p[0], p[1]}), golden()[pre + ".out"], t.rtol, t.atol);
      check_close(adaptive_avg_pool2d_backward(golden()[pre + ".gy"], x.shape()), golden()[pre + ".gx"], t.rtol,
                  t.atol);
    }
}

TEST_CASE("conv: non-contiguous inputs give the contiguous result") {
  for (const char* dt : kDtypes) {
    std::string pre = std::string(dt) + ".conv2d.groups";
    CAPTURE(pre);
    auto p = params(pre);
    const Tensor& x = golden()[pre + ".x"];
    const Tensor& w = golden()[pre + ".w"];
    const Tensor& b = golden()[pre + ".b"];
    // Same values through transposed storage, and a bias that is a strided slice.
    Tensor xt = x.transpose(2, 3).contiguous().transpose(2, 3);
    Tensor wt = w.permute({1, 0, 2, 3}).contiguous().permute({1, 0, 2, 3});
    Tensor b2 = zeros({b.size(0), 2}, b.dtype());
    b2.select(1, 0).copy_(b);
    REQUIRE_FALSE(xt.is_contiguous());
    REQUIRE_FALSE(wt.is_contiguous());
    Tol t = tol(dt);
    check_close(conv2d(xt, wt, b2.select(1, 0), {p[0], p[1]}, {p[2], p[3]}, {p[4], p[5]}, p[6]),
                golden()[pre + ".out"], t.rtol, t.atol);

    std::string mp = std::string(dt) + ".max_pool2d.basic";
    const Tensor& mx = golden()[mp + ".x"];
    check_close(max_pool2d(mx.transpose(2, 3).contiguous().transpose(2, 3), 3, 2, 1), golden()[mp + ".out"], 0, 0);
    std::string ap = std::string(dt) + ".avg_pool2d.basic";
    const Tensor& ax = golden()[ap + ".x"];
    check_close(avg_pool2d(ax.transpose(0, 1).contiguous().transpose(0, 1), 3, 2, 1), golden()[ap + ".out"], t.rtol,
                t.atol);
    // An expanded (stride-0) batch: every batch item equals the single-item result.
    Tensor one = x.narrow(0, 0, 1);
    Tensor y = conv2d(one.expand({3, -1, -1, -1}), w, b, {p[0], p[1]}, {p[2], p[3]}, {p[4], p[5]}, p[6]);
    Tensor y1 = conv2d(one, w, b, {p[0], p[1]}, {p[2], p[3]}, {p[4], p[5]}, p[6]);
    for (int64_t i = 0; i < 3; ++i) check_close(y.narrow(0, i, 1), y1, 0, 0);
  }
}
