// What the autograd engine needs from the ops layer (declared in autograd/engine.h).
#include "moelab/autograd/engine.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"

namespace moelab::autograd::detail {

Tensor accumulate(const Tensor& a, const Tensor& b) { return a + b; }

Tensor zeros_of(const TensorGeometry& g) { return zeros(g.shape, {g.dtype, g.device}); }

}  // namespace moelab::autograd::detail
