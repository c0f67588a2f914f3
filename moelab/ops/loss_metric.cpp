// Regression and similarity losses: mse / l1 / smooth_l1 / huber, cosine_similarity,
// cosine_embedding_loss, margin_ranking_loss and info_nce. Formulas follow PyTorch 1.13.
#include <limits>

#include "moelab/autograd/grad_mode.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/linalg.h"
#include "moelab/ops/loss.h"
#include "moelab/ops/op_helpers.h"
#include "moelab/ops/reduce.h"
#include "moelab/ops/shape_ops.h"

namespace moelab {
namespace {

// smooth_l1 with beta > 0: 0.5 d^2 / beta below beta, |d| - 0.5 beta above (continuous in value
// and slope at |d| = beta). Huber is beta * smooth_l1 with beta = delta.
Tensor smooth_l1_elementwise(const Tensor& d, double beta) {
  Tensor z = abs(d);
  return where(z < beta, square(d) * (0.5 / beta), z - 0.5 * beta);
}

}  // namespace

Tensor mse_loss(const Tensor& input, const Tensor& target, std::string_view reduction) {
  detail::check_same_shape_floating(input, target, "mse_loss");
  return detail::reduce_loss(square(input - target), reduction, "mse_loss");
}

Tensor l1_loss(const Tensor& input, const Tensor& target, std::string_view reduction) {
  detail::check_same_shape_floating(input, target, "l1_loss");
  return detail::reduce_loss(abs(input - target), reduction, "l1_loss");
}

Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, std::string_view reduction, double beta) {
  detail::check_same_shape_floating(input, target, "smooth_l1_loss");
  MOELAB_CHECK(beta >= 0, "smooth_l1_loss: beta must be >= 0, got ", beta);
  Tensor d = input - target;
  return detail::reduce_loss(beta == 0 ? abs(d) : smooth_l1_elementwise(d, beta), reduction, "smooth_l1_loss");
}

Tensor huber_loss(const Tensor& input, const Tensor& target, std::string_view reduction, double delta) {
  detail::check_same_shape_floating(input, target, "huber_loss");
  MOELAB_CHECK(delta > 0, "huber_loss: delta must be > 0, got ", delta);
  Tensor d = input - target;
  Tensor z = abs(d);
  return detail::reduce_loss(where(z < delta, square(d) * 0.5, (z - 0.5 * delta) * delta), reduction, "huber_loss");
}

Tensor cosine_similarity(const Tensor& x1, const Tensor& x2, int64_t dim, double eps) {
  const char* op = "cosine_similarity";
  detail::check_defined(x1, op, "x1");
  detail::check_defined(x2, op, "x2");
  detail::check_same_device({&x1, &x2}, op);
  const DType dt = detail::result_type(x1, x2);
  MOELAB_CHECK(is_floating(dt), op, ": expected a floating common dtype, got ", dt, " for x1 ", x1.dtype(),
               " and x2 ", x2.dtype());
  const Shape shape = broadcast_shapes(x1.shape(), x2.shape(), op);
  const int d = wrap_dim(dim, shape.size(), op);
  // Norms along a broadcast dim count every repeat, so work on the broadcast views.
  Tensor a = x1.to(dt).expand(shape), b = x2.to(dt).expand(shape);
  // PyTorch 1.13 clamps the squared norms to eps^2 in place under no_grad: the forward uses the
  // clamped value, the gradient flows as if unclamped. Adding the (constant) clamp shift does both.
  auto norm_of = [&](const Tensor& x) {
    Tensor s = sum(square(x), {d}, true);
    Tensor shift;
    {
      autograd::NoGradGuard no_grad;
      shift = clamp(s, eps * eps, std::nullopt) - s;
    }
    return sqrt(s + shift);
  };
  return sum((a / norm_of(a)) * (b / norm_of(b)), {d});
}

Tensor cosine_embedding_loss(const Tensor& x1, const Tensor& x2, const Tensor& y, double margin,
                             std::string_view reduction) {
  const char* op = "cosine_embedding_loss";
  detail::check_defined(x1, op, "x1");
  detail::check_defined(x2, op, "x2");
  detail::check_defined(y, op, "y");
  detail::check_same_device({&x1, &x2, &y}, op);
  detail::check_floating(x1, op);
  detail::check_floating(x2, op);
  const int td = y.dim();
  MOELAB_CHECK(td <= 1 && x1.dim() == td + 1 && x1.shape() == x2.shape() && (td == 0 || y.size(0) == x1.size(0)),
               op, ": expected x1 and x2 [N, D] with y [N], or [D] with a 0-d y; got x1 ", x1.shape(), ", x2 ",
               x2.shape(), " and y ", y.shape());
  constexpr double kEps = 1e-12;  // PyTorch's EPSILON, added to each squared norm
  Tensor cos = sum(x1 * x2, {td}) / sqrt((sum(square(x1), {td}) + kEps) * (sum(square(x2), {td}) + kEps));
  Tensor zero = scalar_tensor(0.0, cos.dtype());
  Tensor loss = where(y == 1, 1 - cos, zero) + where(y == -1, clamp(cos - margin, 0.0, std::nullopt), zero);
  return detail::reduce_loss(loss, reduction, op);
}

Tensor margin_ranking_loss(const Tensor& x1, const Tensor& x2, const Tensor& y, double margin,
                           std::string_view reduction) {
  const char* op = "margin_ranking_loss";
  detail::check_defined(x1, op, "x1");
  detail::check_defined(x2, op, "x2");
  detail::check_defined(y, op, "y");
  detail::check_same_device({&x1, &x2, &y}, op);
  MOELAB_CHECK(x1.dim() == x2.dim() && x1.dim() == y.dim(), op,
               ": x1, x2 and y should have the same number of dims, got x1 ", x1.shape(), ", x2 ", x2.shape(),
               " and y ", y.shape());
  broadcast_shapes(broadcast_shapes(x1.shape(), x2.shape(), op), y.shape(), op);
  detail::check_floating(x1, op);
  detail::check_floating(x2, op);
  return detail::reduce_loss(clamp(margin - y * (x1 - x2), 0.0, std::nullopt), reduction, op);
}

namespace {
// F.normalize(x, dim = -1): x / max(||x||, 1e-12).
Tensor l2_normalize(const Tensor& x) {
  return x / clamp(norm(x, 2, {x.dim() - 1}, true), 1e-12, std::nullopt);
}
}  // namespace

Tensor info_nce(const Tensor& query, const Tensor& positive_key, const Tensor& negative_keys, double temperature,
                std::string_view reduction, std::string_view negative_mode) {
  const char* op = "info_nce";
  detail::check_defined(query, op, "query");
  detail::check_defined(positive_key, op, "positive_key");
  detail::check_same_device({&query, &positive_key}, op);
  MOELAB_CHECK(negative_mode == "unpaired" || negative_mode == "paired", op,
               ": negative_mode must be \"unpaired\" or \"paired\", got \"", negative_mode, "\"");
  MOELAB_CHECK(temperature > 0, op, ": temperature must be > 0, got ", temperature);
  MOELAB_CHECK(reduction == "mean" || reduction == "sum" || reduction == "none", op,
               ": reduction must be \"mean\", \"sum\" or \"none\", got \"", reduction, "\"");
  detail::check_floating(query, op);
  detail::check_floating(positive_key, op);
  MOELAB_CHECK(query.dim() == 2 && positive_key.dim() == 2 && query.shape() == positive_key.shape(), op,
               ": expected query and positive_key of one shape [N, D], got query ", query.shape(),
               " and positive_key ", positive_key.shape());
  const bool paired = negative_mode == "paired";
  if (negative_keys.defined()) {
    detail::check_same_device({&query, &negative_keys}, op);
    detail::check_floating(negative_keys, op);
    const bool ok = paired ? negative_keys.dim() == 3 && negative_keys.size(0) == query.size(0) &&
                                 negative_keys.size(2) == query.size(1)
                           : negative_keys.dim() == 2 && negative_keys.size(1) == query.size(1);
    MOELAB_CHECK(ok, op, ": expected negative_keys ", paired ? "[N, M, D]" : "[M, D]", " for negative_mode \"",
                 negative_mode, "\" with query ", query.shape(), ", got ", negative_keys.shape());
  }
  Tensor q = l2_normalize(query), p = l2_normalize(positive_key);
  const int64_t n = query.size(0);
  Tensor logits, labels;
  if (!negative_keys.defined()) {
    logits = matmul(q, p.t());  // [N, N]: row i's positive is column i, the other columns its negatives
    labels = arange(0, n, 1, TensorOptions(kI64, query.device()));
  } else {
    Tensor nk = l2_normalize(negative_keys);
    Tensor neg = paired ? matmul(q.unsqueeze(1), nk.transpose(1, 2)).squeeze(1)  // [N, 1, D] @ [N, D, M]
                        : matmul(q, nk.t());                                      // [N, M]
    logits = cat({sum(q * p, {1}, true), neg}, 1);
    labels = zeros({n}, TensorOptions(kI64, query.device()));
  }
  return cross_entropy(logits / temperature, labels, Tensor(), -100, reduction, 0.0);
}

}  // namespace moelab
