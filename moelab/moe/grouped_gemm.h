// Grouped expert GEMMs over the contiguous segments made by dispatch (moe/dispatch.h): all
// experts' weights live in one [E, d_in, d_out] tensor and rows offsets[e] .. offsets[e+1] of the
// input are multiplied by w[e]. The GEMMs are the backend primitive LinalgKernels::grouped_gemm
// (backends/linalg_kernels.h; on the CPU one BLAS GEMM per non-empty expert, written straight into
// the output; no padding, no per-expert tensors); this layer adds the checks and autograd. CPU, f32
// and f64; differentiable to any order (the backward is itself made of grouped GEMMs).
#pragma once
#include <cstdint>
#include <vector>

#include "moelab/core/tensor.h"

namespace moelab::moe {

// x [N, d_in], w [E, d_in, d_out], offsets i64 [E+1] (offsets[0] = 0, non-decreasing,
// offsets[E] = N) -> y [N, d_out] with y[offsets[e]:offsets[e+1]] = x[offsets[e]:offsets[e+1]] @ w[e].
// w may be a transposed view (w2.transpose(1, 2) of a contiguous w2) without a copy; other
// non-contiguous inputs are made contiguous.
// Backward: grad_x segments = grad_y_seg @ w[e]^T, grad_w[e] = x_seg^T @ grad_y_seg (zero for an
// expert with no rows).
Tensor grouped_matmul(const Tensor& x, const Tensor& w, const Tensor& offsets);
Tensor grouped_matmul(const Tensor& x, const Tensor& w, const std::vector<int64_t>& offsets);

// The weight-gradient form: x [N, d_in], y [N, d_out] -> out [E, d_in, d_out] with
// out[e] = x_seg^T @ y_seg (zeros for an empty segment); E = offsets.size() - 1. Differentiable.
Tensor grouped_matmul_tn(const Tensor& x, const Tensor& y, const std::vector<int64_t>& offsets);

// ggml's mul_mat_id for one expert per row: y[t] = x[t] @ w[ids[t]], x [T, d_in], w [E, d_in, d_out],
// ids [T] i64 (or i32). Built as plan_dispatch + grouped_matmul + un-permute.
Tensor indirect_matmul(const Tensor& x, const Tensor& w, const Tensor& ids);

}  // namespace moelab::moe
