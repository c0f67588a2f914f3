// Matrix products with PyTorch's semantics, on OpenBLAS GEMM: matmul (with batch broadcasting),
// mm, bmm, mv, dot, outer and einsum. Decompositions (svd, qr, solve, ...) are in linalg_decomp.h.
//
// Operands must share a dtype (f32, f64, i32 or i64; PyTorch does not promote here either) and a
// device. Transposed views go to BLAS without a copy. All are differentiable (to any order); the
// gradient of a broadcast batch operand is summed over the batch dims it was broadcast along.
#pragma once
#include <string_view>
#include <vector>

#include "moelab/core/tensor.h"

namespace moelab {

// torch.matmul: 1-D @ 1-D is a dot product (0-d result); a 1-D first operand is a row vector and a
// 1-D second operand a column vector, their extra dim removed from the result; N-D operands are
// stacks of matrices whose batch dims broadcast: [j, 1, n, m] @ [k, m, p] -> [j, k, n, p].
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor mm(const Tensor& a, const Tensor& b);   // [n, m] @ [m, p] -> [n, p]
Tensor bmm(const Tensor& a, const Tensor& b);  // [B, n, m] @ [B, m, p] -> [B, n, p], no broadcasting
Tensor mv(const Tensor& a, const Tensor& v);   // [n, m] @ [m] -> [n]
Tensor dot(const Tensor& a, const Tensor& b);  // [n] . [n] -> 0-d
// a[i] * b[j] -> [n, m] (types promote as for mul).
Tensor outer(const Tensor& a, const Tensor& b);

// torch.nn.functional.linear: input [..., in] @ weight [out, in]^T + bias [out] -> [..., out]
// (a 1-D input gives [out]). One GEMM with the bias as its starting value (an addmm); the
// backward writes grad_weight [out, in] and grad_input straight from GEMMs, and grad_bias as a
// column sum, all differentiable again. Bias is optional.
Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias = {});

// torch.einsum: subscripts are letters (a-z, A-Z), "..." stands for broadcast dims. With "->" the
// output is given; without it, it is the letters that appear once, in alphabetical order, after the
// "..." dims. A letter repeated within one operand takes a diagonal ("ii->i"); letters missing from
// the output are summed. Two operands become one batched GEMM (batch, contracted and free dims
// grouped by permute/reshape); more operands are contracted left to right.
Tensor einsum(std::string_view equation, const std::vector<Tensor>& operands);

}  // namespace moelab
