// layer_norm, mse_loss and cross_entropy: values and gradients against PyTorch, and f64 first- and
// second-order finite differences.
#include "support/check.h"
#include "support/conformance.h"
#include "support/golden.h"

using namespace moelab;
using autograd::gradcheck;
using autograd::gradgradcheck;
using moelab::testing::check_close;
using moelab::testing::Golden;

namespace {
const Golden& golden() {
  return Golden::get("functional");
}
Tensor leaf(const Tensor& t) {
  Tensor l = moelab::testing::non_contiguous_copy(t.clone()).detach();
  l.requires_grad_();
  return l;
}
}  // namespace

TEST_CASE("autograd functional: layer_norm matches PyTorch and passes gradcheck and gradgradcheck") {
  Tensor x = leaf(golden()["ln.x"]), w = leaf(golden()["ln.w"]), b = leaf(golden()["ln.b"]);
  Tensor y = layer_norm(x, {3, 5}, w, b);
  check_close(y, golden()["ln.y"], 1e-10, 1e-12);
  y.backward(golden()["ln.gy"]);
  check_close(x.grad(), golden()["ln.dx"], 1e-9, 1e-11);
  check_close(w.grad(), golden()["ln.dw"], 1e-9, 1e-11);
  check_close(b.grad(), golden()["ln.db"], 1e-9, 1e-11);
  Tensor xs = leaf(golden()["ln.x"].narrow(0, 0, 2)), ws = leaf(golden()["ln.w"]), bs = leaf(golden()["ln.b"]);
  auto f = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{layer_norm(in[0], {3, 5}, in[1], in[2])}; };
  CHECK(gradcheck(f, {xs, ws, bs}));
  CHECK(gradgradcheck(f, {xs, ws, bs}));
  CHECK_MOELAB_ERROR(layer_norm(x, {4}), "layer_norm: normalized_shape [4] does not match the trailing dims of input [4, 3, 5]");
  CHECK_MOELAB_ERROR(layer_norm(x, {3, 5}, zeros({5}, kF64)), "layer_norm: weight of shape [5]");
}

TEST_CASE("autograd functional: mse_loss matches PyTorch and passes gradcheck and gradgradcheck") {
  Tensor a = leaf(golden()["mse.a"]);
  Tensor loss = mse_loss(a, golden()["mse.b"]);
  check_close(loss, golden()["mse.loss"], 1e-12, 1e-12);
  loss.backward();
  check_close(a.grad(), golden()["mse.da"], 1e-12, 1e-12);
  Tensor b = leaf(golden()["mse.b"]);
  auto f = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{mse_loss(in[0], in[1], "sum")}; };
  CHECK(gradcheck(f, {leaf(golden()["mse.a"]), b}));
  CHECK(gradgradcheck(f, {leaf(golden()["mse.a"]), b}));
  CHECK_MOELAB_ERROR(mse_loss(a, zeros({6}, kF64)), "mse_loss: input [6, 4] and target [6] differ in shape");
  CHECK_MOELAB_ERROR(mse_loss(a, a, "avg"), "mse_loss: reduction must be");
}

TEST_CASE("autograd functional: cross_entropy matches PyTorch and passes gradcheck and gradgradcheck") {
  Tensor logits = leaf(golden()["ce.logits"]);
  const Tensor& target = golden()["ce.target"];
  Tensor loss = cross_entropy(logits, target);
  check_close(loss, golden()["ce.loss"], 1e-12, 1e-12);
  check_close(cross_entropy(logits, target, "none"), golden()["ce.none"], 1e-12, 1e-12);
  loss.backward();
  check_close(logits.grad(), golden()["ce.dlogits"], 1e-10, 1e-12);
  auto f = [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{cross_entropy(in[0], target)}; };
  CHECK(gradcheck(f, {leaf(golden()["ce.logits"])}));
  CHECK(gradgradcheck(f, {leaf(golden()["ce.logits"])}));
  // One sample: [C] logits with a 0-d target.
  CHECK(cross_entropy(logits.select(0, 1), target.select(0, 1)).item<double>() ==
        doctest::Approx(golden()["ce.none"].select(0, 1).item<double>()).epsilon(1e-12));
  CHECK_MOELAB_ERROR(cross_entropy(logits, tensor<int64_t>({0, 7, 1, 1, 1})), "out of range");
  CHECK_MOELAB_ERROR(cross_entropy(logits, target.to(kF64)), "cross_entropy: target must hold class indices");
  CHECK_MOELAB_ERROR(cross_entropy(logits, target.narrow(0, 0, 3)), "cross_entropy: expected logits [N, C]");
}
