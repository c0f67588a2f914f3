#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/check.h"

using namespace moelab;
using moelab::testing::check_equal;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<unsigned char>;

Bytes be32(uint32_t v) {
  return {static_cast<unsigned char>(v >> 24), static_cast<unsigned char>(v >> 16), static_cast<unsigned char>(v >> 8),
          static_cast<unsigned char>(v)};
}

// An IDX file: magic 00 00 type ndims, big-endian dims, then the payload as given.
Bytes idx_bytes(uint8_t type, const std::vector<uint32_t>& dims, const Bytes& payload) {
  Bytes b = {0, 0, type, static_cast<unsigned char>(dims.size())};
  for (uint32_t d : dims) {
    Bytes d4 = be32(d);
    b.insert(b.end(), d4.begin(), d4.end());
  }
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

// A fresh directory under the system temp dir, removed at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("moelab_test_data_idx_" + std::to_string(reinterpret_cast<uintptr_t>(this)));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string write(const std::string& name, const Bytes& b, bool gzip) const {
    const std::string p = (path / name).string();
    if (gzip) {
      gzFile f = gzopen(p.c_str(), "wb");
      REQUIRE(f != nullptr);
      if (!b.empty()) REQUIRE(gzwrite(f, b.data(), static_cast<unsigned>(b.size())) == static_cast<int>(b.size()));
      REQUIRE(gzclose(f) == Z_OK);
    } else {
      std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    }
    return p;
  }
};

Bytes file_bytes(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("nn data idx: raw and gzip files of each element type") {
  TempDir dir;
  for (bool gz : {false, true}) {
    CAPTURE(gz);
    const std::string sfx = gz ? ".gz" : "";
    // u8 [2, 3]
    const std::string u8 = dir.write("u8" + sfx, idx_bytes(0x08, {2, 3}, {0, 1, 2, 253, 254, 255}), gz);
    Tensor t = data::read_idx(u8);
    check_equal(t, from_vector<int32_t>({0, 1, 2, 253, 254, 255}, {2, 3}));
    check_equal(data::read_idx(u8, kF32), from_vector<float>({0, 1, 2, 253, 254, 255}, {2, 3}));
    check_equal(data::read_idx(u8, kI64, data::IdxType::U8), from_vector<int64_t>({0, 1, 2, 253, 254, 255}, {2, 3}));
    // divide_by gives exactly the values of converting, then dividing.
    check_equal(data::read_idx(u8, kF32, std::nullopt, 255), from_vector<float>({0, 1, 2, 253, 254, 255}, {2, 3}) / 255.0);
    check_equal(data::read_idx(u8, kF64, std::nullopt, 255), from_vector<double>({0, 1, 2, 253, 254, 255}, {2, 3}) / 255.0);
    CHECK_MOELAB_ERROR(data::read_idx(u8, kI32, std::nullopt, 255), "divide_by (255) needs a floating dtype");
    // i8, i16, i32 big-endian, signed.
    check_equal(data::read_idx(dir.write("i8" + sfx, idx_bytes(0x09, {2}, {0xff, 0x7f}), gz)),
                from_vector<int32_t>({-1, 127}));
    const std::string i16 = dir.write("i16" + sfx, idx_bytes(0x0B, {2}, {0x01, 0x02, 0xff, 0xfe}), gz);
    check_equal(data::read_idx(i16), from_vector<int32_t>({258, -2}));
    check_equal(data::read_idx(i16, kF64, std::nullopt, 2), from_vector<double>({129, -1}));
    Bytes i32 = be32(0x01020304);
    Bytes neg = be32(0xfffffff0u);
    i32.insert(i32.end(), neg.begin(), neg.end());
    check_equal(data::read_idx(dir.write("i32" + sfx, idx_bytes(0x0C, {1, 2}, i32), gz), kI64),
                from_vector<int64_t>({16909060, -16}, {1, 2}));
    // f32 1.5 = 0x3fc00000, f64 -2.25 = 0xc002000000000000.
    check_equal(data::read_idx(dir.write("f32" + sfx, idx_bytes(0x0D, {1}, be32(0x3fc00000)), gz)),
                from_vector<float>({1.5f}));
    Bytes f64 = be32(0xc0020000);
    Bytes low = be32(0);
    f64.insert(f64.end(), low.begin(), low.end());
    check_equal(data::read_idx(dir.write("f64" + sfx, idx_bytes(0x0E, {1}, f64), gz)), from_vector<double>({-2.25}));
    // Empty dims are fine.
    CHECK(data::read_idx(dir.write("empty" + sfx, idx_bytes(0x08, {0, 28}, {}), gz)).shape() == Shape{0, 28});
  }
}

TEST_CASE("nn data idx: broken files name the file and the problem") {
  TempDir dir;
  for (bool gz : {false, true}) {
    CAPTURE(gz);
    const std::string sfx = gz ? ".gz" : "";
    const std::string missing = (dir.path / ("missing" + sfx)).string();
    CHECK_MOELAB_ERROR(data::read_idx(missing), "cannot open '" + missing + "'");
    const std::string magic = dir.write("magic" + sfx, {0x1f, 0x00, 0x08, 0x01, 0, 0, 0, 0}, gz);
    CHECK_MOELAB_ERROR(data::read_idx(magic), "'" + magic + "': bad magic 1f 00 08 01");
    const std::string short_header = dir.write("short" + sfx, {0, 0}, gz);
    CHECK_MOELAB_ERROR(data::read_idx(short_header), "'" + short_header + "'");
    CHECK_MOELAB_ERROR(data::read_idx(short_header), "too short for the 4-byte header (2 bytes)");
    const std::string type = dir.write("type" + sfx, idx_bytes(0x0A, {1}, {0}), gz);
    CHECK_MOELAB_ERROR(data::read_idx(type), "'" + type + "': unknown element type code 0x0a");
    const std::string f32 = dir.write("f32" + sfx, idx_bytes(0x0D, {1}, be32(0)), gz);
    CHECK_MOELAB_ERROR(data::read_idx(f32, std::nullopt, data::IdxType::U8),
                       "'" + f32 + "': element type code 0x0d (f32), expected 0x08 (u8)");
    const std::string dims = dir.write("dims" + sfx, {0, 0, 0x08, 3, 0, 0, 0, 2}, gz);
    CHECK_MOELAB_ERROR(data::read_idx(dims), "'" + dims + "': truncated: the header ends before its 3 dim sizes");
    const std::string trunc = dir.write("trunc" + sfx, idx_bytes(0x08, {2, 3}, {1, 2, 3, 4}), gz);
    CHECK_MOELAB_ERROR(data::read_idx(trunc), "'" + trunc + "': truncated: dims [2, 3] of u8 need 6 payload bytes");
    const std::string longer = dir.write("long" + sfx, idx_bytes(0x08, {2}, {1, 2, 3}), gz);
    CHECK_MOELAB_ERROR(data::read_idx(longer), "'" + longer + "': the ");
    CHECK_MOELAB_ERROR(data::read_idx(longer), "has data after the 2 payload bytes");
    const std::string huge = dir.write("huge" + sfx, idx_bytes(0x0E, {0xffffffffu, 0xffffffffu}, {1, 2}), gz);
    CHECK_MOELAB_ERROR(data::read_idx(huge), "'" + huge + "': the dims are too large");
    const std::string big = dir.write("big" + sfx, idx_bytes(0x0E, {1u << 20, 1u << 10}, {1, 2}), gz);
    CHECK_MOELAB_ERROR(data::read_idx(big), "'" + big + "': truncated");
    CHECK_MOELAB_ERROR(data::read_idx(f32, kBool), "dtype must be f32, f64, i32 or i64");
  }
  // A gzip stream cut short (its trailer and part of the data missing).
  Bytes payload(4000);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<unsigned char>((i * 7919) % 251);
  const std::string whole = dir.write("whole.gz", idx_bytes(0x08, {4000}, payload), true);
  Bytes gz = file_bytes(whole);
  REQUIRE(gz.size() > 40);
  gz.resize(gz.size() / 2);
  const std::string cut = dir.write("cut.gz", gz, false);
  CHECK_MOELAB_ERROR(data::read_idx(cut), "'" + cut + "'");
  // A corrupted byte inside the compressed data.
  Bytes corrupt = file_bytes(whole);
  for (size_t i = 12; i < corrupt.size() - 8; i += 5) corrupt[i] ^= 0x5a;
  const std::string bad = dir.write("corrupt.gz", corrupt, false);
  CHECK_MOELAB_ERROR(data::read_idx(bad), "'" + bad + "'");
}

TEST_CASE("nn data idx: FashionMnist from a tiny synthetic root and its errors") {
  TempDir dir;
  Bytes pixels(3 * 28 * 28);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<unsigned char>(i % 256);
  dir.write("t10k-images-idx3-ubyte.gz", idx_bytes(0x08, {3, 28, 28}, pixels), true);
  dir.write("t10k-labels-idx1-ubyte", idx_bytes(0x08, {3}, {9, 0, 4}), false);  // uncompressed also works
  data::FashionMnist test_set(dir.path.string(), /*train=*/false);
  CHECK(test_set.size() == 3);
  CHECK(test_set.data().shape() == Shape{3, 1, 28, 28});
  CHECK(test_set.data().dtype() == kF32);
  check_equal(test_set.targets(), from_vector<int64_t>({9, 0, 4}));
  data::Example e = test_set.get(1);
  CHECK(e.data.shape() == Shape{1, 28, 28});
  CHECK(e.target.item<int64_t>() == 0);
  // Pixel k of the file becomes (k % 256) / 255 (k = 255 is row 9, column 3 of image 0).
  CHECK(test_set.data().index({0, 0, 9, 3}).item<float>() == 1.0f);
  CHECK(test_set.data().index({0, 0, 0, 1}).item<float>() == doctest::Approx(1.0 / 255.0));
  std::vector<float> expected(pixels.begin(), pixels.end());
  check_equal(test_set.data(), from_vector<float>(expected, {3, 1, 28, 28}) / 255.0);

  const std::string root = dir.path.string();
  CHECK_MOELAB_ERROR(data::FashionMnist(root, true), "train-images-idx3-ubyte.gz");
  // Counts that differ, labels out of range, wrong shapes and wrong types name the file.
  dir.write("train-images-idx3-ubyte.gz", idx_bytes(0x08, {3, 28, 28}, pixels), true);
  dir.write("train-labels-idx1-ubyte.gz", idx_bytes(0x08, {2}, {1, 2}), true);
  CHECK_MOELAB_ERROR(data::FashionMnist(root, true), "has 3 images but '");
  dir.write("train-labels-idx1-ubyte.gz", idx_bytes(0x08, {3}, {1, 12, 2}), true);
  CHECK_MOELAB_ERROR(data::FashionMnist(root, true), "train-labels-idx1-ubyte.gz': label 12 at index 1");
  dir.write("train-labels-idx1-ubyte.gz", idx_bytes(0x0C, {3}, Bytes(12)), true);
  CHECK_MOELAB_ERROR(data::FashionMnist(root, true), "train-labels-idx1-ubyte.gz': element type code 0x0c (i32)");
  dir.write("train-labels-idx1-ubyte.gz", idx_bytes(0x08, {3}, {1, 2, 3}), true);
  dir.write("train-images-idx3-ubyte.gz", idx_bytes(0x08, {3, 784}, pixels), true);
  CHECK_MOELAB_ERROR(data::FashionMnist(root, true), "train-images-idx3-ubyte.gz' holds shape [3, 784]");
}

TEST_CASE("nn data idx: the installed Fashion-MNIST") {
  const std::string root = data::FashionMnist::kDefaultRoot;
  if (!fs::exists(fs::path(root) / "train-images-idx3-ubyte.gz") && !fs::exists(fs::path(root) / "train-images-idx3-ubyte")) {
    MESSAGE("skipped: Fashion-MNIST is not installed under " << root << " (Debian package dataset-fashion-mnist)");
    return;
  }
  for (bool train : {true, false}) {
    data::FashionMnist ds(root, train);
    const int64_t n = train ? 60000 : 10000;
    CHECK(ds.size() == n);
    CHECK(ds.data().shape() == Shape{n, 1, 28, 28});
    CHECK(ds.targets().shape() == Shape{n});
    CHECK(ds.targets().dtype() == kI64);
    CHECK(ds.targets().min().item<int64_t>() == 0);
    CHECK(ds.targets().max().item<int64_t>() == 9);
    CHECK(ds.data().min().item<float>() == 0.0f);
    CHECK(ds.data().max().item<float>() == 1.0f);
    // Every class appears equally often in Fashion-MNIST.
    Tensor counts = one_hot(ds.targets(), 10).sum(0);
    check_equal(counts, full({10}, n / 10, kI64));
    // A loader over it batches images with their labels.
    data::DataLoader loader(std::make_shared<data::TensorDataset>(ds.tensor_dataset()), {.batch_size = 256, .shuffle = true});
    auto it = loader.begin();
    CHECK(it->data.shape() == Shape{256, 1, 28, 28});
    CHECK(it->target.shape() == Shape{256});
  }
}
