// Reads the golden tensors written by tests/golden/golden.py (see there for the format).
#pragma once
#include <map>
#include <string>

#include <moelab/moelab.h>

namespace moelab::testing {

class Golden {
 public:
  // name: the file under tests/golden without ".txt", e.g. "elementwise".
  explicit Golden(const std::string& name);
  // The file loaded once per test binary, however many test files read it.
  static const Golden& get(const std::string& name);
  // Throws when the file has no tensor of that name.
  const Tensor& operator[](const std::string& tensor_name) const;
  bool has(const std::string& tensor_name) const { return tensors_.count(tensor_name) > 0; }

 private:
  std::string path_;
  std::map<std::string, Tensor> tensors_;
};

}  // namespace moelab::testing
