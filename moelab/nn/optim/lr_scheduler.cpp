// LRScheduler base (stepping, state_dict) and the simple schedulers. The formulas keep PyTorch
// 1.13's operation order so that the doubles come out the same.
#include "moelab/nn/optim/lr_scheduler.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "moelab/core/error.h"
#include "moelab/ops/factory.h"

namespace moelab::optim {

LRScheduler::LRScheduler(std::string name, Optimizer& optimizer) : name_(std::move(name)), optimizer_(&optimizer) {
  for (ParamGroup& g : optimizer.param_groups()) {
    if (!g.initial_lr) g.initial_lr = *g.lr;
    base_lrs_.push_back(*g.initial_lr);
  }
  register_state("last_epoch", &last_epoch_);
  register_state("_step_count", &step_count_);
  register_state("base_lrs", &base_lrs_, true);
  register_state("_last_lr", &last_lr_, true);
}

void LRScheduler::initial_step() {
  step_count_ = 0;
  step();
}

std::vector<double> LRScheduler::group_lrs() const {
  std::vector<double> lrs;
  for (const ParamGroup& g : optimizer_->param_groups()) lrs.push_back(*g.lr);
  return lrs;
}

void LRScheduler::step() { step_impl(std::nullopt); }

void LRScheduler::step_to(int64_t epoch) { step_impl(epoch); }

void LRScheduler::step_impl(std::optional<int64_t> epoch) {
  auto& groups = optimizer_->param_groups();
  MOELAB_CHECK(groups.size() == base_lrs_.size(), name_, ".step: the optimizer has ", groups.size(),
               " param groups but the scheduler was made for ", base_lrs_.size(),
               " (a group added after the scheduler has no base lr)");
  const int64_t saved_epoch = last_epoch_, saved_count = step_count_;
  std::vector<double> values;
  try {
    step_count_ += 1;
    if (!epoch) {
      last_epoch_ += 1;
      values = get_lr();
    } else {
      last_epoch_ = *epoch;
      auto closed = closed_form_lr();
      values = closed ? std::move(*closed) : get_lr();
    }
  } catch (...) {
    last_epoch_ = saved_epoch;  // a failed step changes nothing
    step_count_ = saved_count;
    throw;
  }
  for (size_t i = 0; i < groups.size(); ++i) groups[i].lr = values[i];
  last_lr_ = group_lrs();
}

// ---- state ----

void LRScheduler::register_state(std::string key, Field field, bool per_group) {
  fields_.push_back({std::move(key), field, per_group});
}

void LRScheduler::write_state(const std::string& prefix, std::map<std::string, Tensor>& out) const {
  for (const Entry& e : fields_) {
    Tensor t = std::visit(
        [](auto* p) -> Tensor {
          using T = std::remove_pointer_t<decltype(p)>;
          if constexpr (std::is_same_v<T, std::vector<double>> || std::is_same_v<T, std::vector<int64_t>>)
            return from_vector(*p);
          else
            return scalar(static_cast<double>(*p));
        },
        e.field);
    out[prefix + e.key] = t;
  }
}

void LRScheduler::check_state(const std::string& prefix, const std::map<std::string, Tensor>& in,
                              std::vector<std::string>& problems, std::vector<std::string>& used) const {
  const size_t groups = optimizer_->param_groups().size();
  for (const Entry& e : fields_) {
    const std::string key = prefix + e.key;
    auto it = in.find(key);
    if (it == in.end()) {
      problems.push_back("missing key '" + key + "'");
      continue;
    }
    used.push_back(key);
    const Tensor& t = it->second;
    std::string bad = std::visit(
        [&](auto* p) -> std::string {
          using T = std::remove_pointer_t<decltype(p)>;
          if (!t.defined()) return "is undefined";
          if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
            if (t.dim() != 1 || t.dtype() != kI64) return "must be a 1-d i64 tensor";
          } else if constexpr (std::is_same_v<T, std::vector<double>>) {
            if (t.dim() != 1 || t.dtype() != kF64) return "must be a 1-d f64 tensor";
            if (e.per_group && static_cast<size_t>(t.numel()) != groups)
              return "has " + std::to_string(t.numel()) + " values for " + std::to_string(groups) + " param groups";
          } else {
            if (t.dim() != 0 || t.dtype() != kF64) return "must be a 0-d f64 tensor";
            const double v = t.item<double>();
            if constexpr (std::is_same_v<T, int64_t>) {
              if (v != std::floor(v) || std::abs(v) > 9.0e15) return "must hold an integer";
            } else if constexpr (std::is_same_v<T, bool>) {
              if (v != 0 && v != 1) return "must hold 0 or 1";
            }
          }
          return "";
        },
        e.field);
    if (!bad.empty())
      problems.push_back("'" + key + "' " + bad + " (got " + (t.defined() ? moelab::detail::concat(t.dtype(), " ", t.shape()) : "") + ")");
  }
}

void LRScheduler::read_state(const std::string& prefix, const std::map<std::string, Tensor>& in) {
  for (const Entry& e : fields_) {
    const Tensor& t = in.at(prefix + e.key);
    std::visit(
        [&](auto* p) {
          using T = std::remove_pointer_t<decltype(p)>;
          if constexpr (std::is_same_v<T, std::vector<int64_t>> || std::is_same_v<T, std::vector<double>>)
            *p = t.to_vector<typename T::value_type>();
          else if constexpr (std::is_same_v<T, bool>)
            *p = t.item<double>() != 0;
          else
            *p = static_cast<T>(t.item<double>());
        },
        e.field);
  }
  on_state_loaded();
}

std::map<std::string, Tensor> LRScheduler::state_dict() const {
  std::map<std::string, Tensor> out;
  write_state("", out);
  return out;
}

void LRScheduler::load_state_dict(const std::map<std::string, Tensor>& state) {
  std::vector<std::string> problems, used;
  check_state("", state, problems, used);
  std::sort(used.begin(), used.end());
  for (const auto& [key, t] : state)
    if (!std::binary_search(used.begin(), used.end(), key)) problems.push_back("unexpected key '" + key + "'");
  if (!problems.empty()) {
    std::string msg = name_ + ".load_state_dict: " + std::to_string(problems.size()) + " problem(s):";
    for (const auto& p : problems) msg += "\n  " + p;
    MOELAB_FAIL(msg);
  }
  read_state("", state);
}

// ---- StepLR ----

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : LRScheduler("StepLR", optimizer), step_size_(step_size), gamma_(gamma) {
  MOELAB_CHECK(step_size >= 1, "StepLR: step_size must be positive, got ", step_size);
  register_state("step_size", &step_size_);
  register_state("gamma", &gamma_);
  initial_step();
}

std::vector<double> StepLR::get_lr() {
  std::vector<double> lrs = group_lrs();
  if (last_epoch_ == 0 || last_epoch_ % step_size_ != 0) return lrs;
  for (double& lr : lrs) lr = lr * gamma_;
  return lrs;
}

std::optional<std::vector<double>> StepLR::closed_form_lr() const {
  std::vector<double> lrs;
  const int64_t k = last_epoch_ >= 0 ? last_epoch_ / step_size_ : -((-last_epoch_ + step_size_ - 1) / step_size_);
  for (double base : base_lrs_) lrs.push_back(base * std::pow(gamma_, static_cast<double>(k)));
  return lrs;
}

// ---- MultiStepLR ----

MultiStepLR::MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma)
    : LRScheduler("MultiStepLR", optimizer), milestones_(std::move(milestones)), gamma_(gamma) {
  std::sort(milestones_.begin(), milestones_.end());
  register_state("milestones", &milestones_);
  register_state("gamma", &gamma_);
  initial_step();
}

void MultiStepLR::on_state_loaded() { std::sort(milestones_.begin(), milestones_.end()); }

std::vector<double> MultiStepLR::get_lr() {
  std::vector<double> lrs = group_lrs();
  const auto count = std::count(milestones_.begin(), milestones_.end(), last_epoch_);
  if (count == 0) return lrs;
  for (double& lr : lrs) lr = lr * std::pow(gamma_, static_cast<double>(count));
  return lrs;
}

std::optional<std::vector<double>> MultiStepLR::closed_form_lr() const {
  const auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), last_epoch_) - milestones_.begin();
  std::vector<double> lrs;
  for (double base : base_lrs_) lrs.push_back(base * std::pow(gamma_, static_cast<double>(passed)));
  return lrs;
}

// ---- CosineAnnealingLR ----

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min)
    : LRScheduler("CosineAnnealingLR", optimizer), T_max_(T_max), eta_min_(eta_min) {
  MOELAB_CHECK(T_max >= 1, "CosineAnnealingLR: T_max must be positive, got ", T_max);
  register_state("T_max", &T_max_);
  register_state("eta_min", &eta_min_);
  initial_step();
}

std::vector<double> CosineAnnealingLR::get_lr() {
  constexpr double pi = std::numbers::pi;
  const double e = static_cast<double>(last_epoch_), T = static_cast<double>(T_max_);
  std::vector<double> lrs = group_lrs();
  if (last_epoch_ == 0) return lrs;
  if (step_count_ == 1 && last_epoch_ > 0) {
    for (size_t i = 0; i < lrs.size(); ++i)
      lrs[i] = eta_min_ + (base_lrs_[i] - eta_min_) * (1 + std::cos(e * pi / T)) / 2;
  } else if ((last_epoch_ - 1 - T_max_) % (2 * T_max_) == 0) {
    for (size_t i = 0; i < lrs.size(); ++i) lrs[i] = lrs[i] + (base_lrs_[i] - eta_min_) * (1 - std::cos(pi / T)) / 2;
  } else {
    for (double& lr : lrs)
      lr = (1 + std::cos(pi * e / T)) / (1 + std::cos(pi * (e - 1) / T)) * (lr - eta_min_) + eta_min_;
  }
  return lrs;
}

std::optional<std::vector<double>> CosineAnnealingLR::closed_form_lr() const {
  constexpr double pi = std::numbers::pi;
  const double e = static_cast<double>(last_epoch_), T = static_cast<double>(T_max_);
  std::vector<double> lrs;
  for (double base : base_lrs_) lrs.push_back(eta_min_ + (base - eta_min_) * (1 + std::cos(pi * e / T)) / 2);
  return lrs;
}

// ---- LinearLR ----

LinearLR::LinearLR(Optimizer& optimizer, double start_factor, double end_factor, int64_t total_iters)
    : LRScheduler("LinearLR", optimizer), start_factor_(start_factor), end_factor_(end_factor),
      total_iters_(total_iters) {
  // PyTorch allows start_factor = 0 and then divides by zero on the second step.
  MOELAB_CHECK(start_factor > 0 && start_factor <= 1, "LinearLR: start_factor must be in (0, 1], got ", start_factor);
  MOELAB_CHECK(end_factor >= 0 && end_factor <= 1, "LinearLR: end_factor must be in [0, 1], got ", end_factor);
  MOELAB_CHECK(total_iters >= 1, "LinearLR: total_iters must be positive, got ", total_iters);
  register_state("start_factor", &start_factor_);
  register_state("end_factor", &end_factor_);
  register_state("total_iters", &total_iters_);
  initial_step();
}

std::vector<double> LinearLR::get_lr() {
  std::vector<double> lrs = group_lrs();
  if (last_epoch_ == 0) {
    for (double& lr : lrs) lr = lr * start_factor_;
    return lrs;
  }
  if (last_epoch_ > total_iters_) return lrs;
  const double d = end_factor_ - start_factor_;
  const double f = 1. + d / (static_cast<double>(total_iters_) * start_factor_ + static_cast<double>(last_epoch_ - 1) * d);
  for (double& lr : lrs) lr = lr * f;
  return lrs;
}

std::optional<std::vector<double>> LinearLR::closed_form_lr() const {
  const double n = static_cast<double>(std::min(total_iters_, last_epoch_));
  std::vector<double> lrs;
  for (double base : base_lrs_)
    lrs.push_back(base * (start_factor_ + (end_factor_ - start_factor_) * n / static_cast<double>(total_iters_)));
  return lrs;
}

// ---- ExponentialLR ----

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma) : LRScheduler("ExponentialLR", optimizer), gamma_(gamma) {
  register_state("gamma", &gamma_);
  initial_step();
}

std::vector<double> ExponentialLR::get_lr() {
  std::vector<double> lrs = group_lrs();
  if (last_epoch_ == 0) return lrs;
  for (double& lr : lrs) lr = lr * gamma_;
  return lrs;
}

std::optional<std::vector<double>> ExponentialLR::closed_form_lr() const {
  std::vector<double> lrs;
  for (double base : base_lrs_) lrs.push_back(base * std::pow(gamma_, static_cast<double>(last_epoch_)));
  return lrs;
}

// ---- ConstantLR ----

ConstantLR::ConstantLR(Optimizer& optimizer, double factor, int64_t total_iters)
    : LRScheduler("ConstantLR", optimizer), factor_(factor), total_iters_(total_iters) {
  // PyTorch allows factor = 0 and then divides by zero at total_iters.
  MOELAB_CHECK(factor > 0 && factor <= 1, "ConstantLR: factor must be in (0, 1], got ", factor);
  MOELAB_CHECK(total_iters >= 0, "ConstantLR: total_iters must be non-negative, got ", total_iters);
  register_state("factor", &factor_);
  register_state("total_iters", &total_iters_);
  initial_step();
}

std::vector<double> ConstantLR::get_lr() {
  std::vector<double> lrs = group_lrs();
  if (last_epoch_ == 0) {
    for (double& lr : lrs) lr = lr * factor_;
  } else if (last_epoch_ == total_iters_) {
    for (double& lr : lrs) lr = lr * (1.0 / factor_);
  }
  return lrs;
}

std::optional<std::vector<double>> ConstantLR::closed_form_lr() const {
  const double past = last_epoch_ >= total_iters_ ? 1.0 : 0.0;
  std::vector<double> lrs;
  for (double base : base_lrs_) lrs.push_back(base * (factor_ + past * (1 - factor_)));
  return lrs;
}

// ---- PolynomialLR ----

PolynomialLR::PolynomialLR(Optimizer& optimizer, int64_t total_iters, double power)
    : LRScheduler("PolynomialLR", optimizer), total_iters_(total_iters), power_(power) {
  MOELAB_CHECK(total_iters >= 1, "PolynomialLR: total_iters must be positive, got ", total_iters);
  register_state("total_iters", &total_iters_);
  register_state("power", &power_);
  initial_step();
}

std::vector<double> PolynomialLR::get_lr() {
  std::vector<double> lrs = group_lrs();
  if (last_epoch_ == 0 || last_epoch_ > total_iters_) return lrs;
  const double e = static_cast<double>(last_epoch_), T = static_cast<double>(total_iters_);
  const double decay = std::pow((1.0 - e / T) / (1.0 - (e - 1) / T), power_);
  for (double& lr : lrs) lr = lr * decay;
  return lrs;
}

std::optional<std::vector<double>> PolynomialLR::closed_form_lr() const {
  const double n = static_cast<double>(std::min(total_iters_, last_epoch_)), T = static_cast<double>(total_iters_);
  std::vector<double> lrs;
  for (double base : base_lrs_) lrs.push_back(base * std::pow(1.0 - n / T, power_));
  return lrs;
}

// ---- LambdaLR ----

LambdaLR::LambdaLR(Optimizer& optimizer, Lambda lr_lambda)
    : LambdaLR(optimizer, std::vector<Lambda>(optimizer.param_groups().size(), std::move(lr_lambda))) {}

LambdaLR::LambdaLR(Optimizer& optimizer, std::vector<Lambda> lr_lambdas)
    : LRScheduler("LambdaLR", optimizer), lambdas_(std::move(lr_lambdas)) {
  MOELAB_CHECK(lambdas_.size() == optimizer.param_groups().size(), "LambdaLR: expected ",
               optimizer.param_groups().size(), " lr_lambdas (one per param group), got ", lambdas_.size());
  for (size_t i = 0; i < lambdas_.size(); ++i)
    MOELAB_CHECK(static_cast<bool>(lambdas_[i]), "LambdaLR: lr_lambda ", i, " is empty");
  initial_step();
}

std::vector<double> LambdaLR::get_lr() {
  std::vector<double> lrs;
  for (size_t i = 0; i < base_lrs_.size(); ++i) lrs.push_back(base_lrs_[i] * lambdas_[i](last_epoch_));
  return lrs;
}

}  // namespace moelab::optim
