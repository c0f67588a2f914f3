// The CPU backend's oneDNN path for large f32 GEMMs (cpu_dnnl_gemm.cpp), tried before OpenBLAS.
#pragma once
#include <cstdint>

namespace moelab::cpu {

// C = alpha op(A) op(B) + beta C, row-major, as cblas_sgemm. Returns false, touching nothing, when
// this GEMM is left to OpenBLAS (small, a matrix-vector product, no AVX-512, or MOELAB_GEMM=openblas).
bool dnnl_sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

}  // namespace moelab::cpu
