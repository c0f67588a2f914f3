// moelab::matmul against a direct cblas_sgemm on the same data, one thread each (moelab's pool and
// OpenBLAS's). The reference writes into a preallocated C; moelab allocates its output every call
// (through the caching allocator), so the ratio includes the whole op overhead.
#include <cblas.h>

#include <moelab/moelab.h>

#include "bench_ratio.h"

namespace {

using moelab::Tensor;

void one_thread() {
  moelab::set_num_threads(1);
  openblas_set_num_threads(1);
}

Tensor input(const moelab::Shape& s, double phase) {
  return moelab::sin(moelab::arange(0, static_cast<double>(moelab::numel_of(s)), 1) * 0.37 + phase).reshape(s);
}

void set_flops(benchmark::State& st, double batch, double m, double n, double k) {
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * batch * m * n * k * static_cast<double>(st.iterations()) / 1e9,
                                              benchmark::Counter::kIsRate);
}

// [n, n] @ [n, n]; transpose_a = true multiplies by a transposed view (BLAS gets CblasTrans).
void BM_moelab_matmul(benchmark::State& st) {
  one_thread();
  const int64_t n = st.range(0);
  const bool transpose_a = st.range(1) != 0;
  Tensor a = input({n, n}, 0.1), b = input({n, n}, 0.7);
  Tensor lhs = transpose_a ? a.t() : a;
  for (auto _ : st) {
    Tensor c = moelab::matmul(lhs, b);
    benchmark::DoNotOptimize(c.raw_data());
  }
  set_flops(st, 1, static_cast<double>(n), static_cast<double>(n), static_cast<double>(n));
}

void BM_cblas_sgemm(benchmark::State& st) {
  one_thread();
  const int n = static_cast<int>(st.range(0));
  const bool transpose_a = st.range(1) != 0;
  Tensor a = input({n, n}, 0.1), b = input({n, n}, 0.7), c = moelab::zeros({n, n});
  for (auto _ : st) {
    cblas_sgemm(CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans, CblasNoTrans, n, n, n, 1.0f,
                a.data_ptr<float>(), n, b.data_ptr<float>(), n, 0.0f, c.data_ptr<float>(), n);
    benchmark::DoNotOptimize(c.raw_data());
  }
  set_flops(st, 1, n, n, n);
}

// [B, n, n] @ [B, n, n] against a loop of B cblas_sgemm calls.
void BM_moelab_bmm(benchmark::State& st) {
  one_thread();
  const int64_t batch = st.range(0), n = st.range(1);
  Tensor a = input({batch, n, n}, 0.1), b = input({batch, n, n}, 0.7);
  for (auto _ : st) {
    Tensor c = moelab::matmul(a, b);
    benchmark::DoNotOptimize(c.raw_data());
  }
  set_flops(st, static_cast<double>(batch), static_cast<double>(n), static_cast<double>(n), static_cast<double>(n));
}

void BM_cblas_sgemm_loop(benchmark::State& st) {
  one_thread();
  const int batch = static_cast<int>(st.range(0)), n = static_cast<int>(st.range(1));
  Tensor a = input({batch, n, n}, 0.1), b = input({batch, n, n}, 0.7), c = moelab::zeros({batch, n, n});
  const float* pa = a.data_ptr<float>();
  const float* pb = b.data_ptr<float>();
  float* pc = c.data_ptr<float>();
  for (auto _ : st) {
    for (int i = 0; i < batch; ++i)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, pa + i * n * n, n, pb + i * n * n, n,
                  0.0f, pc + i * n * n, n);
    benchmark::DoNotOptimize(c.raw_data());
  }
  set_flops(st, batch, n, n, n);
}

}  // namespace

BENCHMARK(BM_moelab_matmul)->Args({1024, 0})->Args({1024, 1})->Args({64, 0})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_cblas_sgemm)->Args({1024, 0})->Args({1024, 1})->Args({64, 0})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_moelab_bmm)->Args({32, 128})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_cblas_sgemm_loop)->Args({32, 128})->Unit(benchmark::kMicrosecond);

MOELAB_BENCH_RATIO("matmul 1024^3 f32, 1 thread", "BM_moelab_matmul/1024/0", "BM_cblas_sgemm/1024/0",
                   "moelab >= 95% of cblas speed (ratio <= 1.053)");
MOELAB_BENCH_RATIO("matmul A^T 1024^3 f32 (transposed view)", "BM_moelab_matmul/1024/1", "BM_cblas_sgemm/1024/1",
                   "moelab >= 95% of cblas speed (ratio <= 1.053)");
MOELAB_BENCH_RATIO("matmul 64^3 f32, 1 thread", "BM_moelab_matmul/64/0", "BM_cblas_sgemm/64/0",
                   "moelab >= 95% of cblas speed (ratio <= 1.053)");
MOELAB_BENCH_RATIO("matmul [32,128,128] batched f32", "BM_moelab_bmm/32/128", "BM_cblas_sgemm_loop/32/128",
                   "moelab >= 95% of cblas speed (ratio <= 1.053)");

MOELAB_BENCH_MAIN();
