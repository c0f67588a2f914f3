// Test helpers: tensor comparisons with readable failure messages.
#pragma once
#include <doctest/doctest.h>

#include <sstream>
#include <string>

#include <moelab/moelab.h>

namespace moelab::testing {

// Checks shape, dtype (unless ignore_dtype) and values within atol + rtol * |expected|.
inline void check_close(const Tensor& actual, const Tensor& expected, double rtol = 1e-5, double atol = 1e-6,
                        bool ignore_dtype = false) {
  INFO("actual: " << actual.to_string() << "\nexpected: " << expected.to_string());
  REQUIRE(actual.defined());
  CHECK(actual.shape() == expected.shape());
  if (!ignore_dtype) CHECK(actual.dtype() == expected.dtype());
  if (actual.shape() == expected.shape()) CHECK(allclose(actual, expected, rtol, atol, /*equal_nan=*/true));
}

// Checks that the tensors are exactly equal (shape, dtype, values).
inline void check_equal(const Tensor& actual, const Tensor& expected) {
  INFO("actual: " << actual.to_string() << "\nexpected: " << expected.to_string());
  CHECK(actual.shape() == expected.shape());
  CHECK(actual.dtype() == expected.dtype());
  if (actual.shape() == expected.shape()) CHECK(equal(actual, expected));
}

// CHECK_THROWS_WITH_AS for moelab::Error, matching a substring of the message.
#define CHECK_MOELAB_ERROR(expr, substring)                                                  \
  do {                                                                                       \
    bool thrown_ = false;                                                                    \
    try {                                                                                    \
      (void)(expr);                                                                          \
    } catch (const ::moelab::Error& e_) {                                                    \
      thrown_ = true;                                                                        \
      INFO("message: " << e_.what());                                                        \
      CHECK(std::string(e_.what()).find(substring) != std::string::npos);                    \
    }                                                                                        \
    CHECK_MESSAGE(thrown_, "expected a moelab::Error containing \"" << substring << "\""); \
  } while (0)

}  // namespace moelab::testing
