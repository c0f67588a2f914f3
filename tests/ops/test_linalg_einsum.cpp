// einsum against PyTorch: matrix products, batch dims, diagonals, sums, ellipsis, three operands,
// and malformed equations.
#include <string>
#include <vector>

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

// Must list the equations of gen_linalg.py's EINSUM, with their operand counts.
const std::vector<std::pair<std::string, int>> kEquations = {
    {"ij,jk->ik", 2},  {"bij,bjk->bik", 2},    {"bhqd,bhkd->bhqk", 2}, {"i,i->", 2},
    {"ij->ji", 1},     {"ii->i", 1},           {"ii", 1},              {"bi,bj->bij", 2},
    {"ij,kj", 2},      {"ijk->k", 1},          {"bn,anm,bm->ba", 3},   {"...ij,...jk", 2},
    {"...ij,...jk->ik", 2}, {"ij,j->i", 2},   {"kji,ikj->jk", 2},
};

Tensor transposed_view(const Tensor& x) {
  if (x.dim() < 2) return x;
  return x.transpose(-1, -2).contiguous().transpose(-1, -2);
}

}  // namespace

TEST_CASE("linalg: einsum matches PyTorch, contiguous and transposed operands") {
  for (std::string tag : {"f32", "f64"}) {
    const double tol = tag == "f32" ? 1e-5 : 1e-12;
    for (const auto& [eq, n] : kEquations) {
      CAPTURE(eq);
      CAPTURE(tag);
      std::vector<Tensor> xs, xts;
      for (int i = 0; i < n; ++i) {
        xs.push_back(golden()["einsum." + eq + "." + tag + ".x" + std::to_string(i)]);
        xts.push_back(transposed_view(xs.back()));
      }
      const Tensor& expected = golden()["einsum." + eq + "." + tag + ".out"];
      check_close(einsum(eq, xs), expected, tol, tol);
      check_close(einsum(eq, xts), expected, tol, tol);
    }
  }
}

TEST_CASE("linalg: einsum views, spaces, integers, size-0 and size-1 dims") {
  Tensor x = arange(0, 12, 1, kF64).reshape({3, 4});
  // A pure permutation is a view, as in PyTorch.
  Tensor t = einsum("ij->ji", {x});
  CHECK(t.storage().get() == x.storage().get());
  check_equal(t, x.t());
  check_equal(einsum(" ij , jk -> ik ", {x, x.t()}), matmul(x, x.t()));
  // Integers stay integers.
  Tensor xi = arange(0, 6, 1, kI64).reshape({2, 3});
  check_equal(einsum("ij,kj->ik", {xi, xi}), matmul(xi, xi.t()));
  check_equal(einsum("ij->", {xi}), scalar<int64_t>(15));
  // Size-0 contracted dim gives zeros; size-0 free dim gives an empty result.
  check_equal(einsum("ij,jk->ik", {zeros({2, 0}), zeros({0, 3})}), zeros({2, 3}));
  CHECK(einsum("ij,jk->ik", {zeros({0, 2}), zeros({2, 3})}).shape() == Shape{0, 3});
  // Size-1 dims broadcast against a named size.
  Tensor a = arange(0, 4, 1, kF64).reshape({1, 4});
  Tensor b = arange(0, 12, 1, kF64).reshape({3, 4});
  check_equal(einsum("bi,bi->bi", {a, b}), a * b);
  // Outer product of 0-d operands, and a 0-d times a vector.
  check_equal(einsum(",->", {scalar(2.0), scalar(3.0)}), scalar(6.0));
  check_equal(einsum(",i->i", {scalar(2.0), arange(0, 3, 1, kF64)}), arange(0, 6, 2, kF64));
  // Trace of a strided view.
  Tensor sq = arange(0, 16, 1, kF64).reshape({4, 4});
  check_equal(einsum("ii", {sq.t()}), scalar(30.0));
}

TEST_CASE("linalg: einsum errors") {
  Tensor m = zeros({2, 3}), v = zeros({3});
  CHECK_MOELAB_ERROR(einsum("ij,jk->ik", {m}), "has subscripts for 2 operands but 1 were given");
  CHECK_MOELAB_ERROR(einsum("ijk->i", {m}), "operand 0 has shape [2, 3] (2 dims) but \"ijk->i\" gives it 3");
  CHECK_MOELAB_ERROR(einsum("i1->i", {m}), "invalid subscript '1'");
  CHECK_MOELAB_ERROR(einsum("ij->k", {m}), "output subscript 'k' does not appear");
  CHECK_MOELAB_ERROR(einsum("ij->ii", {m}), "output subscript 'i' appears more than once");
  CHECK_MOELAB_ERROR(einsum("ij,j->i", {m, zeros({4})}), "subscript 'j' has size 3 in one operand and 4");
  CHECK_MOELAB_ERROR(einsum("ij->i->j", {m}), "more than one \"->\"");
  CHECK_MOELAB_ERROR(einsum("...i...->i", {m}), "invalid ellipsis");
  CHECK_MOELAB_ERROR(einsum("i.j->i", {m}), "invalid ellipsis");
  CHECK_MOELAB_ERROR(einsum("ii->i", {m}), "subscript 'i' is repeated in operand 0 over dims of sizes 2 and 3");
  CHECK_MOELAB_ERROR(einsum("ij,j->i", {m, zeros({3}, kF64)}), "one dtype");
  CHECK_MOELAB_ERROR(einsum("i", {}), "at least one operand");
  CHECK_MOELAB_ERROR(einsum("i,i", {v, Tensor()}), "einsum: operand is an undefined tensor");
}
