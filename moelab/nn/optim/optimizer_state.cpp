// Optimizer::state_dict / load_state_dict: options and per-parameter state as named tensors in
// PyTorch's layout ("param_groups.<g>.<option>", "state.<i>.<buffer>").
#include <algorithm>
#include <cmath>
#include <set>

#include "moelab/autograd/grad_mode.h"
#include "moelab/core/error.h"
#include "moelab/nn/optim/optimizer.h"
#include "moelab/ops/factory.h"

namespace moelab::optim {
namespace {

// Calls f(name, group option, default option) for every option of ParamGroup.
template <class G, class D, class F>
void for_each_option(G& g, D& d, F&& f) {
  f("lr", g.lr, d.lr);
  f("weight_decay", g.weight_decay, d.weight_decay);
  f("momentum", g.momentum, d.momentum);
  f("dampening", g.dampening, d.dampening);
  f("nesterov", g.nesterov, d.nesterov);
  f("betas", g.betas, d.betas);
  f("eps", g.eps, d.eps);
  f("amsgrad", g.amsgrad, d.amsgrad);
  f("alpha", g.alpha, d.alpha);
  f("centered", g.centered, d.centered);
  f("lr_decay", g.lr_decay, d.lr_decay);
  f("initial_accumulator_value", g.initial_accumulator_value, d.initial_accumulator_value);
  f("maximize", g.maximize, d.maximize);
}

Tensor to_tensor(double v) { return scalar(v); }
Tensor to_tensor(bool v) { return scalar(v ? 1.0 : 0.0); }
Tensor to_tensor(const std::pair<double, double>& v) { return from_vector(std::vector<double>{v.first, v.second}); }

std::string describe(const Tensor& t) {
  return t.defined() ? moelab::detail::concat(t.dtype(), " ", t.shape()) : std::string("undefined");
}

// Reads an option from its tensor, or returns a problem.
std::string read_option(const Tensor& t, std::optional<double>& out) {
  if (!t.defined() || t.dim() != 0 || t.dtype() != kF64) return "must be a 0-d f64 tensor, got " + describe(t);
  out = t.item<double>();
  return "";
}
std::string read_option(const Tensor& t, std::optional<bool>& out) {
  if (!t.defined() || t.dim() != 0 || t.dtype() != kF64) return "must be a 0-d f64 tensor, got " + describe(t);
  const double v = t.item<double>();
  if (v != 0 && v != 1) return moelab::detail::concat("must hold 0 or 1, got ", v);
  out = v != 0;
  return "";
}
std::string read_option(const Tensor& t, std::optional<std::pair<double, double>>& out) {
  if (!t.defined() || t.dim() != 1 || t.numel() != 2 || t.dtype() != kF64)
    return "must be a 1-d f64 tensor of 2 values, got " + describe(t);
  const auto v = t.to_vector<double>();
  out = std::pair{v[0], v[1]};
  return "";
}

// "<prefix><int>.<rest>" -> (int, rest); nullopt when the key does not have that form.
std::optional<std::pair<int64_t, std::string>> split_key(const std::string& key, const std::string& prefix) {
  if (key.rfind(prefix, 0) != 0) return std::nullopt;
  const size_t dot = key.find('.', prefix.size());
  if (dot == std::string::npos || dot == prefix.size() || dot - prefix.size() > 15) return std::nullopt;
  const std::string num = key.substr(prefix.size(), dot - prefix.size());
  if (!std::all_of(num.begin(), num.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  return std::pair{std::stoll(num), key.substr(dot + 1)};
}

}  // namespace

std::map<std::string, Tensor> Optimizer::state_dict() const {
  std::map<std::string, Tensor> out;
  const StateSpec spec = state_spec();
  int64_t index = 0;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const ParamGroup& g = groups_[gi];
    const std::string gp = "param_groups." + std::to_string(gi) + ".";
    std::vector<int64_t> ids;
    for (const Tensor& p : g.params) {
      const int64_t id = index++;
      ids.push_back(id);
      auto it = state_.find(p.impl());
      if (it == state_.end() || it->second.buffers.empty()) continue;
      const std::string sp = "state." + std::to_string(id) + ".";
      for (const auto& [name, buf] : it->second.buffers) out[sp + name] = buf;
      if (spec.step) out[sp + "step"] = scalar(static_cast<double>(it->second.step));
    }
    out[gp + "params"] = from_vector(ids);
    for_each_option(g, defaults_, [&](const char* name, const auto& opt, const auto& def) {
      if (def && opt) out[gp + name] = to_tensor(*opt);
    });
    if (g.initial_lr) out[gp + "initial_lr"] = scalar(*g.initial_lr);
  }
  return out;
}

void Optimizer::load_state_dict(const std::map<std::string, Tensor>& in) {
  std::vector<std::string> problems;
  std::set<std::string> used;
  const StateSpec spec = state_spec();
  auto find = [&](const std::string& key) -> const Tensor* {
    auto it = in.find(key);
    if (it == in.end()) {
      problems.push_back("missing key '" + key + "'");
      return nullptr;
    }
    used.insert(key);
    return &it->second;
  };

  // Groups: their count, parameter numbers and options.
  std::set<int64_t> saved_groups;
  for (const auto& [key, t] : in)
    if (auto k = split_key(key, "param_groups.")) saved_groups.insert(k->first);
  if (saved_groups.size() != groups_.size() ||
      (!saved_groups.empty() && *saved_groups.rbegin() != static_cast<int64_t>(groups_.size()) - 1))
    problems.push_back(moelab::detail::concat("the state has ", saved_groups.size(), " param groups, the optimizer has ",
                                      groups_.size()));
  std::vector<ParamGroup> groups = groups_;
  std::map<int64_t, Tensor> param_of;  // saved parameter number -> parameter
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    ParamGroup& g = groups[gi];
    const std::string gp = "param_groups." + std::to_string(gi) + ".";
    if (const Tensor* ids = find(gp + "params")) {
      if (!ids->defined() || ids->dim() != 1 || ids->dtype() != kI64) {
        problems.push_back("'" + gp + "params' must be a 1-d i64 tensor, got " + describe(*ids));
      } else if (static_cast<size_t>(ids->numel()) != g.params.size()) {
        problems.push_back(moelab::detail::concat("param group ", gi, " of the state has ", ids->numel(),
                                          " parameters, the optimizer's has ", g.params.size()));
      } else {
        const auto v = ids->to_vector<int64_t>();
        for (size_t j = 0; j < v.size(); ++j)
          if (!param_of.emplace(v[j], g.params[j]).second)
            problems.push_back(moelab::detail::concat("parameter number ", v[j], " appears more than once in the param groups"));
      }
    }
    bool options_ok = true;
    for_each_option(g, defaults_, [&](const char* name, auto& opt, const auto& def) {
      if (!def) return;
      if (const Tensor* t = find(gp + name)) {
        std::string bad = read_option(*t, opt);
        if (!bad.empty()) {
          problems.push_back("'" + gp + name + "' " + bad);
          options_ok = false;
        }
      } else {
        options_ok = false;
      }
    });
    // Optional: a group saved without initial_lr loses it, as PyTorch replaces the whole group.
    g.initial_lr.reset();
    auto it = in.find(gp + "initial_lr");
    if (it != in.end()) {
      used.insert(it->first);
      std::string bad = read_option(it->second, g.initial_lr);
      if (!bad.empty()) problems.push_back("'" + it->first + "' " + bad);
    }
    if (options_ok) {
      try {
        check_options(g, gi);
      } catch (const Error& e) {
        problems.push_back(e.what());
      }
    }
  }

  // Per-parameter state.
  std::map<int64_t, ParamState> states;
  for (const auto& [key, t] : in) {
    auto k = split_key(key, "state.");
    if (!k) continue;
    auto [id, name] = *k;
    auto pit = param_of.find(id);
    const bool known = name == "step" ? spec.step
                                      : std::count(spec.required.begin(), spec.required.end(), name) +
                                                std::count(spec.optional.begin(), spec.optional.end(), name) > 0;
    if (pit == param_of.end() || !known) continue;  // reported as unexpected below
    used.insert(key);
    const Tensor& p = pit->second;
    ParamState& st = states[id];
    if (name == "step") {
      if (!t.defined() || t.dim() != 0 || t.dtype() != kF64) {
        problems.push_back("'" + key + "' must be a 0-d f64 tensor, got " + describe(t));
      } else {
        const double v = t.item<double>();
        if (v < 0 || v != std::floor(v) || v > 9.0e15)
          problems.push_back(moelab::detail::concat("'", key, "' must hold a non-negative integer, got ", v));
        st.step = static_cast<int64_t>(v);
      }
    } else if (!t.defined() || !is_floating(t.dtype()) || t.shape() != p.shape()) {
      problems.push_back(moelab::detail::concat("'", key, "' must be a floating-point tensor of the parameter's shape ",
                                        p.shape(), ", got ", describe(t)));
    } else {
      st.buffers[name] = t;  // copied below, once everything is checked
    }
  }
  for (const auto& [id, st] : states) {
    const std::string sp = "state." + std::to_string(id) + ".";
    for (const auto& name : spec.required)
      if (!in.count(sp + name)) problems.push_back("missing key '" + sp + name + "'");
    if (spec.step && !in.count(sp + "step")) problems.push_back("missing key '" + sp + "step'");
  }
  for (const auto& [key, t] : in)
    if (!used.count(key)) problems.push_back("unexpected key '" + key + "'");
  if (!problems.empty()) {
    std::string msg = name_ + ".load_state_dict: " + std::to_string(problems.size()) + " problem(s):";
    for (const auto& p : problems) msg += "\n  " + p;
    MOELAB_FAIL(msg);
  }

  // Commit: copies, so that the optimizer does not alias the given tensors.
  autograd::NoGradGuard no_grad;
  std::unordered_map<const TensorImpl*, ParamState> new_state;
  for (auto& [id, st] : states) {
    const Tensor& p = param_of.at(id);
    for (auto& [name, buf] : st.buffers) {
      Tensor b = buf.detach();
      buf = b.dtype() == p.dtype() ? b.clone() : b.to(p.dtype());
    }
    new_state[p.impl()] = std::move(st);
  }
  for (size_t gi = 0; gi < groups.size(); ++gi) groups[gi].params = std::move(groups_[gi].params);
  groups_ = std::move(groups);
  state_ = std::move(new_state);
}

}  // namespace moelab::optim
