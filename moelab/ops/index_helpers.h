// Checks shared by the indexing ops (not part of the public API).
#pragma once
#include <string>

#include "moelab/core/tensor.h"

namespace moelab::detail {

// index as an i64 tensor (i32 is converted); throws naming the op for any other dtype.
Tensor index_as_i64(const Tensor& index, const char* op, const char* arg = "index");

// Throws unless every value of index lies in [0, size), or in [-size, size) when negatives count
// from the end. The message names the op, the first offending extreme value, the dim, its size and
// `shapes` (e.g. "input shape [5, 3], index shape [4]").
void check_index_range(const Tensor& index, int64_t size, bool allow_negative, const char* op, int dim,
                       const std::string& shapes);

// Throws when an in-place op would write one memory location through two elements (a stride-0,
// expanded dim).
void check_writable(const Tensor& x, const char* op);

// t with dim d moved to the front (a view).
Tensor move_to_front(const Tensor& t, int d);

}  // namespace moelab::detail
