// Checkpoints in the safetensors format (https://github.com/huggingface/safetensors), readable by
// the `safetensors` Python package, PyTorch (safetensors.torch), candle, etc.
//
//   file = u64 little-endian N | N bytes of UTF-8 JSON header | byte buffer
//   header = {"__metadata__": {str: str}, "<name>": {"dtype": "F32", "shape": [2, 3],
//             "data_offsets": [begin, end]}, ...}   (offsets relative to the buffer start)
//
// Tensors are stored contiguous, row-major, little-endian. Dtypes F64, F32, F16, BF16, I64, I32
// and BOOL map to moelab's; U8, I8, I16 and U16 load as I32 and U32 as I64 (lossless widening);
// any other dtype (F8_*, U64, ...) is an Error naming the tensor and the dtype.
//
// Loading validates the file as the reference implementation does (header size, JSON, dtypes,
// shapes, offsets: the tensors must tile the buffer exactly, no gaps, no overlap) and also rejects
// duplicate JSON keys. Every problem is a moelab::Error naming the file and what is wrong.
#pragma once
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "moelab/core/tensor.h"

namespace moelab::nn {

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;         // each owns its memory (contiguous, CPU)
  std::map<std::string, std::string> metadata;   // the "__metadata__" entry (empty if absent)
};

// Writes atomically (temporary file, fsync, rename; see atomic_file.h). Tensors may be views,
// non-contiguous or require grad: their values are written. The header is padded with spaces to a
// multiple of 8 bytes and tensors are ordered by element size, then name, so every tensor starts
// at an offset aligned to its element size (as the reference writer does).
void save_safetensors(const std::filesystem::path& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});
SafetensorsFile load_safetensors(const std::filesystem::path& path);

// The same format in memory. source_name stands for the file name in error messages.
std::string serialize_safetensors(const std::map<std::string, Tensor>& tensors,
                                  const std::map<std::string, std::string>& metadata = {});
SafetensorsFile parse_safetensors(std::string_view bytes, const std::string& source_name = "<memory>");

}  // namespace moelab::nn
