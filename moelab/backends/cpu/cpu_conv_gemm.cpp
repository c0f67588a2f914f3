// Convolution by im2col + GEMM (OpenBLAS), for dtypes oneDNN has no convolution for (f64, used by
// gradient checking). Per batch item n and group g, with K = C/groups * kH * kW and L = OH * OW:
//   col[K, L]        = im2col(input[n, g])          (zero where the window reads padding)
//   out[n, g] [O/g, L] = W_g [O/g, K] @ col          (forward)
//   col              = W_g^T @ grad_out[n, g];  grad_input[n, g] = col2im(col)   (backward data)
//   grad_W_g        += grad_out[n, g] @ col^T                                      (backward weights)
#include <cblas.h>

#include <algorithm>
#include <cstring>

#include "moelab/backends/cpu/cpu_conv_internal.h"
#include "moelab/core/parallel.h"

namespace moelab::cpu_conv {
namespace {

void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, double beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(m),
              static_cast<int>(n), static_cast<int>(k), static_cast<float>(alpha), a, static_cast<int>(lda), b,
              static_cast<int>(ldb), static_cast<float>(beta), c, static_cast<int>(ldc));
}
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(m),
              static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb),
              beta, c, static_cast<int>(ldc));
}

struct Dims2d {
  int64_t n, c, h, w, o, kh, kw, oh, ow, g, cg, og, k, l;
  Dims2d(const Tensor& x, const Tensor& wt, const Tensor& y, const Conv2dParams& p)
      : n(x.size(0)), c(x.size(1)), h(x.size(2)), w(x.size(3)), o(wt.size(0)), kh(wt.size(2)), kw(wt.size(3)),
        oh(y.size(2)), ow(y.size(3)), g(p.groups), cg(c / g), og(o / g), k(cg * kh * kw), l(oh * ow) {}
};

// col[(c*kh + i)*kw + j, oy*ow + ox] = x[c, oy*s - p + i*d, ox*s - p + j*d] (0 outside).
template <class T>
void im2col(const T* x, T* col, const Dims2d& d, const Conv2dParams& p) {
  for (int64_t c = 0; c < d.cg; ++c)
    for (int64_t i = 0; i < d.kh; ++i)
      for (int64_t j = 0; j < d.kw; ++j) {
        T* row = col + ((c * d.kh + i) * d.kw + j) * d.l;
        for (int64_t oy = 0; oy < d.oh; ++oy) {
          int64_t iy = oy * p.stride[0] - p.padding[0] + i * p.dilation[0];
          for (int64_t ox = 0; ox < d.ow; ++ox) {
            int64_t ix = ox * p.stride[1] - p.padding[1] + j * p.dilation[1];
            bool inside = iy >= 0 && iy < d.h && ix >= 0 && ix < d.w;
            row[oy * d.ow + ox] = inside ? x[(c * d.h + iy) * d.w + ix] : T(0);
          }
        }
      }
}

// The adjoint of im2col: x[c, iy, ix] += col[...] (x zeroed by the caller).
template <class T>
void col2im(const T* col, T* x, const Dims2d& d, const Conv2dParams& p) {
  for (int64_t c = 0; c < d.cg; ++c)
    for (int64_t i = 0; i < d.kh; ++i)
      for (int64_t j = 0; j < d.kw; ++j) {
        const T* row = col + ((c * d.kh + i) * d.kw + j) * d.l;
        for (int64_t oy = 0; oy < d.oh; ++oy) {
          int64_t iy = oy * p.stride[0] - p.padding[0] + i * p.dilation[0];
          if (iy < 0 || iy >= d.h) continue;
          for (int64_t ox = 0; ox < d.ow; ++ox) {
            int64_t ix = ox * p.stride[1] - p.padding[1] + j * p.dilation[1];
            if (ix >= 0 && ix < d.w) x[(c * d.h + iy) * d.w + ix] += row[oy * d.ow + ox];
          }
        }
      }
}

template <class T>
T* scratch(Tensor& holder, int64_t n) {
  holder = make_empty({n}, dtype_v<T>);
  return holder.data_ptr<T>();
}

}  // namespace

void gemm_conv2d(const Tensor& out, const Tensor& input, const Tensor& weight, const Tensor& bias,
                 const Conv2dParams& p) {
  Dims2d d(input, weight, out, p);
  visit_dtype<DTypes::Float>(out.dtype(), "conv2d", [&]<class T>() {
    const T* x = input.data_ptr<T>();
    const T* w = weight.data_ptr<T>();
    T* y = out.data_ptr<T>();
    const T* b = bias.defined() ? bias.data_ptr<T>() : nullptr;
    // Batch items are independent and each computes exactly as it would alone: thread-count-proof.
    parallel_for(0, d.n, 1, [&](int64_t n0, int64_t n1) {
      Tensor holder;
      T* col = scratch<T>(holder, d.k * d.l);
      for (int64_t n = n0; n < n1; ++n)
        for (int64_t g = 0; g < d.g; ++g) {
          im2col(x + (n * d.c + g * d.cg) * d.h * d.w, col, d, p);
          T* yg = y + (n * d.o + g * d.og) * d.l;
          gemm(false, false, d.og, d.l, d.k, 1.0, w + g * d.og * d.k, d.k, col, d.l, 0.0, yg, d.l);
          if (b)
            for (int64_t o = 0; o < d.og; ++o)
              for (int64_t i = 0; i < d.l; ++i) yg[o * d.l + i] += b[g * d.og + o];
        }
    });
  });
}

void gemm_conv2d_backward_input(const Tensor& grad_input, const Tensor& grad_out, const Tensor& weight,
                                const Conv2dParams& p) {
  Dims2d d(grad_input, weight, grad_out, p);
  visit_dtype<DTypes::Float>(grad_out.dtype(), "conv2d_backward_input", [&]<class T>() {
    const T* gy = grad_out.data_ptr<T>();
    const T* w = weight.data_ptr<T>();
    T* gx = grad_input.data_ptr<T>();
    parallel_for(0, d.n, 1, [&](int64_t n0, int64_t n1) {
      Tensor holder;
      T* col = scratch<T>(holder, d.k * d.l);
      for (int64_t n = n0; n < n1; ++n) {
        std::fill(gx + n * d.c * d.h * d.w, gx + (n + 1) * d.c * d.h * d.w, T(0));
        for (int64_t g = 0; g < d.g; ++g) {
          gemm(true, false, d.k, d.l, d.og, 1.0, w + g * d.og * d.k, d.k, gy + (n * d.o + g * d.og) * d.l, d.l, 0.0,
               col, d.l);
          col2im(col, gx + (n * d.c + g * d.cg) * d.h * d.w, d, p);
        }
      }
    });
  });
}

void gemm_conv2d_backward_weight(const Tensor& grad_weight, const Tensor& grad_bias, const Tensor& grad_out,
                                 const Tensor& input, const Conv2dParams& p) {
  Dims2d d(input, grad_weight, grad_out, p);
  visit_dtype<DTypes::Float>(grad_out.dtype(), "conv2d_backward_weight", [&]<class T>() {
    const T* x = input.data_ptr<T>();
    const T* gy = grad_out.data_ptr<T>();
    T* gw = grad_weight.data_ptr<T>();
    std::fill(gw, gw + grad_weight.numel(), T(0));
    // Sequential over n: the sum over the batch keeps one order whatever the thread count.
    Tensor holder;
    T* col = scratch<T>(holder, d.k * d.l);
    for (int64_t n = 0; n < d.n; ++n)
      for (int64_t g = 0; g < d.g; ++g) {
        im2col(x + (n * d.c + g * d.cg) * d.h * d.w, col, d, p);
        gemm(false, true, d.og, d.k, d.l, 1.0, gy + (n * d.o + g * d.og) * d.l, d.l, col, d.l, 1.0,
             gw + g * d.og * d.k, d.k);
      }
    if (grad_bias.defined()) {
      T* gb = grad_bias.data_ptr<T>();
      for (int64_t o = 0; o < d.o; ++o) {
        T s = 0;
        for (int64_t n = 0; n < d.n; ++n)
          for (int64_t i = 0; i < d.l; ++i) s += gy[(n * d.o + o) * d.l + i];
        gb[o] = s;
      }
    }
  });
}

}  // namespace moelab::cpu_conv
