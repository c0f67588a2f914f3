// TEMPORARY composite implementation; the sort/scan family replaces it with a fused kernel.
#include "moelab/ops/softmax.h"

#include "moelab/ops/elementwise.h"
#include "moelab/ops/reduce.h"

namespace moelab {

Tensor softmax(const Tensor& x, int64_t dim, std::optional<DType> dtype) {
  Tensor in = dtype ? x.to(*dtype) : x;
  Tensor e = exp(in - amax(in, {dim}, true));
  return e / sum(e, {dim}, true);
}

Tensor log_softmax(const Tensor& x, int64_t dim, std::optional<DType> dtype) {
  Tensor in = dtype ? x.to(*dtype) : x;
  return in - logsumexp(in, {dim}, true);
}

}  // namespace moelab
