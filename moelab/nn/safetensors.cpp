#include "moelab/nn/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <new>
#include <nlohmann/json.hpp>
#include <set>
#include <system_error>
#include <tuple>
#include <vector>

#include "moelab/core/error.h"
#include "moelab/nn/atomic_file.h"

namespace moelab::nn {

static_assert(std::endian::native == std::endian::little,
              "safetensors I/O copies tensor bytes as they are: it assumes a little-endian host");

namespace {

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference implementation's MAX_HEADER_SIZE

// A dtype as it appears in files. `rank` is its position in the reference Dtype enum, whose writer
// orders tensors by descending rank (largest alignment first) and then by name.
struct FileDType {
  const char* name;
  size_t size;    // bytes per element in the file
  DType dtype;    // what moelab loads it as
  bool widen;     // integer type converted to a wider moelab dtype
  int rank;
};
constexpr FileDType kFileDTypes[] = {
    {"BOOL", 1, kBool, false, 0}, {"U8", 1, kI32, true, 1},    {"I8", 1, kI32, true, 2},
    {"I16", 2, kI32, true, 5},    {"U16", 2, kI32, true, 6},   {"F16", 2, kF16, false, 7},
    {"BF16", 2, kBF16, false, 8}, {"I32", 4, kI32, false, 9},  {"U32", 4, kI64, true, 10},
    {"F32", 4, kF32, false, 11},  {"F64", 8, kF64, false, 12}, {"I64", 8, kI64, false, 13},
};

const FileDType* find_file_dtype(std::string_view name) {
  for (const auto& d : kFileDTypes)
    if (name == d.name) return &d;
  return nullptr;
}

const FileDType& file_dtype_of(DType t) {
  for (const auto& d : kFileDTypes)
    if (!d.widen && d.dtype == t) return d;
  MOELAB_FAIL("save_safetensors: dtype ", dtype_name(t), " has no safetensors equivalent");
}

template <class... Args>
[[noreturn]] void fail_file(const std::string& src, Args&&... args) {
  MOELAB_FAIL("safetensors file \"", src, "\": ", std::forward<Args>(args)...);
}

std::string errno_text(int err) { return std::generic_category().message(err); }

struct Entry {
  std::string name;
  const FileDType* ftype;
  Shape shape;
  uint64_t nbytes;
  uint64_t begin, end;
};

struct Header {
  std::vector<Entry> entries;  // sorted by offset
  std::map<std::string, std::string> metadata;
};

// Validates the 8-byte length prefix against the total size; returns the header length N.
uint64_t check_prefix(const unsigned char* prefix, uint64_t total, const std::string& src) {
  if (total < 8) fail_file(src, "the file is ", total, " bytes long, shorter than the 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | prefix[i];
  if (n > kMaxHeaderBytes) fail_file(src, "header length ", n, " is larger than the ", kMaxHeaderBytes, "-byte limit");
  if (n > total - 8) fail_file(src, "header length ", n, " runs past the end of the file (", total, " bytes)");
  return n;
}

uint64_t json_offset(const nlohmann::json& v, const std::string& src, const std::string& name) {
  if (!v.is_number_unsigned())
    fail_file(src, "tensor \"", name, "\": data_offsets must hold two non-negative integers, got ", v.dump());
  return v.get<uint64_t>();
}

Entry parse_entry(const std::string& name, const nlohmann::json& v, uint64_t buffer_bytes, const std::string& src) {
  if (!v.is_object()) fail_file(src, "tensor \"", name, "\": the entry is a JSON ", v.type_name(), ", not an object");
  Entry e{name, nullptr, Shape{}, 0, 0, 0};
  auto dt = v.find("dtype");
  if (dt == v.end()) fail_file(src, "tensor \"", name, "\": \"dtype\" is missing");
  if (!dt->is_string()) fail_file(src, "tensor \"", name, "\": \"dtype\" is not a string: ", dt->dump());
  e.ftype = find_file_dtype(dt->get_ref<const std::string&>());
  if (!e.ftype)
    fail_file(src, "tensor \"", name, "\": dtype ", dt->dump(), " is unknown or not supported (moelab reads ",
              "F64, F32, F16, BF16, I64, I32, BOOL, and U8, I8, I16, U16, U32 widened to I32/I64)");

  auto sh = v.find("shape");
  if (sh == v.end()) fail_file(src, "tensor \"", name, "\": \"shape\" is missing");
  if (!sh->is_array()) fail_file(src, "tensor \"", name, "\": \"shape\" is not an array: ", sh->dump());
  if (sh->size() > static_cast<size_t>(kMaxDims))
    fail_file(src, "tensor \"", name, "\": shape has ", sh->size(), " dimensions, moelab supports at most ", kMaxDims);
  // numel * element size must fit, and so must the strides (products of max(dim, 1)).
  const uint64_t limit = static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / e.ftype->size;
  uint64_t numel = 1, stride_span = 1;
  for (const auto& d : *sh) {
    if (!d.is_number_integer() || (!d.is_number_unsigned() && d.get<int64_t>() < 0))
      fail_file(src, "tensor \"", name, "\": shape must hold non-negative integers, got ", sh->dump());
    uint64_t u = d.is_number_unsigned() ? d.get<uint64_t>() : 0;  // a signed integer here is -0
    uint64_t span = std::max<uint64_t>(u, 1);
    if (stride_span > limit / span) fail_file(src, "tensor \"", name, "\": shape ", sh->dump(), " is too large");
    stride_span *= span;
    numel *= u;
    e.shape.push_back(static_cast<int64_t>(u));
  }
  e.nbytes = numel * e.ftype->size;

  auto off = v.find("data_offsets");
  if (off == v.end()) fail_file(src, "tensor \"", name, "\": \"data_offsets\" is missing");
  if (!off->is_array() || off->size() != 2)
    fail_file(src, "tensor \"", name, "\": \"data_offsets\" is not an array of two integers: ", off->dump());
  e.begin = json_offset((*off)[0], src, name);
  e.end = json_offset((*off)[1], src, name);
  if (e.begin > e.end) fail_file(src, "tensor \"", name, "\": data_offsets [", e.begin, ", ", e.end, "] are reversed");
  if (e.end > buffer_bytes)
    fail_file(src, "tensor \"", name, "\": data_offsets [", e.begin, ", ", e.end, "] run past the end of the ",
              buffer_bytes, "-byte data buffer");
  if (e.end - e.begin != e.nbytes)
    fail_file(src, "tensor \"", name, "\": data_offsets [", e.begin, ", ", e.end, "] hold ", e.end - e.begin,
              " bytes but shape ", e.shape, " of ", e.ftype->name, " needs ", e.nbytes);
  return e;
}

nlohmann::json parse_json(std::string_view text, const std::string& src) {
  if (text.empty() || text.front() != '{') fail_file(src, "the header does not start with '{'");
  // nlohmann's lexer takes a NUL byte for the end of input (and would ignore what follows); valid
  // JSON never holds a raw NUL, so reject it here, as serde_json does.
  if (size_t nul = text.find('\0'); nul != std::string_view::npos)
    fail_file(src, "the header is not valid JSON: NUL byte at header offset ", nul);
  // nlohmann keeps the last of duplicate keys silently; a checkpoint with two values for one name
  // is ambiguous, so track the keys of every open object and reject repeats.
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  auto on_event = [&](int, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
    using Ev = nlohmann::json::parse_event_t;
    if (ev == Ev::object_start) {
      open_objects.emplace_back();
    } else if (ev == Ev::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (ev == Ev::key && duplicate.empty() && !open_objects.empty()) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!open_objects.back().insert(key).second) duplicate = key;
    }
    return true;
  };
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(text.begin(), text.end(), on_event);
  } catch (const nlohmann::json::exception& e) {
    fail_file(src, "the header is not valid JSON: ", e.what());
  }
  if (!duplicate.empty()) fail_file(src, "the header has the key \"", duplicate, "\" more than once");
  return root;
}

Header parse_header(std::string_view text, uint64_t buffer_bytes, const std::string& src) {
  nlohmann::json root = parse_json(text, src);
  if (!root.is_object()) fail_file(src, "the header is a JSON ", root.type_name(), ", not an object");
  Header h;
  for (const auto& [key, value] : root.items()) {
    if (key == "__metadata__") {
      if (value.is_null()) continue;
      if (!value.is_object()) fail_file(src, "\"__metadata__\" is a JSON ", value.type_name(), ", not an object");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) fail_file(src, "\"__metadata__\" value of \"", mk, "\" is not a string: ", mv.dump());
        h.metadata.emplace(mk, mv.get<std::string>());
      }
      continue;
    }
    h.entries.push_back(parse_entry(key, value, buffer_bytes, src));
  }
  // As the reference implementation: sorted by offset, the tensors must tile the buffer exactly.
  std::sort(h.entries.begin(), h.entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  uint64_t pos = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : h.entries) {
    if (e.begin > pos) fail_file(src, "bytes [", pos, ", ", e.begin, ") of the data buffer belong to no tensor");
    if (e.begin < pos)
      fail_file(src, "tensors \"", prev->name, "\" [", prev->begin, ", ", prev->end, "] and \"", e.name, "\" [",
                e.begin, ", ", e.end, "] overlap");
    pos = e.end;
    prev = &e;
  }
  if (pos != buffer_bytes)
    fail_file(src, "bytes [", pos, ", ", buffer_bytes, ") at the end of the data buffer belong to no tensor");
  return h;
}

template <class From, class To>
void widen(const unsigned char* src, To* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    From v;
    std::memcpy(&v, src + i * sizeof(From), sizeof(From));
    dst[i] = static_cast<To>(v);
  }
}

// C++ bool must hold 0 or 1: any nonzero byte in the file reads as true.
void normalize_bool(Tensor& t) {
  if (t.dtype() != kBool || t.numel() == 0) return;
  auto* p = static_cast<unsigned char*>(t.raw_data());
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = p[i] != 0;
}

// Fills a fresh tensor for `e` from the entry's bytes in the file.
void fill_tensor(const Entry& e, const unsigned char* bytes, Tensor& t) {
  if (e.nbytes == 0) return;
  const size_t n = static_cast<size_t>(t.numel());
  std::string_view name = e.ftype->name;
  if (!e.ftype->widen) {
    std::memcpy(t.raw_data(), bytes, e.nbytes);
    normalize_bool(t);
  } else if (name == "U8") {
    widen<uint8_t>(bytes, t.data_ptr<int32_t>(), n);
  } else if (name == "I8") {
    widen<int8_t>(bytes, t.data_ptr<int32_t>(), n);
  } else if (name == "I16") {
    widen<int16_t>(bytes, t.data_ptr<int32_t>(), n);
  } else if (name == "U16") {
    widen<uint16_t>(bytes, t.data_ptr<int32_t>(), n);
  } else {
    widen<uint32_t>(bytes, t.data_ptr<int64_t>(), n);
  }
}

struct Prepared {
  std::string head;  // length prefix + padded header
  std::vector<Tensor> tensors;  // contiguous CPU tensors in file order
  uint64_t data_bytes = 0;
};

Prepared prepare(const std::map<std::string, Tensor>& tensors, const std::map<std::string, std::string>& metadata) {
  struct Item {
    const std::string* name;
    const FileDType* ftype;
    Tensor t;
  };
  std::vector<Item> items;
  items.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    MOELAB_CHECK(t.defined(), "save_safetensors: tensor \"", name, "\" is undefined");
    MOELAB_CHECK(name != "__metadata__", "save_safetensors: \"__metadata__\" is reserved and cannot name a tensor");
    Tensor c = t.detach();
    if (!c.device().is_cpu()) c = c.to(kCPU);
    items.push_back({&name, &file_dtype_of(c.dtype()), c.contiguous()});
  }
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    return a.ftype->rank > b.ftype->rank;  // names are already in order (std::map)
  });
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    h["__metadata__"] = std::move(m);
  }
  Prepared p;
  for (auto& it : items) {
    uint64_t nbytes = static_cast<uint64_t>(it.t.numel()) * it.t.element_size();
    nlohmann::ordered_json e = nlohmann::ordered_json::object();
    e["dtype"] = it.ftype->name;
    e["shape"] = it.t.shape().vec();
    e["data_offsets"] = {p.data_bytes, p.data_bytes + nbytes};
    h[*it.name] = std::move(e);
    p.data_bytes += nbytes;
    p.tensors.push_back(std::move(it.t));
  }
  std::string text;
  try {
    text = h.dump();
  } catch (const nlohmann::json::exception& e) {
    MOELAB_FAIL("save_safetensors: tensor names and metadata must be valid UTF-8 (", e.what(), ")");
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned, as the reference pads
  p.head.resize(8);
  for (int i = 0; i < 8; ++i) p.head[static_cast<size_t>(i)] = static_cast<char>((text.size() >> (8 * i)) & 0xff);
  p.head += text;
  return p;
}

struct FdCloser {
  int fd;
  ~FdCloser() { ::close(fd); }
};

void read_at(int fd, void* dst, uint64_t n, uint64_t offset, const std::string& src) {
  auto* p = static_cast<char*>(dst);
  while (n > 0) {
    ssize_t r = ::pread(fd, p, static_cast<size_t>(std::min<uint64_t>(n, uint64_t{1} << 30)), static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail_file(src, "reading failed: ", errno_text(errno));
    if (r == 0) fail_file(src, "unexpected end of file at byte ", offset, " (did it change while being read?)");
    p += r;
    n -= static_cast<uint64_t>(r);
    offset += static_cast<uint64_t>(r);
  }
}

template <class Body>
auto guard_alloc(const std::string& src, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    fail_file(src, "out of memory while loading");
  }
}

}  // namespace

std::string serialize_safetensors(const std::map<std::string, Tensor>& tensors,
                                  const std::map<std::string, std::string>& metadata) {
  Prepared p = prepare(tensors, metadata);
  std::string out = std::move(p.head);
  out.reserve(out.size() + p.data_bytes);
  for (const Tensor& t : p.tensors)
    if (t.numel() > 0) out.append(static_cast<const char*>(t.raw_data()), static_cast<size_t>(t.numel()) * t.element_size());
  return out;
}

void save_safetensors(const std::filesystem::path& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  Prepared p = prepare(tensors, metadata);
  atomic_write_file(
      path,
      [&](AtomicFile& f) {
        f.write(p.head.data(), p.head.size());
        for (const Tensor& t : p.tensors)
          if (t.numel() > 0) f.write(t.raw_data(), static_cast<size_t>(t.numel()) * t.element_size());
      },
      "save_safetensors");
}

SafetensorsFile parse_safetensors(std::string_view bytes, const std::string& source_name) {
  return guard_alloc(source_name, [&] {
    const auto* base = reinterpret_cast<const unsigned char*>(bytes.data());
    uint64_t n = check_prefix(base, bytes.size(), source_name);
    Header h = parse_header(bytes.substr(8, n), bytes.size() - 8 - n, source_name);
    const unsigned char* buffer = base + 8 + n;
    SafetensorsFile out;
    for (const Entry& e : h.entries) {
      Tensor t = make_empty(e.shape, e.ftype->dtype);
      fill_tensor(e, buffer + e.begin, t);
      out.tensors.emplace(e.name, std::move(t));
    }
    out.metadata = std::move(h.metadata);
    return out;
  });
}

SafetensorsFile load_safetensors(const std::filesystem::path& path) {
  const std::string src = path.string();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_file(src, "cannot open: ", errno_text(errno));
  FdCloser closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail_file(src, "cannot stat: ", errno_text(errno));
  if (!S_ISREG(st.st_mode)) fail_file(src, "not a regular file");
  const auto total = static_cast<uint64_t>(st.st_size);
  return guard_alloc(src, [&] {
    unsigned char prefix[8] = {};
    if (total >= 8) read_at(fd, prefix, 8, 0, src);
    uint64_t n = check_prefix(prefix, total, src);
    std::string text(static_cast<size_t>(n), '\0');
    read_at(fd, text.data(), n, 8, src);
    Header h = parse_header(text, total - 8 - n, src);
    SafetensorsFile out;
    std::vector<unsigned char> staging;
    for (const Entry& e : h.entries) {
      Tensor t = make_empty(e.shape, e.ftype->dtype);
      const uint64_t at = 8 + n + e.begin;
      if (e.nbytes > 0 && !e.ftype->widen) {
        read_at(fd, t.raw_data(), e.nbytes, at, src);  // straight into the tensor's memory
        normalize_bool(t);
      } else if (e.nbytes > 0) {
        staging.resize(static_cast<size_t>(e.nbytes));
        read_at(fd, staging.data(), e.nbytes, at, src);
        fill_tensor(e, staging.data(), t);
      }
      out.tensors.emplace(e.name, std::move(t));
    }
    out.metadata = std::move(h.metadata);
    return out;
  });
}

}  // namespace moelab::nn
