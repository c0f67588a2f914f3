// Shape ops with PyTorch's names and semantics, built from views and one strided copy each:
// cat, stack, split, chunk, repeat, repeat_interleave, flip, roll, tril, triu and pad.
// Results are fresh contiguous tensors, except split and chunk, which return views of the input.
#pragma once
#include <optional>
#include <string_view>
#include <vector>

#include "moelab/core/tensor.h"

namespace moelab {

// Joins tensors along an existing dim. The dtype is the promotion of all inputs; 1-D empty tensors
// (shape [0]) are skipped, as in PyTorch's legacy behaviour.
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
// Joins equally shaped tensors along a new dim.
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);

// Views of x cut along dim into pieces of split_size (the last may be smaller).
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0);
// Views of x with the given sizes along dim (they must sum to x.size(dim)). Note that
// split(x, {2}) with a one-element brace list calls the split_size overload, as an int; use
// split_with_sizes to be explicit.
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& split_sizes, int64_t dim = 0);
std::vector<Tensor> split_with_sizes(const Tensor& x, const std::vector<int64_t>& split_sizes, int64_t dim = 0);
// At most `chunks` views of equal size ceil(x.size(dim) / chunks) (the last may be smaller).
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);

// Tiles x: repeats has at least x.dim() entries (extra ones add leading dims).
Tensor repeat(const Tensor& x, const std::vector<int64_t>& repeats);
// Repeats each element (or each slice along dim) `repeats` times. Without a dim, x is flattened.
Tensor repeat_interleave(const Tensor& x, int64_t repeats, std::optional<int64_t> dim = std::nullopt);
// repeats: 1-D (one count per slice along dim) or a single count.
Tensor repeat_interleave(const Tensor& x, const Tensor& repeats, std::optional<int64_t> dim = std::nullopt);
// [0, 0, 1, 2, ...]: each i repeated repeats[i] times (i64).
Tensor repeat_interleave(const Tensor& repeats);

// Lower/upper triangle of the last two dims; diagonal 0 is the main one, > 0 above it.
Tensor tril(const Tensor& x, int64_t diagonal = 0);
Tensor triu(const Tensor& x, int64_t diagonal = 0);

// Reverses the order of elements along each of dims.
Tensor flip(const Tensor& x, const Dims& dims);
// Shifts elements along dims (circularly); with no dims, over the flattened tensor and one shift.
Tensor roll(const Tensor& x, const std::vector<int64_t>& shifts, const Dims& dims = {});

// F.pad: `pad` lists (left, right) pairs starting from the last dim. Modes: "constant" (fill with
// value; negative pads crop), "reflect", "replicate" and "circular" (for the last 1-3 dims of a
// batched or unbatched input, as in PyTorch).
Tensor pad(const Tensor& x, const std::vector<int64_t>& pad, std::string_view mode = "constant", Scalar value = 0);

}  // namespace moelab
