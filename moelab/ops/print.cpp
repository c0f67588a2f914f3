// PyTorch-style printing: tensor([[1.0000, 2.5000], [3.0000, 4.0000]]), with dtype shown when it
// is not the default, and the middle of large dims summarised as "...".
#include <cmath>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "moelab/core/tensor.h"

namespace moelab {
namespace {

constexpr int64_t kSummarizeAbove = 1000;  // elements
constexpr int64_t kEdgeItems = 3;

struct Formatter {
  bool floating = false, integral_floats = true, sci = false;
  int width = 1;

  std::string format(double v) const {
    std::ostringstream os;
    if (!floating) {
      os << static_cast<int64_t>(v);
    } else if (std::isnan(v)) {
      os << "nan";
    } else if (std::isinf(v)) {
      os << (v > 0 ? "inf" : "-inf");
    } else if (sci) {
      os << std::scientific << std::setprecision(4) << v;
    } else if (integral_floats) {
      os << static_cast<int64_t>(v) << '.';
    } else {
      os << std::fixed << std::setprecision(4) << v;
    }
    return os.str();
  }
};

void print_dim(std::ostream& os, const std::vector<double>& vals, const Shape& shape, int d, int64_t offset,
               const Formatter& f, bool summarize, int indent, DType dtype) {
  if (shape.size() == 0) {
    os << (dtype == kBool ? (vals[0] != 0 ? "True" : "False") : f.format(vals[0]));
    return;
  }
  int64_t n = shape[d];
  int64_t inner = 1;
  for (int i = d + 1; i < shape.size(); ++i) inner *= shape[i];
  os << '[';
  for (int64_t i = 0; i < n; ++i) {
    if (summarize && n > 2 * kEdgeItems && i == kEdgeItems) {
      os << (d + 1 == shape.size() ? "..., " : "...,\n" + std::string(static_cast<size_t>(indent + 1), ' '));
      i = n - kEdgeItems - 1;
      continue;
    }
    if (d + 1 == shape.size()) {
      std::string s = dtype == kBool ? (vals[static_cast<size_t>(offset + i)] != 0 ? "True" : "False")
                                     : f.format(vals[static_cast<size_t>(offset + i)]);
      os << std::string(static_cast<size_t>(std::max<int>(0, f.width - static_cast<int>(s.size()))), ' ') << s;
    } else {
      print_dim(os, vals, shape, d + 1, offset + i * inner, f, summarize, indent + 1, dtype);
    }
    if (i + 1 < n) {
      os << ',';
      if (d + 1 == shape.size()) os << ' ';
      else os << std::string(static_cast<size_t>(shape.size() - d - 1), '\n') << std::string(static_cast<size_t>(indent + 1), ' ');
    }
  }
  os << ']';
}

}  // namespace

std::string Tensor::to_string() const {
  std::ostringstream os;
  os << *this;
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "tensor(undefined)";
  std::vector<double> vals = t.to_vector<double>();
  Formatter f;
  f.floating = is_floating(t.dtype());
  double amax = 0, amin_nz = INFINITY;
  for (double v : vals) {
    if (!std::isfinite(v)) continue;
    if (v != std::floor(v)) f.integral_floats = false;
    amax = std::max(amax, std::abs(v));
    if (v != 0) amin_nz = std::min(amin_nz, std::abs(v));
  }
  f.sci = f.floating && !f.integral_floats && (amax >= 1e8 || amin_nz < 1e-4);
  if (t.dtype() == kBool) f.width = 5;  // "False"
  else
    for (double v : vals) f.width = std::max<int>(f.width, static_cast<int>(f.format(v).size()));
  os << "tensor(";
  if (t.numel() == 0 && t.dim() > 0) {
    os << "[]";
  } else {
    print_dim(os, vals, t.shape(), 0, 0, f, t.numel() > kSummarizeAbove, 7, t.dtype());
  }
  if (t.numel() == 0 && t.dim() > 0) os << ", size=" << t.shape();
  if (t.dtype() != kF32 && t.dtype() != kI64 && t.dtype() != kBool) os << ", dtype=" << t.dtype();
  if (!t.device().is_cpu()) os << ", device='" << t.device() << "'";
  return os << ')';
}

}  // namespace moelab
