// Pooling, forward and backward, as plain loops over NCHW planes (f32 and f64).
//
// Why not oneDNN here: pooling is memory-bound, and PyTorch's exact semantics are awkward to get
// from oneDNN: flat-index-within-plane indices (oneDNN's workspace holds a window offset in an
// implementation-defined layout), NaN as the maximum, the ceil_mode + count_include_pad divisor
// (PyTorch does not count the ceil-mode overhang, oneDNN does), and f64. The loops below mirror
// ATen's CPU kernels (window clipping, tie and NaN rules, divisors).
//
// Every plane (n, c) is independent, so planes are split across threads and results never depend
// on the thread count.
#include <algorithm>
#include <cmath>
#include <limits>

#include "moelab/backends/cpu/cpu_conv_internal.h"
#include "moelab/core/parallel.h"

namespace moelab::cpu_conv {
namespace {

struct Planes {
  int64_t planes, h, w, oh, ow;
  Planes(const Tensor& in, const Tensor& out)
      : planes(in.size(0) * in.size(1)), h(in.size(2)), w(in.size(3)), oh(out.size(2)), ow(out.size(3)) {}
};

// Splits planes so that each chunk has roughly kElementwiseGrain units of work.
void for_planes(int64_t planes, int64_t work_per_plane, const std::function<void(int64_t)>& fn) {
  int64_t grain = std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, work_per_plane));
  parallel_for(0, planes, grain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) fn(i);
  });
}

// The clipped window of an avg pool output and its divisor (ATen's AvgPoolKernel).
struct AvgWindow {
  int64_t h0, h1, w0, w1, divisor;
  AvgWindow(int64_t oy, int64_t ox, int64_t h, int64_t w, const Pool2dParams& p) {
    h0 = oy * p.stride[0] - p.padding[0];
    w0 = ox * p.stride[1] - p.padding[1];
    h1 = std::min(h0 + p.kernel[0], h + p.padding[0]);
    w1 = std::min(w0 + p.kernel[1], w + p.padding[1]);
    int64_t pool_size = (h1 - h0) * (w1 - w0);  // padding counted, ceil-mode overhang not
    h0 = std::max<int64_t>(h0, 0);
    w0 = std::max<int64_t>(w0, 0);
    h1 = std::min(h1, h);
    w1 = std::min(w1, w);
    divisor = p.divisor_override ? p.divisor_override : p.count_include_pad ? pool_size : (h1 - h0) * (w1 - w0);
  }
  bool empty() const { return h0 >= h1 || w0 >= w1; }
};

int64_t adaptive_start(int64_t i, int64_t in, int64_t out) { return i * in / out; }
int64_t adaptive_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }

}  // namespace

void max_pool2d(const Tensor& values, const Tensor& indices, const Tensor& input, const Pool2dParams& p) {
  Planes d(input, values);
  visit_dtype<DTypes::Float>(input.dtype(), "max_pool2d", [&]<class T>() {
    const T* x = input.data_ptr<T>();
    T* y = values.data_ptr<T>();
    int64_t* idx = indices.data_ptr<int64_t>();
    for_planes(d.planes, d.oh * d.ow * p.kernel[0] * p.kernel[1], [&](int64_t pl) {
      const T* xp = x + pl * d.h * d.w;
      for (int64_t oy = 0; oy < d.oh; ++oy)
        for (int64_t ox = 0; ox < d.ow; ++ox) {
          int64_t h0 = oy * p.stride[0] - p.padding[0], w0 = ox * p.stride[1] - p.padding[1];
          int64_t h1 = std::min(h0 + (p.kernel[0] - 1) * p.dilation[0] + 1, d.h);
          int64_t w1 = std::min(w0 + (p.kernel[1] - 1) * p.dilation[1] + 1, d.w);
          while (h0 < 0) h0 += p.dilation[0];
          while (w0 < 0) w0 += p.dilation[1];
          int64_t best_i = h0 * d.w + w0;
          T best = -std::numeric_limits<T>::infinity();
          for (int64_t iy = h0; iy < h1; iy += p.dilation[0])
            for (int64_t ix = w0; ix < w1; ix += p.dilation[1]) {
              T v = xp[iy * d.w + ix];
              if (v > best || std::isnan(v)) {  // NaN wins, as in ATen
                best = v;
                best_i = iy * d.w + ix;
              }
            }
          int64_t o = (pl * d.oh + oy) * d.ow + ox;
          y[o] = best;
          idx[o] = best_i;
        }
    });
  });
}

void max_pool2d_backward(const Tensor& grad_input, const Tensor& grad_out, const Tensor& indices) {
  Planes d(grad_input, grad_out);
  visit_dtype<DTypes::Float>(grad_out.dtype(), "max_pool2d_backward", [&]<class T>() {
    const T* gy = grad_out.data_ptr<T>();
    const int64_t* idx = indices.data_ptr<int64_t>();
    T* gx = grad_input.data_ptr<T>();
    for_planes(d.planes, d.h * d.w + d.oh * d.ow, [&](int64_t pl) {
      T* gxp = gx + pl * d.h * d.w;
      std::fill(gxp, gxp + d.h * d.w, T(0));
      for (int64_t o = pl * d.oh * d.ow; o < (pl + 1) * d.oh * d.ow; ++o) gxp[idx[o]] += gy[o];
    });
  });
}

void avg_pool2d(const Tensor& out, const Tensor& input, const Pool2dParams& p) {
  Planes d(input, out);
  visit_dtype<DTypes::Float>(input.dtype(), "avg_pool2d", [&]<class T>() {
    const T* x = input.data_ptr<T>();
    T* y = out.data_ptr<T>();
    for_planes(d.planes, d.oh * d.ow * p.kernel[0] * p.kernel[1], [&](int64_t pl) {
      const T* xp = x + pl * d.h * d.w;
      for (int64_t oy = 0; oy < d.oh; ++oy)
        for (int64_t ox = 0; ox < d.ow; ++ox) {
          AvgWindow win(oy, ox, d.h, d.w, p);
          T s = 0;
          for (int64_t iy = win.h0; iy < win.h1; ++iy)
            for (int64_t ix = win.w0; ix < win.w1; ++ix) s += xp[iy * d.w + ix];
          y[(pl * d.oh + oy) * d.ow + ox] = win.empty() ? T(0) : s / static_cast<T>(win.divisor);
        }
    });
  });
}

void avg_pool2d_backward(const Tensor& grad_input, const Tensor& grad_out, const Pool2dParams& p) {
  Planes d(grad_input, grad_out);
  visit_dtype<DTypes::Float>(grad_out.dtype(), "avg_pool2d_backward", [&]<class T>() {
    const T* gy = grad_out.data_ptr<T>();
    T* gx = grad_input.data_ptr<T>();
    for_planes(d.planes, d.h * d.w + d.oh * d.ow * p.kernel[0] * p.kernel[1], [&](int64_t pl) {
      T* gxp = gx + pl * d.h * d.w;
      std::fill(gxp, gxp + d.h * d.w, T(0));
      for (int64_t oy = 0; oy < d.oh; ++oy)
        for (int64_t ox = 0; ox < d.ow; ++ox) {
          AvgWindow win(oy, ox, d.h, d.w, p);
          if (win.empty()) continue;
          T g = gy[(pl * d.oh + oy) * d.ow + ox] / static_cast<T>(win.divisor);
          for (int64_t iy = win.h0; iy < win.h1; ++iy)
            for (int64_t ix = win.w0; ix < win.w1; ++ix) gxp[iy * d.w + ix] += g;
        }
    });
  });
}

void adaptive_avg_pool2d(const Tensor& out, const Tensor& input) {
  Planes d(input, out);
  visit_dtype<DTypes::Float>(input.dtype(), "adaptive_avg_pool2d", [&]<class T>() {
    const T* x = input.data_ptr<T>();
    T* y = out.data_ptr<T>();
    for_planes(d.planes, d.h * d.w + d.oh * d.ow, [&](int64_t pl) {
      const T* xp = x + pl * d.h * d.w;
      for (int64_t oy = 0; oy < d.oh; ++oy) {
        int64_t h0 = adaptive_start(oy, d.h, d.oh), h1 = adaptive_end(oy, d.h, d.oh);
        for (int64_t ox = 0; ox < d.ow; ++ox) {
          int64_t w0 = adaptive_start(ox, d.w, d.ow), w1 = adaptive_end(ox, d.w, d.ow);
          T s = 0;
          for (int64_t iy = h0; iy < h1; ++iy)
            for (int64_t ix = w0; ix < w1; ++ix) s += xp[iy * d.w + ix];
          y[(pl * d.oh + oy) * d.ow + ox] = s / static_cast<T>((h1 - h0) * (w1 - w0));
        }
      }
    });
  });
}

void adaptive_avg_pool2d_backward(const Tensor& grad_input, const Tensor& grad_out) {
  Planes d(grad_input, grad_out);
  visit_dtype<DTypes::Float>(grad_out.dtype(), "adaptive_avg_pool2d_backward", [&]<class T>() {
    const T* gy = grad_out.data_ptr<T>();
    T* gx = grad_input.data_ptr<T>();
    for_planes(d.planes, d.h * d.w + d.oh * d.ow, [&](int64_t pl) {
      T* gxp = gx + pl * d.h * d.w;
      std::fill(gxp, gxp + d.h * d.w, T(0));
      for (int64_t oy = 0; oy < d.oh; ++oy) {
        int64_t h0 = adaptive_start(oy, d.h, d.oh), h1 = adaptive_end(oy, d.h, d.oh);
        for (int64_t ox = 0; ox < d.ow; ++ox) {
          int64_t w0 = adaptive_start(ox, d.w, d.ow), w1 = adaptive_end(ox, d.w, d.ow);
          T g = gy[(pl * d.oh + oy) * d.ow + ox] / static_cast<T>((h1 - h0) * (w1 - w0));
          for (int64_t iy = h0; iy < h1; ++iy)
            for (int64_t ix = w0; ix < w1; ++ix) gxp[iy * d.w + ix] += g;
        }
      }
    });
  });
}

}  // namespace moelab::cpu_conv
