// Optimizer::state_dict / load_state_dict: resuming is bitwise the same as not stopping, the key
// layout, validation, copying.
#include <functional>
#include <memory>

#include "support/check.h"

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::check_equal;

namespace {

// A small model: Linear(3, 4) -> tanh -> Linear(4, 2).
class Net : public nn::Module {
 public:
  explicit Net(DType dtype) : nn::Module("Net") {
    l1 = register_module("l1", std::make_shared<nn::Linear>(3, 4, true, dtype));
    l2 = register_module("l2", std::make_shared<nn::Linear>(4, 2, true, dtype));
  }
  Tensor forward(const Tensor& x) { return l2->forward(tanh(l1->forward(x))); }
  std::shared_ptr<nn::Linear> l1, l2;
};

using Factory = std::function<std::unique_ptr<optim::Optimizer>(Net&)>;

std::vector<optim::ParamGroup> two_groups(Net& n) {
  return {{.params = n.l1->parameters()}, {.params = n.l2->parameters(), .lr = 0.02}};
}

const std::vector<std::pair<std::string, Factory>>& cases() {
  using namespace optim;
  static const std::vector<std::pair<std::string, Factory>> c = {
      {"sgd", [](Net& n) { return std::make_unique<SGD>(n.parameters(), SGDOptions{.lr = 0.1}); }},
      {"sgd_nesterov",
       [](Net& n) {
         return std::make_unique<SGD>(two_groups(n),
                                      SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true});
       }},
      {"adam", [](Net& n) { return std::make_unique<Adam>(n.parameters(), AdamOptions{.lr = 0.01}); }},
      {"adam_amsgrad_groups",
       [](Net& n) {
         return std::make_unique<Adam>(two_groups(n),
                                       AdamOptions{.lr = 0.01, .betas = {0.8, 0.9}, .weight_decay = 0.1, .amsgrad = true});
       }},
      {"adamw", [](Net& n) { return std::make_unique<AdamW>(two_groups(n), AdamWOptions{.lr = 0.01}); }},
      {"rmsprop_all",
       [](Net& n) {
         return std::make_unique<RMSprop>(two_groups(n),
                                          RMSpropOptions{.lr = 0.01, .weight_decay = 0.1, .momentum = 0.5, .centered = true});
       }},
      {"adagrad",
       [](Net& n) {
         return std::make_unique<Adagrad>(two_groups(n),
                                          AdagradOptions{.lr = 0.1, .lr_decay = 0.01, .initial_accumulator_value = 0.1});
       }},
  };
  return c;
}

// One training step on a fixed batch; with skip_first, l1's weight gets no grad (and so no state).
void train_step(Net& net, optim::Optimizer& opt, int step, bool skip_first) {
  const DType dt = net.l1->weight().dtype();
  Tensor x = sin(arange(0, 15, 1, dt).reshape({5, 3}) * 0.1 + static_cast<double>(step) * 0.01);
  Tensor y = cos(arange(0, 10, 1, dt).reshape({5, 2}));
  opt.zero_grad();
  Tensor loss = (net.forward(x) - y).square().mean();
  loss.backward();
  if (skip_first && step < 3) {
    Tensor w = net.l1->weight();
    w.mutable_grad() = Tensor();
  }
  opt.step();
}

std::map<std::string, Tensor> deep_copy(const std::map<std::string, Tensor>& m) {
  std::map<std::string, Tensor> out;
  for (const auto& [k, v] : m) out[k] = v.clone();
  return out;
}

void check_states_equal(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  REQUIRE(a.size() == b.size());
  for (const auto& [k, v] : a) {
    INFO(k);
    REQUIRE(b.count(k));
    check_equal(v, b.at(k));
  }
}

void resume_case(const Factory& make, DType dtype, bool skip_first) {
  manual_seed(7);
  Net full_net(dtype);
  auto full_opt = make(full_net);
  for (int s = 0; s < 5; ++s) train_step(full_net, *full_opt, s, skip_first);

  manual_seed(7);
  Net net(dtype);
  auto opt = make(net);
  for (int s = 0; s < 3; ++s) train_step(net, *opt, s, skip_first);
  auto model_sd = deep_copy(net.state_dict());  // as if written to a checkpoint
  auto opt_sd = deep_copy(opt->state_dict());

  manual_seed(99);  // a differently initialised fresh model
  Net fresh(dtype);
  auto fresh_opt = make(fresh);
  fresh.load_state_dict(model_sd);
  fresh_opt->load_state_dict(opt_sd);
  check_states_equal(fresh_opt->state_dict(), opt_sd);
  for (auto& [k, v] : opt_sd) v.zero_();  // the loaded optimizer holds copies, not these tensors
  for (int s = 3; s < 5; ++s) train_step(fresh, *fresh_opt, s, skip_first);

  const auto a = fresh.state_dict(), b = full_net.state_dict();
  for (const auto& [k, v] : b) {
    INFO(k);
    check_equal(a.at(k), v);
  }
  check_states_equal(fresh_opt->state_dict(), full_opt->state_dict());
}

Tensor leaf(const Tensor& t) {
  Tensor l = t.clone();
  l.requires_grad_();
  return l;
}
}  // namespace

TEST_CASE("nn optim_state: 3 steps, save, load into a fresh model and optimizer, 2 steps == 5 steps bitwise") {
  for (const auto& [name, make] : cases()) {
    SUBCASE(name.c_str()) {
      resume_case(make, kF64, false);
      resume_case(make, kF32, false);
      resume_case(make, kF64, /*skip_first=*/true);
    }
  }
}

TEST_CASE("nn optim_state: the key layout mirrors PyTorch's state_dict") {
  Tensor a = leaf(tensor<double>({1.0, 2.0}));
  Tensor b = leaf(tensor<double>({{1.0}, {2.0}}));
  Tensor c = leaf(tensor<double>({3.0}));
  optim::Adam adam(std::vector<optim::ParamGroup>{{.params = {a, b}}, {.params = {c}, .lr = 0.5}}, {.lr = 0.1});
  a.mutable_grad() = tensor<double>({1.0, 1.0});
  c.mutable_grad() = tensor<double>({1.0});
  adam.step();
  adam.step();
  const auto sd = adam.state_dict();
  std::vector<std::string> keys;
  for (const auto& [k, v] : sd) keys.push_back(k);
  const std::vector<std::string> expected = {
      "param_groups.0.amsgrad", "param_groups.0.betas",  "param_groups.0.eps",          "param_groups.0.lr",
      "param_groups.0.maximize", "param_groups.0.params", "param_groups.0.weight_decay", "param_groups.1.amsgrad",
      "param_groups.1.betas",   "param_groups.1.eps",    "param_groups.1.lr",           "param_groups.1.maximize",
      "param_groups.1.params",  "param_groups.1.weight_decay", "state.0.exp_avg",       "state.0.exp_avg_sq",
      "state.0.step",           "state.2.exp_avg",       "state.2.exp_avg_sq",          "state.2.step"};
  CHECK(keys == expected);
  check_equal(sd.at("param_groups.0.params"), tensor<int64_t>({0, 1}));
  check_equal(sd.at("param_groups.1.params"), tensor<int64_t>({2}));
  check_equal(sd.at("param_groups.1.lr"), scalar(0.5));
  check_equal(sd.at("param_groups.0.betas"), tensor<double>({0.9, 0.999}));
  check_equal(sd.at("param_groups.0.amsgrad"), scalar(0.0));
  check_equal(sd.at("state.2.step"), scalar(2.0));
  // The buffers are the optimizer's own (as PyTorch's state_dict), not copies.
  CHECK(sd.at("state.0.exp_avg").is_same(adam.state(a).at("exp_avg")));
  // SGD keeps no step count; without momentum it keeps no state at all.
  optim::SGD sgd({a}, {.lr = 0.1, .momentum = 0.9});
  sgd.step();
  auto s = sgd.state_dict();
  CHECK(s.count("state.0.momentum_buffer"));
  CHECK_FALSE(s.count("state.0.step"));
  check_equal(s.at("param_groups.0.nesterov"), scalar(0.0));
  CHECK_FALSE(s.count("param_groups.0.betas"));
  optim::SGD plain({a}, {.lr = 0.1});
  plain.step();
  CHECK(plain.state_dict().size() == 7);  // params, lr, momentum, dampening, weight_decay, nesterov, maximize
}

TEST_CASE("nn optim_state: a bad state is rejected, listing every problem, and nothing changes") {
  Tensor a = leaf(tensor<double>({1.0, 2.0}));
  Tensor b = leaf(tensor<double>({3.0}));
  optim::Adam opt(std::vector<optim::ParamGroup>{{.params = {a}}, {.params = {b}}}, {.lr = 0.1});
  a.mutable_grad() = tensor<double>({1.0, 1.0});
  b.mutable_grad() = tensor<double>({1.0});
  opt.step();
  const auto good = deep_copy(opt.state_dict());
  const Tensor exp_avg = opt.state(a).at("exp_avg").clone();

  auto bad = good;
  bad["state.0.exp_avg"] = zeros({3}, kF64);                 // wrong shape
  bad["state.1.exp_avg_sq"] = tensor<int64_t>({1});          // not floating
  bad.erase("state.1.exp_avg");                              // missing buffer
  bad["state.0.step"] = scalar(1.5);                         // not an integer
  bad["state.0.momentum_buffer"] = zeros({2}, kF64);         // not an Adam buffer
  bad["state.7.exp_avg"] = zeros({2}, kF64);                 // no parameter 7
  bad["param_groups.0.lr"] = scalar(-1.0);                   // invalid value
  bad["param_groups.1.betas"] = scalar(0.9);                 // wrong shape
  bad.erase("param_groups.1.eps");                           // missing option
  bad["param_groups.0.momentum"] = scalar(0.9);              // not an Adam option
  bad["param_groups.1.amsgrad"] = scalar(0.5);               // not a bool
  auto load_bad = [&] { opt.load_state_dict(bad); };
  CHECK_MOELAB_ERROR(load_bad(), "Adam.load_state_dict: 11 problem(s)");
  CHECK_MOELAB_ERROR(load_bad(), "'state.0.exp_avg' must be a floating-point tensor of the parameter's shape [2], got f64 [3]");
  CHECK_MOELAB_ERROR(load_bad(), "'state.1.exp_avg_sq' must be a floating-point tensor");
  CHECK_MOELAB_ERROR(load_bad(), "missing key 'state.1.exp_avg'");
  CHECK_MOELAB_ERROR(load_bad(), "'state.0.step' must hold a non-negative integer, got 1.5");
  CHECK_MOELAB_ERROR(load_bad(), "unexpected key 'state.0.momentum_buffer'");
  CHECK_MOELAB_ERROR(load_bad(), "unexpected key 'state.7.exp_avg'");
  CHECK_MOELAB_ERROR(load_bad(), "Adam: invalid learning rate -1 in param group 0");
  CHECK_MOELAB_ERROR(load_bad(), "'param_groups.1.betas' must be a 1-d f64 tensor of 2 values, got f64 []");
  CHECK_MOELAB_ERROR(load_bad(), "missing key 'param_groups.1.eps'");
  CHECK_MOELAB_ERROR(load_bad(), "unexpected key 'param_groups.0.momentum'");
  CHECK_MOELAB_ERROR(load_bad(), "'param_groups.1.amsgrad' must hold 0 or 1, got 0.5");
  CHECK(*opt.param_groups()[0].lr == 0.1);
  check_equal(opt.state(a).at("exp_avg"), exp_avg);
  CHECK(opt.state(a).step == 1);

  // Group structure.
  auto three = good;
  three["param_groups.2.params"] = tensor<int64_t>({2});
  CHECK_MOELAB_ERROR(opt.load_state_dict(three), "the state has 3 param groups, the optimizer has 2");
  auto wrong_count = good;
  wrong_count["param_groups.1.params"] = tensor<int64_t>({1, 2});
  CHECK_MOELAB_ERROR(opt.load_state_dict(wrong_count), "param group 1 of the state has 2 parameters, the optimizer's has 1");
  auto dup = good;
  dup["param_groups.1.params"] = tensor<int64_t>({0});
  CHECK_MOELAB_ERROR(opt.load_state_dict(dup), "parameter number 0 appears more than once");
  auto ids = good;
  ids["param_groups.0.params"] = tensor<double>({0.0});
  CHECK_MOELAB_ERROR(opt.load_state_dict(ids), "'param_groups.0.params' must be a 1-d i64 tensor, got f64 [1]");
  Tensor c = leaf(tensor<double>({1.0}));
  optim::Adam one({c}, {});
  CHECK_MOELAB_ERROR(one.load_state_dict(good), "the state has 2 param groups, the optimizer has 1");
  CHECK_MOELAB_ERROR(one.load_state_dict({}), "missing key 'param_groups.0.params'");

  // The good state loads, also after a failed attempt.
  opt.load_state_dict(good);
  check_equal(opt.state(a).at("exp_avg"), exp_avg);
}

TEST_CASE("nn optim_state: buffers are cast to the parameter's dtype, add_param_group, Adagrad's sums") {
  Tensor a = leaf(tensor<double>({1.0, 2.0}));
  optim::RMSprop r64({a}, {.momentum = 0.5});
  a.mutable_grad() = tensor<double>({0.5, -1.0});
  r64.step();
  Tensor f = leaf(tensor<float>({1.0f, 2.0f}));
  optim::RMSprop r32({f}, {});
  r32.load_state_dict(r64.state_dict());
  CHECK(r32.state(f).at("square_avg").dtype() == kF32);
  check_close(r32.state(f).at("momentum_buffer"), r64.state(a).at("momentum_buffer").to(kF32));
  CHECK(*r32.param_groups()[0].momentum == 0.5);  // the options come from the state too
  CHECK(r32.state(f).step == 1);

  // A group added later is part of the state; the loaded optimizer needs the same groups.
  Tensor b = leaf(tensor<double>({3.0}));
  r64.add_param_group({.params = {b}, .lr = 0.5});
  b.mutable_grad() = tensor<double>({1.0});
  r64.step();
  const auto sd = r64.state_dict();
  check_equal(sd.at("param_groups.1.params"), tensor<int64_t>({1}));
  CHECK(sd.count("state.1.square_avg"));
  Tensor a2 = leaf(tensor<double>({0.0, 0.0}));
  Tensor b2 = leaf(tensor<double>({0.0}));
  optim::RMSprop again({a2}, {});
  CHECK_MOELAB_ERROR(again.load_state_dict(sd), "the state has 2 param groups, the optimizer has 1");
  again.add_param_group({.params = {b2}});
  again.load_state_dict(sd);
  CHECK(*again.param_groups()[1].lr == 0.5);
  // initial_lr comes and goes with the state, as PyTorch replaces whole groups.
  CHECK_FALSE(again.param_groups()[0].initial_lr.has_value());
  auto with_initial = sd;
  with_initial["param_groups.0.initial_lr"] = scalar(0.25);
  again.load_state_dict(with_initial);
  CHECK(*again.param_groups()[0].initial_lr == 0.25);
  again.load_state_dict(sd);
  CHECK_FALSE(again.param_groups()[0].initial_lr.has_value());
  check_equal(again.state(b2).at("square_avg"), r64.state(b).at("square_avg"));

  // Adagrad makes its sums at construction; the loaded state replaces them.
  Tensor p = leaf(tensor<double>({1.0, 2.0}));
  optim::Adagrad ada({p}, {.initial_accumulator_value = 0.3});
  auto st = ada.state_dict();
  check_equal(st.at("state.0.sum"), tensor<double>({0.3, 0.3}));
  check_equal(st.at("state.0.step"), scalar(0.0));
  st["state.0.sum"] = tensor<double>({1.0, 4.0});
  st["state.0.step"] = scalar(3.0);
  ada.load_state_dict(st);
  check_equal(ada.state(p).at("sum"), tensor<double>({1.0, 4.0}));
  CHECK(ada.state(p).step == 3);
  CHECK_FALSE(ada.state(p).at("sum").is_same(st.at("state.0.sum")));
}
