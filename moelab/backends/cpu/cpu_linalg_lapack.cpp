// CPU decompositions through the LAPACK bundled with OpenBLAS (Fortran symbols, declared here so
// that no LAPACKE headers are needed).
//
// LAPACK is column-major and moelab row-major. A dense row-major m x n buffer read column-major
// is the n x m transpose, and several routines use that for free: the SVD of A^T = V S U^T hands
// back Vh and U already in row-major order, and for symmetric input A^T = A, only the triangle
// flips (lower in row-major = upper in column-major). QR and solve need true column-major copies.
// Every input is copied once into a per-call workspace anyway, because LAPACK overwrites it.
#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <vector>

#include "moelab/backends/cpu/cpu_linalg.h"

extern "C" {
// Each trailing size_t is the hidden length of a CHARACTER argument (gfortran ABI).
void sgesdd_(const char* jobz, const int* m, const int* n, float* a, const int* lda, float* s, float* u,
             const int* ldu, float* vt, const int* ldvt, float* work, const int* lwork, int* iwork, int* info,
             size_t);
void dgesdd_(const char* jobz, const int* m, const int* n, double* a, const int* lda, double* s, double* u,
             const int* ldu, double* vt, const int* ldvt, double* work, const int* lwork, int* iwork, int* info,
             size_t);
void sgeqrf_(const int* m, const int* n, float* a, const int* lda, float* tau, float* work, const int* lwork,
             int* info);
void dgeqrf_(const int* m, const int* n, double* a, const int* lda, double* tau, double* work, const int* lwork,
             int* info);
void sorgqr_(const int* m, const int* n, const int* k, float* a, const int* lda, const float* tau, float* work,
             const int* lwork, int* info);
void dorgqr_(const int* m, const int* n, const int* k, double* a, const int* lda, const double* tau, double* work,
             const int* lwork, int* info);
void sgesv_(const int* n, const int* nrhs, float* a, const int* lda, int* ipiv, float* b, const int* ldb, int* info);
void dgesv_(const int* n, const int* nrhs, double* a, const int* lda, int* ipiv, double* b, const int* ldb,
            int* info);
void spotrf_(const char* uplo, const int* n, float* a, const int* lda, int* info, size_t);
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info, size_t);
void ssyevd_(const char* jobz, const char* uplo, const int* n, float* a, const int* lda, float* w, float* work,
             const int* lwork, int* iwork, const int* liwork, int* info, size_t, size_t);
void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w, double* work,
             const int* lwork, int* iwork, const int* liwork, int* info, size_t, size_t);
}

namespace moelab::cpu {
namespace {

// Typed front ends, so the algorithms below are written once.
void gesdd(char jobz, int m, int n, float* a, int lda, float* s, float* u, int ldu, float* vt, int ldvt, float* work,
           int lwork, int* iwork, int* info) {
  sgesdd_(&jobz, &m, &n, a, &lda, s, u, &ldu, vt, &ldvt, work, &lwork, iwork, info, 1);
}
void gesdd(char jobz, int m, int n, double* a, int lda, double* s, double* u, int ldu, double* vt, int ldvt,
           double* work, int lwork, int* iwork, int* info) {
  dgesdd_(&jobz, &m, &n, a, &lda, s, u, &ldu, vt, &ldvt, work, &lwork, iwork, info, 1);
}
void geqrf(int m, int n, float* a, int lda, float* tau, float* work, int lwork, int* info) {
  sgeqrf_(&m, &n, a, &lda, tau, work, &lwork, info);
}
void geqrf(int m, int n, double* a, int lda, double* tau, double* work, int lwork, int* info) {
  dgeqrf_(&m, &n, a, &lda, tau, work, &lwork, info);
}
void orgqr(int m, int n, int k, float* a, int lda, const float* tau, float* work, int lwork, int* info) {
  sorgqr_(&m, &n, &k, a, &lda, tau, work, &lwork, info);
}
void orgqr(int m, int n, int k, double* a, int lda, const double* tau, double* work, int lwork, int* info) {
  dorgqr_(&m, &n, &k, a, &lda, tau, work, &lwork, info);
}
void gesv(int n, int nrhs, float* a, int lda, int* ipiv, float* b, int ldb, int* info) {
  sgesv_(&n, &nrhs, a, &lda, ipiv, b, &ldb, info);
}
void gesv(int n, int nrhs, double* a, int lda, int* ipiv, double* b, int ldb, int* info) {
  dgesv_(&n, &nrhs, a, &lda, ipiv, b, &ldb, info);
}
void potrf(char uplo, int n, float* a, int lda, int* info) { spotrf_(&uplo, &n, a, &lda, info, 1); }
void potrf(char uplo, int n, double* a, int lda, int* info) { dpotrf_(&uplo, &n, a, &lda, info, 1); }
void syevd(char jobz, char uplo, int n, float* a, int lda, float* w, float* work, int lwork, int* iwork, int liwork,
           int* info) {
  ssyevd_(&jobz, &uplo, &n, a, &lda, w, work, &lwork, iwork, &liwork, info, 1, 1);
}
void syevd(char jobz, char uplo, int n, double* a, int lda, double* w, double* work, int lwork, int* iwork,
           int liwork, int* info) {
  dsyevd_(&jobz, &uplo, &n, a, &lda, w, work, &lwork, iwork, &liwork, info, 1, 1);
}

// A workspace size returned by a query (lwork = -1) as a float.
template <class T>
int query_size(T v) {
  return std::max(1, static_cast<int>(v) + 1);
}

template <class T>
const T* matrix_ptr(const Tensor& t, int64_t i) {
  return t.data_ptr<T>() + batch_offset(t, 2, i);
}

int32_t* info_ptr(const Tensor& info, int64_t i) { return info.data_ptr<int32_t>() + batch_offset(info, 0, i); }

template <class T>
void svd_typed(const Tensor& a, const Tensor& u, const Tensor& s, const Tensor& vh, bool full, const Tensor& info) {
  const int nd = a.dim();
  const int64_t m = a.size(nd - 2), n = a.size(nd - 1), k = std::min(m, n);
  const int64_t nbatch = batch_count(a, 2);
  const bool vectors = u.defined();
  const char jobz = !vectors ? 'N' : full ? 'A' : 'S';
  // Column-major view of row-major A is A^T (n x m): its U is our Vh, its V^T our U.
  const int M = to_blas_int(n, "linalg.svd"), N = to_blas_int(m, "linalg.svd");
  const int lda = std::max(M, 1);
  const int ldu = std::max(M, 1);                                   // U' = Vh: M x (k or M)
  const int ldvt = vectors ? std::max(full ? N : static_cast<int>(k), 1) : 1;  // V'^T = U
  std::vector<T> abuf(static_cast<size_t>(m * n)), dummy(1);
  std::vector<int> iwork(static_cast<size_t>(std::max<int64_t>(1, 8 * k)));
  T wq{};
  int inf = 0;
  gesdd(jobz, M, N, abuf.data(), lda, dummy.data(), dummy.data(), ldu, dummy.data(), ldvt, &wq, -1, iwork.data(),
        &inf);
  std::vector<T> work(static_cast<size_t>(query_size(wq)));
  const int64_t u_size = vectors ? u.size(nd - 2) * u.size(nd - 1) : 0;
  const int64_t vh_size = vectors ? vh.size(nd - 2) * vh.size(nd - 1) : 0;
  for (int64_t i = 0; i < nbatch; ++i) {
    pack_matrix(matrix_ptr<T>(a, i), m, n, a.stride(nd - 2), a.stride(nd - 1), abuf.data(), false);
    T* up = vectors ? u.data_ptr<T>() + i * u_size : dummy.data();
    T* vhp = vectors ? vh.data_ptr<T>() + i * vh_size : dummy.data();
    gesdd(jobz, M, N, abuf.data(), lda, s.data_ptr<T>() + i * k, vhp, ldu, up, ldvt, work.data(),
          static_cast<int>(work.size()), iwork.data(), info_ptr(info, i));
  }
}

template <class T>
void qr_typed(const Tensor& a, const Tensor& q, const Tensor& r, bool complete) {
  const int nd = a.dim();
  const int64_t m = a.size(nd - 2), n = a.size(nd - 1), k = std::min(m, n);
  const int64_t nbatch = batch_count(a, 2);
  const int64_t qcols = complete ? m : k, rrows = complete ? m : k;
  const int M = to_blas_int(m, "linalg.qr"), N = to_blas_int(n, "linalg.qr"), K = static_cast<int>(k);
  const int lda = std::max(M, 1);
  // Column-major A, wide enough to grow into the complete Q.
  std::vector<T> buf(static_cast<size_t>(std::max<int64_t>(1, m * std::max(n, qcols)))), tau(
      static_cast<size_t>(std::max<int64_t>(1, k)));
  T wq1{}, wq2{};
  int inf = 0;
  geqrf(M, N, buf.data(), lda, tau.data(), &wq1, -1, &inf);
  if (q.defined()) orgqr(M, static_cast<int>(qcols), K, buf.data(), lda, tau.data(), &wq2, -1, &inf);
  std::vector<T> work(static_cast<size_t>(std::max(query_size(wq1), query_size(wq2))));
  const int lwork = static_cast<int>(work.size());
  for (int64_t b = 0; b < nbatch; ++b) {
    pack_matrix(matrix_ptr<T>(a, b), m, n, a.stride(nd - 2), a.stride(nd - 1), buf.data(), true);
    geqrf(M, N, buf.data(), lda, tau.data(), work.data(), lwork, &inf);
    T* rp = r.data_ptr<T>() + b * rrows * n;
    for (int64_t i = 0; i < rrows; ++i)
      for (int64_t j = 0; j < n; ++j) rp[i * n + j] = i <= j ? buf[static_cast<size_t>(i + j * lda)] : T(0);
    if (!q.defined()) continue;
    orgqr(M, static_cast<int>(qcols), K, buf.data(), lda, tau.data(), work.data(), lwork, &inf);
    T* qp = q.data_ptr<T>() + b * m * qcols;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < qcols; ++j) qp[i * qcols + j] = buf[static_cast<size_t>(i + j * lda)];
  }
}

template <class T>
void solve_typed(const Tensor& a, const Tensor& b, const Tensor& x, const Tensor& info) {
  const int nd = a.dim();
  const int64_t n = a.size(nd - 1), nrhs = b.size(nd - 1);
  const int64_t nbatch = batch_count(a, 2);
  const int N = to_blas_int(n, "linalg.solve"), NRHS = to_blas_int(nrhs, "linalg.solve");
  const int ld = std::max(N, 1);
  std::vector<T> abuf(static_cast<size_t>(n * n)), xbuf(static_cast<size_t>(n * nrhs));
  std::vector<int> ipiv(static_cast<size_t>(std::max<int64_t>(n, 1)));
  for (int64_t i = 0; i < nbatch; ++i) {
    pack_matrix(matrix_ptr<T>(a, i), n, n, a.stride(nd - 2), a.stride(nd - 1), abuf.data(), true);
    pack_matrix(matrix_ptr<T>(b, i), n, nrhs, b.stride(nd - 2), b.stride(nd - 1), xbuf.data(), true);
    gesv(N, NRHS, abuf.data(), ld, ipiv.data(), xbuf.data(), ld, info_ptr(info, i));
    T* xp = x.data_ptr<T>() + i * n * nrhs;
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < nrhs; ++c) xp[r * nrhs + c] = xbuf[static_cast<size_t>(r + c * n)];
  }
}

template <class T>
void cholesky_typed(const Tensor& a, const Tensor& out, bool upper, const Tensor& info) {
  const int nd = a.dim();
  const int64_t n = a.size(nd - 1);
  const int64_t nbatch = batch_count(a, 2);
  const int N = to_blas_int(n, "linalg.cholesky");
  // Row-major lower triangle = column-major upper triangle.
  const char uplo = upper ? 'L' : 'U';
  for (int64_t i = 0; i < nbatch; ++i) {
    T* op = out.data_ptr<T>() + i * n * n;
    pack_matrix(matrix_ptr<T>(a, i), n, n, a.stride(nd - 2), a.stride(nd - 1), op, false);
    potrf(uplo, N, op, std::max(N, 1), info_ptr(info, i));
    for (int64_t r = 0; r < n; ++r)  // LAPACK leaves the other triangle as it was
      for (int64_t c = 0; c < n; ++c)
        if (upper ? c < r : c > r) op[r * n + c] = T(0);
  }
}

template <class T>
void eigh_typed(const Tensor& a, const Tensor& w, const Tensor& v, bool lower, const Tensor& info) {
  const int nd = a.dim();
  const int64_t n = a.size(nd - 1);
  const int64_t nbatch = batch_count(a, 2);
  const int N = to_blas_int(n, "linalg.eigh"), lda = std::max(N, 1);
  const char jobz = v.defined() ? 'V' : 'N';
  const char uplo = lower ? 'U' : 'L';  // row-major lower triangle = column-major upper triangle
  std::vector<T> buf(static_cast<size_t>(std::max<int64_t>(1, n * n)));
  T wq{};
  int iwq = 0, inf = 0;
  syevd(jobz, uplo, N, buf.data(), lda, w.data_ptr<T>(), &wq, -1, &iwq, -1, &inf);
  std::vector<T> work(static_cast<size_t>(query_size(wq)));
  std::vector<int> iwork(static_cast<size_t>(std::max(1, iwq)));
  for (int64_t i = 0; i < nbatch; ++i) {
    pack_matrix(matrix_ptr<T>(a, i), n, n, a.stride(nd - 2), a.stride(nd - 1), buf.data(), false);
    syevd(jobz, uplo, N, buf.data(), lda, w.data_ptr<T>() + i * n, work.data(), static_cast<int>(work.size()),
          iwork.data(), static_cast<int>(iwork.size()), info_ptr(info, i));
    if (!v.defined()) continue;
    // Column j of the column-major result is eigenvector j; v stores it as column j, row-major.
    T* vp = v.data_ptr<T>() + i * n * n;
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < n; ++c) vp[r * n + c] = buf[static_cast<size_t>(r + c * n)];
  }
}

}  // namespace

void lapack_svd(const Tensor& a, const Tensor& u, const Tensor& s, const Tensor& vh, bool full_matrices,
                const Tensor& info) {
  visit_dtype<DTypes::Float>(a.dtype(), "linalg.svd",
                             [&]<class T>() { svd_typed<T>(a, u, s, vh, full_matrices, info); });
}
void lapack_qr(const Tensor& a, const Tensor& q, const Tensor& r, bool complete) {
  visit_dtype<DTypes::Float>(a.dtype(), "linalg.qr", [&]<class T>() { qr_typed<T>(a, q, r, complete); });
}
void lapack_solve(const Tensor& a, const Tensor& b, const Tensor& x, const Tensor& info) {
  visit_dtype<DTypes::Float>(a.dtype(), "linalg.solve", [&]<class T>() { solve_typed<T>(a, b, x, info); });
}
void lapack_cholesky(const Tensor& a, const Tensor& out, bool upper, const Tensor& info) {
  visit_dtype<DTypes::Float>(a.dtype(), "linalg.cholesky",
                             [&]<class T>() { cholesky_typed<T>(a, out, upper, info); });
}
void lapack_eigh(const Tensor& a, const Tensor& w, const Tensor& v, bool lower, const Tensor& info) {
  visit_dtype<DTypes::Float>(a.dtype(), "linalg.eigh", [&]<class T>() { eigh_typed<T>(a, w, v, lower, info); });
}

}  // namespace moelab::cpu
