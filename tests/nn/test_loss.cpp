// Losses against PyTorch 1.13 (tests/golden/gen_loss.py): the value and the input gradients of
// every loss and option, in f64 (contiguous and non-contiguous inputs) and f32.
#include <cmath>
#include <functional>

#include "support/check.h"
#include "support/conformance.h"
#include "support/golden.h"

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::Golden;

namespace {

const Golden& golden() { return Golden::get("loss"); }

using LossFn = std::function<Tensor(const std::vector<Tensor>&, DType)>;

// Compares fn at the golden inputs NAME.<input> with NAME.out and, backpropagating NAME.gout, its
// input gradients with NAME.d<input>.
void check_loss(const std::string& name, const std::vector<std::string>& inputs, const LossFn& fn) {
  for (int mode = 0; mode < 3; ++mode) {
    const DType dt = mode == 2 ? kF32 : kF64;
    INFO((name + (mode == 0 ? " in f64" : mode == 1 ? " in f64, non-contiguous" : " in f32")));
    std::vector<Tensor> xs;
    for (const std::string& k : inputs) {
      Tensor t = golden()[name + "." + k].to(dt).clone();
      if (mode == 1) t = moelab::testing::non_contiguous_copy(t);
      t = t.detach();
      t.requires_grad_();
      xs.push_back(t);
    }
    Tensor out = fn(xs, dt);
    const double rtol = dt == kF64 ? 1e-10 : 1e-4, atol = dt == kF64 ? 1e-12 : 1e-5;
    check_close(out, golden()[name + ".out"].to(dt), rtol, atol);
    std::vector<Tensor> grads = autograd::grad({out}, xs, {golden()[name + ".gout"].to(dt)});
    for (size_t i = 0; i < inputs.size(); ++i) {
      INFO("gradient of " << inputs[i]);
      check_close(grads[i], golden()[name + ".d" + inputs[i]].to(dt), rtol, atol);
    }
  }
}

// A constant argument of a case (floating ones in the dtype under test).
Tensor arg(const std::string& name, const std::string& key, DType dt) {
  const Tensor& t = golden()[name + "." + key];
  return is_floating(t.dtype()) ? t.to(dt) : t;
}

const char* const kReductions[] = {"mean", "sum", "none"};

}  // namespace

TEST_CASE("nn loss: cross_entropy with class indices matches PyTorch for every option") {
  for (std::string red : kReductions) {
    const std::string_view r = red;
    std::string n = "ce.plain." + red;
    check_loss(n, {"x"}, [&](auto& x, DType) { return cross_entropy(x[0], arg(n, "t", kI64), {}, -100, r); });
    n = "ce.weight." + red;
    check_loss(n, {"x"}, [&](auto& x, DType dt) { return cross_entropy(x[0], arg(n, "t", dt), arg(n, "w", dt), -100, r); });
    n = "ce.ignore." + red;
    check_loss(n, {"x"}, [&](auto& x, DType dt) { return cross_entropy(x[0], arg(n, "t", dt), arg(n, "w", dt), -100, r); });
    n = "ce.ignore1." + red;
    check_loss(n, {"x"}, [&](auto& x, DType dt) { return cross_entropy(x[0], arg(n, "t", dt), {}, 1, r); });
    n = "ce.ls." + red;
    check_loss(n, {"x"}, [&](auto& x, DType dt) { return cross_entropy(x[0], arg(n, "t", dt), {}, -100, r, 0.2); });
    n = "ce.ls_weight." + red;
    check_loss(n, {"x"},
               [&](auto& x, DType dt) { return cross_entropy(x[0], arg(n, "t", dt), arg(n, "w", dt), -100, r, 0.3); });
    n = "ce.ls_weight_ign1." + red;
    check_loss(n, {"x"},
               [&](auto& x, DType dt) { return cross_entropy(x[0], arg(n, "t", dt), arg(n, "w", dt), 1, r, 0.3); });
    n = "ce.kdim." + red;
    check_loss(n, {"x"},
               [&](auto& x, DType dt) { return cross_entropy(x[0], arg(n, "t", dt), arg(n, "w", dt), -100, r, 0.1); });
    n = "ce.unbatched." + red;
    check_loss(n, {"x"}, [&](auto& x, DType dt) { return cross_entropy(x[0], arg(n, "t", dt), {}, -100, r, 0.1); });
    // i32 class indices work the same (PyTorch wants i64)
    n = "ce.ignore." + red;
    check_loss(n, {"x"}, [&](auto& x, DType dt) {
      return cross_entropy(x[0], arg(n, "t", dt).to(kI32), arg(n, "w", dt), -100, r);
    });
  }
  // The reduction-only shorthand, and all targets ignored: "mean" is 0 / 0 as in PyTorch.
  Tensor x = golden()["ce.plain.mean.x"], t = golden()["ce.plain.mean.t"];
  check_close(cross_entropy(x, t, "sum"), golden()["ce.plain.sum.out"], 1e-12, 1e-12);
  CHECK(std::isnan(golden()["ce.all_ignored.out"].item<float>()));
  CHECK(std::isnan(cross_entropy(x.narrow(0, 0, 2), tensor<int64_t>({-100, -100})).item<double>()));
}

TEST_CASE("nn loss: cross_entropy with class probabilities matches PyTorch") {
  for (std::string red : kReductions) {
    const std::string_view r = red;
    std::string n = "ce.prob." + red;
    check_loss(n, {"x", "p"}, [&](auto& x, DType) { return cross_entropy(x[0], x[1], {}, -100, r); });
    n = "ce.prob_weight_ls." + red;
    check_loss(n, {"x", "p"},
               [&](auto& x, DType dt) { return cross_entropy(x[0], x[1], arg(n, "w", dt), -100, r, 0.25); });
    n = "ce.kdim_prob." + red;
    check_loss(n, {"x", "p"},
               [&](auto& x, DType dt) { return cross_entropy(x[0], x[1], arg(n, "w", dt), -100, r, 0.1); });
    n = "ce.unbatched_prob." + red;
    check_loss(n, {"x", "p"}, [&](auto& x, DType) { return cross_entropy(x[0], x[1], {}, -100, r); });
  }
}

TEST_CASE("nn loss: nll_loss matches PyTorch") {
  for (std::string red : kReductions) {
    const std::string_view r = red;
    std::string n = "nll.weight_ignore." + red;
    check_loss(n, {"x"}, [&](auto& x, DType dt) { return nll_loss(x[0], arg(n, "t", dt), arg(n, "w", dt), -100, r); });
    n = "nll.kdim." + red;
    check_loss(n, {"x"}, [&](auto& x, DType dt) { return nll_loss(x[0], arg(n, "t", dt), {}, 2, r); });
  }
}

TEST_CASE("nn loss: binary_cross_entropy and binary_cross_entropy_with_logits match PyTorch") {
  for (std::string red : kReductions) {
    const std::string_view r = red;
    std::string n = "bce.plain." + red;
    check_loss(n, {"x", "t"}, [&](auto& x, DType) { return binary_cross_entropy(x[0], x[1], {}, r); });
    n = "bce.weight." + red;
    check_loss(n, {"x"},
               [&](auto& x, DType dt) { return binary_cross_entropy(x[0], arg(n, "t", dt), arg(n, "w", dt), r); });
    n = "bcel.plain." + red;
    check_loss(n, {"x", "t"}, [&](auto& x, DType) { return binary_cross_entropy_with_logits(x[0], x[1], {}, r); });
    n = "bcel.weight_pos." + red;
    check_loss(n, {"x", "t"}, [&](auto& x, DType dt) {
      return binary_cross_entropy_with_logits(x[0], x[1], arg(n, "w", dt), r, arg(n, "pw", dt));
    });
  }
  // Inputs at 0 and 1: the logs are clamped to -100 (a loss of 100 for the wrong end) and the
  // gradient is PyTorch's (x - t) / max(x (1 - x), 1e-12).
  check_loss("bce.edge", {"x"},
             [](auto& x, DType dt) { return binary_cross_entropy(x[0], arg("bce.edge", "t", dt), {}, "none"); });
}

TEST_CASE("nn loss: kl_div matches PyTorch with batchmean and log_target") {
  for (std::string red : {"mean", "sum", "none", "batchmean"}) {
    const std::string_view r = red;
    check_loss("kl." + red, {"x", "t"}, [&](auto& x, DType) { return kl_div(x[0], x[1], r); });
    check_loss("kl_log." + red, {"x", "t"}, [&](auto& x, DType) { return kl_div(x[0], x[1], r, true); });
  }
  // target 0 contributes 0 (xlogy), with a finite gradient
  Tensor t = tensor<double>({0.0, 1.0});
  t.requires_grad_();
  Tensor l = kl_div(tensor<double>({-1.0, -2.0}), t, "sum");
  CHECK(l.item<double>() == doctest::Approx(2.0));
  l.backward();
  CHECK(all(isfinite(t.grad())).item<bool>());
}

TEST_CASE("nn loss: mse, l1, smooth_l1 and huber match PyTorch") {
  for (std::string red : kReductions) {
    const std::string_view r = red;
    check_loss("mse." + red, {"x", "t"}, [&](auto& x, DType) { return mse_loss(x[0], x[1], r); });
    check_loss("l1." + red, {"x", "t"}, [&](auto& x, DType) { return l1_loss(x[0], x[1], r); });
    check_loss("smooth_l1." + red, {"x", "t"}, [&](auto& x, DType) { return smooth_l1_loss(x[0], x[1], r); });
    check_loss("smooth_l1_b05." + red, {"x", "t"}, [&](auto& x, DType) { return smooth_l1_loss(x[0], x[1], r, 0.5); });
    check_loss("smooth_l1_b0." + red, {"x", "t"}, [&](auto& x, DType) { return smooth_l1_loss(x[0], x[1], r, 0.0); });
    check_loss("huber." + red, {"x", "t"}, [&](auto& x, DType) { return huber_loss(x[0], x[1], r); });
    check_loss("huber_d25." + red, {"x", "t"}, [&](auto& x, DType) { return huber_loss(x[0], x[1], r, 2.5); });
  }
}

TEST_CASE("nn loss: cosine_similarity matches PyTorch, eps clamp and broadcasting included") {
  check_loss("cos.dim1", {"x1", "x2"}, [](auto& x, DType) { return cosine_similarity(x[0], x[1]); });
  check_loss("cos.dim0", {"x1", "x2"}, [](auto& x, DType) { return cosine_similarity(x[0], x[1], 0, 1e-3); });
  check_loss("cos.bcast", {"x1", "x2"}, [](auto& x, DType) { return cosine_similarity(x[0], x[1], -1); });
  check_loss("cos.bcast_dim", {"x1", "x2"}, [](auto& x, DType) { return cosine_similarity(x[0], x[1], 1); });
}

TEST_CASE("nn loss: cosine_embedding_loss and margin_ranking_loss match PyTorch") {
  for (std::string red : kReductions) {
    const std::string_view r = red;
    std::string n = "cosemb." + red;
    check_loss(n, {"x1", "x2"},
               [&](auto& x, DType dt) { return cosine_embedding_loss(x[0], x[1], arg(n, "y", dt), -0.2, r); });
    n = "cosemb_m." + red;
    check_loss(n, {"x1", "x2"},
               [&](auto& x, DType dt) { return cosine_embedding_loss(x[0], x[1], arg(n, "y", dt), 0.1, r); });
    n = "rank." + red;
    check_loss(n, {"x1", "x2"},
               [&](auto& x, DType dt) { return margin_ranking_loss(x[0], x[1], arg(n, "y", dt), 0.3, r); });
  }
  check_loss("cosemb.unbatched", {"x1", "x2"}, [](auto& x, DType dt) {
    return cosine_embedding_loss(x[0], x[1], arg("cosemb.unbatched", "y", dt));
  });
}

TEST_CASE("nn loss: info_nce matches the reference formula in all three modes") {
  for (std::string red : kReductions) {
    const std::string_view r = red;
    check_loss("nce.inbatch." + red, {"q", "p"}, [&](auto& x, DType) { return info_nce(x[0], x[1], {}, 0.1, r); });
    check_loss("nce.unpaired." + red, {"q", "p", "n"},
               [&](auto& x, DType) { return info_nce(x[0], x[1], x[2], 0.5, r); });
    check_loss("nce.paired." + red, {"q", "p", "n"},
               [&](auto& x, DType) { return info_nce(x[0], x[1], x[2], 0.1, r, "paired"); });
  }
}
