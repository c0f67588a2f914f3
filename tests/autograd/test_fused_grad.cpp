// Fused gradient primitives that replace chains of elementwise ops in backward formulas.
#include <moelab/moelab.h>

#include <cmath>

#include "autograd/grad_test_util.h"

using namespace moelab;
using namespace moelab::testing;

TEST_CASE("elementwise grad: relu_backward is grad where out > 0") {
  for (DType dt : {kF32, kF64}) {
    Tensor g = tensor<double>({1, 2, 3, 4, 5, 6}).to(dt);
    Tensor out = tensor<double>({0, 1.5, -2, 0, 3, std::nan("")}).to(dt);
    check_close(relu_backward(g, out), tensor<double>({0, 2, 0, 0, 5, 0}).to(dt));
  }
  // Broadcasting and non-contiguous operands.
  Tensor g = randn({3, 4}, kF64).t(), out = relu(randn({4, 1}, kF64));
  check_close(relu_backward(g, out), where(out > 0.0, g, zeros_like(g)), 0, 0);
  CHECK(relu_backward(zeros({0, 3}), zeros({0, 3})).shape() == Shape{0, 3});
}

TEST_CASE("elementwise grad: relu_backward gradcheck and relu gradgradcheck") {
  manual_seed(21);
  Tensor g = leaf64({3, 5}), out = relu(randn({3, 5}, kF64));
  CHECK(gradcheck1([&](const std::vector<Tensor>& t) { return relu_backward(t[0], out); }, {g}));
  CHECK(gradgradcheck1([&](const std::vector<Tensor>& t) { return relu_backward(t[0], out); }, {g}));
  // relu's own derivatives through it (inputs kept away from the kink at 0).
  Tensor x = (randn({4, 3}, kF64) + 0.1 * sign(randn({4, 3}, kF64))).detach();
  x.requires_grad_();
  CHECK(gradcheck1([](const std::vector<Tensor>& t) { return relu(t[0]) * t[0]; }, {x}));
  CHECK(gradgradcheck1([](const std::vector<Tensor>& t) { return relu(t[0]) * t[0]; }, {x}));
}

TEST_CASE("elementwise grad: relu_backward errors") {
  CHECK_MOELAB_ERROR(relu_backward(ones({2, 3}), ones({4})), "relu_backward");
  CHECK_MOELAB_ERROR(relu_backward(ones({2}, kBool), ones({2}, kBool)), "relu_backward: arithmetic on bool");
}
