// moelab::Error: every user mistake (bad shape, dtype, index, device) surfaces as this exception,
// with a message naming the op, the arguments and their shapes.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace moelab {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
template <class... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}
[[noreturn]] void throw_error(std::string msg);
}  // namespace detail

}  // namespace moelab

// MOELAB_CHECK(cond, "op: ", a, " and ", b, " differ"): throws moelab::Error with the joined message.
// The message is only built when the check fails, so checks are cheap on the hot path.
#define MOELAB_CHECK(cond, ...)                                              \
  do {                                                                       \
    if (!(cond)) [[unlikely]]                                                \
      ::moelab::detail::throw_error(::moelab::detail::concat(__VA_ARGS__));  \
  } while (0)

#define MOELAB_FAIL(...) ::moelab::detail::throw_error(::moelab::detail::concat(__VA_ARGS__))
