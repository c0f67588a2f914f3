// safetensors: round trips, the reference writer's exact bytes, dtype mapping, Module save/load.
#include <cstring>

#include "nn/test_safetensors_util.h"
#include "support/check.h"

using namespace moelab;
using moelab::testing::check_equal;
using moelab::testing::make_safetensors;
using moelab::testing::TempDir;

namespace {

Tensor bf16_values(std::initializer_list<float> v) { return from_vector(std::vector<float>(v)).to(kBF16); }

// One tensor of every dtype moelab stores, plus an empty and a 0-d tensor.
std::map<std::string, Tensor> every_dtype() {
  return {
      {"f32", from_vector(std::vector<float>{-1.f, -0.5f, 0.f, 0.5f, 1.f, 1.5f}, {2, 3})},
      {"f64", from_vector(std::vector<double>{1.0 / 3.0, -2.5, 1e300})},
      {"i32", from_vector(std::vector<int32_t>{INT32_MIN, -1, 0, INT32_MAX})},
      {"i64", from_vector(std::vector<int64_t>{-(int64_t{1} << 40), 0, 7, int64_t{1} << 62}, {2, 2})},
      {"bool", from_vector(std::vector<bool>{true, false, true, true, false})},
      {"bf16", bf16_values({1.f, -2.f, 0.5f})},
      {"f16", from_vector(std::vector<float>{1.f, -0.5f}).to(kF16)},
      {"empty", zeros({0, 3})},
      {"scalar", scalar(42.25)},
  };
}

void check_same_tensors(const std::map<std::string, Tensor>& actual, const std::map<std::string, Tensor>& expected) {
  REQUIRE(actual.size() == expected.size());
  for (const auto& [name, e] : expected) {
    INFO("tensor " << name);
    auto it = actual.find(name);
    REQUIRE(it != actual.end());
    const Tensor& a = it->second;
    CHECK(a.is_contiguous());
    CHECK_FALSE(a.requires_grad());
    CHECK(a.dtype() == e.dtype());
    CHECK(a.shape() == e.shape());
    // 16-bit floats compare through f32 (exact: they widen losslessly).
    bool half = e.dtype() == kBF16 || e.dtype() == kF16;
    if (a.shape() == e.shape() && a.dtype() == e.dtype())
      CHECK(half ? equal(a.to(kF32), e.to(kF32)) : equal(a, e));
  }
}

}  // namespace

TEST_CASE("nn safetensors: every dtype round-trips in memory and on disk with metadata") {
  auto tensors = every_dtype();
  std::map<std::string, std::string> meta{{"format", "pt"}, {"step", "12"}, {"note", "utf-8 \xc3\xa9"}};
  nn::SafetensorsFile mem;
  {
    std::string bytes = nn::serialize_safetensors(tensors, meta);
    mem = nn::parse_safetensors(bytes, "bytes");
  }  // the loaded tensors own their memory: the byte string is gone (ASan would see a dangling read)
  check_same_tensors(mem.tensors, tensors);
  CHECK(mem.metadata == meta);

  TempDir dir;
  nn::save_safetensors(dir / "all.safetensors", tensors, meta);
  auto disk = nn::load_safetensors(dir / "all.safetensors");
  check_same_tensors(disk.tensors, tensors);
  CHECK(disk.metadata == meta);
  CHECK(dir.entry_count() == 1);  // no temporary file left behind

  // Writing into a loaded tensor does not change another load.
  disk.tensors["f32"].fill_(7.0);
  check_same_tensors(nn::load_safetensors(dir / "all.safetensors").tensors, tensors);
}

TEST_CASE("nn safetensors: no tensors and no metadata gives the reference bytes") {
  CHECK(nn::serialize_safetensors({}) == make_safetensors("{}      "));
  CHECK(nn::serialize_safetensors({}, {{"framework", "pt"}}) ==
        make_safetensors("{\"__metadata__\":{\"framework\":\"pt\"}}     "));
  auto f = nn::parse_safetensors(make_safetensors("{}"));
  CHECK(f.tensors.empty());
  CHECK(f.metadata.empty());
  CHECK(nn::parse_safetensors(make_safetensors("{\"__metadata__\":null}")).metadata.empty());
}

TEST_CASE("nn safetensors: bytes match the reference implementation's test vectors") {
  // From huggingface/safetensors tests (test_serialization, test_serialization_forced_alignement).
  std::string data(24, '\0');
  float v[6] = {0, 1, 2, 3, 4, 5};
  std::memcpy(data.data(), v, 24);
  Tensor t = from_vector(std::vector<float>(v, v + 6));
  CHECK(nn::serialize_safetensors({{"attn.0", t.reshape({1, 2, 3})}}) ==
        make_safetensors(R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})", data));
  CHECK(nn::serialize_safetensors({{"attn0", t.reshape({1, 1, 2, 3})}}) ==
        make_safetensors(R"({"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       )", data));
}

TEST_CASE("nn safetensors: the writer aligns every tensor to its element size") {
  std::map<std::string, Tensor> t{{"a_bool", ones({3}, kBool)}, {"b_f64", ones({3}, kF64)},
                                  {"c_bf16", ones({1}, kBF16)}, {"d_f32", ones({1})}, {"e_i64", ones({2}, kI64)}};
  std::string bytes = nn::serialize_safetensors(t);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  CHECK(n % 8 == 0);
  // Largest elements first (I64, F64, F32, BF16, BOOL as the reference orders dtypes), then by name.
  std::string header = bytes.substr(8, n);
  auto pos = [&](const char* name) { return header.find(std::string("\"") + name + "\""); };
  CHECK(pos("e_i64") < pos("b_f64"));
  CHECK(pos("b_f64") < pos("d_f32"));
  CHECK(pos("d_f32") < pos("c_bf16"));
  CHECK(pos("c_bf16") < pos("a_bool"));
  CHECK(header.find(R"("e_i64":{"dtype":"I64","shape":[2],"data_offsets":[0,16]})") != std::string::npos);
  CHECK(header.find(R"("b_f64":{"dtype":"F64","shape":[3],"data_offsets":[16,40]})") != std::string::npos);
  CHECK(header.find(R"("d_f32":{"dtype":"F32","shape":[1],"data_offsets":[40,44]})") != std::string::npos);
  CHECK(header.find(R"("c_bf16":{"dtype":"BF16","shape":[1],"data_offsets":[44,46]})") != std::string::npos);
  CHECK(header.find(R"("a_bool":{"dtype":"BOOL","shape":[3],"data_offsets":[46,49]})") != std::string::npos);
  CHECK(bytes.size() == 8 + n + 49);
}

TEST_CASE("nn safetensors: views, non-contiguous and grad-requiring tensors are saved by value") {
  Tensor base = arange(0, 12, 1, kF64).reshape({3, 4});
  Tensor w = randn({2, 3});
  w.requires_grad_();
  std::map<std::string, Tensor> t{
      {"transposed", base.t()},                    // non-contiguous
      {"row", base.select(0, 2)},                  // contiguous view with an offset
      {"strided", base.slice(1, 0, 4, 2)},         // every other column
      {"expanded", scalar(3.0f).expand({2, 3})},   // stride 0
      {"param", w},
  };
  auto back = nn::parse_safetensors(nn::serialize_safetensors(t)).tensors;
  check_equal(back["transposed"], base.t().contiguous());
  check_equal(back["row"], from_vector(std::vector<double>{8, 9, 10, 11}));
  check_equal(back["strided"], from_vector(std::vector<double>{0, 2, 4, 6, 8, 10}, {3, 2}));
  check_equal(back["expanded"], full({2, 3}, 3.0));
  check_equal(back["param"], w.detach());
  CHECK_FALSE(back["param"].requires_grad());
  CHECK(w.requires_grad());  // the saved tensor is untouched
}

TEST_CASE("nn safetensors: narrow integer dtypes load widened, bool bytes read as truth values") {
  std::string buf;
  auto put = [&](const void* p, size_t n) { buf.append(static_cast<const char*>(p), n); };
  uint8_t u8[3] = {0, 200, 255};
  int8_t i8[3] = {-128, -1, 127};
  int16_t i16[2] = {-32768, 32767};
  uint16_t u16[2] = {0, 65535};
  uint32_t u32[2] = {1, 4294967295u};
  uint8_t flags[4] = {0, 1, 2, 255};
  put(u32, 8); put(i16, 4); put(u16, 4); put(u8, 3); put(i8, 3); put(flags, 4);
  std::string header = R"({"u32":{"dtype":"U32","shape":[2],"data_offsets":[0,8]},)"
                       R"("i16":{"dtype":"I16","shape":[2],"data_offsets":[8,12]},)"
                       R"("u16":{"dtype":"U16","shape":[2],"data_offsets":[12,16]},)"
                       R"("u8":{"dtype":"U8","shape":[3],"data_offsets":[16,19]},)"
                       R"("i8":{"dtype":"I8","shape":[3],"data_offsets":[19,22]},)"
                       R"("flags":{"dtype":"BOOL","shape":[4],"data_offsets":[22,26]}})";
  std::string file = make_safetensors(header, buf);
  TempDir dir;
  moelab::testing::write_file_bytes(dir / "narrow.safetensors", file);
  for (const auto& f : {nn::parse_safetensors(file), nn::load_safetensors(dir / "narrow.safetensors")}) {
    check_equal(f.tensors.at("u32"), from_vector(std::vector<int64_t>{1, 4294967295}));
    check_equal(f.tensors.at("i16"), from_vector(std::vector<int32_t>{-32768, 32767}));
    check_equal(f.tensors.at("u16"), from_vector(std::vector<int32_t>{0, 65535}));
    check_equal(f.tensors.at("u8"), from_vector(std::vector<int32_t>{0, 200, 255}));
    check_equal(f.tensors.at("i8"), from_vector(std::vector<int32_t>{-128, -1, 127}));
    check_equal(f.tensors.at("flags"), from_vector(std::vector<bool>{false, true, true, true}));
  }
}

TEST_CASE("nn safetensors: dtypes moelab cannot hold are an Error naming the tensor and the dtype") {
  CHECK_MOELAB_ERROR(
      nn::parse_safetensors(make_safetensors(R"({"q":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", "ab")),
      "tensor \"q\": dtype \"F8_E4M3\" is unknown or not supported");
  CHECK_MOELAB_ERROR(
      nn::parse_safetensors(make_safetensors(R"({"big":{"dtype":"U64","shape":[1],"data_offsets":[0,8]}})",
                                             std::string(8, 'x'))),
      "tensor \"big\": dtype \"U64\"");
  CHECK_MOELAB_ERROR(
      nn::parse_safetensors(make_safetensors(R"({"x":{"dtype":"float32","shape":[],"data_offsets":[0,4]}})", "abcd")),
      "dtype \"float32\" is unknown");
}

TEST_CASE("nn safetensors: save rejects undefined tensors, the reserved name and invalid UTF-8") {
  CHECK_MOELAB_ERROR(nn::serialize_safetensors({{"w", Tensor()}}), "tensor \"w\" is undefined");
  CHECK_MOELAB_ERROR(nn::serialize_safetensors({{"__metadata__", ones({1})}}), "reserved");
  CHECK_MOELAB_ERROR(nn::serialize_safetensors({{"w", ones({1})}}, {{"k", "\xff\xfe"}}), "valid UTF-8");
  CHECK_MOELAB_ERROR(nn::serialize_safetensors({{"w\xc3", ones({1})}}), "valid UTF-8");
  TempDir dir;
  CHECK_MOELAB_ERROR(nn::save_safetensors(dir / "x.safetensors", {{"w", Tensor()}}), "undefined");
  CHECK(dir.entry_count() == 0);
}

TEST_CASE("nn safetensors: names and metadata needing JSON escapes round-trip") {
  std::map<std::string, Tensor> t{{"a \"quoted\"\\name\n\t", ones({1})}, {"\xce\xb8.weight", zeros({2})}, {"", ones({0})}};
  std::map<std::string, std::string> meta{{"json", "{\"nested\": [1, 2]}"}, {"ctrl", std::string("a\0b\x01", 4)}};
  auto back = nn::parse_safetensors(nn::serialize_safetensors(t, meta));
  CHECK(back.metadata == meta);
  REQUIRE(back.tensors.size() == 3);
  for (const auto& [name, v] : t) check_equal(back.tensors.at(name), v);
}
