// MoE auxiliary losses against the reference implementations in tests/golden/gen_moe_losses.py
// (Megatron per-k, HF Mixtral all-k with its attention mask, DeepSpeed first choice, Megatron z-loss,
// davidmrau cv_squared), with gradients w.r.t. the router logits through softmax.
#include <string>
#include <vector>

#include "autograd/grad_test_util.h"
#include "support/check.h"
#include "support/golden.h"

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::Golden;
using moe::LoadBalanceNorm;

namespace {

const Golden& golden() { return Golden::get("moe_losses"); }

constexpr LoadBalanceNorm kNorms[] = {LoadBalanceNorm::kPerK, LoadBalanceNorm::kAllK, LoadBalanceNorm::kFirstChoice};

double tol(DType dt) { return dt == kF64 ? 1e-12 : 2e-6; }

// A leaf copy of a golden tensor in dtype dt.
Tensor leaf(const Tensor& t, DType dt) {
  Tensor x = t.to(dt).clone();
  x.requires_grad_();
  return x;
}

// Token-balanced routing: token t picks experts t, t+1, ..., t+k-1 (mod E), so with T a multiple
// of E every slot (the first choice included) sends T / E tokens to each expert.
Tensor balanced_ids(int64_t T, int64_t E, int64_t k) {
  std::vector<int64_t> v;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < k; ++j) v.push_back((t + j) % E);
  return from_vector(v, {T, k});
}

Tensor lb(const Tensor& logits, const Tensor& ids, LoadBalanceNorm norm, const Tensor& mask = Tensor()) {
  return moe::switch_load_balancing_loss(softmax(logits, 1), ids, norm, mask);
}

}  // namespace

TEST_CASE("moe aux losses: load balancing matches Megatron, HF Mixtral and DeepSpeed with gradients") {
  for (int64_t E : {4, 8})
    for (int64_t k : {1, 2})
      for (const char* m : {"nomask", "mask"}) {
        const std::string name = "lb.E" + std::to_string(E) + ".k" + std::to_string(k) + "." + m;
        const Tensor& ids = golden()[name + ".ids"];
        const Tensor mask = std::string(m) == "mask" ? golden()[name + ".mask"] : Tensor();
        for (LoadBalanceNorm norm : kNorms)
          for (DType dt : {kF64, kF32}) {
            const std::string key = name + "." + std::string(moe::to_string(norm));
            INFO(key << " in " << dt);
            Tensor logits = leaf(golden()[name + ".logits"], dt);
            Tensor loss = lb(logits, ids, norm, mask);
            CHECK(loss.dim() == 0);
            check_close(loss, golden()[key + ".loss"].to(dt), tol(dt), tol(dt));
            loss.backward();
            check_close(logits.grad(), golden()[key + ".dlogits"].to(dt), tol(dt), tol(dt));
          }
      }
}

TEST_CASE("moe aux losses: all-k is k times per-k, and first choice equals per-k for k = 1") {
  for (int64_t k : {1, 2, 3}) {
    INFO("k = " << k);
    Tensor probs = softmax(randn({20, 6}, kF64), 1);
    Tensor ids = std::get<1>(topk(probs, k, 1));
    Tensor mask = rand({20}, kF64) > 0.3;
    for (const Tensor& msk : {Tensor(), mask}) {
      Tensor per_k = moe::switch_load_balancing_loss(probs, ids, LoadBalanceNorm::kPerK, msk);
      Tensor all_k = moe::switch_load_balancing_loss(probs, ids, LoadBalanceNorm::kAllK, msk);
      Tensor first = moe::switch_load_balancing_loss(probs, ids, LoadBalanceNorm::kFirstChoice, msk);
      check_close(all_k, per_k * static_cast<double>(k), 1e-12, 1e-12);
      // first choice = per-k computed on slot 0 alone
      Tensor first_as_k1 =
          moe::switch_load_balancing_loss(probs, ids.narrow(1, 0, 1), LoadBalanceNorm::kPerK, msk);
      check_close(first, first_as_k1, 1e-12, 1e-12);
      if (k == 1) check_close(first, per_k, 1e-12, 1e-12);
    }
  }
}

TEST_CASE("moe aux losses: values at perfect balance are 1 for per-k, k for all-k, 1 for first choice") {
  for (int64_t E : {4, 8})
    for (int64_t k : {1, 2}) {
      INFO("E = " << E << ", k = " << k);
      const int64_t T = 3 * E;
      Tensor ids = balanced_ids(T, E, k);
      // Balanced counts give these values whatever the probabilities (sum_e P_e = 1), uniform or not.
      for (const Tensor& probs : {full({T, E}, 1.0 / static_cast<double>(E), kF32), softmax(randn({T, E}), 1)}) {
        Tensor ones_mask = ones({T}, kBool);
        for (const Tensor& msk : {Tensor(), ones_mask}) {
          CHECK(moe::switch_load_balancing_loss(probs, ids, LoadBalanceNorm::kPerK, msk).item<float>() ==
                doctest::Approx(1.0).epsilon(1e-6));
          CHECK(moe::switch_load_balancing_loss(probs, ids, LoadBalanceNorm::kAllK, msk).item<float>() ==
                doctest::Approx(static_cast<double>(k)).epsilon(1e-6));
          CHECK(moe::switch_load_balancing_loss(probs, ids, LoadBalanceNorm::kFirstChoice, msk).item<float>() ==
                doctest::Approx(1.0).epsilon(1e-6));
        }
      }
      // Collapse onto expert 0 with all mass on it: the maximum E (per-k, first choice).
      Tensor collapsed = zeros({T, E});
      collapsed.select(1, 0).fill_(1.0);
      Tensor ids0 = zeros({T, 1}, kI64);
      CHECK(moe::switch_load_balancing_loss(collapsed, ids0, LoadBalanceNorm::kPerK).item<float>() ==
            doctest::Approx(static_cast<double>(E)));
    }
}

TEST_CASE("moe aux losses: the gradient flows through the probabilities only, counts are constants") {
  // d loss / d p[t,e] = E * c_e / (k T^2) for per-k: the counts enter as constants.
  const int64_t T = 7, E = 5, k = 2;
  Tensor probs = softmax(randn({T, E}, kF64), 1).detach();
  probs.requires_grad_();
  Tensor ids = std::get<1>(topk(probs.detach(), k, 1));
  moe::switch_load_balancing_loss(probs, ids, LoadBalanceNorm::kPerK).backward();
  Tensor counts = bincount(ids.reshape({T * k}), Tensor(), E).to(kF64);
  Tensor expected = (counts * (static_cast<double>(E) / (k * T * T))).unsqueeze(0).expand({T, E});
  check_close(probs.grad(), expected, 1e-12, 1e-14);
  // A masked-out token gets no gradient and does not change the value.
  probs.mutable_grad() = Tensor();
  Tensor mask = ones({T}, kBool);
  mask.narrow(0, 2, 1).fill_(false);
  moe::switch_load_balancing_loss(probs, ids, LoadBalanceNorm::kAllK, mask).backward();
  check_close(probs.grad().select(0, 2), zeros({E}, kF64));
  CHECK(probs.grad().select(0, 1).abs().sum().item<double>() > 0);
}

TEST_CASE("moe aux losses: empty batches and all-masked batches give 0 with a zero gradient") {
  for (LoadBalanceNorm norm : kNorms) {
    INFO(moe::to_string(norm));
    Tensor logits = zeros({0, 4}, kF64);
    logits.requires_grad_();
    Tensor loss = lb(logits, zeros({0, 2}, kI64), norm);
    CHECK(loss.item<double>() == 0.0);
    loss.backward();
    CHECK(logits.grad().shape() == Shape{0, 4});
    Tensor l2 = randn({3, 4}, kF64);
    l2.requires_grad_();
    Tensor masked = lb(l2, std::get<1>(topk(l2.detach(), 2, 1)), norm, zeros({3}, kBool));
    CHECK(masked.item<double>() == 0.0);
    masked.backward();
    check_close(l2.grad(), zeros({3, 4}, kF64));
  }
  Tensor z = zeros({0, 4});
  z.requires_grad_();
  Tensor zl = moe::router_z_loss(z);
  CHECK(zl.item<float>() == 0.0f);
  zl.backward();
  CHECK(moe::importance_loss(zeros({0, 4})).item<float>() == 0.0f);
}

TEST_CASE("moe aux losses: non-contiguous probabilities, ids and mask") {
  const int64_t T = 9, E = 4, k = 2;
  Tensor probs_t = softmax(randn({E, T}, kF64), 0);  // [E, T]: its transpose is a strided [T, E]
  Tensor probs = probs_t.t();
  REQUIRE_FALSE(probs.is_contiguous());
  Tensor wide = std::get<1>(topk(probs, 2 * k, 1));
  Tensor ids = wide.slice(1, 0, std::nullopt, 2);  // every other column: strided [T, k]
  REQUIRE_FALSE(ids.is_contiguous());
  Tensor mask = (rand({2 * T}) > 0.3).slice(0, 0, std::nullopt, 2);
  for (LoadBalanceNorm norm : kNorms)
    for (const Tensor& msk : {Tensor(), mask}) {
      INFO(moe::to_string(norm));
      check_close(moe::switch_load_balancing_loss(probs, ids, norm, msk),
                  moe::switch_load_balancing_loss(probs.contiguous(), ids.contiguous(), norm,
                                                  msk.defined() ? msk.contiguous() : msk),
                  1e-12, 1e-14);
    }
  Tensor logits = randn({E, T}).t();
  check_close(moe::router_z_loss(logits), moe::router_z_loss(logits.contiguous()));
  check_close(moe::importance_loss(logits), moe::importance_loss(logits.contiguous()));
  Tensor load = rand({2 * E}).slice(0, 0, std::nullopt, 2);
  check_close(moe::load_loss(load), moe::load_loss(load.contiguous()));
}

TEST_CASE("moe aux losses: f64 gradcheck and gradgradcheck through softmax") {
  using moelab::testing::gradcheck1;
  using moelab::testing::gradgradcheck1;
  const int64_t T = 6, E = 4;
  Tensor logits = moelab::testing::leaf64({T, E});
  Tensor mask = from_vector(std::vector<int64_t>{1, 0, 1, 1, 0, 1}, {T}) > 0;
  for (int64_t k : {1, 2}) {
    Tensor ids = std::get<1>(topk(logits.detach(), k, 1));
    for (LoadBalanceNorm norm : kNorms)
      for (const Tensor& msk : {Tensor(), mask}) {
        INFO(moe::to_string(norm) << ", k = " << k << ", masked = " << msk.defined());
        auto fn = [&](const std::vector<Tensor>& xs) { return lb(xs[0], ids, norm, msk); };
        CHECK(gradcheck1(fn, {logits}));
        CHECK(gradgradcheck1(fn, {logits}));
      }
  }
  auto z = [](const std::vector<Tensor>& xs) { return moe::router_z_loss(xs[0]); };
  CHECK(gradcheck1(z, {logits}));
  CHECK(gradgradcheck1(z, {logits}));
  auto imp = [](const std::vector<Tensor>& xs) { return moe::importance_loss(softmax(xs[0], 1)); };
  CHECK(gradcheck1(imp, {logits}));
  CHECK(gradgradcheck1(imp, {logits}));
  Tensor load = rand({E}, kF64) + 0.5;
  load.requires_grad_();
  auto ld = [](const std::vector<Tensor>& xs) { return moe::load_loss(xs[0]); };
  CHECK(gradcheck1(ld, {load}));
  CHECK(gradgradcheck1(ld, {load}));
}

TEST_CASE("moe aux losses: router z-loss matches Megatron's z_loss_func") {
  for (int64_t E : {4, 8})
    for (DType dt : {kF64, kF32}) {
      const std::string name = "z.E" + std::to_string(E);
      INFO(name << " in " << dt);
      Tensor logits = leaf(golden()[name + ".logits"], dt);
      Tensor loss = moe::router_z_loss(logits);
      check_close(loss, golden()[name + ".loss"].to(dt), tol(dt) * 10, tol(dt));
      loss.backward();
      check_close(logits.grad(), golden()[name + ".dlogits"].to(dt), tol(dt) * 10, tol(dt));
    }
}

TEST_CASE("moe aux losses: importance and load losses match the Shazeer reference cv_squared") {
  for (int64_t E : {4, 8})
    for (DType dt : {kF64, kF32}) {
      const std::string name = "cv.E" + std::to_string(E);
      INFO(name << " in " << dt);
      const double rt = dt == kF64 ? 1e-10 : 1e-5, at = dt == kF64 ? 1e-12 : 1e-6;
      Tensor logits = leaf(golden()[name + ".logits"], dt);
      Tensor imp = moe::importance_loss(softmax(logits, 1));
      check_close(imp, golden()[name + ".importance"].to(dt), rt, at);
      imp.backward();
      check_close(logits.grad(), golden()[name + ".dlogits"].to(dt), rt, at);
      Tensor gates = leaf(golden()[name + ".gates"], dt);
      Tensor sparse = moe::importance_loss(gates);
      check_close(sparse, golden()[name + ".importance_sparse"].to(dt), rt, at);
      sparse.backward();
      check_close(gates.grad(), golden()[name + ".dgates"].to(dt), rt, at);
      Tensor load = leaf(golden()[name + ".load"], dt);
      Tensor ll = moe::load_loss(load);
      check_close(ll, golden()[name + ".load_loss"].to(dt), rt, at);
      ll.backward();
      check_close(load.grad(), golden()[name + ".dload"].to(dt), rt, at);
    }
  check_close(moe::load_loss(golden()["cv.f32.load"]), golden()["cv.f32.load_loss"].reshape({}), 1e-6, 1e-7);
  check_close(moe::cv_squared(golden()["cv.f32.load"]), golden()["cv.f32.load_loss"].reshape({}), 1e-6, 1e-7);
  // One expert: 0 (var() would be NaN), still differentiable; equal loads: 0.
  Tensor one = full({1}, 3.0, kF64);
  one.requires_grad_();
  Tensor l1 = moe::load_loss(one);
  CHECK(l1.item<double>() == 0.0);
  l1.backward();
  CHECK(one.grad().item<double>() == 0.0);
  CHECK(moe::importance_loss(ones({5, 1})).item<float>() == 0.0f);
  CHECK(moe::load_loss(full({4}, 2.5)).item<float>() == 0.0f);
}

TEST_CASE("moe aux losses: errors name the function, the argument and the shapes") {
  Tensor probs = softmax(randn({5, 4}), 1);
  Tensor ids = zeros({5, 2}, kI64);
  const auto lbl = [](const Tensor& p, const Tensor& i, const Tensor& m = Tensor()) {
    return moe::switch_load_balancing_loss(p, i, LoadBalanceNorm::kPerK, m);
  };
  CHECK_MOELAB_ERROR(lbl(Tensor(), ids), "router_probs is undefined");
  CHECK_MOELAB_ERROR(lbl(probs, Tensor()), "expert_ids is undefined");
  CHECK_MOELAB_ERROR(lbl(randn({5}), ids), "router_probs must be 2-d [T, E], got shape [5]");
  CHECK_MOELAB_ERROR(lbl(probs, zeros({4, 2}, kI64)), "expert_ids must be [T, k] with T = 5");
  CHECK_MOELAB_ERROR(lbl(probs, zeros({5}, kI64)), "expert_ids must be [T, k]");
  CHECK_MOELAB_ERROR(lbl(probs, zeros({5, 2}, kI32)), "expert_ids must be i64");
  CHECK_MOELAB_ERROR(lbl(probs, zeros({5, 2})), "expert_ids must be i64");
  CHECK_MOELAB_ERROR(lbl(probs.to(kI64), ids), "router_probs must be f32 or f64");
  CHECK_MOELAB_ERROR(lbl(probs.to(kF16), ids), "router_probs must be f32 or f64");
  CHECK_MOELAB_ERROR(lbl(zeros({5, 0}), zeros({5, 0}, kI64)), "at least one expert");
  CHECK_MOELAB_ERROR(lbl(probs, zeros({5, 5}, kI64)), "must be in [1, E] with E = 4");
  CHECK_MOELAB_ERROR(lbl(probs, zeros({5, 0}, kI64)), "must be in [1, E]");
  CHECK_MOELAB_ERROR(lbl(probs, full({5, 2}, 4, kI64)), "expert_ids must be in [0, 4), got values in [4, 4]");
  CHECK_MOELAB_ERROR(lbl(probs, full({5, 2}, -1, kI64)), "got values in [-1, -1]");
  CHECK_MOELAB_ERROR(lbl(probs, ids, ones({4}, kBool)), "token_mask must be [T] with T = 5");
  CHECK_MOELAB_ERROR(lbl(probs, ids, ones({5, 1}, kBool)), "token_mask must be [T]");
  CHECK_MOELAB_ERROR(lbl(probs, ids, ones({5})), "token_mask must be bool");
  CHECK_MOELAB_ERROR(moe::switch_load_balancing_loss(probs, ids, static_cast<LoadBalanceNorm>(7)), "unknown norm 7");
  CHECK_MOELAB_ERROR(moe::router_z_loss(randn({2, 3, 4})), "router_z_loss: logits must be 2-d [T, E], got shape [2, 3, 4]");
  CHECK_MOELAB_ERROR(moe::router_z_loss(zeros({2, 3}, kI64)), "router_z_loss: logits must be f32 or f64");
  CHECK_MOELAB_ERROR(moe::router_z_loss(zeros({2, 0})), "router_z_loss: logits must have at least one expert");
  CHECK_MOELAB_ERROR(moe::importance_loss(randn({4})), "importance_loss: gates must be 2-d [T, E]");
  CHECK_MOELAB_ERROR(moe::importance_loss(ones({4, 2}, kBool)), "importance_loss: gates must be f32 or f64");
  CHECK_MOELAB_ERROR(moe::load_loss(randn({4, 2})), "load_loss: load must be 1-d [E], got shape [4, 2]");
  CHECK_MOELAB_ERROR(moe::load_loss(zeros({4}, kI32)), "load_loss: load must be f32 or f64");
  CHECK_MOELAB_ERROR(moe::load_loss(zeros({0})), "load_loss: load must have at least one expert");
  CHECK_MOELAB_ERROR(moe::cv_squared(Tensor()), "cv_squared: x is undefined");
}
