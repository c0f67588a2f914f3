// TEMPORARY: the linalg family fills this in.
#include "moelab/ops/linalg.h"

namespace moelab {

Tensor matmul(const Tensor& a, const Tensor& b) { MOELAB_FAIL("matmul: not implemented yet"); }

}  // namespace moelab
