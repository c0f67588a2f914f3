// Learning-rate schedulers against torch.optim.lr_scheduler (gen_lr_scheduler.py), state round
// trips and errors.
#include <cmath>
#include <functional>
#include <memory>

#include "support/check.h"
#include "support/golden.h"

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::check_equal;
using moelab::testing::Golden;

namespace {
constexpr int kSteps = 30;

Tensor leaf(const Shape& shape) {
  Tensor t = zeros(shape);
  t.requires_grad_();
  return t;
}

// Two param groups, lr 0.1 and 0.05, as in gen_lr_scheduler.py.
std::vector<optim::ParamGroup> two_groups() {
  return {{.params = {leaf({2})}}, {.params = {leaf({3})}, .lr = 0.05}};
}

std::unique_ptr<optim::Optimizer> make_sgd() {
  return std::make_unique<optim::SGD>(two_groups(), optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
}
std::unique_ptr<optim::Optimizer> make_adam() {
  return std::make_unique<optim::Adam>(two_groups(), optim::AdamOptions{.lr = 0.1, .betas = {0.9, 0.99}});
}

using OptFactory = std::function<std::unique_ptr<optim::Optimizer>()>;
using SchedFactory = std::function<std::shared_ptr<optim::LRScheduler>(optim::Optimizer&)>;
struct Case {
  std::string name;
  OptFactory opt;
  SchedFactory sched;
  int steps = kSteps;
  bool momentum = false;
};

// The same cases as gen_lr_scheduler.py.
const std::vector<Case>& cases() {
  using namespace optim;
  static const std::vector<Case> c = {
      {"step", make_sgd, [](Optimizer& o) { return std::make_shared<StepLR>(o, 7, 0.5); }},
      {"multistep", make_sgd,
       [](Optimizer& o) { return std::make_shared<MultiStepLR>(o, std::vector<int64_t>{3, 8, 20, 8}, 0.3); }},
      {"cosine", make_sgd, [](Optimizer& o) { return std::make_shared<CosineAnnealingLR>(o, 10, 0.001); }},
      {"cosine_long", make_sgd, [](Optimizer& o) { return std::make_shared<CosineAnnealingLR>(o, 40); }},
      {"linear", make_sgd, [](Optimizer& o) { return std::make_shared<LinearLR>(o); }},
      {"linear_custom", make_sgd, [](Optimizer& o) { return std::make_shared<LinearLR>(o, 0.1, 0.8, 12); }},
      {"exponential", make_sgd, [](Optimizer& o) { return std::make_shared<ExponentialLR>(o, 0.9); }},
      {"constant", make_sgd, [](Optimizer& o) { return std::make_shared<ConstantLR>(o, 0.25, 6); }},
      {"polynomial", make_sgd, [](Optimizer& o) { return std::make_shared<PolynomialLR>(o, 20, 2.0); }},
      {"sequential_constant_exp", make_sgd,
       [](Optimizer& o) {
         std::vector<std::shared_ptr<LRScheduler>> s = {std::make_shared<ConstantLR>(o, 0.5, 3),
                                                        std::make_shared<ExponentialLR>(o, 0.8),
                                                        std::make_shared<PolynomialLR>(o, 8, 0.5)};
         return std::make_shared<SequentialLR>(o, s, std::vector<int64_t>{3, 10});
       }},
      {"lambda", make_sgd,
       [](Optimizer& o) {
         return std::make_shared<LambdaLR>(o, [](int64_t e) { return std::pow(0.95, static_cast<double>(e)); });
       }},
      {"lambda_per_group", make_sgd,
       [](Optimizer& o) {
         return std::make_shared<LambdaLR>(
             o, std::vector<LambdaLR::Lambda>{[](int64_t e) { return 1.0 / static_cast<double>(e + 1); },
                                              [](int64_t e) { return std::pow(0.9, static_cast<double>(e)); }});
       }},
      {"onecycle_sgd", make_sgd,
       [](Optimizer& o) { return std::make_shared<OneCycleLR>(o, PerGroup{1.0, 0.5}, OneCycleLROptions{.total_steps = 30}); },
       kSteps, true},
      {"onecycle_adam_linear3", make_adam,
       [](Optimizer& o) {
         return std::make_shared<OneCycleLR>(
             o, 0.01,
             OneCycleLROptions{.epochs = 5, .steps_per_epoch = 6, .pct_start = 0.25, .anneal_strategy = "linear",
                               .base_momentum = 0.8, .max_momentum = 0.9, .three_phase = true});
       },
       kSteps, true},
      {"onecycle_nomomentum", make_sgd,
       [](Optimizer& o) {
         return std::make_shared<OneCycleLR>(o, 0.3,
                                             OneCycleLROptions{.total_steps = 40, .cycle_momentum = false,
                                                               .div_factor = 10, .final_div_factor = 100});
       },
       kSteps, true},
      {"sequential_warmup_cosine", make_sgd,
       [](Optimizer& o) {
         auto warmup = std::make_shared<LinearLR>(o, 0.1, 1.0, 5);
         auto cosine = std::make_shared<CosineAnnealingLR>(o, 25);
         return std::make_shared<SequentialLR>(o, std::vector<std::shared_ptr<LRScheduler>>{warmup, cosine},
                                               std::vector<int64_t>{5});
       }},
      {"sequential3", make_sgd,
       [](Optimizer& o) {
         std::vector<std::shared_ptr<LRScheduler>> s = {std::make_shared<LinearLR>(o, 0.5, 1.0, 4),
                                                        std::make_shared<StepLR>(o, 5, 0.5),
                                                        std::make_shared<CosineAnnealingLR>(o, 10, 1e-4)};
         return std::make_shared<SequentialLR>(o, s, std::vector<int64_t>{4, 15});
       }},
  };
  return c;
}

double momentum_of(const optim::ParamGroup& g) { return g.betas ? g.betas->first : *g.momentum; }

// One scheduler run: the groups' lr and momentum after construction and after each step.
struct Run {
  std::unique_ptr<optim::Optimizer> opt;
  std::shared_ptr<optim::LRScheduler> sched;
  std::vector<double> lrs, moms;

  explicit Run(const Case& c) : opt(c.opt()), sched(c.sched(*opt)) { record(); }
  void record() {
    for (const auto& g : opt->param_groups()) {
      lrs.push_back(*g.lr);
      moms.push_back(momentum_of(g));
    }
    CHECK(sched->get_last_lr() == std::vector<double>(lrs.end() - 2, lrs.end()));
  }
  void step() {
    opt->step();
    sched->step();
    record();
  }
  Tensor lr_table() const { return from_vector(lrs, {static_cast<int64_t>(lrs.size() / 2), 2}); }
  Tensor momentum_table() const { return from_vector(moms, {static_cast<int64_t>(moms.size() / 2), 2}); }
};
}  // namespace

TEST_CASE("nn lr_scheduler: lr and momentum sequences match torch.optim.lr_scheduler") {
  const Golden& g = Golden::get("lr_scheduler");
  for (const Case& c : cases()) {
    SUBCASE(c.name.c_str()) {
      Run r(c);
      for (int s = 0; s < c.steps; ++s) r.step();
      // Bitwise equal with glibc's cos; a little room for another libm.
      check_close(r.lr_table(), g["sched." + c.name + ".lr"], 1e-14, 0);
      if (c.momentum) check_close(r.momentum_table(), g["sched." + c.name + ".momentum"], 1e-14, 0);
    }
  }
}

TEST_CASE("nn lr_scheduler: state_dict round trip resumes the same sequence bitwise") {
  for (const Case& c : cases()) {
    for (int k : {0, 3, 12, 17}) {
      INFO(c.name << " saved after " << k << " steps");
      Run full(c);
      for (int s = 0; s < c.steps; ++s) full.step();
      Run first(c);
      for (int s = 0; s < k; ++s) first.step();
      const auto opt_state = first.opt->state_dict();
      const auto sched_state = first.sched->state_dict();
      CHECK(sched_state.at("last_epoch").item<double>() == k);
      // A fresh optimizer and scheduler (whose construction moved the lrs) take both states.
      Run resumed(c);
      resumed.opt->load_state_dict(opt_state);
      resumed.sched->load_state_dict(sched_state);
      CHECK(resumed.sched->last_epoch() == first.sched->last_epoch());
      CHECK(resumed.sched->get_last_lr() == first.sched->get_last_lr());
      resumed.lrs = first.lrs;
      resumed.moms = first.moms;
      for (int s = k; s < c.steps; ++s) resumed.step();
      check_equal(resumed.lr_table(), full.lr_table());
      check_equal(resumed.momentum_table(), full.momentum_table());
    }
  }
}

TEST_CASE("nn lr_scheduler: state_dict holds named tensors") {
  auto opt = make_sgd();
  auto warmup = std::make_shared<optim::LinearLR>(*opt, 0.1, 1.0, 5);
  auto cosine = std::make_shared<optim::CosineAnnealingLR>(*opt, 25);
  optim::SequentialLR sched(*opt, {warmup, cosine}, {5});
  for (int i = 0; i < 7; ++i) sched.step();
  const auto sd = sched.state_dict();
  check_equal(sd.at("last_epoch"), scalar(7.0));
  check_equal(sd.at("_milestones"), tensor<int64_t>({5}));
  check_equal(sd.at("_schedulers.0.total_iters"), scalar(5.0));
  check_equal(sd.at("_schedulers.1.T_max"), scalar(25.0));
  check_equal(sd.at("_schedulers.1.last_epoch"), scalar(2.0));
  check_equal(sd.at("_schedulers.1.base_lrs"), tensor<double>({0.1, 0.05}));
  check_equal(sd.at("_last_lr"), from_vector(sched.get_last_lr()));
  // The optimizer's state carries the initial_lr the schedulers set.
  check_equal(opt->state_dict().at("param_groups.1.initial_lr"), scalar(0.05));
}

TEST_CASE("nn lr_scheduler: a bad state is rejected, listing every problem, and nothing changes") {
  auto opt = make_sgd();
  optim::StepLR sched(*opt, 3, 0.5);
  sched.step();
  auto sd = sched.state_dict();
  sd.erase("gamma");
  sd["base_lrs"] = tensor<double>({0.1, 0.2, 0.3});
  sd["last_epoch"] = scalar(2.5);
  sd["step_size"] = scalar(int64_t{3});
  sd["extra"] = scalar(1.0);
  CHECK_MOELAB_ERROR(sched.load_state_dict(sd), "StepLR.load_state_dict: 5 problem(s)");
  CHECK_MOELAB_ERROR(sched.load_state_dict(sd), "missing key 'gamma'");
  CHECK_MOELAB_ERROR(sched.load_state_dict(sd), "'base_lrs' has 3 values for 2 param groups");
  CHECK_MOELAB_ERROR(sched.load_state_dict(sd), "'last_epoch' must hold an integer");
  CHECK_MOELAB_ERROR(sched.load_state_dict(sd), "'step_size' must be a 0-d f64 tensor (got i64 [])");
  CHECK_MOELAB_ERROR(sched.load_state_dict(sd), "unexpected key 'extra'");
  CHECK(sched.last_epoch() == 1);
  CHECK(sched.base_lrs() == std::vector<double>{0.1, 0.05});
  // A SequentialLR checks its children's states too.
  auto o2 = make_sgd();
  auto a = std::make_shared<optim::LinearLR>(*o2);
  auto b = std::make_shared<optim::StepLR>(*o2, 2);
  optim::SequentialLR seq(*o2, {a, b}, {3});
  auto ss = seq.state_dict();
  ss.erase("_schedulers.1.step_size");
  ss["_milestones"] = tensor<int64_t>({3, 4});
  CHECK_MOELAB_ERROR(seq.load_state_dict(ss), "missing key '_schedulers.1.step_size'");
  CHECK_MOELAB_ERROR(seq.load_state_dict(ss), "'_milestones' has 2 values for 2 schedulers");
}

TEST_CASE("nn lr_scheduler: OneCycleLR cycles SGD momentum and Adam beta1, and stops at total_steps") {
  auto sgd = make_sgd();
  optim::OneCycleLR s1(*sgd, 1.0, {.total_steps = 10});
  CHECK(*sgd->param_groups()[0].momentum == 0.95);  // starts at max_momentum
  CHECK(*sgd->param_groups()[0].initial_lr == 1.0 / 25);
  CHECK(*sgd->param_groups()[0].lr == doctest::Approx(1.0 / 25).epsilon(1e-15));
  for (int i = 0; i < 10; ++i) s1.step();
  // Past total_steps: an Error, and the schedule does not move.
  const auto lr = s1.get_last_lr();
  CHECK_MOELAB_ERROR(s1.step(), "OneCycleLR: tried to step 12 times. The specified number of total steps is 10");
  CHECK(s1.last_epoch() == 10);
  CHECK(s1.get_last_lr() == lr);
  auto adam = make_adam();
  optim::OneCycleLR s2(*adam, 0.01, {.epochs = 2, .steps_per_epoch = 5});
  CHECK(s2.total_steps() == 10);
  CHECK(adam->param_groups()[1].betas->first == 0.95);
  CHECK(adam->param_groups()[1].betas->second == 0.99);  // beta2 is left alone
  s2.step();
  CHECK(adam->param_groups()[1].betas->first < 0.95);
}

TEST_CASE("nn lr_scheduler: SequentialLR warmup then cosine, and the lr reaches the optimizer") {
  Tensor w = zeros({1}, kF64);
  w.requires_grad_();
  optim::SGD opt({w}, {.lr = 1.0});
  auto warmup = std::make_shared<optim::LinearLR>(opt, 0.25, 1.0, 3);
  auto cosine = std::make_shared<optim::CosineAnnealingLR>(opt, 4);
  optim::SequentialLR sched(opt, {warmup, cosine}, {3});
  const std::vector<double> expected = {0.25, 0.5, 0.75, 1.0, 0.5 + 0.5 * std::cos(M_PI / 4), 0.5,
                                        0.5 - 0.5 * std::cos(M_PI / 4), 0.0};
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("epoch " << i);
    CHECK(*opt.param_groups()[0].lr == doctest::Approx(expected[i]).epsilon(1e-12));
    // The optimizer steps with the scheduled lr.
    w.mutable_grad() = ones({1}, kF64);
    const double before = w.item<double>();
    opt.step();
    CHECK(before - w.item<double>() == doctest::Approx(expected[i]).epsilon(1e-12));
    sched.step();
  }
}

TEST_CASE("nn lr_scheduler: invalid arguments are errors") {
  using namespace optim;
  auto opt = make_sgd();
  CHECK_MOELAB_ERROR(StepLR(*opt, 0), "StepLR: step_size must be positive, got 0");
  CHECK_MOELAB_ERROR(CosineAnnealingLR(*opt, 0), "CosineAnnealingLR: T_max must be positive");
  CHECK_MOELAB_ERROR(LinearLR(*opt, 0.0), "LinearLR: start_factor must be in (0, 1]");
  CHECK_MOELAB_ERROR(LinearLR(*opt, 0.5, 1.5), "LinearLR: end_factor must be in [0, 1]");
  CHECK_MOELAB_ERROR(LinearLR(*opt, 0.5, 1.0, 0), "LinearLR: total_iters must be positive");
  CHECK_MOELAB_ERROR(ConstantLR(*opt, 0.0), "ConstantLR: factor must be in (0, 1]");
  CHECK_MOELAB_ERROR(ConstantLR(*opt, 0.5, -1), "ConstantLR: total_iters must be non-negative");
  CHECK_MOELAB_ERROR(PolynomialLR(*opt, 0), "PolynomialLR: total_iters must be positive");
  CHECK_MOELAB_ERROR(LambdaLR(*opt, std::vector<LambdaLR::Lambda>{[](int64_t) { return 1.0; }}),
                     "LambdaLR: expected 2 lr_lambdas (one per param group), got 1");
  CHECK_MOELAB_ERROR(LambdaLR(*opt, LambdaLR::Lambda{}), "LambdaLR: lr_lambda 0 is empty");
  CHECK_MOELAB_ERROR(OneCycleLR(*opt, 0.1, {}), "either total_steps or (epochs and steps_per_epoch)");
  CHECK_MOELAB_ERROR(OneCycleLR(*opt, 0.1, {.total_steps = 0}), "positive total_steps, got 0");
  CHECK_MOELAB_ERROR(OneCycleLR(*opt, 0.1, {.epochs = 2, .steps_per_epoch = -1}), "positive steps_per_epoch");
  CHECK_MOELAB_ERROR(OneCycleLR(*opt, 0.1, {.total_steps = 10, .pct_start = 1.5}), "pct_start between 0 and 1");
  CHECK_MOELAB_ERROR(OneCycleLR(*opt, 0.1, {.total_steps = 10, .anneal_strategy = "exp"}),
                     "anneal_strategy must be 'cos' or 'linear', got 'exp'");
  CHECK_MOELAB_ERROR(OneCycleLR(*opt, PerGroup{0.1, 0.2, 0.3}, {.total_steps = 10}),
                     "OneCycleLR: max_lr: expected 2 values (one per param group), got 3");
  CHECK_MOELAB_ERROR(OneCycleLR(*opt, 0.1, {.total_steps = 10, .max_momentum = {0.9}}), "max_momentum: expected 2");
  CHECK_MOELAB_ERROR(OneCycleLR(*opt, 0.1, {.total_steps = 10, .pct_start = 0.1}), "phase 0 of the schedule has no steps");
  Tensor p = leaf({2});
  Adagrad adagrad({p});
  CHECK_MOELAB_ERROR(OneCycleLR(adagrad, 0.1, {.total_steps = 10}), "Adagrad must support momentum");
  OneCycleLR ok(adagrad, 0.1, {.total_steps = 10, .cycle_momentum = false});
  // SequentialLR.
  auto other = make_sgd();
  auto a = std::make_shared<StepLR>(*opt, 2);
  auto b = std::make_shared<StepLR>(*other, 2);
  CHECK_MOELAB_ERROR(SequentialLR(*opt, {a, b}, {3}), "scheduler 1 (StepLR) drives another one");
  CHECK_MOELAB_ERROR(SequentialLR(*opt, {a}, {3}), "one more scheduler than milestones");
  CHECK_MOELAB_ERROR(SequentialLR(*opt, {}, {}), "empty list of schedulers");
  CHECK_MOELAB_ERROR(SequentialLR(*opt, {a, nullptr}, {3}), "scheduler 1 is null");
  auto c = std::make_shared<StepLR>(*opt, 3);
  auto d = std::make_shared<StepLR>(*opt, 4);
  CHECK_MOELAB_ERROR(SequentialLR(*opt, {a, c, d}, {5, 3}), "milestones must be increasing");
  // A param group added after the scheduler has no base lr.
  StepLR s(*opt, 2);
  opt->add_param_group({.params = {leaf({1})}});
  CHECK_MOELAB_ERROR(s.step(), "StepLR.step: the optimizer has 3 param groups but the scheduler was made for 2");
}
