// Runs every registered conformance case (see support/conformance.h). Cases for the elementwise and
// reduction ops are registered here; other op families register theirs beside their tests.
#include "support/check.h"
#include "support/conformance.h"

using namespace moelab;
using namespace moelab::testing;

namespace {
std::vector<Tensor> two_f32(Shape a, Shape b) {
  Tensor x = sin(arange(0, numel_of(a)).to(kF32) * 0.37).reshape(a);
  Tensor y = cos(arange(0, numel_of(b)).to(kF32) * 0.53).reshape(b) + 1.5;
  return {x, y};
}
}  // namespace

MOELAB_CONFORMANCE_CASE("add broadcast", [] { return two_f32({4, 5}, {5}); },
                        [](const std::vector<Tensor>& t) { return t[0] + t[1]; });
MOELAB_CONFORMANCE_CASE("div", [] { return two_f32({3, 7}, {3, 7}); },
                        [](const std::vector<Tensor>& t) { return t[0] / t[1]; });
MOELAB_CONFORMANCE_CASE("maximum", [] { return two_f32({6, 2}, {6, 2}); },
                        [](const std::vector<Tensor>& t) { return maximum(t[0], t[1]); });
MOELAB_CONFORMANCE_CASE("where", [] { return two_f32({5, 4}, {5, 4}); },
                        [](const std::vector<Tensor>& t) { return where(t[0] > 0.0, t[0], t[1]); });
MOELAB_CONFORMANCE_CASE("gelu", [] { return two_f32({8, 3}, {1}); },
                        [](const std::vector<Tensor>& t) { return gelu(t[0]); });
MOELAB_CONFORMANCE_CASE("exp log", [] { return two_f32({3, 3}, {3, 3}); },
                        [](const std::vector<Tensor>& t) { return log(t[1]) + exp(t[0]); });
MOELAB_CONFORMANCE_CASE("sum dims", [] { return two_f32({4, 6}, {1}); },
                        [](const std::vector<Tensor>& t) { return t[0].sum(0) + t[0].sum(1).sum(); });
MOELAB_CONFORMANCE_CASE("var", [] { return two_f32({4, 6}, {1}); },
                        [](const std::vector<Tensor>& t) { return var(t[0], {1}); });
MOELAB_CONFORMANCE_CASE("argmax", [] { return two_f32({5, 6}, {1}); },
                        [](const std::vector<Tensor>& t) { return argmax(t[0], 0); });
MOELAB_CONFORMANCE_CASE("logsumexp", [] { return two_f32({5, 6}, {1}); },
                        [](const std::vector<Tensor>& t) { return logsumexp(t[0], {1}); });
MOELAB_CONFORMANCE_CASE("cast f64 to i32", [] { return two_f32({5, 2}, {1}); },
                        [](const std::vector<Tensor>& t) { return (t[0] * 10.0).to(kF64).to(kI32); });

MOELAB_CONFORMANCE_CASE("matmul batched broadcast", [] { return two_f32({2, 3, 4}, {4, 5}); },
                        [](const std::vector<Tensor>& t) { return matmul(t[0], t[1]); });
MOELAB_CONFORMANCE_CASE("einsum bij,jk", [] { return two_f32({2, 3, 4}, {4, 2}); },
                        [](const std::vector<Tensor>& t) { return einsum("bij,jk->bik", {t[0], t[1]}); });
MOELAB_CONFORMANCE_CASE("softmax dim 0", [] { return two_f32({5, 3}, {1}); },
                        [](const std::vector<Tensor>& t) { return softmax(t[0], 0) + log_softmax(t[0], 1); });
MOELAB_CONFORMANCE_CASE("topk values", [] { return two_f32({4, 7}, {1}); },
                        [](const std::vector<Tensor>& t) { return std::get<0>(topk(t[0], 3)); });
MOELAB_CONFORMANCE_CASE("cumsum", [] { return two_f32({4, 6}, {1}); },
                        [](const std::vector<Tensor>& t) { return cumsum(t[0], 0); });
MOELAB_CONFORMANCE_CASE("conv2d", [] { return two_f32({1, 2, 5, 5}, {3, 2, 3, 3}); },
                        [](const std::vector<Tensor>& t) { return conv2d(t[0], t[1], {}, 1, 1); }, 1e-4, 1e-5);
MOELAB_CONFORMANCE_CASE("max_pool2d", [] { return two_f32({1, 2, 6, 6}, {1}); },
                        [](const std::vector<Tensor>& t) { return max_pool2d(t[0], 2); });

TEST_CASE("conformance: every op case on every device and layout agrees with contiguous CPU") {
  REQUIRE(conformance_cases().size() >= 10);
  std::vector<Device> devices = available_devices();
  if (devices.size() == 1) MESSAGE("only the CPU backend is built: device comparisons skipped");
  for (const ConformanceCase& c : conformance_cases()) {
    CAPTURE(c.name);
    std::vector<Tensor> inputs = c.make_inputs();
    Tensor expected = c.run(inputs);
    // Layout: non-contiguous inputs must not change the result.
    std::vector<Tensor> strided;
    for (const Tensor& t : inputs) strided.push_back(non_contiguous_copy(t));
    check_close(c.run(strided), expected, c.rtol, c.atol);
    for (Device d : devices) {
      if (d.is_cpu()) continue;
      CAPTURE(d);
      std::vector<Tensor> moved;
      for (const Tensor& t : inputs) moved.push_back(t.to(d));
      check_close(c.run(moved).to(kCPU), expected, c.rtol, c.atol);
    }
  }
}

TEST_CASE("conformance: non_contiguous_copy keeps values and changes strides") {
  for (Shape s : {Shape{7}, Shape{3, 4}, Shape{2, 3, 1}, Shape{1, 5}}) {
    Tensor t = arange(0, numel_of(s)).reshape(s);
    Tensor n = non_contiguous_copy(t);
    CAPTURE(s);
    CHECK(!n.is_contiguous());
    check_equal(n, t);
  }
}
