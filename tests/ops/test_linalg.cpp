// matmul, mm, bmm, mv, dot, outer and the GEMM primitives (gemm, grouped_gemm), against PyTorch
// goldens and a naive reference, over contiguous, transposed, doubly strided and broadcast layouts.
#include <array>
#include <cmath>
#include <limits>
#include <string>

#include "moelab/backends/backend.h"
#include "moelab/backends/linalg_kernels.h"
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

double rtol_of(const std::string& tag) { return tag == "f32" ? 1e-5 : 1e-12; }
double atol_of(const std::string& tag) { return tag == "f32" ? 1e-5 : 1e-12; }

// The same values through a view whose last two dims are column-major (BLAS gets CblasTrans).
Tensor transposed_view(const Tensor& x) {
  if (x.dim() < 2) return x;
  Tensor v = x.transpose(-1, -2).contiguous().transpose(-1, -2);
  if (x.size(-1) > 1 && x.size(-2) > 1) REQUIRE(!v.is_contiguous());
  return v;
}

// The same values at every other row and column of a bigger buffer: no BLAS layout fits, so the
// kernel packs. 1-D tensors get a step of 2 (a strided vector).
Tensor doubly_strided_view(const Tensor& x) {
  Shape big = x.shape();
  for (int d = std::max(0, x.dim() - 2); d < x.dim(); ++d) big[d] *= 2;
  Tensor buf = full(big, std::nan(""), x.dtype());
  Tensor v = buf;
  for (int d = std::max(0, x.dim() - 2); d < x.dim(); ++d) v = v.slice(d, 0, std::nullopt, 2);
  v.copy_(x);
  return v;
}

// Plain triple loop in double, for 2-D operands.
Tensor naive_mm(const Tensor& a, const Tensor& b) {
  const int64_t m = a.size(0), k = a.size(1), n = b.size(1);
  std::vector<double> av = a.to_vector<double>(), bv = b.to_vector<double>(), out(static_cast<size_t>(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t p = 0; p < k; ++p)
        out[static_cast<size_t>(i * n + j)] += av[static_cast<size_t>(i * k + p)] * bv[static_cast<size_t>(p * n + j)];
  return from_vector(out, {m, n}).to(a.dtype());
}

Tensor random_matrix(const Shape& s, DType t, double seed) {
  // Deterministic, irregular values without depending on the random family.
  return sin(arange(0, static_cast<double>(numel_of(s)), 1, t) * 1.7 + seed).reshape(s);
}

}  // namespace

TEST_CASE("linalg: matmul family matches PyTorch for every layout") {
  using Fn = Tensor (*)(const Tensor&, const Tensor&);
  const std::vector<std::pair<std::string, Fn>> cases = {
      {"mm", [](const Tensor& a, const Tensor& b) { return mm(a, b); }},
      {"matmul_bcast", [](const Tensor& a, const Tensor& b) { return matmul(a, b); }},
      {"matmul_nd_2d", [](const Tensor& a, const Tensor& b) { return matmul(a, b); }},
      {"matmul_2d_nd", [](const Tensor& a, const Tensor& b) { return matmul(a, b); }},
      {"matmul_vm", [](const Tensor& a, const Tensor& b) { return matmul(a, b); }},
      {"matmul_mv", [](const Tensor& a, const Tensor& b) { return matmul(a, b); }},
      {"matmul_vv", [](const Tensor& a, const Tensor& b) { return matmul(a, b); }},
      {"matmul_v3", [](const Tensor& a, const Tensor& b) { return matmul(a, b); }},
      {"matmul_3v", [](const Tensor& a, const Tensor& b) { return matmul(a, b); }},
      {"bmm", [](const Tensor& a, const Tensor& b) { return bmm(a, b); }},
      {"outer", [](const Tensor& a, const Tensor& b) { return outer(a, b); }},
  };
  using View = Tensor (*)(const Tensor&);
  const std::vector<std::pair<std::string, View>> views = {
      {"contiguous", [](const Tensor& x) { return x; }},
      {"transposed", transposed_view},
      {"doubly strided", doubly_strided_view},
  };
  for (std::string tag : {"f32", "f64"}) {
    for (const auto& [name, fn] : cases) {
      const Tensor& a = golden()[name + "." + tag + ".a"];
      const Tensor& b = golden()[name + "." + tag + ".b"];
      const Tensor& expected = golden()[name + "." + tag + ".out"];
      for (const auto& [va, fa] : views)
        for (const auto& [vb, fb] : views) {
          CAPTURE(name);
          CAPTURE(tag);
          CAPTURE(va);
          CAPTURE(vb);
          check_close(fn(fa(a), fb(b)), expected, rtol_of(tag), atol_of(tag));
        }
    }
  }
  // The method form is the same op.
  check_close(golden()["mm.f32.a"].matmul(golden()["mm.f32.b"]), golden()["mm.f32.out"], 1e-5, 1e-5);
  // mv is matmul's matrix-vector case.
  check_close(mv(golden()["matmul_mv.f64.a"], golden()["matmul_mv.f64.b"]), golden()["matmul_mv.f64.out"], 1e-12,
              1e-12);
  check_close(dot(golden()["matmul_vv.f64.a"], golden()["matmul_vv.f64.b"]), golden()["matmul_vv.f64.out"], 1e-12,
              1e-12);
}

TEST_CASE("linalg: integer matmul is exact") {
  for (std::string tag : {"i64", "i32"}) {
    CAPTURE(tag);
    const Tensor& a = golden()["matmul_int." + tag + ".a"];
    const Tensor& b = golden()["matmul_int." + tag + ".b"];
    check_equal(matmul(a, b), golden()["matmul_int." + tag + ".out"]);
    check_equal(matmul(transposed_view(a), doubly_strided_view(b)), golden()["matmul_int." + tag + ".out"]);
  }
  // Overflow wraps as two's complement (PyTorch's behaviour), without UB.
  Tensor big = full({1, 2}, int64_t{1} << 62, kI64);
  Tensor two = full({2, 1}, 2, kI64);
  CHECK(matmul(big, two).item<int64_t>() == 0);
}

TEST_CASE("linalg: matmul against a naive loop over shapes with size-1 dims and every transpose") {
  // Shapes hit gemv (m == 1 or n == 1), 1x1 outputs, k == 1 outer products and ordinary GEMMs.
  const int64_t sizes[][3] = {{1, 1, 1}, {1, 5, 1}, {4, 1, 1}, {1, 1, 6}, {1, 7, 3}, {5, 7, 1},
                              {3, 1, 4}, {6, 5, 4}, {17, 33, 9}, {2, 64, 3}};
  for (DType t : {kF32, kF64}) {
    const double tol = t == kF32 ? 1e-5 : 1e-12;
    for (const auto& s : sizes) {
      const int64_t m = s[0], k = s[1], n = s[2];
      Tensor a = random_matrix({m, k}, t, 0.3), b = random_matrix({k, n}, t, 1.1);
      Tensor expected = naive_mm(a, b);
      for (int layout = 0; layout < 9; ++layout) {
        CAPTURE(m);
        CAPTURE(k);
        CAPTURE(n);
        CAPTURE(layout);
        auto view = [](const Tensor& x, int v) {
          return v == 0 ? x : v == 1 ? transposed_view(x) : doubly_strided_view(x);
        };
        check_close(matmul(view(a, layout % 3), view(b, layout / 3)), expected, tol, tol);
      }
    }
  }
}

TEST_CASE("linalg: matmul with broadcast (stride-0) and sliced operands") {
  Tensor row = random_matrix({1, 4}, kF32, 0.5);
  Tensor a = row.expand({3, 4});  // every row the same, row stride 0
  Tensor b = random_matrix({4, 5}, kF32, 0.9);
  check_close(matmul(a, b), naive_mm(a.contiguous(), b), 1e-5, 1e-5);
  // Broadcast batch and rows: the folded [6, 4] operand has row stride 0 and is packed.
  Tensor a3 = row.expand({2, 3, 4});
  Tensor r3 = matmul(a3, b);
  for (int64_t i = 0; i < 2; ++i) check_close(r3[i], naive_mm(a, b), 1e-5, 1e-5);
  // A batch operand broadcast along a middle batch dim: [2, 1, 3, 4] @ [1, 5, 4, 2] -> [2, 5, 3, 2].
  Tensor x = random_matrix({2, 1, 3, 4}, kF64, 0.2), y = random_matrix({1, 5, 4, 2}, kF64, 0.4);
  Tensor out = matmul(x, y);
  CHECK(out.shape() == Shape{2, 5, 3, 2});
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 5; ++j) check_close(out[i][j], naive_mm(x[i][0], y[0][j]), 1e-12, 1e-12);
  // A column slice of a wider matrix (row stride 10) folds into a single GEMM.
  Tensor wide = random_matrix({2, 3, 10}, kF64, 0.7);
  Tensor sliced = wide.narrow(2, 2, 4);
  Tensor w2 = random_matrix({4, 3}, kF64, 0.1);
  Tensor r = matmul(sliced, w2);
  for (int64_t i = 0; i < 2; ++i) check_close(r[i], naive_mm(sliced[i].contiguous(), w2), 1e-12, 1e-12);
}

TEST_CASE("linalg: matmul with size-0 dims") {
  CHECK(matmul(zeros({0, 4}), zeros({4, 5})).shape() == Shape{0, 5});
  check_equal(matmul(ones({3, 0}), ones({0, 5})), zeros({3, 5}));  // empty sum
  check_equal(matmul(ones({2, 3, 0}), ones({0, 2})), zeros({2, 3, 2}));
  CHECK(matmul(zeros({0, 2, 3}), zeros({3, 4})).shape() == Shape{0, 2, 4});
  CHECK(matmul(zeros({2, 0, 2, 3}), zeros({3, 4})).shape() == Shape{2, 0, 2, 4});
  CHECK(bmm(zeros({0, 2, 3}), zeros({0, 3, 4})).shape() == Shape{0, 2, 4});
  check_equal(matmul(zeros({0}), zeros({0})), zeros({}));
  check_equal(matmul(zeros({0}, kI64), zeros({0, 3}, kI64)), zeros({3}, kI64));
}

TEST_CASE("linalg: batched matmul does not depend on the thread count") {
  Tensor a = random_matrix({64, 7, 9}, kF32, 0.3), b = random_matrix({64, 9, 5}, kF32, 0.8);
  const int saved = get_num_threads();
  set_num_threads(1);
  Tensor one = matmul(a, b);
  set_num_threads(2);
  Tensor two = matmul(a, b);
  set_num_threads(saved);
  check_equal(one, two);
}

TEST_CASE("linalg: large f32 gemm (oneDNN's matmul on AVX-512 CPUs): transposes, alpha, beta, padded rows, threads") {
  // m k n = 130 x 150 x 120 = 2.3M multiply-adds, above the size where the CPU backend hands f32
  // GEMMs to oneDNN (when the CPU has AVX-512; OpenBLAS otherwise). Small integers, so every sum is
  // exact and the result must equal the f64 reference bit for bit.
  LinalgKernels& k = backend_for(kCPU).linalg();
  const int64_t m = 130, kk = 150, n = 120;
  const Tensor a64 = round(random_matrix({m, kk}, kF64, 0.2) * 4), b64 = round(random_matrix({kk, n}, kF64, 0.6) * 4);
  const Tensor ab = naive_mm(a64, b64).to(kF32);
  const Tensor a = a64.to(kF32), b = b64.to(kF32);
  // Row-major, transposed (column-major) and padded-row operands; BLAS and oneDNN read them in place.
  const Tensor at = a.t().contiguous().t(), bt = b.t().contiguous().t();
  Tensor ap = zeros({m, kk + 7}).narrow(1, 3, kk), bp = zeros({kk, n + 5}).narrow(1, 0, n);
  ap.copy_(a);
  bp.copy_(b);
  for (const auto& [x, y] : std::vector<std::pair<Tensor, Tensor>>{{a, b}, {at, b}, {a, bt}, {at, bt}, {ap, bp}}) {
    Tensor out = full({m, n}, std::numeric_limits<double>::quiet_NaN());
    k.gemm(out, x, y, 1.0, 0.0);  // beta = 0: the NaNs in out are never read
    check_equal(out, ab);
    Tensor c = ones({m, n});
    k.gemm(c, x, y, 2.0, 3.0);
    check_equal(c, ab * 2 + 3);
    Tensor cp = ones({m, n + 9}).narrow(1, 4, n);  // a padded output
    k.gemm(cp, x, y, 1.0, 1.0);
    check_equal(cp, ab + 1);
  }
  // Non-integer values: 1 and 2 threads give the same bits.
  const Tensor u = random_matrix({m, kk}, kF32, 0.3), v = random_matrix({kk, n}, kF32, 0.9);
  const int saved = get_num_threads();
  set_num_threads(1);
  const Tensor one = matmul(u, v);
  set_num_threads(2);
  const Tensor two = matmul(u, v);
  set_num_threads(saved);
  check_equal(one, two);
  check_close(one, naive_mm(u.to(kF64), v.to(kF64)).to(kF32), 1e-5, 1e-5);
}

TEST_CASE("linalg: gemm primitive: alpha, beta, garbage in out, strided out") {
  LinalgKernels& k = backend_for(kCPU).linalg();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (DType t : {kF32, kF64, kI64}) {
    CAPTURE(t);
    // Shapes for gemm, gemv with n == 1 and gemv with m == 1.
    for (auto [m, kk, n] : std::vector<std::array<int64_t, 3>>{{3, 4, 5}, {3, 4, 1}, {1, 4, 5}}) {
      Tensor a = round(random_matrix({m, kk}, kF64, 0.2) * 4).to(t);
      Tensor b = round(random_matrix({kk, n}, kF64, 0.6) * 4).to(t);
      Tensor ab = naive_mm(a, b);
      Tensor out = is_floating(t) ? full({m, n}, nan, t) : full({m, n}, 99, t);
      k.gemm(out, a, b, 1.0, 0.0);  // beta = 0: out is never read
      check_close(out, ab, 1e-5, 1e-5);
      Tensor c = ones({m, n}, t);
      k.gemm(c, a, b, 2.0, 3.0);
      check_close(c, ab * 2 + 3, 1e-5, 1e-5);
      // A column-major out goes through a dense buffer and back.
      Tensor ct = full({n, m}, 1, t).transpose(0, 1);
      k.gemm(ct, a, b, 1.0, 1.0);
      check_close(ct, ab + 1, 1e-5, 1e-5);
    }
  }
}

TEST_CASE("linalg: grouped_gemm primitives: segments, transposed b, empty groups, K = 0") {
  LinalgKernels& k = backend_for(kCPU).linalg();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<int64_t> offs{0, 2, 2, 7, 8};  // group 1 has no rows
  const int64_t N = 8, K = 4, M = 3, G = 4;
  for (DType t : {kF32, kF64}) {
    CAPTURE(t);
    Tensor a = random_matrix({N, K}, t, 0.3), c = random_matrix({N, M}, t, 0.9);
    Tensor b = random_matrix({G, K, M}, t, 0.5);
    // b contiguous, and as the transpose(1, 2) view of a contiguous [G, M, K].
    for (const Tensor& bb : {b, b.transpose(1, 2).contiguous().transpose(1, 2)}) {
      Tensor out = full({N, M}, nan, t);
      k.grouped_gemm(out, a, bb, offs);
      for (int64_t g = 0; g < G; ++g) {
        const int64_t r0 = offs[size_t(g)], n = offs[size_t(g + 1)] - r0;
        if (n > 0) check_close(out.narrow(0, r0, n), naive_mm(a.narrow(0, r0, n), b.select(0, g)), 1e-5, 1e-5);
      }
    }
    Tensor gw = full({G, K, M}, nan, t);
    k.grouped_gemm_tn(gw, a, c, offs);
    for (int64_t g = 0; g < G; ++g) {
      const int64_t r0 = offs[size_t(g)], n = offs[size_t(g + 1)] - r0;
      check_close(gw.select(0, g), naive_mm(a.narrow(0, r0, n).transpose(0, 1), c.narrow(0, r0, n)), 1e-5, 1e-5);
    }
    // K = 0: an empty sum, zeros (out is garbage before).
    Tensor out0 = full({N, M}, nan, t);
    k.grouped_gemm(out0, zeros({N, 0}, t), zeros({G, 0, M}, t), offs);
    check_equal(out0, zeros({N, M}, t));
  }
}

TEST_CASE("linalg: matmul argument errors") {
  CHECK_MOELAB_ERROR(matmul(zeros({2, 3}), zeros({4, 5})), "matmul: [2, 3] @ [4, 5]: inner sizes 3 and 4 differ");
  CHECK_MOELAB_ERROR(matmul(zeros({2, 2, 3}), zeros({3, 3, 1})), "do not broadcast");
  CHECK_MOELAB_ERROR(matmul(zeros({}), zeros({3})), "at least 1 dim");
  CHECK_MOELAB_ERROR(matmul(zeros({3}), zeros({4})), "dot: sizes differ");
  CHECK_MOELAB_ERROR(matmul(zeros({2, 3}), zeros({3, 2}, kF64)), "matmul: expected both operands to have one dtype");
  CHECK_MOELAB_ERROR(matmul(zeros({2, 3}, kBool), zeros({3, 2}, kBool)), "matmul: dtype bool is not supported");
  CHECK_MOELAB_ERROR(matmul(zeros({2, 3}, kBF16), zeros({3, 2}, kBF16)), "convert with .to(kF32)");
  CHECK_MOELAB_ERROR(matmul(Tensor(), zeros({2})), "matmul: input is an undefined tensor");
  CHECK_MOELAB_ERROR(mm(zeros({2, 3, 4}), zeros({4, 2})), "mm: expected 2-D matrices");
  CHECK_MOELAB_ERROR(bmm(zeros({2, 3, 4}), zeros({3, 4, 2})), "bmm: batch sizes differ");
  CHECK_MOELAB_ERROR(bmm(zeros({2, 3, 4}), zeros({2, 5, 2})), "bmm: [2, 3, 4] @ [2, 5, 2]: inner sizes 4 and 5");
  CHECK_MOELAB_ERROR(mv(zeros({2, 3}), zeros({2})), "mv: [2, 3] @ [2]: inner sizes");
  CHECK_MOELAB_ERROR(dot(zeros({2, 3}), zeros({2})), "dot: expected two 1-D tensors");
  CHECK_MOELAB_ERROR(outer(zeros({2, 3}), zeros({2})), "outer: expected two 1-D tensors");
}
