// Counter-based random numbers: Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random
// numbers: as easy as 1, 2, 3", SC 2011). Every random value is a pure function of (seed, counter),
// so a draw can be split over any number of threads (or CUDA blocks) and still give the same
// stream. A Generator only hands out counter ranges: each draw reserves blocks
// [offset, offset + blocks) and advances the offset; the kernels turn blocks into values.
#pragma once
#include <array>
#include <cstdint>
#include <mutex>

namespace moelab {

using PhiloxCounter = std::array<uint32_t, 4>;
using PhiloxKey = std::array<uint32_t, 2>;

// Ten rounds of the Philox 4x32 bijection (the Random123 reference constants). Plain integer
// arithmetic only, so the same function can be compiled for the GPU.
constexpr PhiloxCounter philox4x32_10(PhiloxCounter c, PhiloxKey k) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;  // round multipliers
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;  // Weyl key increments (golden ratio, sqrt 3)
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k[0] += kW0;
      k[1] += kW1;
    }
    const uint64_t p0 = static_cast<uint64_t>(kM0) * c[0];
    const uint64_t p1 = static_cast<uint64_t>(kM1) * c[2];
    c = {static_cast<uint32_t>(p1 >> 32) ^ c[1] ^ k[0], static_cast<uint32_t>(p1),
         static_cast<uint32_t>(p0 >> 32) ^ c[3] ^ k[1], static_cast<uint32_t>(p0)};
  }
  return c;
}

// Block `block` of the stream of `seed`: counter = (block as 64 bits, 0, 0), key = the seed.
constexpr PhiloxCounter philox_block(uint64_t seed, uint64_t block) {
  return philox4x32_10({static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 0u, 0u},
                       {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)});
}

// Where one draw reads its counters: blocks offset, offset + 1, ... of seed's stream.
struct PhiloxState {
  uint64_t seed = 0;
  uint64_t offset = 0;
};

class Generator {
 public:
  static constexpr uint64_t kDefaultSeed = 67280421310721ull;  // PyTorch's default seed

  explicit Generator(uint64_t seed = kDefaultSeed) : seed_(seed) {}
  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;

  // Sets the seed and rewinds the stream to its start.
  void manual_seed(uint64_t seed);
  uint64_t seed() const;
  // The next unused counter block; saving (seed, offset) and restoring them replays the stream.
  uint64_t offset() const;
  void set_offset(uint64_t offset);
  // Reserves `blocks` consecutive counter blocks for one draw (thread-safe).
  PhiloxState reserve(uint64_t blocks);

 private:
  mutable std::mutex mu_;
  uint64_t seed_;
  uint64_t offset_ = 0;
};

// The generator used when an op is given none.
Generator& default_generator();
// Seeds the default generator (and rewinds it), as torch.manual_seed.
void manual_seed(uint64_t seed);

}  // namespace moelab
