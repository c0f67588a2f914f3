// moe::grouped_swiglu_ffn: the SwiGLU expert FFN over dispatched rows as one primitive.
#include "autograd/grad_test_util.h"
#include "support/check.h"

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::leaf64;

namespace {
Tensor composed(const Tensor& xs, const Tensor& w1, const Tensor& w3, const Tensor& w2, const std::vector<int64_t>& o) {
  return moe::grouped_matmul(silu(moe::grouped_matmul(xs, w1, o)) * moe::grouped_matmul(xs, w3, o), w2, o);
}
}  // namespace

TEST_CASE("moe grouped_ffn: values and gradients equal the composition, an expert with no rows") {
  manual_seed(11);
  const std::vector<int64_t> offs{0, 3, 3, 9, 10};  // expert 1 empty
  for (DType dt : {kF32, kF64}) {
    INFO(dt);
    const Tensor x0 = randn({10, 6}, dt), a0 = randn({4, 6, 5}, dt), b0 = randn({4, 6, 5}, dt),
                 c0 = randn({4, 5, 6}, dt), g = randn({10, 6}, dt);
    std::vector<Tensor> p, q;
    for (const Tensor& t : {x0, a0, b0, c0}) {
      p.push_back(t.clone().requires_grad_());
      q.push_back(t.clone().requires_grad_());
    }
    const Tensor y = moe::grouped_swiglu_ffn(p[0], p[1], p[2], p[3], offs);
    const Tensor r = composed(q[0], q[1], q[2], q[3], offs);
    const double tol = dt == kF32 ? 1e-5 : 1e-12;
    check_close(y, r, tol);
    // The gradient reaches the op through a mul, as in a layer (combine's weights).
    (y * g).sum().backward();
    (r * g).sum().backward();
    for (int i = 0; i < 4; ++i) {
      INFO("input " << i);
      check_close(p[i].grad(), q[i].grad(), tol);
    }
    check_close(p[2].grad().select(0, 1), zeros({6, 5}, dt), 0.0);  // no rows: zero gradient
  }
}

TEST_CASE("moe grouped_ffn: gradcheck and gradgradcheck") {
  manual_seed(12);
  const std::vector<int64_t> offs{0, 2, 2, 5};
  auto fn = [offs](const std::vector<Tensor>& v) { return moe::grouped_swiglu_ffn(v[0], v[1], v[2], v[3], offs); };
  const std::vector<Tensor> in{leaf64({5, 3}), leaf64({3, 3, 4}), leaf64({3, 3, 4}), leaf64({3, 4, 3})};
  CHECK(moelab::testing::gradcheck1(fn, in));
  CHECK(moelab::testing::gradgradcheck1(fn, in));
  // A transposed weight view.
  Tensor w2t = randn({3, 3, 4}, kF64).transpose(1, 2);
  w2t.requires_grad_();
  CHECK(moelab::testing::gradcheck1(fn, {leaf64({5, 3}), leaf64({3, 3, 4}), leaf64({3, 3, 4}), w2t}));
}

TEST_CASE("moe grouped_ffn: no rows at all") {
  Tensor x = zeros({0, 3}).requires_grad_(), w1 = randn({2, 3, 4}).requires_grad_();
  Tensor w3 = randn({2, 3, 4}).requires_grad_(), w2 = randn({2, 4, 3}).requires_grad_();
  Tensor y = moe::grouped_swiglu_ffn(x, w1, w3, w2, {0, 0, 0});
  CHECK(y.shape() == Shape{0, 3});
  y.sum().backward();
  check_close(w1.grad(), zeros({2, 3, 4}), 0.0);
  CHECK(x.grad().shape() == Shape{0, 3});
}

TEST_CASE("moe grouped_ffn: errors") {
  const Tensor x = randn({4, 3}), w1 = randn({2, 3, 5}), w3 = randn({2, 3, 5}), w2 = randn({2, 5, 3});
  const std::vector<int64_t> o{0, 1, 4};
  CHECK_MOELAB_ERROR(moe::grouped_swiglu_ffn(randn({4}), w1, w3, w2, o), "xs must be [N, d]");
  CHECK_MOELAB_ERROR(moe::grouped_swiglu_ffn(x, w1, randn({2, 3, 4}), w2, o), "w3 must be [E = 2, 3, 5]");
  CHECK_MOELAB_ERROR(moe::grouped_swiglu_ffn(x, w1, w3, randn({2, 3, 5}), o), "w2 must be [E = 2, 5, 3]");
  CHECK_MOELAB_ERROR(moe::grouped_swiglu_ffn(x, w1, w3, w2.to(kF64), o), "w2 has dtype");
  CHECK_MOELAB_ERROR(moe::grouped_swiglu_ffn(x.to(kI64), w1, w3, w2, o), "must be f32 or f64");
  CHECK_MOELAB_ERROR(moe::grouped_swiglu_ffn(x, w1, w3, w2, {0, 1, 3}), "must equal the number of rows 4");
}
