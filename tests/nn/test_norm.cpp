// BatchNorm1d/2d, GroupNorm and RMSNorm (functional and modules) against PyTorch 1.13
// (tests/golden/gen_norm.py), plus f64 gradcheck / gradgradcheck of the functionals.
#include <limits>

#include "support/check.h"
#include "support/conformance.h"
#include "support/golden.h"

using namespace moelab;
using autograd::gradcheck;
using autograd::gradgradcheck;
using moelab::testing::check_close;
using moelab::testing::check_equal;
using moelab::testing::Golden;
using moelab::testing::non_contiguous_copy;

namespace {
const Tensor& G(const std::string& name) { return Golden::get("norm")[name]; }

Tensor leaf(const Tensor& t, DType dt = kF64) {
  Tensor l = t.to(dt).clone();
  l.requires_grad_();
  return l;
}

double rtol_of(DType dt) { return dt == kF64 ? 1e-10 : 1e-4; }
double atol_of(DType dt) { return dt == kF64 ? 1e-12 : 1e-5; }

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;
// Runs fn on golden NAME.<input> (as leaves of dtype dt, non-contiguous when asked) and compares
// NAME.out and the gradients NAME.d<input> for the floating inputs listed in `diff`.
void check_golden(const std::string& name, const std::vector<std::string>& inputs, const Fn& fn, DType dt,
                  bool strided = false) {
  const std::string label = name + " in " + std::string(dtype_name(dt)) + (strided ? " (non-contiguous)" : "");
  INFO(label);
  std::vector<Tensor> xs;
  for (const auto& k : inputs) {
    Tensor t = G(name + "." + k).to(dt);
    if (strided) t = non_contiguous_copy(t);
    t = t.detach();
    t.requires_grad_();
    xs.push_back(t);
  }
  Tensor out = fn(xs);
  check_close(out, G(name + ".out").to(dt), rtol_of(dt), atol_of(dt));
  auto grads = autograd::grad({out}, xs, {G(name + ".gout").to(dt)});
  for (size_t i = 0; i < inputs.size(); ++i) {
    INFO("gradient of " << inputs[i]);
    check_close(grads[i], G(name + ".d" + inputs[i]).to(dt), rtol_of(dt) * 10, atol_of(dt) * 10);
  }
}

// Two training steps (outputs, gradients, running stats), then eval, against PyTorch.
void check_batchnorm(nn::BatchNormBase& m, const std::string& name, bool affine, DType dt) {
  const std::string label = name + " in " + std::string(dtype_name(dt));
  INFO(label);
  const double rtol = rtol_of(dt) * 10, atol = atol_of(dt) * 10;
  if (affine) {
    autograd::NoGradGuard no_grad;
    m.tensor_slot("weight").copy_(G(name + ".weight"));
    m.tensor_slot("bias").copy_(G(name + ".bias"));
  }
  for (int s = 0; s < 2; ++s) {
    const std::string k = std::to_string(s);
    Tensor x = leaf(G(name + ".x" + k), dt);
    Tensor y = m(x);
    check_close(y, G(name + ".y" + k).to(dt), rtol, atol);
    std::vector<Tensor> wrt{x};
    if (affine) wrt.insert(wrt.end(), {m.weight(), m.bias()});
    auto grads = autograd::grad({y}, wrt, {G(name + ".gout" + k).to(dt)});
    check_close(grads[0], G(name + ".dx" + k).to(dt), rtol, atol);
    if (affine) {
      check_close(grads[1], G(name + ".dweight" + k).to(dt), rtol, atol);
      check_close(grads[2], G(name + ".dbias" + k).to(dt), rtol, atol);
    }
    check_close(m.running_mean(), G(name + ".running_mean" + k).to(dt), rtol, atol);
    check_close(m.running_var(), G(name + ".running_var" + k).to(dt), rtol, atol);
    check_equal(m.num_batches_tracked(), G(name + ".num_batches_tracked" + k));
  }
  m.eval();
  Tensor x = leaf(G(name + ".xe"), dt);
  Tensor y = m(x);
  check_close(y, G(name + ".ye").to(dt), rtol, atol);
  check_close(autograd::grad({y}, {x}, {G(name + ".goute").to(dt)})[0], G(name + ".dxe").to(dt), rtol, atol);
  check_equal(m.num_batches_tracked(), G(name + ".num_batches_tracked1"));  // eval does not count
  m.train();
}
}  // namespace

TEST_CASE("nn norm: BatchNorm1d and BatchNorm2d match PyTorch over two training steps and in eval") {
  for (DType dt : {kF64, kF32}) {
    {
      nn::BatchNorm1d m(3, 1e-5, 0.1, true, true, dt);
      check_batchnorm(m, "bn1d", true, dt);
    }
    {
      nn::BatchNorm1d m(4, 1e-5, 0.3, true, true, dt);
      check_batchnorm(m, "bn1d_seq", true, dt);
    }
    {
      nn::BatchNorm1d m(3, 1e-5, std::nullopt, /*affine=*/false, true, dt);
      check_batchnorm(m, "bn1d_cma", false, dt);
    }
    {
      nn::BatchNorm2d m(3, 1e-5, 0.1, true, true, dt);
      check_batchnorm(m, "bn2d", true, dt);
    }
    {
      nn::BatchNorm2d m(2, 1e-5, std::nullopt, true, true, dt);
      check_batchnorm(m, "bn2d_cma", true, dt);
    }
  }
}

TEST_CASE("nn norm: batch_norm functional on a non-contiguous input, and gradcheck") {
  // The golden first training step of bn2d, through the functional with a permuted input.
  Tensor rm = zeros({3}, kF64), rv = ones({3}, kF64);
  Tensor x = non_contiguous_copy(G("bn2d.x0")).detach();
  CHECK(!x.is_contiguous());
  Tensor y = batch_norm(x, rm, rv, G("bn2d.weight"), G("bn2d.bias"), true, 0.1, 1e-5);
  check_close(y, G("bn2d.y0"), 1e-10, 1e-12);
  check_close(rm, G("bn2d.running_mean0"), 1e-10, 1e-12);
  check_close(rv, G("bn2d.running_var0"), 1e-10, 1e-12);
  // Eval mode: running stats from the golden file.
  Tensor ye = batch_norm(non_contiguous_copy(G("bn2d.xe")), G("bn2d.running_mean1"), G("bn2d.running_var1"),
                         G("bn2d.weight"), G("bn2d.bias"));
  check_close(ye, G("bn2d.ye"), 1e-10, 1e-12);

  Tensor xl = randn({4, 3, 2}, kF64).transpose(0, 2);  // [2, 3, 4], strided
  xl.requires_grad_();
  Tensor w = leaf(randn({3}, kF64)), b = leaf(randn({3}, kF64));
  auto train = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{batch_norm(in[0], {}, {}, in[1], in[2], true, 0.1, 1e-5)};
  };
  CHECK(gradcheck(train, {xl, w, b}));
  CHECK(gradgradcheck(train, {xl, w, b}));
  Tensor rml = leaf(randn({3}, kF64)), rvl = leaf(rand({3}, kF64) + 0.5);
  auto eval = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{batch_norm(in[0], in[3], in[4], in[1], in[2], false, 0.1, 1e-5)};
  };
  CHECK(gradcheck(eval, {xl, w, b, rml, rvl}));
  CHECK(gradgradcheck(eval, {xl, w, b, rml, rvl}));
  // The running stats are updated without history even when x requires grad.
  Tensor rm2 = zeros({3}, kF64), rv2 = ones({3}, kF64);
  batch_norm(xl, rm2, rv2, w, b, true);
  CHECK(!rm2.requires_grad());
  CHECK(rm2.grad_fn() == nullptr);
}

TEST_CASE("nn norm: BatchNorm without running stats, empty batches, state_dict names") {
  nn::BatchNorm1d m(3, 1e-5, 0.1, true, /*track_running_stats=*/false);
  CHECK(!m.running_mean().defined());
  Tensor x = randn({6, 3});
  Tensor batch = batch_norm(x, {}, {}, m.weight(), m.bias(), true);
  check_close(m(x), batch);
  m.eval();  // still batch statistics: there are none to run on
  check_close(m(x), batch);
  auto keys = [](const nn::Module& mod) {
    std::vector<std::string> k;
    for (const auto& kv : mod.state_dict()) k.push_back(kv.first);
    return k;
  };
  // PyTorch's names (sorted, as std::map gives them).
  CHECK(keys(m) == std::vector<std::string>{"bias", "weight"});
  nn::BatchNorm2d full(4);
  CHECK(keys(full) == std::vector<std::string>{"bias", "num_batches_tracked", "running_mean", "running_var", "weight"});
  CHECK(full.num_batches_tracked().dtype() == kI64);
  CHECK(full.num_batches_tracked().dim() == 0);
  nn::BatchNorm2d plain(4, 1e-5, 0.1, /*affine=*/false);
  CHECK(keys(plain) == std::vector<std::string>{"num_batches_tracked", "running_mean", "running_var"});
  CHECK(plain.parameters().empty());
  nn::GroupNorm gn(2, 4);
  CHECK(keys(gn) == std::vector<std::string>{"bias", "weight"});
  nn::RMSNorm rms({4});
  CHECK(keys(rms) == std::vector<std::string>{"weight"});

  // An empty batch: empty output, gradients flow (zeros), running stats untouched but counted as in PyTorch.
  nn::BatchNorm1d e(3);
  Tensor x0 = zeros({0, 3});
  x0.requires_grad_();
  Tensor y0 = e(x0);
  CHECK(y0.shape() == Shape{0, 3});
  y0.sum().backward();
  check_equal(e.weight().grad(), zeros({3}));
  check_equal(e.running_mean(), zeros({3}));
  check_equal(e.running_var(), ones({3}));
  CHECK(e.num_batches_tracked().item<int64_t>() == 1);
  CHECK(group_norm(zeros({0, 4, 3}), 2).shape() == Shape{0, 4, 3});
  CHECK(rms_norm(zeros({0, 4}), {4}).shape() == Shape{0, 4});
  for (const Shape& s : {Shape{0, 4, 3}, Shape{2, 4, 0}}) {
    Tensor xe = zeros(s, kF64), we = ones({4}, kF64), be = zeros({4}, kF64);
    for (Tensor* t : {&xe, &we, &be}) t->requires_grad_();
    auto ge = autograd::grad({group_norm(xe, 2, we, be).sum()}, {xe, we, be});
    check_equal(ge[1], zeros({4}, kF64));
    check_equal(ge[2], zeros({4}, kF64));
  }

  // state_dict round trip keeps the running stats.
  nn::BatchNorm2d a(2), b(2);
  a(randn({3, 2, 2, 2}));
  b.load_state_dict(a.state_dict());
  check_equal(b.running_var(), a.running_var());
  CHECK(b.num_batches_tracked().item<int64_t>() == 1);
  b.reset_running_stats();
  check_equal(b.running_var(), ones({2}));
  CHECK(b.num_batches_tracked().item<int64_t>() == 0);
}

TEST_CASE("nn norm: group_norm matches PyTorch, non-contiguous input, gradcheck") {
  for (DType dt : {kF64, kF32}) {
    for (bool strided : {false, true}) {
      check_golden("gn", {"x", "weight", "bias"},
                   [](const auto& v) { return group_norm(v[0], 2, v[1], v[2], 1e-5); }, dt, strided);
      check_golden("gn_2d", {"x", "weight", "bias"},
                   [](const auto& v) { return group_norm(v[0], 3, v[1], v[2], 1e-3); }, dt, strided);
      check_golden("gn_noaffine", {"x"}, [](const auto& v) { return group_norm(v[0], 1); }, dt, strided);
    }
  }
  // The module with the golden affine parameters.
  nn::GroupNorm m(2, 6, 1e-5, true, kF64);
  m.load_state_dict({{"weight", G("gn.weight")}, {"bias", G("gn.bias")}});
  check_close(m(G("gn.x")), G("gn.out"), 1e-10, 1e-12);
  auto f = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{group_norm(in[0], 2, in[1], in[2], 1e-5)};
  };
  Tensor x = randn({3, 5, 4}, kF64).transpose(1, 2);  // [3, 4, 5], strided
  x.requires_grad_();
  std::vector<Tensor> in{x, leaf(randn({4}, kF64)), leaf(randn({4}, kF64))};
  CHECK(gradcheck(f, in));
  CHECK(gradgradcheck(f, in));
}

TEST_CASE("nn norm: rms_norm matches the torch 2.4 formula, default eps per dtype, gradcheck") {
  for (DType dt : {kF64, kF32}) {
    for (bool strided : {false, true}) {
      check_golden("rms", {"x", "weight"}, [](const auto& v) { return rms_norm(v[0], {5}, v[1], 1e-6); }, dt, strided);
      check_golden("rms_2d", {"x", "weight"}, [](const auto& v) { return rms_norm(v[0], {3, 4}, v[1]); }, dt, strided);
    }
    // f32 uses its own default eps (FLT_EPSILON): the f64 reference only fits explicit eps or large values.
    check_golden("rms_noweight", {"x"}, [](const auto& v) { return rms_norm(v[0], {6}); }, kF64, true);
  }
  // f32 inputs of size ~1e-3: the default eps (FLT_EPSILON, not DBL_EPSILON) visibly matters.
  check_close(rms_norm(G("rms_f32.x"), {4}), G("rms_f32.out"), 1e-5, 1e-6);
  CHECK(!allclose(rms_norm(G("rms_f32.x"), {4}, {}, std::numeric_limits<double>::epsilon()), G("rms_f32.out"), 1e-5,
                  1e-6));
  nn::RMSNorm m({3, 4}, std::nullopt, true, kF64);
  m.load_state_dict({{"weight", G("rms_2d.weight")}});
  check_close(m(G("rms_2d.x")), G("rms_2d.out"), 1e-10, 1e-12);
  nn::RMSNorm plain({6}, std::nullopt, /*elementwise_affine=*/false, kF64);
  CHECK(plain.parameters().empty());
  check_close(plain(G("rms_noweight.x")), G("rms_noweight.out"), 1e-10, 1e-12);
  auto f = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{rms_norm(in[0], {3}, in[1], 1e-5)}; };
  Tensor x = randn({3, 4}, kF64).t();
  x.requires_grad_();
  CHECK(gradcheck(f, {x, leaf(randn({3}, kF64))}));
  CHECK(gradgradcheck(f, {x, leaf(randn({3}, kF64))}));
}
