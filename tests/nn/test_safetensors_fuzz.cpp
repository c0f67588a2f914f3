// safetensors: a seeded mutation fuzzer. Every mutant of a few valid files must either load or
// throw moelab::Error (never another exception, a crash, or - under ASan/UBSan - a memory error),
// and whatever loads must save and load again.
#include <cstring>

#include "nn/test_safetensors_util.h"
#include "support/check.h"

using namespace moelab;
using moelab::testing::make_safetensors;

namespace {

struct SplitMix {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(next() % n); }
  template <class T, size_t N>
  const T& pick(const T (&a)[N]) { return a[below(N)]; }
};

std::vector<std::string> seed_files() {
  std::vector<std::string> out;
  out.push_back(nn::serialize_safetensors(
      {{"f32", from_vector(std::vector<float>{1.f, -2.f, 3.5f, 0.f, 5.f, 6.f}, {2, 3})},
       {"f64", scalar(2.5)},
       {"i64", from_vector(std::vector<int64_t>{1, -1})},
       {"i32", zeros({0, 4}, kI32)},
       {"flags", from_vector(std::vector<bool>{true, false, true})},
       {"bf16", ones({2}, kBF16)},
       {"f16", ones({1, 1}, kF16)}},
      {{"format", "pt"}, {"epoch", "3"}}));
  // Written the way Python's json.dumps spaces things, out of offset order.
  out.push_back(make_safetensors(R"({"b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}, )"
                                 R"("a": {"dtype": "I32", "shape": [2], "data_offsets": [0, 8]}, )"
                                 R"("__metadata__": {"k": "v"}}  )",
                                 std::string("\1\0\0\0\2\0\0\0\0\0\x80\x3f\0\0\0\x40", 16)));
  out.push_back(make_safetensors(R"({"u8":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},)"
                                 R"("u32":{"dtype":"U32","shape":[1],"data_offsets":[3,7]}})",
                                 std::string("\x01\x02\xff\x04\x00\x00\x80", 7)));
  out.push_back(nn::serialize_safetensors({}));
  return out;
}

// Where the JSON header is, if the length prefix is sane.
bool header_span(const std::string& f, size_t& begin, size_t& len) {
  if (f.size() < 8) return false;
  uint64_t n = 0;
  std::memcpy(&n, f.data(), 8);
  if (n > f.size() - 8) return false;
  begin = 8;
  len = static_cast<size_t>(n);
  return true;
}

void set_prefix(std::string& f, uint64_t n) {
  if (f.size() >= 8) std::memcpy(f.data(), &n, 8);
}

// Replaces [pos, pos + count) of the header with `with`, keeping the length prefix right (mostly).
void replace_in_header(std::string& f, size_t pos, size_t count, const std::string& with, SplitMix& r) {
  uint64_t n = 0;
  std::memcpy(&n, f.data(), 8);
  f.replace(pos, count, with);
  if (r.below(8) != 0) set_prefix(f, n - count + with.size());
}

// Start of a random occurrence of `what` in the header, or npos.
size_t find_random(const std::string& f, size_t hb, size_t hl, const std::string& what, SplitMix& r) {
  std::vector<size_t> hits;
  for (size_t p = f.find(what, hb); p != std::string::npos && p + what.size() <= hb + hl; p = f.find(what, p + 1))
    hits.push_back(p);
  return hits.empty() ? std::string::npos : hits[r.below(hits.size())];
}

void mutate(std::string& f, SplitMix& r) {
  static const char kBytes[] = {'{', '}', '"', ',', '[', ']', ':', ' ', '0', '9', '-', '.', 'e', '\0', '\x7f', '\xff'};
  static const char* const kNumbers[] = {"0", "1", "-1", "-0", "2.5", "1e3", "7", "8", "4294967296",
                                         "9223372036854775807", "18446744073709551615", "18446744073709551616",
                                         "99999999999999999999999", "1e999"};
  static const char* const kDTypes[] = {"F32", "F64", "F16", "BF16", "I32", "I64", "BOOL", "U8", "I8", "I16",
                                        "U16", "U32", "U64", "F8_E4M3", "f32", "", "F32 "};
  static const char* const kValues[] = {"null", "[]", "{}", "\"x\"", "[0,0]", "true", "[1,2,3]", "{\"dtype\":\"F32\"}",
                                        "\"__metadata__\"", "[[0]]", "-5"};
  size_t hb = 0, hl = 0;
  bool has_header = header_span(f, hb, hl);
  switch (r.below(9)) {
    case 0:  // bit flip
      if (!f.empty()) f[r.below(f.size())] ^= static_cast<char>(1u << r.below(8));
      break;
    case 1:  // byte insertion
      f.insert(f.begin() + static_cast<std::ptrdiff_t>(r.below(f.size() + 1)),
               r.below(2) ? r.pick(kBytes) : static_cast<char>(r.next()));
      break;
    case 2:  // deletion of a few bytes
      if (!f.empty()) {
        size_t p = r.below(f.size());
        f.erase(p, 1 + r.below(4));
      }
      break;
    case 3:  // truncation
      f.resize(r.below(f.size() + 1));
      break;
    case 4: {  // header length edits
      uint64_t n = has_header ? hl : 0;
      const uint64_t choices[] = {0, 1, 7, n + 1, n - 1, n + 8, n - 8, f.size() - 8, f.size(), 100'000'000,
                                  100'000'001, uint64_t{1} << 63, ~uint64_t{0}, r.next() % 4096};
      set_prefix(f, r.pick(choices));
      break;
    }
    case 5: {  // a number in the header replaced
      if (!has_header) break;
      std::vector<std::pair<size_t, size_t>> runs;
      for (size_t p = hb; p < hb + hl; ++p) {
        if (f[p] < '0' || f[p] > '9') continue;
        size_t q = p;
        while (q < hb + hl && f[q] >= '0' && f[q] <= '9') ++q;
        runs.emplace_back(p, q - p);
        p = q;
      }
      if (runs.empty()) break;
      auto [p, len] = runs[r.below(runs.size())];
      std::string with = r.below(3) ? std::to_string(std::stoull(f.substr(p, len)) + r.below(17) - 8) : r.pick(kNumbers);
      if (with.size() > 20) with = r.pick(kNumbers);  // wrapped below zero
      replace_in_header(f, p, len, with, r);
      break;
    }
    case 6: {  // a dtype replaced
      if (!has_header) break;
      size_t p = find_random(f, hb, hl, "\"dtype\"", r);
      if (p == std::string::npos) break;
      size_t open = f.find('"', p + 7), close = open == std::string::npos ? open : f.find('"', open + 1);
      if (close == std::string::npos || close >= hb + hl) break;
      replace_in_header(f, open + 1, close - open - 1, r.pick(kDTypes), r);
      break;
    }
    case 7: {  // a JSON value replaced, or a key/value pair duplicated
      if (!has_header) break;
      size_t p = find_random(f, hb, hl, ":", r);
      if (p == std::string::npos) break;
      size_t end = f.find_first_of(",}", p + 1);
      if (end == std::string::npos || end >= hb + hl) break;
      if (r.below(3) == 0) {
        size_t key = f.rfind('"', f.rfind('"', p) - 1);
        if (key != std::string::npos && key >= hb) {
          std::string pair = f.substr(key, end - key);
          replace_in_header(f, end, 0, "," + pair, r);
          break;
        }
      }
      replace_in_header(f, p + 1, end - p - 1, r.pick(kValues), r);
      break;
    }
    case 8: {  // data_offsets swapped or shifted
      if (!has_header) break;
      size_t p = find_random(f, hb, hl, "\"data_offsets\"", r);
      if (p == std::string::npos) break;
      size_t open = f.find('[', p), close = f.find(']', p);
      if (open == std::string::npos || close == std::string::npos || close >= hb + hl || close < open) break;
      std::string inner = f.substr(open + 1, close - open - 1);
      size_t comma = inner.find(',');
      if (comma == std::string::npos) break;
      std::string a = inner.substr(0, comma), b = inner.substr(comma + 1);
      std::string with = r.below(2) ? b + "," + a : a + "," + std::to_string(r.below(64));
      replace_in_header(f, open + 1, close - open - 1, with, r);
      break;
    }
  }
}

}  // namespace

TEST_CASE("nn safetensors: fuzzed files either load or throw moelab::Error") {
#ifdef MOELAB_SANITIZE
  const int kMutants = 6000;
#else
  const int kMutants = 20000;
#endif
  const auto seeds = seed_files();
  for (const auto& s : seeds) REQUIRE_NOTHROW(nn::parse_safetensors(s));
  SplitMix rng{12345};
  moelab::testing::TempDir dir;
  int loaded = 0, rejected = 0;
  for (int i = 0; i < kMutants; ++i) {
    std::string f = seeds[rng.below(seeds.size())];
    for (size_t m = 1 + rng.below(3); m > 0; --m) mutate(f, rng);
    std::string outcome;
    try {
      auto got = nn::parse_safetensors(f, "fuzz.safetensors");
      ++loaded;
      outcome = "ok";
      // Whatever loads must save and load again to the same tensors.
      auto again = nn::parse_safetensors(nn::serialize_safetensors(got.tensors, got.metadata));
      CHECK(again.metadata == got.metadata);
      REQUIRE(again.tensors.size() == got.tensors.size());
      for (const auto& [name, t] : got.tensors) {
        CHECK(again.tensors.at(name).shape() == t.shape());
        CHECK(again.tensors.at(name).dtype() == t.dtype());
      }
    } catch (const Error& e) {
      ++rejected;
      outcome = e.what();
    } catch (const std::exception& e) {
      FAIL("mutant " << i << " threw a non-moelab exception: " << e.what());
    }
    // Every 40th mutant also goes through the file reader, which must agree with the parser.
    if (i % 40 == 0) {
      auto p = dir / "fuzz.safetensors";
      moelab::testing::write_file_bytes(p, f);
      std::string from_file;
      try {
        nn::load_safetensors(p);
        from_file = "ok";
      } catch (const Error& e) {
        from_file = e.what();
      }
      std::string expected = outcome;
      if (auto at = expected.find("fuzz.safetensors"); at != std::string::npos)
        expected.replace(at, 16, p.string());
      CHECK_MESSAGE(from_file == expected, "mutant " << i);
    }
  }
  MESSAGE("fuzz: " << loaded << " mutants loaded, " << rejected << " rejected");
  CHECK(loaded > kMutants / 50);  // the mutations are not all fatal: validation paths past the JSON run
  CHECK(rejected > kMutants / 2);
}
