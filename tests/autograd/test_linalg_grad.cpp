// Gradients of the linear-algebra ops: finite-difference checks (f64, small), golden gradients
// from PyTorch (tests/golden/gen_linalg_grad.py) and the ops' autograd errors.
#include <string>

#include "support/check.h"
#include "support/golden.h"

using namespace moelab;
using autograd::gradcheck;
using autograd::gradgradcheck;
using moelab::testing::check_close;

namespace {

// A random f64 leaf that requires grad (deterministic per seed).
Tensor leaf(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  Tensor t = randn(shape, kF64, &gen);
  t.requires_grad_();
  return t;
}

// A leaf laid out transposed: the last two dims of a contiguous [..., n, m] tensor, swapped.
Tensor leaf_t(const Shape& shape, uint64_t seed) {
  Shape s = shape;
  std::swap(s[s.size() - 1], s[s.size() - 2]);
  Generator gen(seed);
  Tensor t = randn(s, kF64, &gen).transpose(-1, -2);
  t.requires_grad_();
  CHECK(!t.is_contiguous());
  return t;
}

// Symmetric positive-definite X X^T + n I, differentiable in X.
Tensor spd_of(const Tensor& x) {
  const int64_t n = x.size(-1);
  return matmul(x, x.transpose(-1, -2)) + eye(n, kF64) * static_cast<double>(n);
}

std::vector<Tensor> one(Tensor t) { return {std::move(t)}; }

// Runs the op on the golden inputs and compares each input's gradient for the golden gout.
void check_golden(const std::string& name, int n_inputs,
                  const std::function<Tensor(const std::vector<Tensor>&)>& fn) {
  static const moelab::testing::Golden g("linalg_grad");
  INFO("case " << name);
  std::vector<Tensor> ins;
  for (int i = 0; i < n_inputs; ++i) {
    Tensor t = g[name + ".in" + std::to_string(i)].clone();
    t.requires_grad_();
    ins.push_back(t);
  }
  fn(ins).backward(g[name + ".gout"]);
  for (int i = 0; i < n_inputs; ++i) check_close(ins[i].grad(), g[name + ".grad" + std::to_string(i)], 1e-9, 1e-10);
}

Tensor mat(const std::vector<Tensor>& x) { return matmul(x[0], x[1]); }

}  // namespace

TEST_CASE("autograd linalg: matmul gradcheck over 2-D, batched, broadcast and vector operands") {
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{3, 4}, {4, 2}},       {{2, 3, 4}, {2, 4, 2}}, {{2, 1, 3, 4}, {3, 4, 2}}, {{2, 3, 4}, {4, 2}},
      {{3, 4}, {2, 4, 2}},    {{4}, {2, 4, 3}},       {{2, 3, 4}, {4}},          {{4}, {4, 3}},
      {{3, 4}, {4}},          {{4}, {4}},             {{1, 3, 4}, {2, 4, 1}},
  };
  uint64_t seed = 1;
  for (const auto& [sa, sb] : shapes) {
    INFO("shapes " << sa << " @ " << sb);
    CHECK(gradcheck([](const auto& x) { return one(mat(x)); }, {leaf(sa, seed), leaf(sb, seed + 1)}));
    seed += 2;
  }
  // Transposed (non-contiguous) operands.
  CHECK(gradcheck([](const auto& x) { return one(mat(x)); }, {leaf_t({2, 3, 4}, 7), leaf_t({4, 2}, 8)}));
  CHECK(gradcheck([](const auto& x) { return one(mat(x)); }, {leaf_t({3, 4}, 9), leaf_t({2, 4, 3}, 10)}));
  // Only one operand requiring grad.
  Tensor b = leaf({4, 2}, 11).detach();
  CHECK(gradcheck([b](const auto& x) { return one(matmul(x[0], b)); }, {leaf({2, 3, 4}, 12)}));
  // An expanded (stride-0) operand inside the function.
  CHECK(gradcheck([](const auto& x) { return one(matmul(x[0].expand({2, 3, 4}), x[1])); },
                  {leaf({1, 3, 4}, 13), leaf({2, 4, 2}, 14)}));
}

TEST_CASE("autograd linalg: matmul gradgradcheck (2-D, batched, broadcast, vectors)") {
  CHECK(gradgradcheck([](const auto& x) { return one(mat(x)); }, {leaf({2, 3}, 20), leaf({3, 2}, 21)}));
  CHECK(gradgradcheck([](const auto& x) { return one(mat(x)); }, {leaf({2, 2, 3}, 22), leaf({2, 3, 2}, 23)}));
  CHECK(gradgradcheck([](const auto& x) { return one(mat(x)); }, {leaf({2, 1, 2, 3}, 24), leaf({2, 3, 2}, 25)}));
  CHECK(gradgradcheck([](const auto& x) { return one(mat(x)); }, {leaf({2, 2, 3}, 26), leaf({3, 2}, 27)}));
  CHECK(gradgradcheck([](const auto& x) { return one(mat(x)); }, {leaf({3}, 28), leaf({2, 3, 2}, 29)}));
  CHECK(gradgradcheck([](const auto& x) { return one(mat(x)); }, {leaf({2, 3}, 30), leaf({3}, 31)}));
  CHECK(gradgradcheck([](const auto& x) { return one(mat(x)); }, {leaf({3}, 32), leaf({3}, 33)}));
  CHECK(gradgradcheck([](const auto& x) { return one(mat(x)); }, {leaf_t({2, 3}, 34), leaf_t({3, 2}, 35)}));
}

TEST_CASE("autograd linalg: matmul gradients keep f32, and size-0 dims give empty or zero gradients") {
  Generator gen(5);
  Tensor a = randn({2, 3, 4}, kF32, &gen), b = randn({4, 2}, kF32, &gen);
  a.requires_grad_();
  b.requires_grad_();
  matmul(a, b).sum().backward();
  CHECK(a.grad().dtype() == kF32);
  check_close(a.grad(), ones({2, 3, 2}, kF32).matmul(b.detach().t()), 1e-5, 1e-5);
  check_close(b.grad(), sum(a.detach(), {0, 1}).unsqueeze(1).expand({4, 2}), 1e-5, 1e-5);
  Tensor e = zeros({0, 3}, kF64), f = leaf({3, 2}, 6);
  e.requires_grad_();
  matmul(e, f).sum().backward();
  CHECK(e.grad().shape() == Shape{0, 3});
  check_close(f.grad(), zeros({3, 2}, kF64));
  Tensor k0 = zeros({2, 0}, kF64), k1 = zeros({0, 3}, kF64);
  k0.requires_grad_();
  k1.requires_grad_();
  matmul(k0, k1).sum().backward();  // an empty contraction: the output is zeros [2, 3]
  CHECK(k0.grad().shape() == Shape{2, 0});
  CHECK(k1.grad().shape() == Shape{0, 3});
}

TEST_CASE("autograd linalg: mm, bmm, mv, dot and outer gradcheck") {
  CHECK(gradcheck([](const auto& x) { return one(mm(x[0], x[1])); }, {leaf_t({3, 4}, 40), leaf({4, 2}, 41)}));
  CHECK(gradcheck([](const auto& x) { return one(bmm(x[0], x[1])); }, {leaf({2, 3, 4}, 42), leaf_t({2, 4, 2}, 43)}));
  CHECK(gradcheck([](const auto& x) { return one(mv(x[0], x[1])); }, {leaf_t({3, 4}, 44), leaf({4}, 45)}));
  CHECK(gradcheck([](const auto& x) { return one(dot(x[0], x[1])); }, {leaf({5}, 46), leaf({5}, 47)}));
  CHECK(gradcheck([](const auto& x) { return one(outer(x[0], x[1])); }, {leaf({3}, 48), leaf({4}, 49)}));
  // Strided vectors (every other element).
  CHECK(gradcheck([](const auto& x) { return one(dot(x[0].slice(0, 0, 6, 2), x[1])); }, {leaf({6}, 50), leaf({3}, 51)}));
  CHECK(gradgradcheck([](const auto& x) { return one(bmm(x[0], x[1])); }, {leaf({2, 2, 3}, 52), leaf({2, 3, 2}, 53)}));
  CHECK(gradgradcheck([](const auto& x) { return one(mv(x[0], x[1])); }, {leaf({2, 3}, 54), leaf({3}, 55)}));
}

TEST_CASE("autograd linalg: einsum gradcheck (contractions, diagonals, ellipsis, three operands)") {
  struct Case {
    const char* eq;
    std::vector<Shape> shapes;
  };
  const std::vector<Case> cases = {
      {"ij,jk->ik", {{3, 4}, {4, 2}}},
      {"bij,bjk->bik", {{2, 3, 4}, {2, 4, 2}}},
      {"bhqd,bhkd->bhqk", {{1, 2, 3, 2}, {1, 2, 4, 2}}},
      {"ii->i", {{3, 3}}},
      {"ii", {{3, 3}}},
      {"iij->j", {{3, 3, 2}}},
      {"iii->i", {{2, 2, 2}}},
      {"ij,kj", {{3, 4}, {2, 4}}},
      {"i,i->", {{5}, {5}}},
      {"bi,bj->bij", {{2, 3}, {2, 2}}},
      {"ijk->k", {{2, 3, 2}}},
      {"bn,anm,bm->ba", {{2, 3}, {2, 3, 2}, {2, 2}}},
      {"...ij,...jk", {{2, 3, 4}, {4, 2}}},
      {"ij,j->i", {{3, 4}, {1}}},
      {"kji,ikj->jk", {{3, 4, 2}, {2, 3, 4}}},
  };
  uint64_t seed = 60;
  for (const Case& c : cases) {
    INFO("einsum " << c.eq);
    std::vector<Tensor> ins;
    for (const Shape& s : c.shapes) ins.push_back(leaf(s, seed++));
    const std::string eq = c.eq;
    CHECK(gradcheck([eq](const auto& x) { return one(einsum(eq, x)); }, ins));
  }
  // Non-contiguous operands, and double backward through a diagonal and a contraction.
  CHECK(gradcheck([](const auto& x) { return one(einsum("ij,jk->ik", x)); }, {leaf_t({3, 4}, 90), leaf_t({4, 2}, 91)}));
  CHECK(gradgradcheck([](const auto& x) { return one(einsum("ii,ij->j", x)); }, {leaf({3, 3}, 92), leaf({3, 2}, 93)}));
}

TEST_CASE("autograd linalg: solve and inv gradcheck (broadcast batches, vector right-hand side)") {
  auto well = [](const Tensor& a) { return a + eye(a.size(-1), kF64) * 4.0; };  // away from singular
  CHECK(gradcheck([&](const auto& x) { return one(linalg::solve(well(x[0]), x[1])); },
                  {leaf({3, 3}, 100), leaf({3, 2}, 101)}));
  CHECK(gradcheck([&](const auto& x) { return one(linalg::solve(well(x[0]), x[1])); },
                  {leaf({2, 3, 3}, 102), leaf({3, 2}, 103)}));  // A batched, B broadcast
  CHECK(gradcheck([&](const auto& x) { return one(linalg::solve(well(x[0]), x[1])); },
                  {leaf({3, 3}, 104), leaf({2, 3, 1}, 105)}));  // B batched, A broadcast
  CHECK(gradcheck([&](const auto& x) { return one(linalg::solve(well(x[0]), x[1])); },
                  {leaf({3, 3}, 106), leaf({3}, 107)}));  // vector B
  CHECK(gradcheck([&](const auto& x) { return one(linalg::solve(well(x[0]), x[1])); },
                  {leaf({2, 3, 3}, 108), leaf({2, 3}, 109)}));  // batched vector B
  Tensor At = leaf_t({3, 3}, 110);
  CHECK(gradcheck([&](const auto& x) { return one(linalg::solve(x[0] + eye(3, kF64) * 4.0, x[1])); },
                  {At, leaf_t({3, 2}, 111)}));
  CHECK(gradcheck([&](const auto& x) { return one(linalg::inv(well(x[0]))); }, {leaf_t({2, 3, 3}, 112)}));
  CHECK(gradgradcheck([&](const auto& x) { return one(linalg::solve(well(x[0]), x[1])); },
                      {leaf({2, 2}, 113), leaf({2, 2}, 114)}));
}

TEST_CASE("autograd linalg: cholesky gradcheck (lower and upper, batched, transposed input)") {
  CHECK(gradcheck([](const auto& x) { return one(linalg::cholesky(spd_of(x[0]))); }, {leaf({3, 3}, 120)}));
  CHECK(gradcheck([](const auto& x) { return one(linalg::cholesky(spd_of(x[0]), true)); }, {leaf({2, 3, 3}, 121)}));
  CHECK(gradcheck([](const auto& x) { return one(linalg::cholesky(spd_of(x[0]))); }, {leaf_t({2, 3, 3}, 122)}));
  CHECK(gradgradcheck([](const auto& x) { return one(linalg::cholesky(spd_of(x[0]))); }, {leaf({2, 2}, 123)}));
}

TEST_CASE("autograd linalg: qr gradcheck (tall, square and wide)") {
  for (const Shape& s : std::vector<Shape>{{4, 3}, {3, 3}, {2, 4, 2}, {2, 4}}) {
    INFO("shape " << s);
    CHECK(gradcheck(
        [](const auto& x) {
          auto [Q, R] = linalg::qr(x[0]);
          return std::vector<Tensor>{Q, R};
        },
        {leaf(s, 130 + static_cast<uint64_t>(s.size()))}));
  }
  CHECK(gradcheck([](const auto& x) { return one(linalg::qr(x[0]).R); }, {leaf_t({4, 3}, 135)}));
}

TEST_CASE("autograd linalg: svd gradcheck on gauge-invariant functions") {
  for (const Shape& s : std::vector<Shape>{{4, 3}, {3, 3}, {3, 4}, {2, 3, 2}}) {
    INFO("shape " << s);
    Tensor a = leaf(s, 140 + static_cast<uint64_t>(s[0] * 10 + s[1]));
    // U diag(S) Vh (= A), S alone and |U|, |Vh| (signs are the only gauge in the real case).
    CHECK(gradcheck(
        [](const auto& x) {
          auto [U, S, Vh] = linalg::svd(x[0], false);
          return std::vector<Tensor>{matmul(U * S.unsqueeze(-2), Vh), S, abs(U), abs(Vh)};
        },
        {a}));
    CHECK(gradcheck([](const auto& x) { return one(linalg::svdvals(x[0])); }, {a}));
  }
  // Second order through the values (U and Vh are functions of A there too).
  CHECK(gradgradcheck([](const auto& x) { return one(linalg::svdvals(x[0])); }, {leaf({3, 2}, 148)}));
  // full_matrices: square, or the extra columns get no gradient (as in PyTorch).
  CHECK(gradcheck(
      [](const auto& x) {
        auto [U, S, Vh] = linalg::svd(x[0], true);
        return std::vector<Tensor>{S, abs(U.narrow(-1, 0, 2))};
      },
      {leaf_t({3, 2}, 149)}));
}

TEST_CASE("autograd linalg: eigh gradcheck (eigenvalues and eigenvectors)") {
  auto sym = [](const Tensor& x) { return x + x.transpose(-1, -2); };
  for (const char* uplo : {"L", "U"}) {
    INFO("UPLO " << uplo);
    const std::string u = uplo;
    CHECK(gradcheck(
        [&](const auto& x) {
          auto [L, V] = linalg::eigh(sym(x[0]), u);
          return std::vector<Tensor>{L, abs(V)};
        },
        {leaf({2, 3, 3}, 150)}));
    CHECK(gradcheck([&](const auto& x) { return one(linalg::eigvalsh(sym(x[0]), u)); }, {leaf_t({3, 3}, 151)}));
  }
  CHECK(gradgradcheck([&](const auto& x) { return one(linalg::eigvalsh(sym(x[0]))); }, {leaf({3, 3}, 152)}));
  // Eigenvalues alone stay finite for a repeated eigenvalue (the eigenvector term is skipped).
  Tensor id = eye(3, kF64);
  id.requires_grad_();
  auto [L, V] = linalg::eigh(id);
  L.sum().backward();
  check_close(id.grad(), eye(3, kF64), 1e-12, 1e-12);
}

TEST_CASE("autograd linalg: golden gradients vs PyTorch") {
  check_golden("matmul_2d", 2, mat);
  check_golden("matmul_bcast", 2, mat);
  check_golden("matmul_stack_mat", 2, mat);
  check_golden("matmul_vec_left", 2, mat);
  check_golden("matmul_vec_right", 2, mat);
  check_golden("matmul_dot", 2, mat);
  check_golden("mm", 2, [](const auto& x) { return mm(x[0], x[1]); });
  check_golden("bmm", 2, [](const auto& x) { return bmm(x[0], x[1]); });
  check_golden("mv", 2, [](const auto& x) { return mv(x[0], x[1]); });
  check_golden("outer", 2, [](const auto& x) { return outer(x[0], x[1]); });
  check_golden("einsum_bmm", 2, [](const auto& x) { return einsum("bij,bjk->bik", x); });
  check_golden("einsum_diag", 1, [](const auto& x) { return einsum("ii->i", x); });
  check_golden("einsum_three", 3, [](const auto& x) { return einsum("bn,anm,bm->ba", x); });
  check_golden("einsum_ellipsis", 2, [](const auto& x) { return einsum("...ij,...jk", x); });
  check_golden("einsum_attn", 2, [](const auto& x) { return einsum("bhqd,bhkd->bhqk", x); });
  check_golden("solve_bcast", 2, [](const auto& x) { return linalg::solve(x[0], x[1]); });
  check_golden("solve_vec", 2, [](const auto& x) { return linalg::solve(x[0], x[1]); });
  check_golden("inv", 1, [](const auto& x) { return linalg::inv(x[0]); });
  check_golden("cholesky", 1, [](const auto& x) { return linalg::cholesky(x[0]); });
  check_golden("cholesky_upper", 1, [](const auto& x) { return linalg::cholesky(x[0], true); });
}

TEST_CASE("autograd linalg: errors") {
  Tensor a = leaf({4, 3}, 160);
  // QR without Q, or complete QR of a tall matrix, has no gradient (as in PyTorch).
  CHECK_MOELAB_ERROR(linalg::qr(a, "r").R.sum().backward(), "mode \"r\"");
  CHECK_MOELAB_ERROR(linalg::qr(a, "complete").R.sum().backward(), "mode \"complete\"");
  // A saved operand changed in place before backward.
  Tensor x = leaf({2, 3}, 161);
  Tensor h = x * 1.0;
  Tensor y = matmul(h, leaf({3, 2}, 162));
  mul_(h, tensor({2.0}));
  CHECK_MOELAB_ERROR(y.sum().backward(), "matmul for backward was modified");
  // The result of matmul takes in-place ops (it is not a view of its inputs).
  Tensor z = matmul(leaf({3}, 163), leaf({3, 2}, 164));
  add_(z, tensor({1.0}));
  z.sum().backward();
}
