// Optimizers against torch.optim trajectories (gen_optim.py), parameter groups, zero_grad, errors.
#include <functional>
#include <memory>

#include "support/check.h"
#include "support/golden.h"

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::Golden;

namespace {
const Golden& golden() {
  return Golden::get("optim");
}

using Factory = std::function<std::unique_ptr<optim::Optimizer>(const std::vector<Tensor>&)>;
constexpr int kSteps = 5;

// The same optimizers and options as gen_optim.py.
const std::vector<std::pair<std::string, Factory>>& cases() {
  using namespace optim;
  using P = std::vector<Tensor>;
  static const std::vector<std::pair<std::string, Factory>> c = {
      {"sgd", [](const P& ps) { return std::make_unique<SGD>(ps, SGDOptions{.lr = 0.1}); }},
      {"sgd_momentum",
       [](const P& ps) {
         return std::make_unique<SGD>(
             ps, SGDOptions{.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.01});
       }},
      {"sgd_nesterov",
       [](const P& ps) {
         return std::make_unique<SGD>(ps,
                                      SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.05, .nesterov = true});
       }},
      {"sgd_maximize",
       [](const P& ps) {
         return std::make_unique<SGD>(ps, SGDOptions{.lr = 0.1, .momentum = 0.5, .maximize = true});
       }},
      {"sgd_groups",
       [](const P& ps) {
         return std::make_unique<SGD>(
             std::vector<ParamGroup>{{.params = {ps[0]}}, {.params = {ps[1]}, .lr = 0.01, .momentum = 0.5}},
             SGDOptions{.lr = 0.1, .momentum = 0.9});
       }},
      {"adam", [](const P& ps) { return std::make_unique<Adam>(ps, AdamOptions{.lr = 0.01}); }},
      {"adam_wd_amsgrad",
       [](const P& ps) {
         return std::make_unique<Adam>(
             ps, AdamOptions{.lr = 0.01, .betas = {0.8, 0.95}, .weight_decay = 0.1, .amsgrad = true});
       }},
      {"adam_maximize",
       [](const P& ps) { return std::make_unique<Adam>(ps, AdamOptions{.lr = 0.01, .eps = 1e-3, .maximize = true}); }},
      {"adam_skip", [](const P& ps) { return std::make_unique<Adam>(ps, AdamOptions{.lr = 0.01}); }},
      {"adam_groups",
       [](const P& ps) {
         return std::make_unique<Adam>(
             std::vector<ParamGroup>{{.params = {ps[0]}, .lr = 0.05, .betas = std::pair{0.5, 0.6}}, {.params = {ps[1]}}},
             AdamOptions{.lr = 0.01});
       }},
      {"adamw",
       [](const P& ps) { return std::make_unique<AdamW>(ps, AdamWOptions{.lr = 0.01, .weight_decay = 0.1}); }},
      {"adamw_amsgrad",
       [](const P& ps) { return std::make_unique<AdamW>(ps, AdamWOptions{.lr = 0.02, .amsgrad = true}); }},
      {"rmsprop", [](const P& ps) { return std::make_unique<RMSprop>(ps, RMSpropOptions{.lr = 0.01}); }},
      {"rmsprop_centered",
       [](const P& ps) { return std::make_unique<RMSprop>(ps, RMSpropOptions{.lr = 0.01, .centered = true}); }},
      {"rmsprop_all",
       [](const P& ps) {
         return std::make_unique<RMSprop>(ps, RMSpropOptions{.lr = 0.01, .alpha = 0.9, .eps = 1e-6,
                                                              .weight_decay = 0.1, .momentum = 0.5, .centered = true});
       }},
      {"rmsprop_maximize",
       [](const P& ps) {
         return std::make_unique<RMSprop>(ps, RMSpropOptions{.lr = 0.01, .momentum = 0.3, .maximize = true});
       }},
      {"adagrad", [](const P& ps) { return std::make_unique<Adagrad>(ps, AdagradOptions{.lr = 0.1}); }},
      {"adagrad_all",
       [](const P& ps) {
         return std::make_unique<Adagrad>(ps, AdagradOptions{.lr = 0.1, .lr_decay = 0.1, .weight_decay = 0.1,
                                                              .initial_accumulator_value = 0.5, .eps = 1e-6});
       }},
      {"adagrad_maximize",
       [](const P& ps) { return std::make_unique<Adagrad>(ps, AdagradOptions{.lr = 0.1, .maximize = true}); }},
  };
  return c;
}

Tensor leaf(const Tensor& t) {
  Tensor l = t.clone();
  l.requires_grad_();
  return l;
}

// Runs a golden case with parameters of the given dtype; make_param turns the initial value into
// the parameter (e.g. a non-contiguous one).
void run_case(const std::string& name, const Factory& make, DType dtype, double rtol, double atol,
              const std::function<Tensor(const Tensor&)>& make_param = leaf) {
  const Golden& g = golden();
  std::vector<Tensor> ps;
  for (int i = 0; i < 2; ++i) ps.push_back(make_param(g[name + ".p" + std::to_string(i)].to(dtype)));
  auto opt = make(ps);
  for (int s = 0; s < kSteps; ++s) {
    for (int i = 0; i < 2; ++i) {
      const std::string gname = name + ".g" + std::to_string(s) + "." + std::to_string(i);
      ps[i].mutable_grad() = g.has(gname) ? g[gname].to(dtype) : Tensor();
    }
    opt->step();
    for (int i = 0; i < 2; ++i) {
      INFO(name << " step " << s << " param " << i);
      check_close(ps[i], g[name + ".s" + std::to_string(s) + "." + std::to_string(i)].to(dtype), rtol, atol);
    }
  }
}
}  // namespace

TEST_CASE("optim: golden trajectories match torch.optim (f64)") {
  for (const auto& [name, make] : cases()) {
    SUBCASE(name.c_str()) { run_case(name, make, kF64, 1e-12, 1e-14); }
  }
}

TEST_CASE("optim: golden trajectories match torch.optim (f32)") {
  for (const auto& [name, make] : cases()) {
    SUBCASE(name.c_str()) { run_case(name, make, kF32, 1e-4, 1e-5); }
  }
}

TEST_CASE("optim: non-contiguous parameters are updated through their strides") {
  // A transposed leaf: the optimizer writes through its strides into the base storage.
  auto transposed = [](const Tensor& t) {
    Tensor base = t.dim() == 2 ? t.t().contiguous() : t.clone();
    Tensor p = t.dim() == 2 ? base.t() : base;
    p.requires_grad_();
    return p;
  };
  for (const std::string name : {"sgd_momentum", "adam_wd_amsgrad", "rmsprop_all", "adagrad_all"}) {
    for (const auto& [n, make] : cases())
      if (n == name) {
        INFO(name);
        run_case(name, make, kF64, 1e-12, 1e-14, transposed);
      }
  }
}

TEST_CASE("optim: step updates parameters in place under no_grad and keeps state") {
  Tensor p = leaf(tensor<double>({1.0, -2.0, 3.0}));
  const void* data = p.raw_data();
  const uint32_t v0 = p.version();
  optim::Adam opt({p}, {.lr = 0.1, .amsgrad = true});
  CHECK_FALSE(opt.has_state(p));
  p.mutable_grad() = tensor<double>({0.5, 0.5, -0.5});
  opt.step();
  CHECK(p.raw_data() == data);
  CHECK(p.version() > v0);
  CHECK(p.requires_grad());
  CHECK(p.is_leaf());
  CHECK(p.grad_fn() == nullptr);
  REQUIRE(opt.has_state(p));
  const optim::ParamState& st = opt.state(p);
  CHECK(st.step == 1);
  for (const char* b : {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}) {
    INFO(b);
    REQUIRE(st.has(b));
    CHECK_FALSE(st.at(b).requires_grad());
  }
  // The first Adam step moves every coordinate by lr against the sign of its gradient.
  check_close(p, tensor<double>({0.9, -2.1, 3.1}), 1e-6, 1e-7);  // up to eps
  opt.step();
  CHECK(opt.state(p).step == 2);
  CHECK(opt.state().size() == 1);
  CHECK_MOELAB_ERROR(opt.state(p).at("momentum_buffer"), "no buffer named 'momentum_buffer'");
  // Grad mode is back on after step().
  CHECK(autograd::GradMode::is_enabled());
}

TEST_CASE("optim: parameters without grad are skipped and get no state") {
  Tensor a = leaf(tensor<double>({1.0, 2.0}));
  Tensor b = leaf(tensor<double>({3.0, 4.0}));
  optim::SGD opt({a, b}, {.lr = 0.5, .momentum = 0.9});
  a.mutable_grad() = tensor<double>({1.0, 1.0});
  const uint32_t vb = b.version();
  opt.step();
  check_close(a, tensor<double>({0.5, 1.5}));
  check_close(b, tensor<double>({3.0, 4.0}));
  CHECK(b.version() == vb);
  CHECK(opt.has_state(a));
  CHECK_FALSE(opt.has_state(b));
}

TEST_CASE("optim: zero_grad sets grads to none or zeroes them in place") {
  Tensor a = leaf(tensor<double>({1.0, 2.0}));
  Tensor b = leaf(tensor<double>({3.0}));
  optim::SGD opt({a, b}, {.lr = 0.1});
  SUBCASE("set_to_none") {
    a.mutable_grad() = tensor<double>({1.0, 1.0});
    opt.zero_grad();
    CHECK_FALSE(a.grad().defined());
    CHECK_FALSE(b.grad().defined());
  }
  SUBCASE("zero in place") {
    Tensor ga = tensor<double>({1.0, 1.0});
    a.mutable_grad() = ga;
    opt.zero_grad(/*set_to_none=*/false);
    REQUIRE(a.grad().defined());
    CHECK(a.grad().is_same(ga));
    check_close(ga, tensor<double>({0.0, 0.0}));
    CHECK_FALSE(b.grad().defined());  // an undefined grad stays undefined
  }
  SUBCASE("after backward, then a fresh backward accumulates from zero") {
    (a * a).sum().backward();
    check_close(a.grad(), tensor<double>({2.0, 4.0}));
    opt.zero_grad(false);
    (a * a).sum().backward();
    check_close(a.grad(), tensor<double>({2.0, 4.0}));
    opt.zero_grad();
    (a * a).sum().backward();
    check_close(a.grad(), tensor<double>({2.0, 4.0}));
  }
  SUBCASE("a grad with history (create_graph) is detached and zeroed") {
    (a * a).sum().backward(Tensor(), /*retain_graph=*/false, /*create_graph=*/true);
    REQUIRE(a.grad().requires_grad());
    opt.zero_grad(false);
    CHECK_FALSE(a.grad().requires_grad());
    check_close(a.grad(), tensor<double>({0.0, 0.0}));
  }
}

TEST_CASE("optim: a training loop with backward decreases the loss") {
  Tensor w = leaf(tensor<double>({3.0, -2.0}));
  optim::AdamW opt({w}, {.lr = 0.1});
  double first = 0, last = 0;
  for (int i = 0; i < 50; ++i) {
    opt.zero_grad();
    Tensor loss = (w * w).sum();
    if (i == 0) first = loss.item<double>();
    last = loss.item<double>();
    loss.backward();
    opt.step();
  }
  CHECK(last < first * 0.1);
}

TEST_CASE("optim: param groups take defaults, keep their own options, and lr can be changed") {
  Tensor a = leaf(tensor<double>({1.0}));
  Tensor b = leaf(tensor<double>({1.0}));
  optim::SGD opt(std::vector<optim::ParamGroup>{{.params = {a}}, {.params = {b}, .lr = 0.5}}, {.lr = 0.1});
  auto& groups = opt.param_groups();
  REQUIRE(groups.size() == 2);
  CHECK(*groups[0].lr == 0.1);
  CHECK(*groups[1].lr == 0.5);
  CHECK(*groups[0].momentum == 0);
  CHECK(*groups[1].nesterov == false);
  CHECK_FALSE(groups[0].betas.has_value());  // not an SGD option
  a.mutable_grad() = tensor<double>({1.0});
  b.mutable_grad() = tensor<double>({1.0});
  opt.step();
  check_close(a, tensor<double>({0.9}), 1e-12, 1e-12);
  check_close(b, tensor<double>({0.5}), 1e-12, 1e-12);
  // A scheduler changes the learning rate through param_groups().
  *groups[0].lr *= 0.5;
  opt.step();
  check_close(a, tensor<double>({0.85}), 1e-12, 1e-12);
  check_close(b, tensor<double>({0.0}), 1e-12, 1e-12);
  // A group added later.
  Tensor c = leaf(tensor<double>({2.0}));
  opt.add_param_group({.params = {c}, .lr = 1.0});
  c.mutable_grad() = tensor<double>({1.0});
  opt.step();
  check_close(c, tensor<double>({1.0}), 1e-12, 1e-12);
  CHECK_MOELAB_ERROR(opt.add_param_group({.params = {a}}), "appears more than once");
}

TEST_CASE("optim: invalid options and parameters are errors") {
  using namespace optim;
  Tensor p = leaf(tensor<double>({1.0, 2.0}));
  CHECK_MOELAB_ERROR(SGD({p}, {.lr = -0.1}), "SGD: invalid learning rate -0.1");
  CHECK_MOELAB_ERROR(SGD({p}, {}), "no default lr");
  CHECK_MOELAB_ERROR(SGD({p}, {.lr = 0.1, .momentum = -1}), "invalid momentum");
  CHECK_MOELAB_ERROR(SGD({p}, {.lr = 0.1, .weight_decay = -1}), "invalid weight_decay");
  CHECK_MOELAB_ERROR(SGD({p}, {.lr = 0.1, .nesterov = true}), "Nesterov momentum requires a momentum");
  CHECK_MOELAB_ERROR(SGD({p}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true}),
                     "zero dampening");
  CHECK_MOELAB_ERROR(Adam({p}, {.lr = -1}), "Adam: invalid learning rate");
  CHECK_MOELAB_ERROR(Adam({p}, {.betas = {1.0, 0.999}}), "invalid beta parameter at index 0: 1");
  CHECK_MOELAB_ERROR(Adam({p}, {.betas = {0.9, -0.1}}), "invalid beta parameter at index 1");
  CHECK_MOELAB_ERROR(Adam({p}, {.eps = -1}), "invalid epsilon");
  CHECK_MOELAB_ERROR(AdamW({p}, {.weight_decay = -1}), "AdamW: invalid weight_decay");
  CHECK_MOELAB_ERROR(AdamW({p}, {.betas = {0.9, 1.0}}), "AdamW: invalid beta parameter at index 1");
  CHECK_MOELAB_ERROR(RMSprop({p}, {.alpha = -0.5}), "RMSprop: invalid alpha");
  CHECK_MOELAB_ERROR(RMSprop({p}, {.momentum = -0.5}), "RMSprop: invalid momentum");
  CHECK_MOELAB_ERROR(Adagrad({p}, {.lr_decay = -1}), "Adagrad: invalid lr_decay");
  CHECK_MOELAB_ERROR(Adagrad({p}, {.initial_accumulator_value = -1}), "invalid initial_accumulator_value");
  // Per-group options are checked too, and options the optimizer does not use are rejected.
  CHECK_MOELAB_ERROR(SGD(std::vector<ParamGroup>{{.params = {p}, .lr = -2.0}}, {.lr = 0.1}),
                     "invalid learning rate -2 in param group 0");
  CHECK_MOELAB_ERROR(SGD(std::vector<ParamGroup>{{.params = {p}, .betas = std::pair{0.9, 0.9}}}, {.lr = 0.1}),
                     "sets option 'betas', which SGD does not use");
  CHECK_MOELAB_ERROR(Adam(std::vector<ParamGroup>{{.params = {p}, .momentum = 0.9}}), "which Adam does not use");
  // Parameters.
  Tensor no_grad = tensor<double>({1.0});
  CHECK_MOELAB_ERROR(SGD({no_grad}, {.lr = 0.1}), "does not require grad");
  CHECK_MOELAB_ERROR(SGD({p * 2.0}, {.lr = 0.1}), "not a leaf");
  CHECK_MOELAB_ERROR(SGD({Tensor()}, {.lr = 0.1}), "undefined");
  CHECK_MOELAB_ERROR(SGD(std::vector<Tensor>{}, {.lr = 0.1}), "empty parameter list");
  CHECK_MOELAB_ERROR(SGD(std::vector<ParamGroup>{}, {.lr = 0.1}), "empty list of parameter groups");
  CHECK_MOELAB_ERROR(SGD({p, p}, {.lr = 0.1}), "appears more than once");
  Tensor q = leaf(tensor<double>({3.0}));
  CHECK_MOELAB_ERROR(SGD(std::vector<ParamGroup>{{.params = {p, q}}, {.params = {q}}}, {.lr = 0.1}),
                     "parameter 0 of param group 1 (shape [1]) appears more than once");
  // A gradient of the wrong shape or dtype.
  SGD opt({p}, {.lr = 0.1});
  p.mutable_grad() = tensor<double>({1.0, 2.0, 3.0});
  CHECK_MOELAB_ERROR(opt.step(), "SGD: the grad of a parameter has shape [3], the parameter has shape [2]");
  p.mutable_grad() = tensor<float>({1.0f, 2.0f});
  CHECK_MOELAB_ERROR(opt.step(), "has dtype f32");
}
