// Expert FFNs (moe/experts.h): the fused SwiGLU gate, ExpertFFN on expert segments against plain
// per-expert matmuls, initialisation, gradients and errors.
#include <cmath>
#include <vector>

#include "autograd/grad_test_util.h"
#include "moe/expert_test_util.h"
#include "support/check.h"

using namespace moelab;
using namespace moelab::testing;
using moe::ExpertFFN;

TEST_CASE("moe experts: forward on segments equals a per-expert matmul loop") {
  manual_seed(3);
  const std::vector<int64_t> offs = {0, 4, 4, 9, 10, 10};  // experts 1 and 4 empty
  for (DType dt : {kF64, kF32})
    for (const char* act : {"relu", "gelu", "silu", "swiglu"}) {
      INFO(act << " in " << dt);
      ExpertFFN ex(5, 6, 8, act, dt);
      const Tensor xs = randn({10, 6}, dt);
      const Tensor y = ex(xs, offs);
      std::vector<Tensor> parts;
      for (int64_t e = 0; e < 5; ++e) parts.push_back(expert_ref(ex, e, xs.narrow(0, offs[e], offs[e + 1] - offs[e])));
      const double tol = dt == kF64 ? 1e-12 : 1e-5;
      check_close(y, cat(parts, 0), tol, tol);
      // A non-contiguous input gives the same result.
      check_close(ex(xs.t().contiguous().t(), offs), y, tol, tol);
      CHECK(ex(zeros({0, 6}, dt), {0, 0, 0, 0, 0, 0}).shape() == Shape{0, 6});
    }
}

TEST_CASE("moe experts: parameters, names and nn::Linear-style initialisation") {
  manual_seed(4);
  ExpertFFN sw(3, 16, 64);
  const auto sd = sw.state_dict();
  REQUIRE(sd.size() == 3);
  CHECK(sd.at("w1").shape() == Shape{3, 16, 64});
  CHECK(sd.at("w2").shape() == Shape{3, 64, 16});
  CHECK(sd.at("w3").shape() == Shape{3, 16, 64});
  CHECK(sw.parameters().size() == 3);
  CHECK(max(abs(sw.w1())).item<float>() <= 0.25f);         // 1/sqrt(16)
  CHECK(max(abs(sw.w1())).item<float>() > 0.2f);           // and spread over the range
  CHECK(max(abs(sw.w2())).item<float>() <= 0.125f);        // 1/sqrt(64)
  CHECK(max(abs(sw.w2())).item<float>() > 0.1f);
  CHECK(std::abs(mean(sw.w3()).item<float>()) < 0.02f);
  ExpertFFN relu_ex(2, 4, 5, "relu", kF64);
  CHECK(relu_ex.parameters().size() == 2);
  CHECK_FALSE(relu_ex.w3().defined());
  CHECK(relu_ex.w1().dtype() == kF64);
  // Fine-grained experts are only a smaller d_ff and more experts.
  ExpertFFN fine(3 * 4, 16, 64 / 4);
  CHECK(fine.w1().numel() == sw.w1().numel());
}

TEST_CASE("moe experts: gradcheck w.r.t. tokens and every weight") {
  manual_seed(5);
  const std::vector<int64_t> offs = {0, 2, 2, 5};
  for (const char* act : {"swiglu", "gelu", "relu"}) {
    INFO(act);
    ExpertFFN ex(3, 3, 4, act, kF64);
    const bool sw = std::string(act) == "swiglu";
    std::vector<Tensor> in = {strided_leaf64({5, 3}), ex.w1().detach().clone().requires_grad_(),
                              ex.w2().detach().clone().requires_grad_()};
    if (sw) in.push_back(ex.w3().detach().clone().requires_grad_());
    auto fn = [&](const std::vector<Tensor>& v) {
      std::map<std::string, Tensor> rep = {{"w1", v[1]}, {"w2", v[2]}};
      if (sw) rep["w3"] = v[3];
      return nn::functional_call(ex, rep, [&] { return ex(v[0], offs); });
    };
    CHECK(gradcheck1(fn, in));
    if (sw) CHECK(gradgradcheck1(fn, in));
  }
}

TEST_CASE("moe experts: errors") {
  CHECK_MOELAB_ERROR(ExpertFFN(0, 4, 4), "num_experts must be positive");
  CHECK_MOELAB_ERROR(ExpertFFN(2, 0, 4), "d_model must be positive");
  CHECK_MOELAB_ERROR(ExpertFFN(2, 4, 0), "d_ff must be positive");
  CHECK_MOELAB_ERROR(ExpertFFN(2, 4, 4, "tanh"), "activation must be");
  CHECK_MOELAB_ERROR(ExpertFFN(2, 4, 4, "relu", kI64), "dtype must be f32 or f64");
  ExpertFFN ex(2, 4, 3);
  CHECK_MOELAB_ERROR(ex(randn({3, 5}), {0, 1, 3}), "d_model = 4");
  CHECK_MOELAB_ERROR(ex(randn({3, 4}, kF64), {0, 1, 3}), "dtype");
  CHECK_MOELAB_ERROR(ex(randn({3, 4}), {0, 3}), "E + 1 = 3");
  CHECK_MOELAB_ERROR(ex(randn({3, 4}), {0, 1, 2}), "offsets[E] = 2");
  CHECK_MOELAB_ERROR(ex(randn({3, 4}), {0, 2, 1}), "non-decreasing");
}
