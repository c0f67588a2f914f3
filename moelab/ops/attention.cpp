#include "moelab/ops/attention.h"

#include <cmath>
#include <limits>

#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/functional.h"
#include "moelab/ops/linalg.h"
#include "moelab/ops/op_helpers.h"
#include "moelab/ops/shape_ops.h"
#include "moelab/ops/softmax.h"

namespace moelab {
namespace {

// True when `from` broadcasts to exactly `to` (numpy rules, without growing `to`).
bool broadcasts_to(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  const int off = to.size() - from.size();
  for (int i = 0; i < static_cast<int>(from.size()); ++i)
    if (from[i] != 1 && from[i] != to[off + i]) return false;
  return true;
}

// shape with its last n dims replaced by tail.
Shape with_tail(const Shape& shape, int n, std::initializer_list<int64_t> tail) {
  Shape s;
  for (int i = 0; i < static_cast<int>(shape.size()) - n; ++i) s.push_back(shape[i]);
  for (int64_t t : tail) s.push_back(t);
  return s;
}

}  // namespace

namespace detail {

std::pair<Tensor, Tensor> sdpa_with_weights(const Tensor& query, const Tensor& key, const Tensor& value,
                                            const Tensor& attn_mask, double dropout_p, bool is_causal,
                                            std::optional<double> scale, Generator* gen, const char* op) {
  check_defined(query, op, "query");
  check_defined(key, op, "key");
  check_defined(value, op, "value");
  check_same_device({&query, &key, &value}, op);
  check_floating(query, op);
  MOELAB_CHECK(key.dtype() == query.dtype() && value.dtype() == query.dtype(), op,
               ": query, key and value must share a dtype, got ", query.dtype(), ", ", key.dtype(), " and ",
               value.dtype());
  const int nd = query.dim();
  MOELAB_CHECK(nd >= 2 && key.dim() == nd && value.dim() == nd, op,
               ": query, key and value must have the same number of dims (at least 2), got query ", query.shape(),
               ", key ", key.shape(), ", value ", value.shape());
  const int64_t L = query.size(-2), E = query.size(-1), S = key.size(-2);
  MOELAB_CHECK(key.size(-1) == E, op, ": key ", key.shape(), " must end in the query's embedding size ", E,
               " (query ", query.shape(), ")");
  bool kv_match = value.size(-2) == S;
  for (int d = 0; d < nd - 2; ++d) kv_match = kv_match && key.size(d) == value.size(d);
  MOELAB_CHECK(kv_match, op, ": key ", key.shape(), " and value ", value.shape(),
               " must agree in every dim but the last");
  const int64_t Hq = nd >= 3 ? query.size(-3) : 1, Hkv = nd >= 3 ? key.size(-3) : 1;
  MOELAB_CHECK(Hq == Hkv || (Hkv > 0 && Hq % Hkv == 0), op, ": the query's head count ", Hq,
               " is not a multiple of the key/value head count ", Hkv, " (query ", query.shape(), ", key ",
               key.shape(), ")");
  MOELAB_CHECK(dropout_p >= 0 && dropout_p <= 1, op, ": dropout_p must be in [0, 1], got ", dropout_p);
  MOELAB_CHECK(!(is_causal && attn_mask.defined()), op,
               ": give either attn_mask or is_causal, not both (explicit mask and causal)");
  if (attn_mask.defined()) {
    check_same_device({&query, &attn_mask}, op);
    MOELAB_CHECK(attn_mask.dtype() == kBool || attn_mask.dtype() == query.dtype(), op,
                 ": attn_mask must be bool or the query's dtype ", query.dtype(), ", got ", attn_mask.dtype());
  }
  const int64_t G = Hq == Hkv ? 1 : Hq / Hkv;
  const double s = scale.value_or(1.0 / std::sqrt(static_cast<double>(E)));

  // Scaling q (L x E values) is cheaper than scaling the scores (L x S).
  Tensor q = query * s;
  // GQA: query heads h = j*G + g share kv head j; [..., Hq, L, E] -> [..., Hkv, G*L, E] is a view of
  // the (fresh, contiguous) scaled query, and one GEMM per kv head covers its G query heads.
  if (G > 1) q = q.reshape(with_tail(q.shape(), 3, {Hkv, G * L, E}));
  Tensor scores = matmul(q, key.transpose(-2, -1));
  if (G > 1) scores = scores.reshape(with_tail(scores.shape(), 3, {Hq, L, S}));  // [..., Hq, L, S]

  const double neg_inf = -std::numeric_limits<double>::infinity();
  if (attn_mask.defined()) {
    MOELAB_CHECK(broadcasts_to(attn_mask.shape(), scores.shape()), op, ": attn_mask of shape ", attn_mask.shape(),
                 " does not broadcast to the attention scores [..., Hq, L, S] = ", scores.shape(), " (query ",
                 query.shape(), ", key ", key.shape(), ")");
    scores = attn_mask.dtype() == kBool ? where(attn_mask, scores, scalar_tensor(neg_inf, scores.dtype()))
                                        : scores + attn_mask;
  } else if (is_causal) {
    Tensor keep = arange(0, L, 1, TensorOptions(kI64, query.device())).unsqueeze(1) >=
                  arange(0, S, 1, TensorOptions(kI64, query.device())).unsqueeze(0);
    scores = where(keep, scores, scalar_tensor(neg_inf, scores.dtype()));
  }
  Tensor attn = softmax(scores, -1);
  if (dropout_p > 0) attn = dropout(attn, dropout_p, true, gen);

  Tensor a = G > 1 ? attn.reshape(with_tail(attn.shape(), 3, {Hkv, G * L, S})) : attn;
  Tensor out = matmul(a, value);
  if (G > 1) out = out.reshape(with_tail(out.shape(), 3, {Hq, L, value.size(-1)}));  // [..., Hq, L, Ev]
  return {out, attn};
}

}  // namespace detail

Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const Tensor& attn_mask, double dropout_p, bool is_causal,
                                    std::optional<double> scale, Generator* gen) {
  return detail::sdpa_with_weights(query, key, value, attn_mask, dropout_p, is_causal, scale, gen,
                                   "scaled_dot_product_attention")
      .first;
}

Tensor apply_rotary_emb(const Tensor& x, const Tensor& cos, const Tensor& sin) {
  const char* op = "apply_rotary_emb";
  detail::check_defined(x, op, "x");
  detail::check_defined(cos, op, "cos");
  detail::check_defined(sin, op, "sin");
  detail::check_same_device({&x, &cos, &sin}, op);
  detail::check_floating(x, op);
  detail::check_floating(cos, op);
  detail::check_floating(sin, op);
  MOELAB_CHECK(x.dim() >= 1 && x.size(-1) % 2 == 0, op, ": x of shape ", x.shape(),
               " must have an even last dim (the rotated head dim)");
  MOELAB_CHECK(cos.shape() == sin.shape(), op, ": cos ", cos.shape(), " and sin ", sin.shape(), " differ in shape");
  MOELAB_CHECK(cos.dim() >= 1 && cos.size(-1) == x.size(-1) && broadcasts_to(cos.shape(), x.shape()), op, ": cos/sin ",
               cos.shape(), " must broadcast to x ", x.shape(), " with the same last dim");
  const int64_t h = x.size(-1) / 2;
  Tensor rotated = cat({-x.narrow(-1, h, h), x.narrow(-1, 0, h)}, -1);
  return x * cos.to(x.dtype()) + rotated * sin.to(x.dtype());
}

}  // namespace moelab
