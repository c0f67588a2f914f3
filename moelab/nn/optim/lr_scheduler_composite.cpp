// OneCycleLR and SequentialLR (PyTorch 1.13's rules).
#include <algorithm>
#include <cmath>
#include <numbers>

#include "moelab/core/error.h"
#include "moelab/nn/optim/lr_scheduler.h"

namespace moelab::optim {

std::vector<double> PerGroup::expand(size_t groups, const std::string& what) const {
  if (broadcast) return std::vector<double>(groups, values.at(0));
  MOELAB_CHECK(values.size() == groups, what, ": expected ", groups, " values (one per param group), got ",
               values.size());
  return values;
}

// ---- OneCycleLR ----

OneCycleLR::OneCycleLR(Optimizer& optimizer, PerGroup max_lr, OneCycleLROptions o)
    : LRScheduler("OneCycleLR", optimizer), pct_start_(o.pct_start), three_phase_(o.three_phase),
      cycle_momentum_(o.cycle_momentum) {
  if (o.total_steps) {
    MOELAB_CHECK(*o.total_steps > 0, "OneCycleLR: expected a positive total_steps, got ", *o.total_steps);
    total_steps_ = *o.total_steps;
  } else {
    MOELAB_CHECK(o.epochs && o.steps_per_epoch,
                 "OneCycleLR: you must define either total_steps or (epochs and steps_per_epoch)");
    MOELAB_CHECK(*o.epochs > 0, "OneCycleLR: expected a positive epochs, got ", *o.epochs);
    MOELAB_CHECK(*o.steps_per_epoch > 0, "OneCycleLR: expected a positive steps_per_epoch, got ", *o.steps_per_epoch);
    total_steps_ = *o.epochs * *o.steps_per_epoch;
  }
  MOELAB_CHECK(o.pct_start >= 0 && o.pct_start <= 1, "OneCycleLR: expected pct_start between 0 and 1, got ",
               o.pct_start);
  MOELAB_CHECK(o.anneal_strategy == "cos" || o.anneal_strategy == "linear",
               "OneCycleLR: anneal_strategy must be 'cos' or 'linear', got '", o.anneal_strategy, "'");
  linear_ = o.anneal_strategy == "linear";
  auto& groups = optimizer.param_groups();
  const size_t n = groups.size();
  max_lrs_ = max_lr.expand(n, "OneCycleLR: max_lr");
  if (cycle_momentum_) {
    MOELAB_CHECK(groups[0].momentum || groups[0].betas, "OneCycleLR: optimizer ", optimizer.name(),
                 " must support momentum (momentum or betas) with the cycle_momentum option enabled");
    use_beta1_ = groups[0].betas.has_value();
    max_momentums_ = o.max_momentum.expand(n, "OneCycleLR: max_momentum");
    base_momentums_ = o.base_momentum.expand(n, "OneCycleLR: base_momentum");
  }
  for (size_t i = 0; i < n; ++i) {
    groups[i].initial_lr = max_lrs_[i] / o.div_factor;
    base_lrs_[i] = *groups[i].initial_lr;
    min_lrs_.push_back(*groups[i].initial_lr / o.final_div_factor);
    if (cycle_momentum_) {
      if (use_beta1_)
        groups[i].betas->first = max_momentums_[i];
      else
        groups[i].momentum = max_momentums_[i];
    }
  }
  make_phases();
  register_state("total_steps", &total_steps_);
  register_state("pct_start", &pct_start_);
  register_state("three_phase", &three_phase_);
  register_state("anneal_linear", &linear_);
  register_state("max_lrs", &max_lrs_, true);
  register_state("min_lrs", &min_lrs_, true);
  if (cycle_momentum_) {  // whether and what to cycle follows the constructor's arguments
    register_state("max_momentums", &max_momentums_, true);
    register_state("base_momentums", &base_momentums_, true);
  }
  initial_step();
}

void OneCycleLR::make_phases() {
  const double total = static_cast<double>(total_steps_);
  if (three_phase_) {
    phases_ = {{pct_start_ * total - 1, kInitial, kMax, kMaxMomentum, kBaseMomentum},
               {2 * pct_start_ * total - 2, kMax, kInitial, kBaseMomentum, kMaxMomentum},
               {total - 1, kInitial, kMin, kMaxMomentum, kMaxMomentum}};
  } else {
    phases_ = {{pct_start_ * total - 1, kInitial, kMax, kMaxMomentum, kBaseMomentum},
               {total - 1, kMax, kMin, kBaseMomentum, kMaxMomentum}};
  }
}

void OneCycleLR::on_state_loaded() { make_phases(); }

double OneCycleLR::anneal(double start, double end, double pct) const {
  if (linear_) return (end - start) * pct + start;
  const double cos_out = std::cos(std::numbers::pi * pct) + 1;
  return end + (start - end) / 2.0 * cos_out;
}

std::vector<double> OneCycleLR::get_lr() {
  const int64_t step_num = last_epoch_;
  MOELAB_CHECK(step_num <= total_steps_, "OneCycleLR: tried to step ", step_num + 1,
               " times. The specified number of total steps is ", total_steps_);
  auto& groups = optimizer().param_groups();
  std::vector<double> lrs, momenta;
  for (size_t g = 0; g < groups.size(); ++g) {
    auto value = [&](Value v) {
      switch (v) {
        case kInitial: return base_lrs_[g];
        case kMax: return max_lrs_[g];
        case kMin: return min_lrs_[g];
        case kBaseMomentum: return base_momentums_[g];
        case kMaxMomentum: return max_momentums_[g];
      }
      return 0.0;
    };
    double start_step = 0;
    for (size_t i = 0; i < phases_.size(); ++i) {
      const Phase& ph = phases_[i];
      if (static_cast<double>(step_num) <= ph.end_step || i + 1 == phases_.size()) {
        MOELAB_CHECK(ph.end_step != start_step, "OneCycleLR: phase ", i, " of the schedule has no steps (total_steps ",
                     total_steps_, ", pct_start ", pct_start_, ")");
        const double pct = (static_cast<double>(step_num) - start_step) / (ph.end_step - start_step);
        lrs.push_back(anneal(value(ph.start_lr), value(ph.end_lr), pct));
        if (cycle_momentum_) momenta.push_back(anneal(value(ph.start_momentum), value(ph.end_momentum), pct));
        break;
      }
      start_step = ph.end_step;
    }
  }
  // Only now, after every check: the momenta, which PyTorch also writes from get_lr().
  if (cycle_momentum_)
    for (size_t g = 0; g < groups.size(); ++g) {
      if (use_beta1_)
        groups[g].betas->first = momenta[g];
      else
        groups[g].momentum = momenta[g];
    }
  return lrs;
}

// ---- SequentialLR ----

SequentialLR::SequentialLR(Optimizer& optimizer, std::vector<std::shared_ptr<LRScheduler>> schedulers,
                           std::vector<int64_t> milestones)
    : LRScheduler("SequentialLR", optimizer), schedulers_(std::move(schedulers)), milestones_(std::move(milestones)) {
  MOELAB_CHECK(!schedulers_.empty(), "SequentialLR: got an empty list of schedulers");
  for (size_t i = 0; i < schedulers_.size(); ++i) {
    MOELAB_CHECK(schedulers_[i] != nullptr, "SequentialLR: scheduler ", i, " is null");
    MOELAB_CHECK(&schedulers_[i]->optimizer() == &optimizer, "SequentialLR: expects all schedulers to belong to ",
                 "the same optimizer, but scheduler ", i, " (", schedulers_[i]->name(), ") drives another one");
    for (size_t j = 0; j < i; ++j)
      MOELAB_CHECK(schedulers_[j] != schedulers_[i], "SequentialLR: scheduler ", i, " is the same as scheduler ", j);
  }
  MOELAB_CHECK(milestones_.size() + 1 == schedulers_.size(), "SequentialLR: expects one more scheduler than ",
               "milestones, but got ", schedulers_.size(), " schedulers and ", milestones_.size(), " milestones");
  MOELAB_CHECK(std::is_sorted(milestones_.begin(), milestones_.end()), "SequentialLR: milestones must be increasing");
  // Reset the lrs, undo the schedulers' own first steps and redo only the first one's.
  auto& groups = optimizer.param_groups();
  for (auto& g : groups) g.lr = *g.initial_lr;
  for (auto& s : schedulers_) s->last_epoch_ -= 1;
  schedulers_[0]->initial_step();
  last_epoch_ = 0;
  last_lr_ = schedulers_[0]->get_last_lr();
  register_state("_milestones", &milestones_);
}

void SequentialLR::step() {
  const int64_t epoch = last_epoch_ + 1;
  const size_t idx = std::upper_bound(milestones_.begin(), milestones_.end(), epoch) - milestones_.begin();
  LRScheduler& s = *schedulers_[idx];
  if (idx > 0 && milestones_[idx - 1] == epoch)
    s.step_to(0);
  else
    s.step();
  last_epoch_ = epoch;
  step_count_ += 1;
  last_lr_ = s.get_last_lr();
}

void SequentialLR::write_state(const std::string& prefix, std::map<std::string, Tensor>& out) const {
  LRScheduler::write_state(prefix, out);
  for (size_t i = 0; i < schedulers_.size(); ++i)
    schedulers_[i]->write_state(prefix + "_schedulers." + std::to_string(i) + ".", out);
}

void SequentialLR::check_state(const std::string& prefix, const std::map<std::string, Tensor>& in,
                               std::vector<std::string>& problems, std::vector<std::string>& used) const {
  LRScheduler::check_state(prefix, in, problems, used);
  for (size_t i = 0; i < schedulers_.size(); ++i)
    schedulers_[i]->check_state(prefix + "_schedulers." + std::to_string(i) + ".", in, problems, used);
  auto it = in.find(prefix + "_milestones");
  if (it != in.end() && it->second.defined() && it->second.dim() == 1 && it->second.dtype() == kI64 &&
      static_cast<size_t>(it->second.numel()) != milestones_.size())
    problems.push_back("'" + prefix + "_milestones' has " + std::to_string(it->second.numel()) + " values for " +
                       std::to_string(schedulers_.size()) + " schedulers");
}

void SequentialLR::read_state(const std::string& prefix, const std::map<std::string, Tensor>& in) {
  LRScheduler::read_state(prefix, in);
  for (size_t i = 0; i < schedulers_.size(); ++i)
    schedulers_[i]->read_state(prefix + "_schedulers." + std::to_string(i) + ".", in);
}

}  // namespace moelab::optim
