// torch.linalg decompositions against PyTorch. SVD and eigh vectors are unique only up to sign, so
// those tests check sign-invariant facts: the values, the reconstruction, orthonormality, and that
// each vector is +-1 times PyTorch's.
#include <string>

#include "support/check.h"
#include "support/golden.h"

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::check_equal;
using moelab::testing::Golden;

namespace {

const Golden& golden() {
  return Golden::get("linalg");
}

const Tensor& G(const std::string& name) { return golden()[name]; }

double tol_of(const std::string& tag) { return tag == "f32" ? 2e-5 : 1e-11; }

Tensor mT(const Tensor& x) { return x.transpose(-1, -2); }

// Same values, column-major in the last two dims.
Tensor transposed_view(const Tensor& x) { return mT(mT(x).contiguous()); }

// Identity matrices shaped like x^T x.
Tensor eye_like_gram(const Tensor& x) {
  const int64_t n = x.size(-1);
  Shape s = x.shape();
  s[s.size() - 2] = n;
  return eye(n, x.dtype()).expand(s);
}

// |<u_j, v_j>| for each column j: all 1 when the columns agree up to sign.
Tensor column_alignment(const Tensor& u, const Tensor& v) { return abs(sum(u * v, {-2})); }

}  // namespace

TEST_CASE("linalg: svd matches PyTorch up to signs (thin and full, strided input)") {
  for (std::string tag : {"f32", "f64"}) {
    for (std::string name : {"svd_tall", "svd_wide", "svd_batch"}) {
      CAPTURE(tag);
      CAPTURE(name);
      const std::string p = name + "." + tag + ".";
      const double tol = tol_of(tag);
      for (bool strided : {false, true}) {
        CAPTURE(strided);
        const Tensor A = strided ? transposed_view(G(p + "A")) : G(p + "A");
        auto [U, S, Vh] = linalg::svd(A, /*full_matrices=*/false);
        check_close(S, G(p + "S"), tol, tol);
        check_close(matmul(U * S.unsqueeze(-2), Vh), G(p + "A"), tol, tol);
        check_close(matmul(mT(U), U), eye_like_gram(U), tol, tol);
        check_close(matmul(Vh, mT(Vh)), eye_like_gram(mT(Vh)), tol, tol);
        check_close(column_alignment(U, G(p + "U")), ones_like(S), tol, tol);
        check_close(column_alignment(mT(Vh), mT(G(p + "Vh"))), ones_like(S), tol, tol);
        check_close(linalg::svdvals(A), G(p + "S"), tol, tol);

        auto full = linalg::svd(A);  // full_matrices = true, PyTorch's default
        const int64_t m = A.size(-2), n = A.size(-1), k = std::min(m, n);
        check_close(full.S, G(p + "S"), tol, tol);
        check_close(matmul(mT(full.U), full.U), eye_like_gram(full.U), tol, tol);
        check_close(matmul(full.Vh, mT(full.Vh)), eye_like_gram(mT(full.Vh)), tol, tol);
        Tensor Uk = full.U.narrow(-1, 0, k), Vhk = full.Vh.narrow(-2, 0, k);
        CHECK(full.U.size(-1) == m);
        CHECK(full.Vh.size(-2) == n);
        check_close(matmul(Uk * full.S.unsqueeze(-2), Vhk), G(p + "A"), tol, tol);
      }
    }
  }
}

TEST_CASE("linalg: svd of empty and size-1 matrices") {
  auto r = linalg::svd(zeros({0, 3}));
  CHECK(r.U.shape() == Shape{0, 0});
  CHECK(r.S.shape() == Shape{0});
  check_equal(r.Vh, eye(3));
  r = linalg::svd(zeros({3, 0}), false);
  CHECK(r.U.shape() == Shape{3, 0});
  CHECK(r.Vh.shape() == Shape{0, 0});
  r = linalg::svd(zeros({2, 0, 0}));
  CHECK(r.S.shape() == Shape{2, 0});
  CHECK(linalg::svd(zeros({0, 2, 3}), false).U.shape() == Shape{0, 2, 2});
  // A 1 x 1 matrix: |a| with a sign in the vectors.
  r = linalg::svd(full({1, 1}, -3.0, kF64));
  check_close(r.S, full({1}, 3.0, kF64));
  check_close(matmul(r.U * r.S, r.Vh), full({1, 1}, -3.0, kF64));
}

TEST_CASE("linalg: qr matches PyTorch (reduced, complete, r), strided input") {
  for (std::string tag : {"f32", "f64"}) {
    for (std::string name : {"qr_tall", "qr_wide", "qr_batch"}) {
      const std::string p = name + "." + tag + ".";
      const double tol = tol_of(tag);
      for (bool strided : {false, true}) {
        CAPTURE(tag);
        CAPTURE(name);
        CAPTURE(strided);
        const Tensor A = strided ? transposed_view(G(p + "A")) : G(p + "A");
        for (std::string mode : {"reduced", "complete"}) {
          CAPTURE(mode);
          auto [Q, R] = linalg::qr(A, mode);
          check_close(Q, G(p + mode + ".Q"), tol, tol);
          check_close(R, G(p + mode + ".R"), tol, tol);
          check_close(matmul(Q, R), G(p + "A"), tol, tol);
          check_close(matmul(mT(Q), Q), eye_like_gram(Q), tol, tol);
        }
        auto r_only = linalg::qr(A, "r");
        CHECK(r_only.Q.numel() == 0);
        check_close(r_only.R, G(p + "reduced.R"), tol, tol);
      }
    }
  }
  // Empty inputs: R is zeros, Q the identity.
  auto e = linalg::qr(zeros({3, 0}), "complete");
  check_equal(e.Q, eye(3));
  CHECK(e.R.shape() == Shape{3, 0});
  e = linalg::qr(zeros({0, 4}));
  CHECK(e.Q.shape() == Shape{0, 0});
  CHECK(e.R.shape() == Shape{0, 4});
  CHECK_MOELAB_ERROR(linalg::qr(zeros({2, 2}), "full"), "linalg.qr: mode must be");
  CHECK_MOELAB_ERROR(linalg::qr(zeros({3})), "linalg.qr: A must have at least 2 dims");
}

TEST_CASE("linalg: solve and inv match PyTorch (broadcast batch, vector right-hand sides)") {
  for (std::string tag : {"f32", "f64"}) {
    const double tol = tol_of(tag);
    for (std::string name : {"solve", "solve_bcast", "solve_vec", "solve_bvec"}) {
      CAPTURE(tag);
      CAPTURE(name);
      const std::string p = name + "." + tag + ".";
      check_close(linalg::solve(G(p + "a"), G(p + "b")), G(p + "out"), tol, tol);
      check_close(linalg::solve(transposed_view(G(p + "a")), G(p + "b")), G(p + "out"), tol, tol);
    }
    check_close(linalg::inv(G("inv." + tag + ".A")), G("inv." + tag + ".out"), tol, tol);
  }
  // A right-hand side given as a transposed view.
  const Tensor& A = G("solve.f64.a");
  const Tensor& B = G("solve.f64.b");
  check_close(linalg::solve(A, transposed_view(B)), G("solve.f64.out"), 1e-12, 1e-12);
  // Size 0.
  CHECK(linalg::solve(zeros({0, 0}), zeros({0, 2})).shape() == Shape{0, 2});
  CHECK(linalg::solve(eye(2), zeros({2, 0})).shape() == Shape{2, 0});
  CHECK(linalg::solve(zeros({0, 3, 3}), zeros({3})).shape() == Shape{0, 3});
}

TEST_CASE("linalg: solve errors") {
  Tensor singular = tensor<double>({{1, 2}, {2, 4}});
  CHECK_MOELAB_ERROR(linalg::solve(singular, ones({2}, kF64)), "linalg.solve: the input matrix is singular");
  Tensor batch = eye(2, kF64).expand({3, 2, 2}).contiguous();
  batch.select(0, 1).copy_(singular);
  CHECK_MOELAB_ERROR(linalg::solve(batch, ones({2}, kF64)), "exactly zero) (batch element 1)");
  CHECK_MOELAB_ERROR(linalg::solve(zeros({2, 3}), zeros({2})), "linalg.solve: A must be a batch of square matrices");
  CHECK_MOELAB_ERROR(linalg::solve(eye(2), zeros({3})), "do not match: B needs 2 rows");
  CHECK_MOELAB_ERROR(linalg::solve(eye(2), zeros({2}, kF64)), "A and B must have one dtype");
  CHECK_MOELAB_ERROR(linalg::solve(eye(2, kI64), zeros({2}, kI64)), "linalg.solve: A must be f32 or f64");
  CHECK_MOELAB_ERROR(linalg::solve(zeros({2, 2, 2}), zeros({3, 2, 1})), "linalg.solve");
  CHECK_MOELAB_ERROR(linalg::inv(singular), "singular");
}

TEST_CASE("linalg: cholesky matches PyTorch and reads only its triangle") {
  for (std::string tag : {"f32", "f64"}) {
    for (std::string name : {"spd", "spd_batch"}) {
      CAPTURE(tag);
      CAPTURE(name);
      const std::string p = name + "." + tag + ".";
      const double tol = tol_of(tag);
      check_close(linalg::cholesky(G(p + "A")), G(p + "L"), tol, tol);
      check_close(linalg::cholesky(G(p + "A_lower")), G(p + "L"), tol, tol);
      check_close(linalg::cholesky(transposed_view(G(p + "A_lower"))), G(p + "U").transpose(-1, -2), tol, tol);
      check_close(linalg::cholesky(G(p + "A_upper"), /*upper=*/true), G(p + "U"), tol, tol);
      check_close(linalg::cholesky(G(p + "A"), true), G(p + "U"), tol, tol);
    }
  }
  CHECK(linalg::cholesky(zeros({2, 0, 0})).shape() == Shape{2, 0, 0});
  Tensor not_pd = tensor<double>({{1, 2}, {2, 1}});
  CHECK_MOELAB_ERROR(linalg::cholesky(not_pd),
                     "linalg.cholesky: the input is not positive-definite (the leading minor of order 2");
  Tensor batch = eye(2, kF64).expand({3, 2, 2}).contiguous();
  batch.select(0, 2).copy_(not_pd);
  CHECK_MOELAB_ERROR(linalg::cholesky(batch), "(batch element 2)");
  CHECK_MOELAB_ERROR(linalg::cholesky(zeros({2, 3})), "linalg.cholesky: A must be a batch of square matrices");
}

TEST_CASE("linalg: eigh matches PyTorch up to signs, both triangles") {
  for (std::string tag : {"f32", "f64"}) {
    for (std::string name : {"spd", "spd_batch", "sym"}) {
      CAPTURE(tag);
      CAPTURE(name);
      const std::string p = name + "." + tag + ".";
      const double tol = tol_of(tag) * 10;
      const Tensor& A = G(p + "A");
      auto check = [&](const linalg::EighResult& r) {
        check_close(r.eigenvalues, G(p + "eigenvalues"), tol, tol);
        check_close(matmul(A, r.eigenvectors), r.eigenvectors * r.eigenvalues.unsqueeze(-2), tol, tol);
        check_close(matmul(mT(r.eigenvectors), r.eigenvectors), eye_like_gram(r.eigenvectors), tol, tol);
        check_close(column_alignment(r.eigenvectors, G(p + "eigenvectors")), ones_like(r.eigenvalues), tol, tol);
      };
      check(linalg::eigh(A));
      check(linalg::eigh(transposed_view(A), "U"));
      if (golden().has(p + "A_lower")) {
        check(linalg::eigh(G(p + "A_lower"), "L"));
        check(linalg::eigh(G(p + "A_upper"), "U"));
      }
      check_close(linalg::eigvalsh(A), G(p + "eigenvalues"), tol, tol);
    }
  }
  CHECK(linalg::eigh(zeros({0, 0})).eigenvalues.shape() == Shape{0});
  CHECK_MOELAB_ERROR(linalg::eigh(eye(2), "X"), "linalg.eigh: UPLO must be \"L\" or \"U\"");
  CHECK_MOELAB_ERROR(linalg::eigh(zeros({2, 3})), "linalg.eigh: A must be a batch of square matrices");
  CHECK_MOELAB_ERROR(linalg::eigvalsh(zeros({2}, kF64)), "linalg.eigvalsh: A must have at least 2 dims");
  CHECK_MOELAB_ERROR(linalg::svd(zeros({2, 2}, kI32)), "linalg.svd: A must be f32 or f64");
}
