// clip_grad_norm_ / clip_grad_value_ against torch.nn.utils (gen_optim.py), skipped grads, errors.
#include <cmath>
#include <limits>
#include <tuple>

#include "support/check.h"
#include "support/golden.h"

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::check_equal;
using moelab::testing::Golden;
using nn::utils::clip_grad_norm_;
using nn::utils::clip_grad_value_;

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

Tensor leaf(const Shape& shape, DType dtype = kF64) {
  Tensor t = zeros(shape, dtype);
  t.requires_grad_();
  return t;
}

// Parameters [4,3], [5] with the golden grads and [2] without one, as in gen_optim.py.
std::vector<Tensor> golden_params(const std::string& name, DType dtype) {
  const Golden& g = Golden::get("optim");
  std::vector<Tensor> ps = {leaf({4, 3}, dtype), leaf({5}, dtype), leaf({2}, dtype)};
  for (int i = 0; i < 2; ++i) ps[i].mutable_grad() = g["clip." + name + ".g" + std::to_string(i)].clone();
  return ps;
}

void check_clipped(const std::string& name, const std::vector<Tensor>& ps, double rtol, double atol) {
  const Golden& g = Golden::get("optim");
  for (int i = 0; i < 2; ++i) {
    INFO(name << " grad " << i);
    check_close(ps[i].grad(), g["clip." + name + ".c" + std::to_string(i)], rtol, atol);
  }
  CHECK_FALSE(ps[2].grad().defined());
}
}  // namespace

TEST_CASE("nn clip_grad: clip_grad_norm_ matches torch.nn.utils.clip_grad_norm_") {
  struct C {
    const char* name;
    double max_norm, norm_type;
    DType dtype;
  };
  for (const C& c : {C{"norm2", 1.0, 2.0, kF64}, C{"norm2_f32", 1.0, 2.0, kF32}, C{"norm2_noclip", 100.0, 2.0, kF64},
                     C{"norm1", 2.0, 1.0, kF64}, C{"norm_inf", 0.5, kInf, kF64}, C{"norm_inf_f32", 0.5, kInf, kF32},
                     C{"norm3_5", 0.7, 3.5, kF64}}) {
    SUBCASE(c.name) {
      auto ps = golden_params(c.name, c.dtype);
      const Tensor g0 = ps[0].grad();
      Tensor total = clip_grad_norm_(ps, c.max_norm, c.norm_type);
      const double rtol = c.dtype == kF64 ? 1e-12 : 1e-6;
      check_close(total, Golden::get("optim")["clip." + std::string(c.name) + ".total"], rtol, 0);
      check_clipped(c.name, ps, rtol, c.dtype == kF64 ? 1e-15 : 1e-7);
      CHECK(ps[0].grad().is_same(g0));  // in place
    }
  }
}

TEST_CASE("nn clip_grad: clip_grad_value_ matches torch.nn.utils.clip_grad_value_") {
  for (auto [name, v, dtype] : {std::tuple{"value", 0.5, kF64}, std::tuple{"value_f32", 0.25, kF32}}) {
    auto ps = golden_params(name, dtype);
    clip_grad_value_(ps, v);
    check_clipped(name, ps, 0, 0);
  }
}

TEST_CASE("nn clip_grad: the coefficient is min(1, max_norm / (total + 1e-6))") {
  Tensor a = leaf({2});
  Tensor b = leaf({1});
  a.mutable_grad() = tensor<double>({3.0, 0.0});
  b.mutable_grad() = tensor<double>({4.0});
  Tensor total = clip_grad_norm_({a, b}, 1.0);
  CHECK(total.dtype() == kF64);
  CHECK(total.dim() == 0);
  CHECK(total.item<double>() == doctest::Approx(5.0).epsilon(1e-15));
  const double coef = 1.0 / (5.0 + 1e-6);
  check_close(a.grad(), tensor<double>({3.0 * coef, 0.0}), 1e-15, 0);
  check_close(b.grad(), tensor<double>({4.0 * coef}), 1e-15, 0);
  // Already within max_norm: multiplied by exactly 1.
  Tensor before = a.grad().clone();
  clip_grad_norm_({a, b}, 10.0);
  check_equal(a.grad(), before);
  // Non-contiguous grads are scaled through their strides.
  Tensor w = leaf({3, 2});
  Tensor gt = tensor<double>({{1.0, 2.0, 2.0}, {0.0, 0.0, 0.0}});
  w.mutable_grad() = gt.t();
  REQUIRE_FALSE(w.grad().is_contiguous());
  clip_grad_norm_({w}, 1.5);
  check_close(gt, tensor<double>({{0.5, 1.0, 1.0}, {0.0, 0.0, 0.0}}), 1e-6, 0);
  clip_grad_value_({w}, 0.75);
  check_close(gt, tensor<double>({{0.5, 0.75, 0.75}, {0.0, 0.0, 0.0}}), 1e-6, 0);
}

TEST_CASE("nn clip_grad: grads are not recorded, mixed dtypes promote, no grads give 0") {
  Tensor a = tensor<float>({1.5f, 0.0f});
  a.requires_grad_();
  Tensor b = leaf({2}, kF64);
  (a * a).sum().backward(Tensor(), false, /*create_graph=*/true);  // a grad with history: {3, 0}
  REQUIRE(a.grad().requires_grad());
  b.mutable_grad() = tensor<double>({0.0, 4.0});
  Tensor total = clip_grad_norm_({a, b}, 2.5);
  CHECK(total.dtype() == kF64);
  CHECK(total.item<double>() == doctest::Approx(5.0));
  CHECK_FALSE(total.requires_grad());
  check_close(a.grad(), tensor<float>({1.5f, 0.0f}), 1e-6, 0);
  check_close(b.grad(), tensor<double>({0.0, 2.0}), 1e-6, 0);
  a.mutable_grad() = Tensor();  // a grad with history references its leaf: break the cycle
  // Nothing to clip.
  Tensor c = leaf({2});
  Tensor z = clip_grad_norm_({c}, 1.0);
  check_equal(z, scalar(0.0f));
  clip_grad_value_({c}, 1.0);
  CHECK_FALSE(c.grad().defined());
  // Empty grads contribute 0.
  Tensor e = leaf({0});
  e.mutable_grad() = zeros({0}, kF64);
  c.mutable_grad() = tensor<double>({0.0, 2.0});
  CHECK(clip_grad_norm_({e, c}, 1.0, kInf).item<double>() == 2.0);
}

TEST_CASE("nn clip_grad: non-finite norms and invalid arguments") {
  Tensor a = leaf({2});
  a.mutable_grad() = tensor<double>({1.0, kInf});
  CHECK_MOELAB_ERROR(clip_grad_norm_({a}, 1.0, 2.0, /*error_if_nonfinite=*/true),
                     "clip_grad_norm_: the total norm of order 2 for gradients from `parameters` is non-finite");
  check_equal(a.grad(), tensor<double>({1.0, kInf}));  // unchanged
  // As PyTorch without the check: scaled by max_norm / inf = 0 (inf * 0 = nan).
  Tensor total = clip_grad_norm_({a}, 1.0);
  CHECK(std::isinf(total.item<double>()));
  CHECK(a.grad().to_vector<double>()[0] == 0.0);
  CHECK(std::isnan(a.grad().to_vector<double>()[1]));
  a.mutable_grad() = tensor<double>({1.0, std::nan("")});
  CHECK_MOELAB_ERROR(clip_grad_norm_({a}, 1.0, kInf, true), "total norm of order inf");
  CHECK_MOELAB_ERROR(clip_grad_norm_({a}, 1.0, 0.0), "clip_grad_norm_: norm_type must be positive");
  CHECK_MOELAB_ERROR(clip_grad_norm_({a}, 1.0, -2.0), "norm_type must be positive");
  CHECK_MOELAB_ERROR(clip_grad_norm_({Tensor()}, 1.0), "clip_grad_norm_: parameter 0 is undefined");
  CHECK_MOELAB_ERROR(clip_grad_value_({a, Tensor()}, 1.0), "clip_grad_value_: parameter 1 is undefined");
}
