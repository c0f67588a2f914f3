// Grouped GEMM on the CPU, straight over cblas_sgemm/cblas_dgemm on contiguous segments (no
// backend kernel family yet: this is the only place that needs a ragged batch of GEMMs).
//
// Scheduling: OpenBLAS multithreads a GEMM above 64^3 multiply-adds and runs smaller ones on the
// calling thread. So large expert GEMMs run one after another, each using BLAS's threads, while
// small ones are spread over moelab's pool with parallel_for (the same policy as matmul's batches),
// so that pool threads never enter OpenBLAS's thread server.
#include "moelab/moe/grouped_gemm.h"

#include <cblas.h>

#include <climits>
#include <cstring>
#include <type_traits>

#include "moelab/autograd/function.h"
#include "moelab/core/error.h"
#include "moelab/core/parallel.h"
#include "moelab/moe/dispatch.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/indexing.h"

namespace moelab::moe {
namespace {

constexpr int64_t kSmallGemm = 64 * 64 * 64;

int blas_int(int64_t v, const char* op) {
  MOELAB_CHECK(v <= INT_MAX, op, ": dimension ", v, " is too large for BLAS (int)");
  return static_cast<int>(v);
}

// C[m, n] = op(A) @ op(B) (beta = 0), row-major.
template <class T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb, T* c,
          int64_t ldc, const char* op) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum; BLAS implementations differ on whether they touch C
    for (int64_t i = 0; i < m; ++i) std::memset(c + i * ldc, 0, static_cast<size_t>(n) * sizeof(T));
    return;
  }
  const auto TA = ta ? CblasTrans : CblasNoTrans, TB = tb ? CblasTrans : CblasNoTrans;
  const int M = blas_int(m, op), N = blas_int(n, op), K = blas_int(k, op);
  const int LDA = blas_int(lda, op), LDB = blas_int(ldb, op), LDC = blas_int(ldc, op);
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, TA, TB, M, N, K, 1.0f, a, LDA, b, LDB, 0.0f, c, LDC);
  else
    cblas_dgemm(CblasRowMajor, TA, TB, M, N, K, 1.0, a, LDA, b, LDB, 0.0, c, LDC);
}

// Runs fn(e) for every expert: large GEMMs in turn (BLAS threads each), small ones over the pool.
template <class Fn>
void for_each_expert(int64_t E, const std::vector<int64_t>& work, const Fn& fn) {
  std::vector<int64_t> small;
  int64_t small_work = 0;
  for (int64_t e = 0; e < E; ++e) {
    const int64_t wk = work[static_cast<size_t>(e)];
    if (wk > kSmallGemm) {
      fn(e);
    } else {
      small.push_back(e);
      small_work += wk;
    }
  }
  if (small.empty()) return;
  const int64_t n = static_cast<int64_t>(small.size());
  const int64_t avg = std::max<int64_t>(1, small_work / n);
  parallel_for(0, n, std::max<int64_t>(1, (1 << 20) / avg), [&](int64_t b, int64_t end) {
    for (int64_t i = b; i < end; ++i) fn(small[static_cast<size_t>(i)]);
  });
}

void check_offsets(const std::vector<int64_t>& offs, int64_t E, int64_t N, const char* op) {
  MOELAB_CHECK(static_cast<int64_t>(offs.size()) == E + 1, op, ": offsets must have E + 1 = ", E + 1,
               " entries, got ", offs.size());
  MOELAB_CHECK(offs[0] == 0, op, ": offsets[0] must be 0, got ", offs[0]);
  for (int64_t e = 0; e < E; ++e)
    MOELAB_CHECK(offs[static_cast<size_t>(e + 1)] >= offs[static_cast<size_t>(e)], op,
                 ": offsets must be non-decreasing, got offsets[", e, "] = ", offs[static_cast<size_t>(e)],
                 " > offsets[", e + 1, "] = ", offs[static_cast<size_t>(e + 1)]);
  MOELAB_CHECK(offs.back() == N, op, ": offsets[E] = ", offs.back(), " must equal the number of rows ", N);
}

void check_float_cpu(const Tensor& t, const char* op, const char* arg, int dims) {
  MOELAB_CHECK(t.defined(), op, ": ", arg, " is undefined");
  MOELAB_CHECK(t.dim() == dims, op, ": ", arg, " must have ", dims, " dims, got shape ", t.shape());
  MOELAB_CHECK(t.dtype() == kF32 || t.dtype() == kF64, op, ": ", arg, " must be f32 or f64, got ", t.dtype());
  MOELAB_CHECK(t.device().is_cpu(), op, ": ", arg, " must be on the CPU, got ", t.device());
}

// y = per-segment x @ w[e]; no autograd.
Tensor gmm_forward(const Tensor& x_in, const Tensor& w_in, const std::vector<int64_t>& offs) {
  const char* op = "grouped_matmul";
  const int64_t N = x_in.size(0), din = x_in.size(1), E = w_in.size(0), dout = w_in.size(2);
  const Tensor x = x_in.contiguous();
  // w[e] as BLAS sees it: row-major [din, dout], or the transpose of a row-major [dout, din].
  Tensor w = w_in;
  bool trans = false;
  if (!w.is_contiguous()) {
    if (w.transpose(1, 2).is_contiguous())
      trans = true;
    else
      w = w.contiguous();
  }
  const int64_t ldb = trans ? std::max<int64_t>(1, din) : std::max<int64_t>(1, dout);
  Tensor y = make_empty({N, dout}, x.dtype());
  std::vector<int64_t> work(static_cast<size_t>(E));
  for (int64_t e = 0; e < E; ++e)
    work[static_cast<size_t>(e)] = (offs[static_cast<size_t>(e + 1)] - offs[static_cast<size_t>(e)]) * din * dout;
  visit_dtype<DTypes::Float>(x.dtype(), op, [&]<class T>() {
    const T* px = x.data_ptr<T>();
    const T* pw = w.data_ptr<T>();
    T* py = y.data_ptr<T>();
    for_each_expert(E, work, [&](int64_t e) {
      const int64_t r0 = offs[static_cast<size_t>(e)], rows = offs[static_cast<size_t>(e + 1)] - r0;
      gemm<T>(false, trans, rows, dout, din, px + r0 * din, std::max<int64_t>(1, din), pw + e * din * dout, ldb,
              py + r0 * dout, std::max<int64_t>(1, dout), op);
    });
  });
  return y;
}

// out[e] = x_seg^T @ y_seg; no autograd.
Tensor gmm_tn_forward(const Tensor& x_in, const Tensor& y_in, const std::vector<int64_t>& offs) {
  const char* op = "grouped_matmul_tn";
  const int64_t din = x_in.size(1), dout = y_in.size(1), E = static_cast<int64_t>(offs.size()) - 1;
  const Tensor x = x_in.contiguous(), y = y_in.contiguous();
  Tensor out = make_empty({E, din, dout}, x.dtype());
  std::vector<int64_t> work(static_cast<size_t>(E));
  for (int64_t e = 0; e < E; ++e)
    work[static_cast<size_t>(e)] = (offs[static_cast<size_t>(e + 1)] - offs[static_cast<size_t>(e)]) * din * dout;
  visit_dtype<DTypes::Float>(x.dtype(), op, [&]<class T>() {
    const T* px = x.data_ptr<T>();
    const T* py = y.data_ptr<T>();
    T* po = out.data_ptr<T>();
    for_each_expert(E, work, [&](int64_t e) {
      const int64_t r0 = offs[static_cast<size_t>(e)], rows = offs[static_cast<size_t>(e + 1)] - r0;
      // rows = 0 gives K = 0: gemm writes zeros, so an expert with no tokens gets a zero gradient.
      gemm<T>(true, false, din, dout, rows, px + r0 * din, std::max<int64_t>(1, din), py + r0 * dout,
              std::max<int64_t>(1, dout), po + e * din * dout, std::max<int64_t>(1, dout), op);
    });
  });
  return out;
}

}  // namespace

Tensor grouped_matmul(const Tensor& x, const Tensor& w, const std::vector<int64_t>& offsets) {
  const char* op = "grouped_matmul";
  check_float_cpu(x, op, "x", 2);
  check_float_cpu(w, op, "w", 3);
  MOELAB_CHECK(x.dtype() == w.dtype(), op, ": x and w must have one dtype, got ", x.dtype(), " and ", w.dtype());
  MOELAB_CHECK(x.size(1) == w.size(1), op, ": x [N, d_in] and w [E, d_in, d_out] disagree on d_in (x shape ",
               x.shape(), ", w shape ", w.shape(), ")");
  check_offsets(offsets, w.size(0), x.size(0), op);
  Tensor y;
  {
    autograd::NoGradGuard no_grad;
    y = gmm_forward(x, w, offsets);
  }
  if (autograd::needs_grad({&x, &w}))
    autograd::record_op(op, {&x, &w}, {&y}, {autograd::SavedVariable(x, false), autograd::SavedVariable(w, false)},
                        [offsets](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
                          Tensor gx, gw;
                          if (c.needs_input_grad(0)) gx = grouped_matmul(g[0], c.saved(1).transpose(1, 2), offsets);
                          if (c.needs_input_grad(1)) gw = grouped_matmul_tn(c.saved(0), g[0], offsets);
                          return std::vector<Tensor>{gx, gw};
                        });
  return y;
}

Tensor grouped_matmul(const Tensor& x, const Tensor& w, const Tensor& offsets) {
  MOELAB_CHECK(offsets.defined() && offsets.dim() == 1 && offsets.dtype() == kI64 && offsets.device().is_cpu(),
               "grouped_matmul: offsets must be a 1-D i64 CPU tensor of E + 1 entries, got ",
               offsets.defined() ? offsets.shape() : Shape{});
  return grouped_matmul(x, w, offsets.to_vector<int64_t>());
}

Tensor grouped_matmul_tn(const Tensor& x, const Tensor& y, const std::vector<int64_t>& offsets) {
  const char* op = "grouped_matmul_tn";
  check_float_cpu(x, op, "x", 2);
  check_float_cpu(y, op, "y", 2);
  MOELAB_CHECK(x.dtype() == y.dtype(), op, ": x and y must have one dtype, got ", x.dtype(), " and ", y.dtype());
  MOELAB_CHECK(x.size(0) == y.size(0), op, ": x [N, d_in] and y [N, d_out] disagree on N (x shape ", x.shape(),
               ", y shape ", y.shape(), ")");
  MOELAB_CHECK(!offsets.empty(), op, ": offsets must have E + 1 >= 2 entries");
  check_offsets(offsets, static_cast<int64_t>(offsets.size()) - 1, x.size(0), op);
  Tensor out;
  {
    autograd::NoGradGuard no_grad;
    out = gmm_tn_forward(x, y, offsets);
  }
  if (autograd::needs_grad({&x, &y}))
    // out[e] = x_e^T y_e: d x_e = y_e g[e]^T, d y_e = x_e g[e], both grouped GEMMs again.
    autograd::record_op(op, {&x, &y}, {&out}, {autograd::SavedVariable(x, false), autograd::SavedVariable(y, false)},
                        [offsets](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
                          Tensor gx, gy;
                          if (c.needs_input_grad(0)) gx = grouped_matmul(c.saved(1), g[0].transpose(1, 2), offsets);
                          if (c.needs_input_grad(1)) gy = grouped_matmul(c.saved(0), g[0], offsets);
                          return std::vector<Tensor>{gx, gy};
                        });
  return out;
}

Tensor indirect_matmul(const Tensor& x, const Tensor& w, const Tensor& ids) {
  const char* op = "indirect_matmul";
  check_float_cpu(x, op, "x", 2);
  check_float_cpu(w, op, "w", 3);
  MOELAB_CHECK(ids.defined() && ids.dim() == 1 && ids.size(0) == x.size(0), op,
               ": ids must be [T] with T = x.size(0) = ", x.size(0), ", got shape ",
               ids.defined() ? ids.shape() : Shape{});
  const DispatchPlan plan = plan_dispatch(ids.reshape({-1, 1}), w.size(0));
  const Tensor ys = grouped_matmul(dispatch(x, plan), w, plan.offsets_cpu);
  return index_select(ys, 0, plan.row_of);  // one kept slot per token: row_of is a permutation
}

}  // namespace moelab::moe
