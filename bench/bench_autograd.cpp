// Tiny forward + backward: y = (a * a).sum(); y.backward() on 16 floats, one thread. The reference
// in the same run is the same forward without autograd (what recording and the engine add on top).
#include <moelab/moelab.h>

#include "bench_ratio.h"

namespace {

void BM_tiny_forward_backward(benchmark::State& state) {
  moelab::set_num_threads(1);
  moelab::Tensor a = moelab::ones({16});
  a.requires_grad_();
  for (auto _ : state) {
    moelab::Tensor y = (a * a).sum();
    y.backward();
    benchmark::DoNotOptimize(a.grad().raw_data());
  }
}
BENCHMARK(BM_tiny_forward_backward);

void BM_tiny_forward_no_grad(benchmark::State& state) {
  moelab::set_num_threads(1);
  moelab::Tensor a = moelab::ones({16});
  for (auto _ : state) {
    moelab::Tensor y = (a * a).sum();
    benchmark::DoNotOptimize(y.raw_data());
  }
}
BENCHMARK(BM_tiny_forward_no_grad);

}  // namespace

MOELAB_BENCH_RATIO("(a*a).sum().backward() vs forward only", "BM_tiny_forward_backward", "BM_tiny_forward_no_grad",
                   "forward+backward <= 5 us absolute (libtorch C++ ~40 us)");

MOELAB_BENCH_MAIN()
