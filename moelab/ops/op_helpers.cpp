#include "moelab/ops/op_helpers.h"

namespace moelab::detail {

void check_defined(const Tensor& t, const char* op, const char* arg) {
  MOELAB_CHECK(t.defined(), op, ": ", arg, " is an undefined tensor");
}

void check_same_device(std::initializer_list<const Tensor*> ts, const char* op) {
  const Tensor* first = nullptr;
  for (const Tensor* t : ts) {
    check_defined(*t, op);
    if (!first) first = t;
    MOELAB_CHECK(t->device() == first->device(), op, ": expected all tensors on one device, got ",
                 first->device(), " and ", t->device());
  }
}

void check_floating(const Tensor& t, const char* op) {
  MOELAB_CHECK(is_floating(t.dtype()), op, ": expected a floating dtype, got ", t.dtype());
}

namespace {
int category(DType t) { return t == DType::Bool ? 0 : is_integral(t) ? 1 : 2; }
int tier(const Tensor& t) { return t.is_wrapped_number() ? 0 : t.dim() == 0 ? 1 : 2; }
DType default_of_category(int c) { return c == 0 ? DType::Bool : c == 1 ? DType::I64 : DType::F32; }
}  // namespace

DType result_type(const Tensor& a, const Tensor& b) {
  if (a.dtype() == b.dtype()) return a.dtype();
  int ta = tier(a), tb = tier(b);
  if (ta == tb) return promote_types(a.dtype(), b.dtype());
  const Tensor& hi = ta > tb ? a : b;
  const Tensor& lo = ta > tb ? b : a;
  if (category(lo.dtype()) <= category(hi.dtype())) return hi.dtype();
  return lo.is_wrapped_number() ? default_of_category(category(lo.dtype())) : lo.dtype();
}

uint32_t dim_mask(const Dims& dims, int ndim, const char* op) {
  if (dims.empty()) return ndim == 0 ? 0u : (1u << ndim) - 1u;
  uint32_t mask = 0;
  for (int64_t d : dims) {
    int w = wrap_dim(d, ndim, op);
    MOELAB_CHECK(!(mask >> w & 1u), op, ": dim ", w, " appears more than once in ", dims);
    if (ndim > 0) mask |= 1u << w;
  }
  return mask;
}

Shape reduced_shape(const Shape& s, uint32_t mask, bool keepdim) {
  Shape out;
  for (int d = 0; d < s.size(); ++d) {
    if (!(mask >> d & 1u)) out.push_back(s[d]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

}  // namespace moelab::detail
