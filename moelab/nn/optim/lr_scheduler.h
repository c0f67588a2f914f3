// Learning-rate schedulers: torch.optim.lr_scheduler (PyTorch 1.13), with the same recursive
// ("chainable") update rules, so the lr sequences match PyTorch's to the last bit or so.
//
// A scheduler holds a reference to an Optimizer (which must outlive it). Construction records each
// group's `initial_lr` (unless already set) as its base lr and performs the first step (epoch 0),
// which already sets the groups' lr. Call step() once after each optimizer.step():
//
//   optim::SGD opt(model.parameters(), {.lr = 0.1, .momentum = 0.9});
//   optim::CosineAnnealingLR sched(opt, /*T_max=*/100);
//   for (...) { ...; opt.step(); sched.step(); }
//
// state_dict() / load_state_dict() hold the schedule's progress and hyperparameters as named
// tensors (scalars as 0-d f64, lists as 1-d f64 or i64), e.g. "last_epoch", "base_lrs", "_last_lr".
#pragma once
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "moelab/nn/optim/optimizer.h"

namespace moelab::optim {

class SequentialLR;

class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  // Advances one epoch (or iteration) and writes the new lr into every param group.
  virtual void step();
  // The lr of each param group after the last step().
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  int64_t last_epoch() const { return last_epoch_; }
  Optimizer& optimizer() const { return *optimizer_; }
  const std::string& name() const { return name_; }

  std::map<std::string, Tensor> state_dict() const;
  // Checks every key, dtype and shape first (Error listing all problems; nothing changes then),
  // then copies the values in.
  void load_state_dict(const std::map<std::string, Tensor>& state);

 protected:
  LRScheduler(std::string name, Optimizer& optimizer);
  // Performs the first step; call at the end of a derived constructor.
  void initial_step();
  // PyTorch's step(epoch): jumps to `epoch`, using the closed form where the scheduler has one.
  void step_to(int64_t epoch);
  // The new lrs from the current ones and last_epoch (PyTorch's chainable get_lr()).
  virtual std::vector<double> get_lr() = 0;
  virtual std::optional<std::vector<double>> closed_form_lr() const { return std::nullopt; }
  std::vector<double> group_lrs() const;

  // Values saved by state_dict under `key`; per_group lists must have one entry per param group.
  using Field = std::variant<double*, int64_t*, bool*, std::vector<double>*, std::vector<int64_t>*>;
  void register_state(std::string key, Field field, bool per_group = false);
  virtual void write_state(const std::string& prefix, std::map<std::string, Tensor>& out) const;
  // Appends a line per problem; reports keys it consumed in `used`.
  virtual void check_state(const std::string& prefix, const std::map<std::string, Tensor>& in,
                           std::vector<std::string>& problems, std::vector<std::string>& used) const;
  virtual void read_state(const std::string& prefix, const std::map<std::string, Tensor>& in);
  // Called after read_state, for derived members computed from the loaded ones.
  virtual void on_state_loaded() {}

  int64_t last_epoch_ = -1;
  int64_t step_count_ = 0;
  std::vector<double> base_lrs_;
  std::vector<double> last_lr_;

 private:
  friend class SequentialLR;
  void step_impl(std::optional<int64_t> epoch);

  struct Entry {
    std::string key;
    Field field;
    bool per_group;
  };
  std::string name_;
  Optimizer* optimizer_;
  std::vector<Entry> fields_;
};

// Multiplies the lr by gamma every step_size epochs.
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);

 protected:
  std::vector<double> get_lr() override;
  std::optional<std::vector<double>> closed_form_lr() const override;

 private:
  int64_t step_size_;
  double gamma_;
};

// Multiplies the lr by gamma at each milestone (a milestone listed k times multiplies by gamma^k).
class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma = 0.1);

 protected:
  std::vector<double> get_lr() override;
  std::optional<std::vector<double>> closed_form_lr() const override;
  void on_state_loaded() override;

 private:
  std::vector<int64_t> milestones_;  // sorted
  double gamma_;
};

// eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2, computed recursively as
// PyTorch does (so it follows outside changes of the lr; past T_max it rises again).
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0);

 protected:
  std::vector<double> get_lr() override;
  std::optional<std::vector<double>> closed_form_lr() const override;

 private:
  int64_t T_max_;
  double eta_min_;
};

// Scales the lr by a factor going linearly from start_factor to end_factor over total_iters
// epochs (a linear warmup with the defaults), then keeps it.
class LinearLR : public LRScheduler {
 public:
  LinearLR(Optimizer& optimizer, double start_factor = 1.0 / 3, double end_factor = 1.0, int64_t total_iters = 5);

 protected:
  std::vector<double> get_lr() override;
  std::optional<std::vector<double>> closed_form_lr() const override;

 private:
  double start_factor_;
  double end_factor_;
  int64_t total_iters_;
};

// Multiplies the lr by gamma every epoch.
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma);

 protected:
  std::vector<double> get_lr() override;
  std::optional<std::vector<double>> closed_form_lr() const override;

 private:
  double gamma_;
};

// Scales the lr by factor for the first total_iters epochs, then restores it.
class ConstantLR : public LRScheduler {
 public:
  ConstantLR(Optimizer& optimizer, double factor = 1.0 / 3, int64_t total_iters = 5);

 protected:
  std::vector<double> get_lr() override;
  std::optional<std::vector<double>> closed_form_lr() const override;

 private:
  double factor_;
  int64_t total_iters_;
};

// base_lr * (1 - min(epoch, total_iters) / total_iters)^power, recursively.
class PolynomialLR : public LRScheduler {
 public:
  PolynomialLR(Optimizer& optimizer, int64_t total_iters = 5, double power = 1.0);

 protected:
  std::vector<double> get_lr() override;
  std::optional<std::vector<double>> closed_form_lr() const override;

 private:
  int64_t total_iters_;
  double power_;
};

// lr = base_lr * lr_lambda(epoch); one function for all groups or one per group.
// The functions are not part of state_dict (as in PyTorch, where lambdas are not saved).
class LambdaLR : public LRScheduler {
 public:
  using Lambda = std::function<double(int64_t)>;
  LambdaLR(Optimizer& optimizer, Lambda lr_lambda);
  LambdaLR(Optimizer& optimizer, std::vector<Lambda> lr_lambdas);

 protected:
  std::vector<double> get_lr() override;

 private:
  std::vector<Lambda> lambdas_;
};

// One value for every param group, or a list with one per group.
struct PerGroup {
  std::vector<double> values;
  bool broadcast = true;
  PerGroup(double v) : values{v} {}  // NOLINT: implicit, so that `.max_momentum = 0.9` reads naturally
  PerGroup(std::vector<double> v) : values(std::move(v)), broadcast(false) {}  // NOLINT
  PerGroup(std::initializer_list<double> v) : values(v), broadcast(false) {}  // NOLINT
  std::vector<double> expand(size_t groups, const std::string& what) const;
};

struct OneCycleLROptions {
  std::optional<int64_t> total_steps{};      // or epochs * steps_per_epoch
  std::optional<int64_t> epochs{};
  std::optional<int64_t> steps_per_epoch{};
  double pct_start = 0.3;
  std::string anneal_strategy = "cos";      // "cos" or "linear"
  bool cycle_momentum = true;
  PerGroup base_momentum = 0.85;
  PerGroup max_momentum = 0.95;
  double div_factor = 25;
  double final_div_factor = 1e4;
  bool three_phase = false;
};

// The 1cycle policy: lr from max_lr / div_factor up to max_lr over pct_start of the steps, then
// down to initial_lr / final_div_factor (three_phase: back to initial_lr first, then down). With
// cycle_momentum the momentum (SGD, RMSprop) or beta1 (Adam, AdamW) moves inversely between
// max_momentum and base_momentum. Step it once per batch; stepping past total_steps is an Error.
// Sets each group's initial_lr to max_lr / div_factor.
class OneCycleLR : public LRScheduler {
 public:
  OneCycleLR(Optimizer& optimizer, PerGroup max_lr, OneCycleLROptions options);

  int64_t total_steps() const { return total_steps_; }

 protected:
  std::vector<double> get_lr() override;
  void on_state_loaded() override;

 private:
  void make_phases();
  double anneal(double start, double end, double pct) const;

  enum Value { kInitial, kMax, kMin, kBaseMomentum, kMaxMomentum };
  struct Phase {
    double end_step;
    Value start_lr, end_lr, start_momentum, end_momentum;
  };
  int64_t total_steps_ = 0;
  double pct_start_;
  bool three_phase_;
  bool linear_;
  bool cycle_momentum_;
  bool use_beta1_ = false;
  std::vector<double> max_lrs_, min_lrs_, max_momentums_, base_momentums_;
  std::vector<Phase> phases_;
};

// Runs schedulers one after another: schedulers[i] from milestones[i - 1] on (each jump restarts
// the next scheduler at its epoch 0). All must drive `optimizer`. Warmup then cosine:
//   auto warmup = std::make_shared<optim::LinearLR>(opt, 0.1, 1.0, 5);
//   auto cosine = std::make_shared<optim::CosineAnnealingLR>(opt, 95);
//   optim::SequentialLR sched(opt, {warmup, cosine}, {5});
// Its state_dict holds the children's under "_schedulers.<i>.".
class SequentialLR : public LRScheduler {
 public:
  SequentialLR(Optimizer& optimizer, std::vector<std::shared_ptr<LRScheduler>> schedulers,
               std::vector<int64_t> milestones);
  void step() override;

 protected:
  std::vector<double> get_lr() override { return group_lrs(); }
  void write_state(const std::string& prefix, std::map<std::string, Tensor>& out) const override;
  void check_state(const std::string& prefix, const std::map<std::string, Tensor>& in,
                   std::vector<std::string>& problems, std::vector<std::string>& used) const override;
  void read_state(const std::string& prefix, const std::map<std::string, Tensor>& in) override;

 private:
  std::vector<std::shared_ptr<LRScheduler>> schedulers_;
  std::vector<int64_t> milestones_;
};

}  // namespace moelab::optim
