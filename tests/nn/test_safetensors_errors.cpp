// safetensors: every malformed-file check is a moelab::Error naming the file and the problem.
#include "nn/test_safetensors_util.h"
#include "support/check.h"

using namespace moelab;
using moelab::testing::make_safetensors;
using moelab::testing::TempDir;
using moelab::testing::u64_le;

namespace {
// One F32 tensor "t" of shape [2] over an 8-byte buffer, with `entry` replacing its JSON entry.
std::string with_entry(const std::string& entry, const std::string& buffer = std::string(8, '\0')) {
  return make_safetensors("{\"t\":" + entry + "}", buffer);
}
nn::SafetensorsFile parse(const std::string& bytes) { return nn::parse_safetensors(bytes, "model.st"); }
}  // namespace

TEST_CASE("nn safetensors: length prefix and header size errors") {
  CHECK_MOELAB_ERROR(parse(""), "safetensors file \"model.st\": the file is 0 bytes long, shorter than the 8-byte");
  CHECK_MOELAB_ERROR(parse("abcdefg"), "7 bytes long");
  CHECK_MOELAB_ERROR(parse(u64_le(3) + "{}"), "header length 3 runs past the end of the file (10 bytes)");
  CHECK_MOELAB_ERROR(parse(u64_le(~uint64_t{0}) + "{}"), "larger than the 100000000-byte limit");
  CHECK_MOELAB_ERROR(parse(u64_le(100'000'001) + "{}"), "larger than the 100000000-byte limit");
  CHECK_MOELAB_ERROR(parse(u64_le(0)), "does not start with '{'");
}

TEST_CASE("nn safetensors: header JSON errors") {
  CHECK_MOELAB_ERROR(parse(make_safetensors("[1, 2]")), "does not start with '{'");
  CHECK_MOELAB_ERROR(parse(make_safetensors(" {}")), "does not start with '{'");
  CHECK_MOELAB_ERROR(parse(make_safetensors("{\"a\":")), "the header is not valid JSON");
  CHECK_MOELAB_ERROR(parse(make_safetensors("{} x")), "the header is not valid JSON");
  CHECK_MOELAB_ERROR(parse(make_safetensors(std::string("{}\0\0", 4))), "not valid JSON");  // NUL padding
  CHECK_MOELAB_ERROR(parse(make_safetensors("{\"\xff\":1}")), "not valid JSON");  // invalid UTF-8
  CHECK_MOELAB_ERROR(parse(make_safetensors("{\"t\": 3}")), "tensor \"t\": the entry is a JSON number, not an object");
  // Space padding, as writers add, is fine.
  CHECK(parse(make_safetensors("{}      ")).tensors.empty());
}

TEST_CASE("nn safetensors: duplicate keys are rejected at every level") {
  CHECK_MOELAB_ERROR(parse(make_safetensors(R"({"t":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)"
                                            R"("t":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}})")),
                     "the key \"t\" more than once");
  CHECK_MOELAB_ERROR(parse(with_entry(R"({"dtype":"F32","dtype":"I32","shape":[2],"data_offsets":[0,8]})")),
                     "the key \"dtype\" more than once");
  CHECK_MOELAB_ERROR(parse(make_safetensors(R"({"__metadata__":{"a":"1","a":"2"}})")), "the key \"a\" more than once");
  // The same key in sibling objects is not a duplicate.
  CHECK(parse(make_safetensors(R"({"x":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)"
                               R"("y":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}})"))
            .tensors.size() == 2);
}

TEST_CASE("nn safetensors: metadata must be an object of strings") {
  CHECK_MOELAB_ERROR(parse(make_safetensors(R"({"__metadata__":["a"]})")), "\"__metadata__\" is a JSON array, not an object");
  CHECK_MOELAB_ERROR(parse(make_safetensors(R"({"__metadata__":{"epoch":3}})")),
                     "\"__metadata__\" value of \"epoch\" is not a string: 3");
  CHECK_MOELAB_ERROR(parse(make_safetensors(R"({"__metadata__":{"a":null}})")), "is not a string");
}

TEST_CASE("nn safetensors: entry fields missing or of the wrong JSON type") {
  CHECK_MOELAB_ERROR(parse(with_entry(R"({"shape":[2],"data_offsets":[0,8]})")), "tensor \"t\": \"dtype\" is missing");
  CHECK_MOELAB_ERROR(parse(with_entry(R"({"dtype":"F32","data_offsets":[0,8]})")), "\"shape\" is missing");
  CHECK_MOELAB_ERROR(parse(with_entry(R"({"dtype":"F32","shape":[2]})")), "\"data_offsets\" is missing");
  CHECK_MOELAB_ERROR(parse(with_entry(R"({"dtype":4,"shape":[2],"data_offsets":[0,8]})")), "\"dtype\" is not a string");
  CHECK_MOELAB_ERROR(parse(with_entry(R"({"dtype":"F32","shape":2,"data_offsets":[0,8]})")), "\"shape\" is not an array");
  CHECK_MOELAB_ERROR(parse(with_entry(R"({"dtype":"F32","shape":[2],"data_offsets":[8]})")),
                     "\"data_offsets\" is not an array of two integers");
  CHECK_MOELAB_ERROR(parse(with_entry(R"({"dtype":"F32","shape":[2],"data_offsets":{"a":0}})")),
                     "\"data_offsets\" is not an array of two integers");
  CHECK_MOELAB_ERROR(parse(with_entry(R"({"dtype":"F32","shape":[2],"data_offsets":[0,"8"]})")),
                     "data_offsets must hold two non-negative integers, got \"8\"");
  CHECK_MOELAB_ERROR(parse(with_entry(R"({"dtype":"F32","shape":[2],"data_offsets":[-1,8]})")),
                     "data_offsets must hold two non-negative integers, got -1");
  CHECK_MOELAB_ERROR(parse(with_entry(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8.0]})")),
                     "non-negative integers");
  // Unknown fields are ignored, as by the reference implementation.
  CHECK(parse(with_entry(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1})")).tensors.size() == 1);
}

TEST_CASE("nn safetensors: shape errors") {
  CHECK_MOELAB_ERROR(parse(with_entry(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})")),
                     "tensor \"t\": shape must hold non-negative integers, got [-2]");
  CHECK_MOELAB_ERROR(parse(with_entry(R"({"dtype":"F32","shape":[2.0],"data_offsets":[0,8]})")), "non-negative integers");
  CHECK_MOELAB_ERROR(parse(with_entry(R"({"dtype":"F32","shape":[1e3],"data_offsets":[0,8]})")), "non-negative integers");
  CHECK_MOELAB_ERROR(parse(with_entry(R"({"dtype":"F32","shape":["2"],"data_offsets":[0,8]})")), "non-negative integers");
  CHECK_MOELAB_ERROR(parse(with_entry(R"({"dtype":"F32","shape":[1,1,1,1,1,1,1,1,2],"data_offsets":[0,8]})")),
                     "shape has 9 dimensions, moelab supports at most 8");
  // Products that overflow (also through the strides, which treat 0 as 1) are caught.
  CHECK_MOELAB_ERROR(parse(with_entry(R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]})")),
                     "is too large");
  CHECK_MOELAB_ERROR(parse(with_entry(R"({"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]})", "")),
                     "is too large");
  CHECK_MOELAB_ERROR(parse(with_entry(R"({"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,8]})")),
                     "is too large");
  CHECK_MOELAB_ERROR(parse(with_entry(R"({"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,8]})")),
                     "non-negative integers");
  // -0 is a valid (empty) dimension.
  CHECK(parse(with_entry(R"({"dtype":"F32","shape":[-0,3],"data_offsets":[0,0]})", "")).tensors.at("t").shape() ==
        Shape{0, 3});
}

TEST_CASE("nn safetensors: offset errors") {
  CHECK_MOELAB_ERROR(parse(with_entry(R"({"dtype":"F32","shape":[2],"data_offsets":[8,0]})")),
                     "tensor \"t\": data_offsets [8, 0] are reversed");
  CHECK_MOELAB_ERROR(parse(with_entry(R"({"dtype":"F32","shape":[2],"data_offsets":[0,16]})")),
                     "data_offsets [0, 16] run past the end of the 8-byte data buffer");
  CHECK_MOELAB_ERROR(parse(with_entry(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})")),
                     "data_offsets [0, 8] hold 8 bytes but shape [3] of F32 needs 12");
  CHECK_MOELAB_ERROR(parse(with_entry(R"({"dtype":"F64","shape":[2],"data_offsets":[0,8]})")), "needs 16");
}

TEST_CASE("nn safetensors: tensors must tile the data buffer without gaps or overlap") {
  const std::string buf(12, '\0');
  CHECK_MOELAB_ERROR(parse(make_safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                            R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", buf)),
                     "tensors \"a\" [0, 8] and \"b\" [4, 12] overlap");
  CHECK_MOELAB_ERROR(parse(make_safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                            R"("b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", buf)),
                     "overlap");
  CHECK_MOELAB_ERROR(parse(make_safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", buf)),
                     "bytes [0, 4) of the data buffer belong to no tensor");
  CHECK_MOELAB_ERROR(parse(make_safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", buf)),
                     "bytes [8, 12) at the end of the data buffer belong to no tensor");
  CHECK_MOELAB_ERROR(parse(make_safetensors("{}", "x")), "bytes [0, 1) at the end");
  // Out of name order and with empty tensors between them is fine.
  auto f = parse(make_safetensors(R"({"z":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                  R"("e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},)"
                                  R"("a":{"dtype":"F64","shape":[1],"data_offsets":[4,12]}})", buf));
  CHECK(f.tensors.size() == 3);
}

TEST_CASE("nn safetensors: load errors name the path") {
  TempDir dir;
  auto p = dir / "bad.safetensors";
  moelab::testing::write_file_bytes(p, make_safetensors("{\"t\":1}"));
  CHECK_MOELAB_ERROR(nn::load_safetensors(p), "safetensors file \"" + p.string() + "\": tensor \"t\"");
  moelab::testing::write_file_bytes(p, "short");
  CHECK_MOELAB_ERROR(nn::load_safetensors(p), "\": the file is 5 bytes long");
  moelab::testing::write_file_bytes(p, u64_le(64) + "{}");
  CHECK_MOELAB_ERROR(nn::load_safetensors(p), "header length 64 runs past the end of the file (10 bytes)");
  CHECK_MOELAB_ERROR(nn::load_safetensors(dir / "missing.safetensors"), "missing.safetensors\": cannot open: No such file");
  CHECK_MOELAB_ERROR(nn::load_safetensors(dir.path()), "not a regular file");
}
