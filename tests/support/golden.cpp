#include "support/golden.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>

namespace moelab::testing {
namespace {

DType parse_dtype(const std::string& s, const std::string& path) {
  if (s == "f32") return kF32;
  if (s == "f64") return kF64;
  if (s == "i32") return kI32;
  if (s == "i64") return kI64;
  if (s == "bool") return kBool;
  MOELAB_FAIL("golden ", path, ": unknown dtype ", s);
}

double parse_value(const std::string& tok) {
  if (tok == "nan") return std::numeric_limits<double>::quiet_NaN();
  if (tok == "inf") return std::numeric_limits<double>::infinity();
  if (tok == "-inf") return -std::numeric_limits<double>::infinity();
  return std::stod(tok);
}

}  // namespace

Golden::Golden(const std::string& name) : path_(std::string(MOELAB_GOLDEN_DIR) + "/" + name + ".txt") {
  std::ifstream in(path_);
  MOELAB_CHECK(in.good(), "golden: cannot open ", path_);
  std::string header, values;
  while (std::getline(in, header)) {
    if (header.empty()) continue;
    std::istringstream hs(header);
    std::string kw, tname, dt;
    int ndim = 0;
    hs >> kw >> tname >> dt >> ndim;
    MOELAB_CHECK(kw == "tensor", "golden ", path_, ": bad header line: ", header);
    Shape shape;
    for (int i = 0; i < ndim; ++i) {
      int64_t d;
      hs >> d;
      shape.push_back(d);
    }
    std::getline(in, values);
    std::istringstream vs(values);
    std::vector<double> v;
    std::string tok;
    while (vs >> tok) v.push_back(parse_value(tok));
    MOELAB_CHECK(static_cast<int64_t>(v.size()) == numel_of(shape), "golden ", path_, ": ", tname, " has ",
                 v.size(), " values for shape ", shape);
    tensors_[tname] = from_vector(v, shape).to(parse_dtype(dt, path_));
  }
}

const Golden& Golden::get(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Golden>> cache;
  auto& slot = cache[name];
  if (!slot) slot = std::make_unique<Golden>(name);
  return *slot;
}

const Tensor& Golden::operator[](const std::string& tensor_name) const {
  auto it = tensors_.find(tensor_name);
  MOELAB_CHECK(it != tensors_.end(), "golden ", path_, ": no tensor named ", tensor_name);
  return it->second;
}

}  // namespace moelab::testing
