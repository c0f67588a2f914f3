#include "moelab/nn/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <climits>
#include <cstdio>
#include <cstring>
#include <vector>

#include "moelab/ops/factory.h"

namespace moelab::data {
namespace {

const char* type_name(uint8_t code) {
  switch (code) {
    case 0x08: return "u8";
    case 0x09: return "i8";
    case 0x0B: return "i16";
    case 0x0C: return "i32";
    case 0x0D: return "f32";
    case 0x0E: return "f64";
    default: return nullptr;
  }
}

int type_size(uint8_t code) {
  switch (code) {
    case 0x0B: return 2;
    case 0x0C: case 0x0D: return 4;
    case 0x0E: return 8;
    default: return 1;
  }
}

std::string hex(uint8_t b) {
  static const char* digits = "0123456789abcdef";
  return {digits[b >> 4], digits[b & 15]};
}

// A gzip or raw file read through zlib (gzread passes raw files through unchanged).
class IdxStream {
 public:
  explicit IdxStream(const std::string& path) : path_(path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    MOELAB_CHECK(f != nullptr, "read_idx: cannot open '", path, "': ", std::strerror(errno));
    unsigned char magic[2] = {0, 0};
    const size_t n = std::fread(magic, 1, 2, f);
    std::fclose(f);
    gzip_ = n == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    file_ = gzopen(path.c_str(), "rb");
    MOELAB_CHECK(file_ != nullptr, "read_idx: cannot open '", path, "' with zlib");
    gzbuffer(file_, 1 << 18);
  }
  ~IdxStream() { gzclose(file_); }
  IdxStream(const IdxStream&) = delete;
  IdxStream& operator=(const IdxStream&) = delete;

  bool gzip() const { return gzip_; }

  // Reads up to n bytes; fewer only at the end of the data.
  size_t read(void* buf, size_t n) {
    size_t got = 0;
    while (got < n) {
      const auto chunk = static_cast<unsigned>(std::min<size_t>(n - got, 1u << 30));
      const int r = gzread(file_, static_cast<char*>(buf) + got, chunk);
      if (r < 0) {
        int code = 0;
        const char* msg = gzerror(file_, &code);
        MOELAB_FAIL("read_idx: '", path_, "': ", gzip_ ? "broken gzip stream: " : "read error: ", msg);
      }
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    // A gzip stream cut short reads as a short count with an error set: report it as truncated data.
    return got;
  }

 private:
  std::string path_;
  gzFile file_ = nullptr;
  bool gzip_ = false;
};

template <class S>
S load_big_endian(const unsigned char* p) {
  using U = std::conditional_t<sizeof(S) == 1, uint8_t,
            std::conditional_t<sizeof(S) == 2, uint16_t, std::conditional_t<sizeof(S) == 4, uint32_t, uint64_t>>>;
  U u = 0;
  for (size_t i = 0; i < sizeof(S); ++i) u = static_cast<U>((u << 8) | p[i]);  // the compiler emits one bswap
  return std::bit_cast<S>(u);
}

// dst[i] = src[i] (big-endian S) converted to D, then divided by `divisor` when it is not 1.
template <class S, class D>
void convert(const unsigned char* src, D* dst, int64_t n, D divisor) {
  if constexpr (sizeof(S) == 1) {
    // Bytes through a 256-entry table: one load per element, the same values as converting then dividing.
    D table[256];
    for (int v = 0; v < 256; ++v) table[v] = static_cast<D>(static_cast<S>(v)) / divisor;
    for (int64_t i = 0; i < n; ++i) dst[i] = table[src[i]];
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const D v = static_cast<D>(load_big_endian<S>(src + i * static_cast<int64_t>(sizeof(S))));
      dst[i] = divisor == D(1) ? v : v / divisor;
    }
  }
}

template <class D>
void convert_from(uint8_t code, const unsigned char* src, D* dst, int64_t n, D divisor) {
  switch (code) {
    case 0x08: return convert<uint8_t>(src, dst, n, divisor);
    case 0x09: return convert<int8_t>(src, dst, n, divisor);
    case 0x0B: return convert<int16_t>(src, dst, n, divisor);
    case 0x0C: return convert<int32_t>(src, dst, n, divisor);
    case 0x0D: return convert<float>(src, dst, n, divisor);
    default: return convert<double>(src, dst, n, divisor);
  }
}

}  // namespace

Tensor read_idx(const std::string& path, std::optional<DType> dtype, std::optional<IdxType> expect, double divide_by) {
  MOELAB_CHECK(divide_by == 1 || (dtype && (*dtype == kF32 || *dtype == kF64) && divide_by != 0 && std::isfinite(divide_by)),
               "read_idx: '", path, "': divide_by (", divide_by, ") needs a floating dtype and a finite non-zero value");
  if (dtype) {
    MOELAB_CHECK(*dtype == kF32 || *dtype == kF64 || *dtype == kI32 || *dtype == kI64, "read_idx: '", path,
                 "': dtype must be f32, f64, i32 or i64, got ", *dtype);
  }
  IdxStream in(path);
  const char* kind = in.gzip() ? "gzip IDX file" : "IDX file";
  unsigned char header[4];
  const size_t got_header = in.read(header, 4);
  MOELAB_CHECK(got_header == 4, "read_idx: '", path, "': ", kind, " too short for the 4-byte header (", got_header,
               " bytes)");
  MOELAB_CHECK(header[0] == 0 && header[1] == 0, "read_idx: '", path, "': bad magic ", hex(header[0]), " ",
               hex(header[1]), " ", hex(header[2]), " ", hex(header[3]), ", expected 00 00 <type> <ndims>");
  const uint8_t code = header[2];
  const char* tname = type_name(code);
  MOELAB_CHECK(tname != nullptr, "read_idx: '", path, "': unknown element type code 0x", hex(code),
               " (expected 08 u8, 09 i8, 0b i16, 0c i32, 0d f32 or 0e f64)");
  if (expect) {
    const auto want = static_cast<uint8_t>(*expect);
    MOELAB_CHECK(code == want, "read_idx: '", path, "': element type code 0x", hex(code), " (", tname,
                 "), expected 0x", hex(want), " (", type_name(want), ")");
  }
  const int ndims = header[3];
  MOELAB_CHECK(ndims <= kMaxDims, "read_idx: '", path, "': ", ndims, " dims, at most ", kMaxDims, " are supported");

  unsigned char dim_bytes[4 * kMaxDims];
  const size_t want_dims = 4 * static_cast<size_t>(ndims);
  MOELAB_CHECK(in.read(dim_bytes, want_dims) == want_dims, "read_idx: '", path, "': truncated: the header ends before its ",
               ndims, " dim sizes");
  Shape shape;
  int64_t numel = 1;
  for (int d = 0; d < ndims; ++d) {
    const int64_t s = load_big_endian<uint32_t>(dim_bytes + 4 * d);
    shape.push_back(s);
    MOELAB_CHECK(numel <= (int64_t{1} << 46) / std::max<int64_t>(s, 1), "read_idx: '", path,
                 "': the dims are too large");
    numel *= s;
  }

  // The payload, read in growing pieces so that a corrupt header cannot make us allocate terabytes
  // for a small file.
  const int64_t elem = type_size(code), expected = numel * elem;
  std::vector<unsigned char> payload(static_cast<size_t>(std::min<int64_t>(expected, int64_t{1} << 26)));
  size_t have = 0;
  for (;;) {
    have += in.read(payload.data() + have, payload.size() - have);
    if (have < payload.size() || static_cast<int64_t>(have) == expected) break;
    payload.resize(static_cast<size_t>(std::min<int64_t>(expected, 2 * static_cast<int64_t>(payload.size()))));
  }
  MOELAB_CHECK(static_cast<int64_t>(have) == expected, "read_idx: '", path, "': truncated: dims ", shape, " of ",
               tname, " need ", expected, " payload bytes, the ", kind, " has ", have);
  unsigned char extra;
  MOELAB_CHECK(in.read(&extra, 1) == 0, "read_idx: '", path, "': the ", kind, " has data after the ", expected,
               " payload bytes that dims ", shape, " of ", tname, " need");

  const DType out_dtype = dtype ? *dtype : (code == 0x0D ? kF32 : code == 0x0E ? kF64 : kI32);
  Tensor out = empty(shape, out_dtype);
  visit_dtype<DTypes::Numeric>(out_dtype, "read_idx", [&]<class D>() {
    convert_from<D>(code, payload.data(), out.data_ptr<D>(), numel, static_cast<D>(divide_by));
  });
  return out;
}

}  // namespace moelab::data
