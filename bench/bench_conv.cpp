// conv2d through moelab vs the same oneDNN primitive called directly, one thread.
// N=64, 32 -> 64 channels, 28x28, 3x3, padding 1, stride 1, bias, f32.
//
// The direct call makes the same choices as moelab (format_tag::any for src/weights/dst, so oneDNN
// picks its blocked layout, plus reorders from and to plain NCHW/OIHW), with the primitive, the
// reorders and all buffers created once outside the timing loop. What remains of moelab's cost is
// the cache lookup, memory-object wrapping, and output/temporary allocation.
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>
#include <vector>

#include <moelab/moelab.h>

#include "bench_ratio.h"

namespace {

using dnnl::memory;
using Tag = memory::format_tag;

constexpr int64_t N = 64, C = 32, O = 64, H = 28, W = 28, K = 3;

void one_thread() {
  moelab::set_num_threads(1);
  omp_set_num_threads(1);  // Debian's oneDNN uses the OpenMP runtime
}

void BM_moelab_conv2d(benchmark::State& state) {
  one_thread();
  moelab::Tensor x = moelab::full({N, C, H, W}, 0.5);
  moelab::Tensor w = moelab::full({O, C, K, K}, 0.1);
  moelab::Tensor b = moelab::full({O}, 0.2);
  for (auto _ : state) {
    moelab::Tensor y = moelab::conv2d(x, w, b, 1, 1);
    benchmark::DoNotOptimize(y.raw_data());
  }
}

// The reference: one primitive and its reorders, built once.
void run_direct(benchmark::State& state, bool let_dnnl_choose_layout) {
  one_thread();
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream s(eng);
  memory::dims src{N, C, H, W}, wei{O, C, K, K}, dst{N, O, H, W}, bias{O};
  auto md = [&](const memory::dims& d, Tag plain) {
    return memory::desc(d, memory::data_type::f32, let_dnnl_choose_layout ? Tag::any : plain);
  };
  dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                       md(src, Tag::nchw), md(wei, Tag::oihw),
                                       memory::desc(bias, memory::data_type::f32, Tag::x), md(dst, Tag::nchw),
                                       {1, 1}, {0, 0}, {1, 1}, {1, 1});
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::convolution_forward::primitive_desc pd(desc, attr, eng);
  dnnl::convolution_forward conv(pd);

  std::vector<float> x(static_cast<size_t>(N * C * H * W), 0.5f), w(static_cast<size_t>(O * C * K * K), 0.1f),
      b(static_cast<size_t>(O), 0.2f), y(static_cast<size_t>(N * O * H * W));
  memory ux({src, memory::data_type::f32, Tag::nchw}, eng, x.data());
  memory uw({wei, memory::data_type::f32, Tag::oihw}, eng, w.data());
  memory uy({dst, memory::data_type::f32, Tag::nchw}, eng, y.data());
  memory ub(pd.bias_desc(), eng, b.data());
  memory px(pd.src_desc(), eng), pw(pd.weights_desc(), eng), py(pd.dst_desc(), eng), scratch(pd.scratchpad_desc(), eng);
  bool rx = pd.src_desc() != ux.get_desc(), rw = pd.weights_desc() != uw.get_desc(),
       ry = pd.dst_desc() != uy.get_desc();
  dnnl::reorder to_x, to_w, from_y;
  if (rx) to_x = dnnl::reorder(ux, px);
  if (rw) to_w = dnnl::reorder(uw, pw);
  if (ry) from_y = dnnl::reorder(py, uy);
  state.SetLabel(pd.impl_info_str());

  for (auto _ : state) {
    if (rx) to_x.execute(s, ux, px);
    if (rw) to_w.execute(s, uw, pw);
    conv.execute(s, {{DNNL_ARG_SRC, rx ? px : ux},
                     {DNNL_ARG_WEIGHTS, rw ? pw : uw},
                     {DNNL_ARG_BIAS, ub},
                     {DNNL_ARG_DST, ry ? py : uy},
                     {DNNL_ARG_SCRATCHPAD, scratch}});
    if (ry) from_y.execute(s, py, uy);
    s.wait();
    benchmark::DoNotOptimize(y.data());
  }
}

void BM_dnnl_direct(benchmark::State& state) { run_direct(state, true); }
// For information: forcing plain NCHW on the primitive (no reorders, a different implementation).
void BM_dnnl_direct_plain_nchw(benchmark::State& state) { run_direct(state, false); }

}  // namespace

BENCHMARK(BM_moelab_conv2d)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_dnnl_direct)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_dnnl_direct_plain_nchw)->Unit(benchmark::kMillisecond)->UseRealTime();
MOELAB_BENCH_RATIO("conv2d 64x32x28x28 -> 64, 3x3 f32 1 thread", "BM_moelab_conv2d/real_time", "BM_dnnl_direct/real_time",
                   "<= 1.1");

MOELAB_BENCH_MAIN()
