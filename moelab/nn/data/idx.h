// IDX files (the MNIST / Fashion-MNIST format): a magic 00 00 <type> <ndims>, ndims big-endian
// uint32 sizes, then the elements in row-major order, big-endian. Files may be gzip-compressed
// (detected by the 1f 8b magic) or raw.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "moelab/core/tensor.h"

namespace moelab::data {

// The element type codes of the IDX format.
enum class IdxType : uint8_t { U8 = 0x08, I8 = 0x09, I16 = 0x0B, I32 = 0x0C, F32 = 0x0D, F64 = 0x0E };

// Reads an IDX file into a tensor of the file's shape. The elements are converted to `dtype` (f32,
// f64, i32 or i64) in one pass; by default integer types become i32 and floating types keep their
// width. With `expect`, an element type other than that one is an error. For a floating dtype,
// divide_by divides every value as it is converted (FashionMnist passes 255, as torchvision's
// ToTensor: the result equals x.to(kF32) / 255 without a second pass). Every problem (missing
// file, bad magic, unknown or unexpected type, a payload shorter or longer than the dims say, a
// broken gzip stream) throws moelab::Error naming the file.
Tensor read_idx(const std::string& path, std::optional<DType> dtype = std::nullopt,
                std::optional<IdxType> expect = std::nullopt, double divide_by = 1);

}  // namespace moelab::data
