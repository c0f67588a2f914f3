#include "moelab/core/generator.h"

namespace moelab {

void Generator::manual_seed(uint64_t seed) {
  std::lock_guard lock(mu_);
  seed_ = seed;
  offset_ = 0;
}

uint64_t Generator::seed() const {
  std::lock_guard lock(mu_);
  return seed_;
}

uint64_t Generator::offset() const {
  std::lock_guard lock(mu_);
  return offset_;
}

void Generator::set_offset(uint64_t offset) {
  std::lock_guard lock(mu_);
  offset_ = offset;
}

PhiloxState Generator::reserve(uint64_t blocks) {
  std::lock_guard lock(mu_);
  PhiloxState s{seed_, offset_};
  offset_ += blocks;
  return s;
}

Generator& default_generator() {
  static Generator gen;
  return gen;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace moelab
