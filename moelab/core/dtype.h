// Element types and the one dtype-dispatch helper the whole code base uses.
#pragma once
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string_view>
#include <type_traits>

#include "moelab/core/error.h"
#include "moelab/core/half.h"

namespace moelab {

enum class DType : uint8_t { F32, F64, I32, I64, Bool, BF16, F16 };

inline constexpr DType kF32 = DType::F32;
inline constexpr DType kF64 = DType::F64;
inline constexpr DType kI32 = DType::I32;
inline constexpr DType kI64 = DType::I64;
inline constexpr DType kBool = DType::Bool;
inline constexpr DType kBF16 = DType::BF16;
inline constexpr DType kF16 = DType::F16;

constexpr size_t element_size(DType t) {
  switch (t) {
    case DType::F32: case DType::I32: return 4;
    case DType::F64: case DType::I64: return 8;
    case DType::Bool: return 1;
    case DType::BF16: case DType::F16: return 2;
  }
  return 0;
}
constexpr bool is_floating(DType t) {
  return t == DType::F32 || t == DType::F64 || t == DType::BF16 || t == DType::F16;
}
constexpr bool is_integral(DType t) { return t == DType::I32 || t == DType::I64; }
std::string_view dtype_name(DType t);
std::ostream& operator<<(std::ostream& os, DType t);

template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::F32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::F64; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::I32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::I64; };
template <> struct dtype_of<bool> { static constexpr DType value = DType::Bool; };
template <> struct dtype_of<BFloat16> { static constexpr DType value = DType::BF16; };
template <> struct dtype_of<Half> { static constexpr DType value = DType::F16; };
template <class T> inline constexpr DType dtype_v = dtype_of<T>::value;

// Which dtypes a dispatch accepts.
enum class DTypes : uint8_t {
  Float,         // f32, f64: compute kernels
  Numeric,       // f32, f64, i32, i64
  NumericBool,   // Numeric + bool
  All,           // every dtype, 16-bit floats included (copies, casts, fills)
};

// visit_dtype<DTypes::Float>(t, "op", [&]<class T>() { ... }) calls the lambda with T bound to the
// C++ type of t, or throws an Error naming the op when t is not in the accepted set.
template <DTypes Set = DTypes::All, class F>
decltype(auto) visit_dtype(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::F32: return f.template operator()<float>();
    case DType::F64: return f.template operator()<double>();
    case DType::I32:
      if constexpr (Set != DTypes::Float) return f.template operator()<int32_t>();
      break;
    case DType::I64:
      if constexpr (Set != DTypes::Float) return f.template operator()<int64_t>();
      break;
    case DType::Bool:
      if constexpr (Set == DTypes::NumericBool || Set == DTypes::All) return f.template operator()<bool>();
      break;
    case DType::BF16:
      if constexpr (Set == DTypes::All) return f.template operator()<BFloat16>();
      break;
    case DType::F16:
      if constexpr (Set == DTypes::All) return f.template operator()<Half>();
      break;
  }
  MOELAB_FAIL(op, ": dtype ", dtype_name(t), " is not supported");
}

// Type promotion as in PyTorch for tensor-tensor ops: bool < i32 < i64 < f16/bf16 < f32 < f64.
DType promote_types(DType a, DType b);

}  // namespace moelab
