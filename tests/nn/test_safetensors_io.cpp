// safetensors: atomic writes (failures leave the old file and no temporary file) and Module save/load.
#include <sys/stat.h>

#include "nn/test_safetensors_util.h"
#include "support/check.h"

using namespace moelab;
using moelab::testing::check_equal;
using moelab::testing::read_file_bytes;
using moelab::testing::TempDir;
using moelab::testing::write_file_bytes;

TEST_CASE("nn safetensors: save replaces an existing file and keeps its permissions") {
  TempDir dir;
  auto p = dir / "m.safetensors";
  write_file_bytes(p, "old content");
  ::chmod(p.c_str(), 0640);
  nn::save_safetensors(p, {{"w", ones({2})}});
  CHECK(read_file_bytes(p) == nn::serialize_safetensors({{"w", ones({2})}}));
  CHECK((std::filesystem::status(p).permissions() & std::filesystem::perms::all) ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write | std::filesystem::perms::group_read));
  CHECK(dir.entry_count() == 1);
  // A relative path (no directory part) works too.
  auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());
  nn::save_safetensors("rel.safetensors", {{"w", zeros({1})}});
  std::filesystem::current_path(cwd);
  check_equal(nn::load_safetensors(dir / "rel.safetensors").tensors.at("w"), zeros({1}));
}

TEST_CASE("nn safetensors: a failed save leaves the target untouched and no temporary file") {
  TempDir dir;
  auto p = dir / "m.safetensors";
  write_file_bytes(p, "precious");

  SUBCASE("failure injected mid-way through the write") {
    CHECK_THROWS_AS(nn::atomic_write_file(p,
                                          [](nn::AtomicFile& f) {
                                            f.write("partial", 7);
                                            CHECK(std::filesystem::exists(f.temp_path()));
                                            CHECK(f.temp_path().parent_path() == f.target().parent_path());
                                            throw std::runtime_error("injected");
                                          }),
                    std::runtime_error);
  }
  SUBCASE("a large write that fails after some data reached the disk") {
    std::string big(3 << 20, 'x');  // larger than the write buffer: goes straight to the file
    CHECK_THROWS_AS(nn::atomic_write_file(p,
                                          [&](nn::AtomicFile& f) {
                                            f.write(big.data(), big.size());
                                            CHECK(std::filesystem::file_size(f.temp_path()) == big.size());
                                            throw Error("injected");
                                          }),
                    Error);
  }
  SUBCASE("an AtomicFile dropped without commit") {
    nn::AtomicFile f(p);
    f.write("new", 3);
    f.abort();
    CHECK_MOELAB_ERROR(f.commit(), "already committed or aborted");
  }
  CHECK(read_file_bytes(p) == "precious");
  CHECK(dir.entry_count() == 1);
}

TEST_CASE("nn safetensors: save errors name the path and the system error") {
  TempDir dir;
  // The directory does not exist: the temporary file cannot be created.
  auto missing = dir / "no_such_dir" / "m.safetensors";
  CHECK_MOELAB_ERROR(nn::save_safetensors(missing, {{"w", ones({1})}}),
                     "save_safetensors: cannot write \"" + missing.string() + "\": creating the temporary file");
  CHECK_MOELAB_ERROR(nn::save_safetensors(missing, {{"w", ones({1})}}), "No such file or directory");
  // The target is a directory: everything is written, then the rename fails.
  auto target_dir = dir / "is_a_dir";
  std::filesystem::create_directory(target_dir);
  write_file_bytes(target_dir / "inside", "keep");
  CHECK_MOELAB_ERROR(nn::save_safetensors(target_dir, {{"w", ones({1})}}), "renaming");
  CHECK(read_file_bytes(target_dir / "inside") == "keep");
  CHECK(dir.entry_count() == 1);  // only is_a_dir: the temporary file was removed
  CHECK_MOELAB_ERROR(nn::save_safetensors(dir.path() / "", {{"w", ones({1})}}), "does not name a file");
}

namespace {
class Net : public nn::Module {
 public:
  explicit Net(DType dtype = kF32) : Module("Net") {
    fc = register_module("fc", std::make_shared<nn::Linear>(3, 2, true, dtype));
    norm = register_module("norm", std::make_shared<nn::LayerNorm>(Shape{2}, 1e-5, true, dtype));
    register_buffer("steps", zeros({1}, kI64));
  }
  std::shared_ptr<nn::Linear> fc;
  std::shared_ptr<nn::LayerNorm> norm;
};
}  // namespace

TEST_CASE("nn safetensors: Module save and load through state_dict") {
  TempDir dir;
  auto p = dir / "net.safetensors";
  Net a;
  {
    autograd::NoGradGuard g;
    a.tensor_slot("norm.weight").copy_(tensor({2.f, 3.f}));
    a.tensor_slot("steps").fill_(5);
  }
  nn::save(a, p, {{"epoch", "3"}});
  auto file = nn::load_safetensors(p);
  CHECK(file.tensors.size() == 5);  // fc.weight, fc.bias, norm.weight, norm.bias, steps
  CHECK(file.metadata.at("epoch") == "3");

  Net b;
  auto meta = nn::load(b, p);
  CHECK(meta.at("epoch") == "3");
  auto sa = a.state_dict(), sb = b.state_dict();
  for (const auto& [name, t] : sa) check_equal(sb.at(name), t);
  CHECK(b.fc->parameters()[0].requires_grad());  // loading keeps parameters trainable

  // Values are cast to the module's dtype, as load_state_dict does.
  Net c(kF64);
  nn::load(c, p);
  check_equal(c.state_dict().at("fc.weight"), sa.at("fc.weight").to(kF64));

  // strict: missing or unexpected keys are an Error naming the file and the keys.
  nn::save_safetensors(p, {{"fc.weight", zeros({2, 3})}, {"extra", zeros({1})}});
  CHECK_MOELAB_ERROR(nn::load(b, p), "load \"" + p.string() + "\": load_state_dict: missing keys:");
  CHECK_MOELAB_ERROR(nn::load(b, p), "unexpected keys: \"extra\"");
  nn::load(b, p, /*strict=*/false);
  check_equal(b.state_dict().at("fc.weight"), zeros({2, 3}));
  check_equal(b.state_dict().at("norm.weight"), tensor({2.f, 3.f}));  // untouched
  nn::save_safetensors(p, {{"fc.weight", zeros({3, 2})}});
  CHECK_MOELAB_ERROR(nn::load(b, p, false), "\"fc.weight\" has shape [3, 2] in the state but [2, 3] in the module");
}
