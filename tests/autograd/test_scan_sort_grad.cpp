// Gradients of cumsum, cumprod, sort and topk values, and the random ops (which never record).
#include "support/check.h"
#include "support/golden.h"

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::Golden;

namespace {
const Golden& golden() {
  static const Golden g("sort_scan_grad");
  return g;
}

Tensor leaf(const Tensor& t) {
  Tensor l = t.detach().clone();
  l.requires_grad_();
  return l;
}

std::string key(const char* name, int d, const char* tag) {
  return std::string(name) + "_" + std::to_string(d) + "." + tag;
}

using Fn1 = std::function<Tensor(const Tensor&)>;
}  // namespace

TEST_CASE("autograd scan/sort: golden gradients vs PyTorch along every dim, f32 and f64") {
  for (const char* tag : {"f32", "f64"}) {
    CAPTURE(tag);
    const double tol = std::string(tag) == "f32" ? 1e-5 : 1e-12;
    Tensor g = golden()[std::string("g.") + tag];
    for (int d = 0; d < 3; ++d) {
      CAPTURE(d);
      const std::pair<const char*, Fn1> ops[] = {
          {"cumsum", [d](const Tensor& t) { return cumsum(t, d); }},
          {"cumprod", [d](const Tensor& t) { return cumprod(t * 0.5, d); }},
          {"sort", [d](const Tensor& t) { return std::get<0>(sort(t, d)); }},
          {"sort_desc", [d](const Tensor& t) { return std::get<0>(sort(t, d, true)); }},
      };
      for (const auto& [name, fn] : ops) {
        CAPTURE(name);
        Tensor x = leaf(golden()[std::string("x.") + tag]);
        fn(x).backward(g);
        check_close(x.grad(), golden()[key(name, d, tag)], tol, tol);
      }
    }
    const std::tuple<const char*, const char*, Fn1> topks[] = {
        {"topk_2", "gk", [](const Tensor& t) { return std::get<0>(topk(t, 2)); }},
        {"topk_2_small", "gk", [](const Tensor& t) { return std::get<0>(topk(t, 2, -1, false)); }},
        {"topk_2_dim0", "gk0", [](const Tensor& t) { return std::get<0>(topk(t, 2, 0)); }},
    };
    for (const auto& [name, gname, fn] : topks) {
      CAPTURE(name);
      Tensor x = leaf(golden()[std::string("x.") + tag]);
      fn(x).backward(golden()[std::string(gname) + "." + tag]);
      check_close(x.grad(), golden()[std::string(name) + "." + tag], tol, tol);
    }
    // cumprod through zeros (one zero, two zeros, a leading zero, none): the exact gradient.
    Tensor xz = leaf(golden()[std::string("xz.") + tag]);
    cumprod(xz, 1).backward(golden()[std::string("gz.") + tag]);
    check_close(xz.grad(), golden()[std::string("cumprod_zeros.") + tag], tol, tol);
  }
}

TEST_CASE("autograd scan/sort: gradcheck and gradgradcheck on non-contiguous inputs along different dims") {
  manual_seed(5);
  Tensor x = leaf(randn({4, 3, 2}, kF64));
  Tensor w = randn({2, 3, 4}, kF64);  // weights make every output element matter differently
  for (int64_t d : {0, 1, -1}) {
    CAPTURE(d);
    const std::pair<const char*, Fn1> ops[] = {
        {"cumsum", [d](const Tensor& t) { return cumsum(t, d); }},
        {"cumprod", [d](const Tensor& t) { return cumprod(t, d); }},
        {"sort", [d](const Tensor& t) { return std::get<0>(sort(t, d)); }},
        {"sort_desc", [d](const Tensor& t) { return std::get<0>(sort(t, d, true)); }},
        {"topk", [d](const Tensor& t) { return std::get<0>(topk(t, 2, d)); }},
    };
    for (const auto& [name, fn] : ops) {
      CAPTURE(name);
      auto f = [&fn](const std::vector<Tensor>& in) { return std::vector<Tensor>{fn(in[0].transpose(0, 2))}; };
      CHECK(autograd::gradcheck(f, {x}));
      CHECK(autograd::gradgradcheck(f, {x}));
    }
  }
  // A sliced leaf and an expanded input (its gradient sums over the broadcast dim).
  Tensor base = randn({6, 5}, kF64);
  Tensor sliced = base.slice(1, 0, 5, 2);
  sliced.requires_grad_();
  Tensor row = leaf(randn({1, 5}, kF64));
  const std::pair<const char*, Fn1> ops[] = {
      {"cumsum", [](const Tensor& t) { return cumsum(t, 1); }},
      {"cumprod", [](const Tensor& t) { return cumprod(t, 1); }},
      {"sort", [](const Tensor& t) { return std::get<0>(sort(t, 1)); }},
      {"topk", [](const Tensor& t) { return std::get<0>(topk(t, 2, 1, false)); }},
  };
  for (const auto& [name, fn] : ops) {
    CAPTURE(name);
    auto f = [&fn](const std::vector<Tensor>& in) { return std::vector<Tensor>{fn(in[0])}; };
    CHECK(autograd::gradcheck(f, {sliced}));
    CHECK(autograd::gradgradcheck(f, {sliced}));
    auto fe = [&fn](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{fn(in[0].expand({3, 5}) * arange(1, 16).to(kF64).reshape({3, 5}))};
    };
    CHECK(autograd::gradcheck(fe, {row}));
    CHECK(autograd::gradgradcheck(fe, {row}));
  }
}

TEST_CASE("autograd scan/sort: cumprod with zeros, first and second order") {
  // Rows: one zero, a leading zero, a trailing zero. gradgradcheck is exact for one zero a slice.
  Tensor x = leaf(tensor({{0.5, 0.0, 2.0, -1.5}, {0.0, 2.0, -1.0, 1.5}, {1.2, 0.7, -2.0, 0.0}}));
  auto f = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{cumprod(in[0], 1)}; };
  CHECK(autograd::gradcheck(f, {x}));
  CHECK(autograd::gradgradcheck(f, {x}));
  // Two zeros in a slice: first order is exact, second order is refused with a clear error.
  Tensor x2 = leaf(tensor({{1.5, 0.0, 2.0, 0.0, 0.5}}));
  CHECK(autograd::gradcheck(f, {x2}));
  Tensor dx = autograd::grad({cumprod(x2, 1).sum()}, {x2})[0];
  check_close(dx, tensor({{1.0, 1.5 * (1 + 2), 0.0, 0.0, 0.0}}));
  CHECK_MOELAB_ERROR(autograd::grad({cumprod(x2, 1).sum()}, {x2}, {}, std::nullopt, true),
                     "cumprod: double backward through a slice with two or more zeros");
}

TEST_CASE("autograd scan/sort: dtype conversions, 0-d, size-1 and empty inputs") {
  // cumsum(dtype=f64) of an f32 leaf: the gradient comes back as f32.
  Tensor x32 = leaf(tensor({1.0f, 2.0f, 3.0f}));
  cumsum(x32, 0, kF64).backward(tensor({1.0, 1.0, 1.0}));
  CHECK(x32.grad().dtype() == kF32);
  check_close(x32.grad(), tensor({3.0f, 2.0f, 1.0f}));
  // 0-d: the ops are the identity.
  Tensor s = leaf(scalar_tensor(2.5, kF64));
  (cumsum(s, 0) + cumprod(s, 0) + std::get<0>(sort(s, 0)) + std::get<0>(topk(s, 1, 0))).backward();
  check_close(s.grad(), scalar_tensor(4.0, kF64));
  // topk(k=0) of a 0-d tensor still returns the element (as PyTorch does), so it gets the gradient.
  Tensor s0 = leaf(scalar_tensor(2.5, kF64));
  auto [v0, i0] = topk(s0, 0, 0);
  CHECK(v0.item<double>() == 2.5);
  CHECK(i0.item<int64_t>() == 0);
  v0.sum().backward();
  check_close(s0.grad(), scalar_tensor(1.0, kF64));
  // Size-1 dims and empty tensors.
  Tensor one = leaf(randn({3, 1}, kF64));
  (cumprod(one, 1) + std::get<0>(sort(one, 1))).sum().backward();
  check_close(one.grad(), full({3, 1}, 2.0, kF64));
  Tensor e = leaf(zeros({0, 3}, kF64));
  (cumsum(e, 1).sum() + cumprod(e, 0).sum() + std::get<0>(sort(e, 1)).sum() + std::get<0>(topk(e, 1, 1)).sum())
      .backward();
  CHECK(e.grad().shape() == Shape{0, 3});
  // Indices carry no gradient; argsort does not record.
  Tensor y = leaf(tensor({3.0, 1.0, 2.0}));
  auto [v, i] = sort(y);
  CHECK(v.requires_grad());
  CHECK(!i.requires_grad());
  CHECK(!argsort(y).requires_grad());
  CHECK(!std::get<0>(unique(y)).requires_grad());
}

TEST_CASE("autograd scan/sort: topk routes the gradient to the selected entries, ties by lowest index") {
  Tensor x = leaf(tensor({{1.0, 3.0, 3.0, 2.0}, {0.5, -1.0, 4.0, 0.0}}));
  auto [v, i] = topk(x, 2);
  (v * tensor({{10.0, 1.0}, {10.0, 1.0}})).sum().backward();
  check_close(x.grad(), tensor({{0.0, 10.0, 1.0, 0.0}, {1.0, 0.0, 10.0, 0.0}}));
}

TEST_CASE("autograd scan/sort: modifying the indices of sort in place is an error naming the op") {
  Tensor x = leaf(tensor({3.0, 1.0, 2.0}));
  auto [v, i] = sort(x);
  Tensor z = v * 2.0;
  i.fill_(0);
  CHECK_MOELAB_ERROR(z.sum().backward(), "sort");
}

TEST_CASE("autograd scan/sort: random ops never record") {
  manual_seed(7);
  Tensor p = leaf(full({4}, 0.5, kF64));
  CHECK(!bernoulli(p).requires_grad());
  CHECK(!bernoulli(p, 0.3).requires_grad());
  CHECK(!multinomial(p, 2).requires_grad());
  CHECK(!rand_like(p).requires_grad());
  CHECK(!randn_like(p).requires_grad());
  CHECK(!rand({3}, kF64).requires_grad());
  // An in-place fill of a leaf that requires grad is refused; of a non-leaf it ends the history.
  CHECK_MOELAB_ERROR(normal_(p), "normal_");
  CHECK_MOELAB_ERROR(uniform_(p), "uniform_");
  Tensor h = p * 2.0;
  uniform_(h);
  (h * p).sum().backward();
  // d/dp sum(h * p) with h a constant after uniform_: h itself (no path through the old h = 2p).
  check_close(p.grad(), h.detach());
  {
    NoGradGuard no_grad;
    normal_(p);  // optimizers' style of update is fine
  }
}
