#include <cmath>
#include <set>

#include "support/check.h"

#include <moelab/ops/random.h>
#include <moelab/ops/sort.h>

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::check_equal;

namespace {
double mean_of(const Tensor& t) { return mean(t.to(kF64)).item<double>(); }
double var_of(const Tensor& t) { return var(t.to(kF64)).item<double>(); }

// Runs f once with one thread and once with two, and checks both give the same tensor.
template <class F>
void check_thread_independent(F f) {
  set_num_threads(1);
  Tensor a = f();
  set_num_threads(2);
  Tensor b = f();
  check_equal(a, b);
}
}  // namespace

TEST_CASE("random: Philox4x32-10 known-answer vectors (Random123 kat_vectors)") {
  // The three philox4x32 10-round vectors published with Random123; also re-derived with an
  // independent Python implementation written from the algorithm's definition.
  CHECK(philox4x32_10({0u, 0u, 0u, 0u}, {0u, 0u}) ==
        PhiloxCounter{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
  CHECK(philox4x32_10({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu}) ==
        PhiloxCounter{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu});
  CHECK(philox4x32_10({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u}) ==
        PhiloxCounter{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u});
  static_assert(philox4x32_10({0u, 0u, 0u, 0u}, {0u, 0u})[0] == 0x6627e8d5u, "usable at compile time");
  // block b of seed s is counter (b, 0, 0) under key s
  CHECK(philox_block(0, 0) == philox4x32_10({0u, 0u, 0u, 0u}, {0u, 0u}));
}

TEST_CASE("random: the first values of a stream follow the documented layout") {
  Generator g(1234);
  Tensor u = rand({4}, {}, &g);
  PhiloxCounter w = philox_block(1234, 0);
  for (int i = 0; i < 4; ++i)
    CHECK(u[i].item<float>() == static_cast<float>(w[static_cast<size_t>(i)] >> 8) * 0x1.0p-24f);
  CHECK(g.offset() == 1);
  Tensor r = randint(0, 1000, {2}, kI64, &g);  // next block
  PhiloxCounter w1 = philox_block(1234, 1);
  uint64_t r0 = static_cast<uint64_t>(w1[1]) << 32 | w1[0];
  CHECK(r[0].item<int64_t>() == static_cast<int64_t>(r0 % 1000));
  CHECK(g.offset() == 2);
}

TEST_CASE("random: reproducible after re-seeding; draws advance the stream") {
  manual_seed(42);
  Tensor a = randn({1000});
  Tensor b = randn({1000});
  manual_seed(42);
  check_equal(randn({1000}), a);
  check_equal(randn({1000}), b);
  CHECK(!equal(a, b));
  manual_seed(43);
  CHECK(!equal(randn({1000}), a));
  // an explicit generator leaves the default one alone
  Generator g(42);
  check_equal(randn({1000}, {}, &g), a);
  manual_seed(42);
  (void)rand({3}, {}, &g);
  check_equal(randn({1000}), a);
  // saving and restoring the offset replays
  uint64_t off = g.offset();
  Tensor c = rand({10}, kF64, &g);
  g.set_offset(off);
  check_equal(rand({10}, kF64, &g), c);
}

TEST_CASE("random: streams do not depend on the thread count") {
  const Shape big{300001};  // several parallel chunks, odd size
  check_thread_independent([&] { Generator g(7); return rand(big, kF32, &g); });
  check_thread_independent([&] { Generator g(7); return rand(big, kF64, &g); });
  check_thread_independent([&] { Generator g(7); return randn(big, kF32, &g); });
  check_thread_independent([&] { Generator g(7); return randn(big, kF64, &g); });
  check_thread_independent([&] { Generator g(7); return randint(-5, 17, big, kI64, &g); });
  check_thread_independent([&] { Generator g(7); return randperm(100000, kI64, &g); });
  check_thread_independent([&] { Generator g(7); return bernoulli(full({200000}, 0.3), &g); });
  check_thread_independent([&] {
    Generator g(7);
    return multinomial(rand({3000, 20}, kF32, &g), 5, false, &g);
  });
  check_thread_independent([&] {
    Generator g(7);
    return multinomial(rand({3000, 20}, kF32, &g), 5, true, &g);
  });
}

TEST_CASE("random: in-place fills follow logical order, whatever the strides") {
  Generator g1(5), g2(5);
  Tensor base = zeros({4, 6});
  Tensor view = base.t();  // [6, 4], non-contiguous
  uniform_(view, 0, 1, &g1);
  check_equal(view.contiguous(), rand({6, 4}, {}, &g2));
  Tensor h = zeros({5}, kBF16);
  normal_(h, 2.0, 0.5, &g1);
  CHECK(h.dtype() == kBF16);
}

TEST_CASE("random: rand and uniform_ statistics") {
  Generator g(1);
  for (DType dt : {kF32, kF64}) {
    Tensor u = rand({100000}, dt, &g);
    CHECK(u.dtype() == dt);
    CHECK(amin(u).to(kF64).item<double>() >= 0.0);
    CHECK(amax(u).to(kF64).item<double>() < 1.0);
    CHECK(std::abs(mean_of(u) - 0.5) < 0.005);
    CHECK(std::abs(var_of(u) - 1.0 / 12) < 0.002);
  }
  Tensor w = empty({100000}, kF64);
  uniform_(w, -3, 5, &g);
  CHECK(amin(w).item<double>() >= -3);
  CHECK(amax(w).item<double>() < 5);
  CHECK(std::abs(mean_of(w) - 1.0) < 0.05);
}

TEST_CASE("random: randn and normal_ statistics") {
  Generator g(2);
  for (DType dt : {kF32, kF64}) {
    Tensor z = randn({100000}, dt, &g);
    CHECK(std::abs(mean_of(z)) < 0.02);
    CHECK(std::abs(var_of(z) - 1.0) < 0.02);
    // tails: P(|z| > 2) = 0.0455
    double tail = mean_of(gt(abs(z), scalar_tensor(2.0, dt)).to(kF64));
    CHECK(std::abs(tail - 0.0455) < 0.004);
    // neighbours are uncorrelated (catches a broken Box-Muller pairing)
    Tensor a = z.slice(0, 0, 99999), b = z.slice(0, 1, 100000);
    CHECK(std::abs(mean_of(a * b)) < 0.02);
  }
  Tensor n = empty({100000}, kF64);
  normal_(n, 3.0, 2.0, &g);
  CHECK(std::abs(mean_of(n) - 3.0) < 0.04);
  CHECK(std::abs(std::sqrt(var_of(n)) - 2.0) < 0.04);
}

TEST_CASE("random: randint range, dtype and frequencies") {
  Generator g(3);
  Tensor r = randint(-3, 4, {70000}, kI64, &g);
  CHECK(r.dtype() == kI64);
  CHECK(amin(r).item<int64_t>() == -3);
  CHECK(amax(r).item<int64_t>() == 3);
  Tensor counts = bincount(r + 3);
  for (int64_t c : counts.to_vector<int64_t>()) CHECK(std::abs(c - 10000) < 500);
  CHECK(randint(10, {3}, kI32, &g).dtype() == kI32);
  Tensor f = randint(0, 2, {1000}, kF32, &g);
  CHECK(f.dtype() == kF32);
  CHECK(all(logical_or(eq(f, scalar_tensor(0.0, kF32)), eq(f, scalar_tensor(1.0, kF32)))).item<bool>());
  // the full int64 range does not overflow
  Tensor wide = randint(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), {1000}, kI64, &g);
  CHECK(amin(wide).item<int64_t>() < 0);
  CHECK(amax(wide).item<int64_t>() > 0);
  CHECK(randint(0, 5, {0}, kI64, &g).numel() == 0);
}

TEST_CASE("random: randperm is a permutation") {
  Generator g(4);
  Tensor p = randperm(1000, kI64, &g);
  check_equal(std::get<0>(sort(p)), arange(0, 1000));
  CHECK(!equal(p, arange(0, 1000)));
  CHECK(randperm(0, kI64, &g).shape() == Shape{0});
  check_equal(randperm(1, kI64, &g), tensor<int64_t>({0}));
  CHECK(randperm(10, kI32, &g).dtype() == kI32);
  // position 0 is uniform over the values
  Tensor firsts = empty({4000}, kI64);
  for (int i = 0; i < 4000; ++i) firsts[i].fill_(randperm(4, kI64, &g)[0].item<int64_t>());
  for (int64_t c : bincount(firsts).to_vector<int64_t>()) CHECK(std::abs(c - 1000) < 150);
}

TEST_CASE("random: bernoulli") {
  Generator g(5);
  Tensor p = full({100000}, 0.3);
  Tensor b = bernoulli(p, &g);
  CHECK(b.dtype() == kF32);
  CHECK(std::abs(mean_of(b) - 0.3) < 0.01);
  Tensor pv = tensor<double>({0.0, 1.0, 0.0, 1.0});
  check_equal(bernoulli(pv, &g), pv);
  Tensor x = zeros({50000}, kF64);
  Tensor c = bernoulli(x, 0.8, &g);
  CHECK(c.dtype() == kF64);
  CHECK(std::abs(mean_of(c) - 0.8) < 0.01);
  Tensor pe = full({2, 50000}, 0.5).slice(1, 0, std::nullopt, 2);  // strided probabilities
  CHECK(std::abs(mean_of(bernoulli(pe, &g)) - 0.5) < 0.02);
  CHECK_MOELAB_ERROR(bernoulli(tensor<float>({0.5f, 1.5f})), "bernoulli: expects all probabilities in [0, 1]");
  CHECK_MOELAB_ERROR(bernoulli(zeros({2}), -0.1), "bernoulli: expects p in [0, 1]");
  CHECK_MOELAB_ERROR(bernoulli(tensor<int64_t>({1})), "bernoulli: expected floating probabilities");
}

TEST_CASE("random: multinomial with replacement matches the probabilities") {
  Generator g(6);
  Tensor probs = tensor<float>({0.1f, 0.0f, 0.6f, 0.3f});
  Tensor s = multinomial(probs, 100000, true, &g);
  CHECK(s.shape() == Shape{100000});
  Tensor freq = bincount(s, Tensor(), 4).to(kF64) / 100000.0;
  check_close(freq, tensor<double>({0.1, 0.0, 0.6, 0.3}), 0, 0.01);
  CHECK(bincount(s, Tensor(), 4)[1].item<int64_t>() == 0);  // zero mass never drawn
  // unnormalised 2-d weights, f64
  Tensor w = tensor<double>({{1.0, 3.0}, {5.0, 0.0}});
  Tensor s2 = multinomial(w, 20000, true, &g);
  CHECK(s2.shape() == Shape{2, 20000});
  CHECK(std::abs(mean_of(s2[0]) - 0.75) < 0.02);
  CHECK(amax(s2[1]).item<int64_t>() == 0);
}

TEST_CASE("random: multinomial without replacement draws distinct indices with the right odds") {
  Generator g(7);
  Tensor probs = rand({200, 10}, kF64, &g) + 0.01;
  Tensor s = multinomial(probs, 10, false, &g);
  for (int64_t r = 0; r < 200; ++r) check_equal(std::get<0>(sort(s[r])), arange(0, 10));
  // the first draw follows the probabilities
  Tensor p = tensor<float>({0.5f, 0.25f, 0.25f, 0.0f});
  Tensor many = multinomial(p.unsqueeze(0).expand({40000, 4}), 2, false, &g);
  Tensor first = many.select(1, 0).contiguous();
  check_close(bincount(first, Tensor(), 4).to(kF64) / 40000.0, tensor<double>({0.5, 0.25, 0.25, 0.0}), 0, 0.015);
  // the second draw: P(second = 0) = 0.25*(0.5/0.75)*2 = 1/3
  Tensor second = many.select(1, 1).contiguous();
  CHECK(std::abs(mean_of(eq(second, scalar_tensor(0, kI64)).to(kF64)) - 1.0 / 3) < 0.015);
  CHECK(amax(many).item<int64_t>() <= 2);  // category 3 has zero mass
}

TEST_CASE("random: argument errors") {
  CHECK_MOELAB_ERROR(rand({2}, kI64), "rand: expected a floating dtype");
  CHECK_MOELAB_ERROR(randn({2}, kI32), "randn: expected a floating dtype");
  CHECK_MOELAB_ERROR(randint(5, 5, {2}), "randint: expects low < high, got low=5 and high=5");
  CHECK_MOELAB_ERROR(randint(0, int64_t{1} << 40, {2}, kI32), "does not fit in i32");
  CHECK_MOELAB_ERROR(randperm(-1), "randperm: n must be non-negative");
  Tensor t = zeros({2}, kI64);
  CHECK_MOELAB_ERROR(uniform_(t), "uniform_: expected a floating tensor");
  Tensor f = zeros({2});
  CHECK_MOELAB_ERROR(uniform_(f, 2, 1), "uniform_: expects a finite range with from <= to");
  CHECK_MOELAB_ERROR(normal_(f, 0, -1), "normal_: expects std >= 0");
  CHECK_MOELAB_ERROR(multinomial(zeros({2, 2, 2}), 1), "multinomial: probs must be 1-d or 2-d");
  CHECK_MOELAB_ERROR(multinomial(tensor<float>({0.5f, 0.5f}), 3), "cannot draw 3 samples without replacement from 2");
  CHECK_MOELAB_ERROR(multinomial(tensor<float>({0.5f, -0.5f}), 1), "must be finite and non-negative");
  CHECK_MOELAB_ERROR(multinomial(tensor<float>({0.f, 0.f}), 1, true), "positive sum");
  CHECK_MOELAB_ERROR(multinomial(tensor<float>({1.f, 0.f}), 2), "only 1 non-zero categories");
  CHECK_MOELAB_ERROR(multinomial(tensor<float>({1.f}), 0), "num_samples must be positive");
  CHECK_MOELAB_ERROR(multinomial(tensor<int64_t>({1}), 1), "expected floating probabilities");
}
