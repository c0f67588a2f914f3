// Classification losses: nll_loss, cross_entropy, binary_cross_entropy(_with_logits), kl_div.
// Formulas follow PyTorch 1.13 (aten/src/ATen/native/Loss*.cpp) so values agree to rounding.
#include "moelab/ops/loss.h"

#include "moelab/autograd/function.h"
#include "moelab/autograd/grad_mode.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/indexing.h"
#include "moelab/ops/op_helpers.h"
#include "moelab/ops/reduce.h"
#include "moelab/ops/softmax.h"

namespace moelab {

Tensor detail::reduce_loss(const Tensor& loss, std::string_view reduction, const char* op) {
  if (reduction == "mean") return loss.mean();
  if (reduction == "sum") return loss.sum();
  MOELAB_CHECK(reduction == "none", op, ": reduction must be \"mean\", \"sum\" or \"none\", got \"", reduction, "\"");
  return loss;
}

namespace {

void check_reduction(std::string_view reduction, const char* op) {
  MOELAB_CHECK(reduction == "mean" || reduction == "sum" || reduction == "none", op,
               ": reduction must be \"mean\", \"sum\" or \"none\", got \"", reduction, "\"");
}

// Shape check of class-index targets: input [C] with target [], [N, C] with [N], [N, C, d...] with
// [N, d...]. `what` names the input ("logits" for cross_entropy).
void check_index_target(const Tensor& input, const Tensor& target, const char* op, const char* what) {
  MOELAB_CHECK(is_integral(target.dtype()), op, ": target must hold class indices (i64 or i32)",
               input.dim() >= 1 && std::string_view(op) == "cross_entropy"
                   ? " or class probabilities of the input's shape and a floating dtype"
                   : "",
               ", got ", target.dtype(), " target ", target.shape(), " for ", what, " ", input.shape());
  bool ok = input.dim() >= 1 && target.dim() == std::max(input.dim() - 1, 0);
  for (int d = 0, e = 0; ok && d < input.dim(); ++d) {
    if (d == 1) continue;
    if (input.dim() == 1) break;
    ok = input.size(d) == target.size(e++);
  }
  MOELAB_CHECK(ok, op, ": expected ", what, " [N, C] with target [N], [N, C, d1, ...] with [N, d1, ...], or [C] with a ",
               "0-d target; got ", what, " ", input.shape(), " and target ", target.shape());
}

// Per-class weights as a [1, C, 1, ...] view that broadcasts against input (or [C] for a [C] input).
Tensor class_weight_view(const Tensor& weight, const Tensor& input, int class_dim) {
  if (input.dim() == 1) return weight;
  Shape s = Shape::filled(input.dim(), 1);
  s[class_dim] = weight.size(0);
  return weight.view(s);
}

void check_class_weight(const Tensor& weight, const Tensor& input, int64_t classes, const char* op) {
  if (!weight.defined()) return;
  detail::check_same_device({&weight, &input}, op);
  MOELAB_CHECK(weight.dim() == 1 && weight.size(0) == classes, op, ": weight should hold one value for each of the ",
               classes, " classes, got weight of shape ", weight.shape());
  detail::check_floating(weight, op);
}

// The loss of log-probabilities lp [N, C, d...] against class indices t [N, d...]:
// -w[t] * lp[t] (mixed with the smoothed term when smoothing > 0), zero where t == ignore_index.
// Forward is a gather of one value per sample, so its backward is a scatter into zeros; no one-hot.
Tensor class_index_loss(const Tensor& lp, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                        std::string_view reduction, double smoothing, const char* op) {
  const int64_t classes = lp.size(1);
  Tensor t = target.to(kI64);
  // One pass of min / max tells whether any target is ignored (usually none is) and whether the
  // class indices are in range, so the common case needs no masks.
  int64_t lo = 0, hi = 0;
  if (t.numel() > 0) {
    lo = amin(t).item<int64_t>();
    hi = amax(t).item<int64_t>();
  }
  const bool any_ignored = t.numel() > 0 && ignore_index >= lo && ignore_index <= hi;
  Tensor ignored;
  if (any_ignored) {
    ignored = t == ignore_index;
    t = masked_fill(t, ignored, 0);
    lo = amin(t).item<int64_t>();
    hi = amax(t).item<int64_t>();
  }
  if (t.numel() > 0 && (lo < 0 || hi >= classes))
    MOELAB_FAIL(op, ": target ", lo < 0 ? lo : hi, " is out of range for ", classes, " classes (ignore_index ",
                ignore_index, ", target ", target.shape(), ")");

  Tensor loss = -gather(lp, 1, t.unsqueeze(1)).squeeze(1);
  Tensor wt;  // weight of each sample's target class
  if (weight.defined()) {
    wt = index_select(weight, 0, t.flatten()).view(t.shape());
    loss = loss * wt;
  }
  if (smoothing > 0) {
    // PyTorch 1.13: (1 - s) * nll + s / C * sum_c w_c * (-lp_c), both over the same denominator.
    Tensor smooth = weight.defined() ? -(lp * class_weight_view(weight, lp, 1)).sum(1) : -lp.sum(1);
    loss = loss * (1 - smoothing) + smooth * (smoothing / static_cast<double>(classes));
  }
  if (any_ignored) loss = masked_fill(loss, ignored, 0);
  if (reduction == "none") return loss;
  if (reduction == "sum") return loss.sum();
  // "mean": divided by the summed weights of the targets that count (their number without weights).
  Tensor denom;
  if (wt.defined()) {
    denom = (any_ignored ? masked_fill(wt, ignored, 0) : wt).sum();
  } else {
    const int64_t n_ignored = any_ignored ? ignored.sum().item<int64_t>() : 0;
    denom = scalar_tensor(static_cast<double>(t.numel() - n_ignored), loss.dtype());
  }
  return loss.sum() / denom;
}

}  // namespace

Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                std::string_view reduction) {
  const char* op = "nll_loss";
  detail::check_defined(input, op);
  detail::check_defined(target, op, "target");
  detail::check_same_device({&input, &target}, op);
  detail::check_floating(input, op);
  check_index_target(input, target, op, "input");
  check_reduction(reduction, op);
  const bool unbatched = input.dim() == 1;
  check_class_weight(weight, input, input.size(unbatched ? 0 : 1), op);
  Tensor loss = class_index_loss(unbatched ? input.unsqueeze(0) : input, unbatched ? target.unsqueeze(0) : target,
                                 weight, ignore_index, reduction, 0.0, op);
  return unbatched && reduction == "none" ? loss.squeeze(0) : loss;
}

Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                     std::string_view reduction, double label_smoothing) {
  const char* op = "cross_entropy";
  detail::check_defined(input, op);
  detail::check_defined(target, op, "target");
  detail::check_same_device({&input, &target}, op);
  detail::check_floating(input, op);
  check_reduction(reduction, op);
  MOELAB_CHECK(label_smoothing >= 0 && label_smoothing <= 1, op, ": label_smoothing must be in [0, 1], got ",
               label_smoothing);
  MOELAB_CHECK(input.dim() >= 1, op, ": expected logits [N, C], [N, C, d1, ...] or [C], got a 0-d tensor");
  const int class_dim = input.dim() == 1 ? 0 : 1;
  const int64_t classes = input.size(class_dim);
  check_class_weight(weight, input, classes, op);

  if (input.shape() == target.shape() && !is_integral(target.dtype())) {
    // Class probabilities (soft targets).
    MOELAB_CHECK(is_floating(target.dtype()), op, ": a target of class probabilities must be floating, got ",
                 target.dtype());
    MOELAB_CHECK(ignore_index < 0, op, ": ignore_index (", ignore_index,
                 ") is not supported with a target of class probabilities");
    Tensor lp = log_softmax(input, class_dim);
    Tensor t = label_smoothing > 0 ? target * (1 - label_smoothing) + label_smoothing / static_cast<double>(classes)
                                   : target;
    Tensor prod = lp * t;
    if (weight.defined()) prod = prod * class_weight_view(weight, input, class_dim);
    Tensor loss = -prod.sum(class_dim);
    if (reduction == "none") return loss;
    if (reduction == "sum") return loss.sum();
    // PyTorch divides by the number of samples, N * d1 * ..., whatever the weights.
    return loss.sum() / static_cast<double>(loss.numel());
  }

  check_index_target(input, target, op, "logits");
  const bool unbatched = input.dim() == 1;
  Tensor lp = log_softmax(unbatched ? input.unsqueeze(0) : input, 1);
  Tensor loss = class_index_loss(lp, unbatched ? target.unsqueeze(0) : target, weight, ignore_index, reduction,
                                 label_smoothing, op);
  return unbatched && reduction == "none" ? loss.squeeze(0) : loss;
}

Tensor cross_entropy(const Tensor& input, const Tensor& target, std::string_view reduction) {
  return cross_entropy(input, target, Tensor(), -100, reduction, 0.0);
}

void detail::check_same_shape_floating(const Tensor& input, const Tensor& target, const char* op) {
  detail::check_defined(input, op);
  detail::check_defined(target, op, "target");
  detail::check_same_device({&input, &target}, op);
  MOELAB_CHECK(input.shape() == target.shape(), op, ": input ", input.shape(), " and target ", target.shape(),
               " differ in shape");
  detail::check_floating(input, op);
  MOELAB_CHECK(is_floating(target.dtype()), op, ": target must be floating, got ", target.dtype());
}

namespace {

void check_broadcasts_to(const Tensor& t, const Tensor& input, const char* op, const char* arg) {
  if (!t.defined()) return;
  detail::check_same_device({&t, &input}, op);
  detail::check_floating(t, op);
  bool ok = t.dim() <= input.dim();
  for (int i = 1; ok && i <= t.dim(); ++i)
    ok = t.size(t.dim() - i) == 1 || t.size(t.dim() - i) == input.size(input.dim() - i);
  MOELAB_CHECK(ok, op, ": ", arg, " of shape ", t.shape(), " does not broadcast to the input's shape ", input.shape());
}

// log(z) clamped to >= -100, as PyTorch's binary_cross_entropy does.
Tensor clamped_log(const Tensor& z) { return clamp(log(z), -100.0, std::nullopt); }

}  // namespace

Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight,
                            std::string_view reduction) {
  const char* op = "binary_cross_entropy";
  detail::check_same_shape_floating(input, target, op);
  check_broadcasts_to(weight, input, op, "weight");
  check_reduction(reduction, op);
  if (input.numel() > 0) {
    autograd::NoGradGuard no_grad;
    const double lo = amin(input).to(kF64).item<double>(), hi = amax(input).to(kF64).item<double>();
    MOELAB_CHECK(lo >= 0 && hi <= 1, op, ": all elements of input should be between 0 and 1, got values in [", lo,
                 ", ", hi, "] (input ", input.shape(), ")");
  }
  // One node for the unweighted elementwise loss, with PyTorch's backward formulas:
  //   d/dx = (x - t) / max(x (1 - x), eps),  d/dt = log(1 - x) - log(x) (logs clamped to >= -100),
  // eps being the float nearest 1e-12 (PyTorch's EPSILON is a float constant).
  // Differentiating the clamped forward would agree except at x = 0 or 1 exactly (a saturated
  // sigmoid), where PyTorch's form gives 0 when the target matches and a steep slope otherwise.
  Tensor loss;
  {
    autograd::NoGradGuard no_grad;
    // t log x + (1 - t) log(1 - x) = t (log x - log(1 - x)) + log(1 - x).
    Tensor log_1mx = clamped_log(1 - input);
    loss = -(target * (clamped_log(input) - log_1mx) + log_1mx);
  }
  if (autograd::needs_grad({&input, &target})) {
    autograd::record_op(
        op, {&input, &target}, {&loss}, {autograd::SavedVariable(input, false), autograd::SavedVariable(target, false)},
        [](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
          Tensor x = c.saved(0), t = c.saved(1);
          std::vector<Tensor> r(2);
          if (c.needs_input_grad(0)) r[0] = g[0] * (x - t) / clamp(x * (1 - x), static_cast<double>(1e-12f), std::nullopt);
          if (c.needs_input_grad(1)) r[1] = g[0] * (clamped_log(1 - x) - clamped_log(x));
          return r;
        });
  }
  if (weight.defined()) loss = loss * weight;
  return detail::reduce_loss(loss, reduction, op);
}

Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const Tensor& weight,
                                        std::string_view reduction, const Tensor& pos_weight) {
  const char* op = "binary_cross_entropy_with_logits";
  detail::check_same_shape_floating(input, target, op);
  check_broadcasts_to(weight, input, op, "weight");
  check_broadcasts_to(pos_weight, input, op, "pos_weight");
  check_reduction(reduction, op);
  // log(1 + exp(-x)) = -log(sigmoid(x)), stable for any x; softplus switches to the linear branch
  // only where the dropped exp(-|x|) is below the dtype's rounding.
  Tensor sp = softplus(-input, 1.0, input.dtype() == kF64 ? 40.0 : 20.0);
  Tensor loss = pos_weight.defined() ? (1 - target) * input + (1 + (pos_weight - 1) * target) * sp
                                     : (1 - target) * input + sp;
  if (weight.defined()) loss = loss * weight;
  return detail::reduce_loss(loss, reduction, op);
}

Tensor kl_div(const Tensor& input, const Tensor& target, std::string_view reduction, bool log_target) {
  const char* op = "kl_div";
  detail::check_same_shape_floating(input, target, op);
  MOELAB_CHECK(reduction == "mean" || reduction == "sum" || reduction == "none" || reduction == "batchmean", op,
               ": reduction must be \"mean\", \"batchmean\", \"sum\" or \"none\", got \"", reduction, "\"");
  Tensor loss;
  if (log_target) {
    loss = exp(target) * (target - input);
  } else {
    // xlogy(t, t) - t * x: t log t is taken as 0 where t = 0 (log of 1 there, so the gradient is finite).
    loss = target * (log(masked_fill(target, target == 0, 1)) - input);
  }
  if (reduction == "batchmean") return input.dim() == 0 ? loss.sum() : loss.sum() / static_cast<double>(input.size(0));
  return detail::reduce_loss(loss, reduction, op);
}

}  // namespace moelab
