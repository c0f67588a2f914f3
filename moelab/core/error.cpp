#include "moelab/core/error.h"

namespace moelab::detail {
// Out of line so that the throwing code stays off every op's hot path.
void throw_error(std::string msg) { throw Error(std::move(msg)); }
}  // namespace moelab::detail
