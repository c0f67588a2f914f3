#include <algorithm>
#include <atomic>
#include <memory>
#include <stdexcept>
#include <vector>

#include "support/check.h"

using namespace moelab;
using moelab::testing::check_equal;

namespace {

// A dataset of n examples: data = [i, i + 0.5] (f32), target = i (i64); get() can be told to throw.
class CountingDataset : public data::Dataset {
 public:
  explicit CountingDataset(int64_t n, int64_t throw_at = -1) : n_(n), throw_at_(throw_at) {}
  int64_t size() const override { return n_; }
  data::Example get(int64_t i) const override {
    ++calls;
    if (i == throw_at_) throw std::runtime_error("boom at " + std::to_string(i));
    return {from_vector<float>({static_cast<float>(i), static_cast<float>(i) + 0.5f}), scalar<int64_t>(i)};
  }
  mutable std::atomic<int64_t> calls{0};

 private:
  int64_t n_, throw_at_;
};

std::shared_ptr<data::TensorDataset> range_dataset(int64_t n) {
  Tensor idx = arange(int64_t{0}, n, int64_t{1}, kI64);
  return std::make_shared<data::TensorDataset>(idx.to(kF32).unsqueeze(1) * 2.0, idx);
}

// All targets of one epoch, in order.
std::vector<int64_t> epoch_targets(data::DataLoader& loader) {
  std::vector<int64_t> out;
  for (const data::Batch& b : loader) {
    for (int64_t v : b.target.to_vector<int64_t>()) out.push_back(v);
  }
  return out;
}

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = i;
  return v;
}

}  // namespace

TEST_CASE("nn data: TensorDataset get, get_batch and errors") {
  auto ds = range_dataset(5);
  CHECK(ds->size() == 5);
  data::Example e = ds->get(3);
  check_equal(e.data, from_vector<float>({6.f}));
  CHECK(e.target.dim() == 0);
  CHECK(e.target.item<int64_t>() == 3);
  data::Example b = ds->get_batch(from_vector<int64_t>({4, 0, 4}));
  check_equal(b.data, from_vector<float>({8.f, 0.f, 8.f}, {3, 1}));
  check_equal(b.target, from_vector<int64_t>({4, 0, 4}));
  // The generic get_batch (stacking get()) agrees with the one-op override.
  data::Example generic = ds->moelab::data::Dataset::get_batch(from_vector<int64_t>({4, 0, 4}));
  check_equal(generic.data, b.data);
  check_equal(generic.target, b.target);
  CHECK_MOELAB_ERROR(ds->get(5), "index 5 is out of range for 5 examples");
  CHECK_MOELAB_ERROR(ds->get(-1), "TensorDataset::get");
  CHECK_MOELAB_ERROR(data::TensorDataset(zeros({3, 2}), zeros({4})), "must have the same size in dim 0");
  CHECK_MOELAB_ERROR(data::TensorDataset(scalar<float>(1.f)), "at least 1 dim");
  // Unlabelled data: the target stays undefined.
  data::TensorDataset unlabelled(zeros({4, 2}));
  CHECK(!unlabelled.get(1).target.defined());
  CHECK(!unlabelled.get_batch(from_vector<int64_t>({1, 2})).target.defined());
  CHECK_MOELAB_ERROR(data::stack_examples({{zeros({2}), scalar<int64_t>(0)}, {zeros({3}), scalar<int64_t>(1)}}),
                     "example 1 has data of shape [3]");
  CHECK_MOELAB_ERROR(data::stack_examples({{zeros({2}), scalar<int64_t>(0)}, {zeros({2}), Tensor()}}),
                     "example 1 has no target");
}

TEST_CASE("nn data: loader batches in order, batch counts and drop_last") {
  for (bool prefetch : {false, true}) {
    CAPTURE(prefetch);
    auto ds = range_dataset(10);
    data::DataLoader loader(ds, {.batch_size = 4, .prefetch = prefetch});
    CHECK(loader.size() == 3);
    std::vector<int64_t> sizes;
    for (const data::Batch& b : loader) {
      sizes.push_back(b.data.size(0));
      CHECK(b.data.shape()[1] == 1);
      check_equal(b.data.select(1, 0), b.target.to(kF32) * 2.0);
    }
    CHECK(sizes == std::vector<int64_t>{4, 4, 2});
    CHECK(epoch_targets(loader) == iota(10));

    data::DataLoader dropping(ds, {.batch_size = 4, .drop_last = true, .prefetch = prefetch});
    CHECK(dropping.size() == 2);
    CHECK(epoch_targets(dropping) == iota(8));
    data::DataLoader exact(ds, {.batch_size = 5, .drop_last = true, .prefetch = prefetch});
    CHECK(exact.size() == 2);
    CHECK(epoch_targets(exact) == iota(10));
    data::DataLoader too_big(ds, {.batch_size = 11, .drop_last = true, .prefetch = prefetch});
    CHECK(too_big.size() == 0);
    CHECK(epoch_targets(too_big).empty());

    data::DataLoader empty_loader(range_dataset(0), {.batch_size = 3, .prefetch = prefetch});
    CHECK(empty_loader.size() == 0);
    int n = 0;
    for (const data::Batch& b : empty_loader) n += static_cast<int>(b.data.numel()) + 1;
    CHECK(n == 0);
  }
  CHECK_MOELAB_ERROR(data::DataLoader(range_dataset(3), {.batch_size = 0}), "batch_size must be at least 1");
  CHECK_MOELAB_ERROR(data::DataLoader(range_dataset(3), {.num_prefetch = 0}), "num_prefetch must be at least 1");
  CHECK_MOELAB_ERROR(data::DataLoader(nullptr), "the dataset is null");
}

TEST_CASE("nn data: seeded shuffle is a reproducible permutation, new each epoch") {
  const int64_t n = 103;
  auto ds = range_dataset(n);
  data::DataLoader a(ds, {.batch_size = 8, .shuffle = true, .seed = 42});
  std::vector<int64_t> e0 = epoch_targets(a), e1 = epoch_targets(a);
  CHECK(a.epoch() == 2);
  std::vector<int64_t> sorted = e0;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == iota(n));
  sorted = e1;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == iota(n));
  CHECK(e0 != iota(n));
  CHECK(e0 != e1);

  // A new loader with the same seed replays both epochs, with or without prefetch, whatever the
  // thread count; set_epoch replays one.
  const int threads = get_num_threads();
  set_num_threads(1);
  data::DataLoader b(ds, {.batch_size = 5, .shuffle = true, .seed = 42, .prefetch = false});
  std::vector<int64_t> b0 = epoch_targets(b), b1 = epoch_targets(b);
  set_num_threads(threads);
  CHECK(b0 == e0);
  CHECK(b1 == e1);
  b.set_epoch(1);
  CHECK(epoch_targets(b) == e1);

  data::DataLoader other(ds, {.batch_size = 8, .shuffle = true, .seed = 43});
  CHECK(epoch_targets(other) != e0);
}

TEST_CASE("nn data: prefetch on and off give identical batches, transforms included") {
  auto ds = std::make_shared<data::TensorDataset>(rand({37, 1, 6, 6}, kF32), arange(int64_t{0}, int64_t{37}, int64_t{1}, kI64));
  auto transform = std::make_shared<data::Compose>(std::vector<std::shared_ptr<const data::Transform>>{
      std::make_shared<data::RandomCrop>(6, 1), std::make_shared<data::RandomHorizontalFlip>(),
      std::make_shared<data::GaussianNoise>(0.1)});
  for (bool use_transform : {false, true}) {
    CAPTURE(use_transform);
    data::DataLoaderOptions opts{.batch_size = 4, .shuffle = true, .seed = 7, .num_prefetch = 3};
    if (use_transform) opts.transform = transform;
    data::DataLoaderOptions serial = opts;
    serial.prefetch = false;
    data::DataLoader on(ds, opts), off(ds, serial);
    for (int epoch = 0; epoch < 2; ++epoch) {
      std::vector<data::Batch> got_on, got_off;
      for (const data::Batch& b : on) got_on.push_back(b);
      for (const data::Batch& b : off) got_off.push_back(b);
      REQUIRE(got_on.size() == 10);
      REQUIRE(got_off.size() == 10);
      for (size_t i = 0; i < got_on.size(); ++i) {
        check_equal(got_on[i].data, got_off[i].data);
        check_equal(got_on[i].target, got_off[i].target);
      }
      if (!use_transform) {
        // Without transforms a batch is exactly the dataset's rows.
        check_equal(got_on[0].data, index_select(ds->data(), 0, got_on[0].target));
      } else {
        CHECK(got_on[0].data.shape() == Shape{4, 1, 6, 6});
        CHECK(!equal(got_on[0].data, index_select(ds->data(), 0, got_on[0].target)));
      }
    }
  }
}

TEST_CASE("nn data: early break and abandoned iterators stop the producer") {
  auto ds = std::make_shared<CountingDataset>(1000);
  auto identity = std::make_shared<data::Lambda>([](const Tensor& x, Generator&) { return x; });
  data::DataLoader loader(ds, {.batch_size = 10, .num_prefetch = 2, .transform = identity});
  int seen = 0;
  for (const data::Batch& b : loader) {
    CHECK(b.target.size(0) == 10);
    if (++seen == 3) break;
  }
  // The producer ran at most num_prefetch + 1 batches ahead of the consumer, then was joined.
  const int64_t calls = ds->calls.load();
  CHECK(calls >= 30);
  CHECK(calls <= 60);
  CHECK(ds->calls.load() == calls);
  {
    auto it = loader.begin();  // epoch 1: started and dropped at once
    CHECK(it->target.to_vector<int64_t>()[0] == 0);
  }
  // A full epoch afterwards still works.
  CHECK(epoch_targets(loader) == iota(1000));
}

TEST_CASE("nn data: an exception in the producer reaches the consumer") {
  for (bool prefetch : {false, true}) {
    CAPTURE(prefetch);
    auto ds = std::make_shared<CountingDataset>(20, /*throw_at=*/13);
    // With a transform the loader calls get() per example; without one, the generic get_batch does.
    data::DataLoader loader(ds, {.batch_size = 4, .prefetch = prefetch});
    std::vector<int64_t> got;
    bool thrown = false;
    try {
      for (const data::Batch& b : loader)
        for (int64_t v : b.target.to_vector<int64_t>()) got.push_back(v);
    } catch (const std::runtime_error& e) {
      thrown = true;
      CHECK(std::string(e.what()) == "boom at 13");
    }
    CHECK(thrown);
    CHECK(got == iota(12));  // the batches before the failing one arrive first

    // An Error from a transform, thrown at the first batch, comes out of begin().
    auto bad = std::make_shared<data::Normalize>(std::vector<double>{0.0, 0.0}, std::vector<double>{1.0, 1.0});
    data::DataLoader bad_loader(std::make_shared<data::TensorDataset>(zeros({6, 1, 2, 2})),
                                {.batch_size = 2, .prefetch = prefetch, .transform = bad});
    CHECK_MOELAB_ERROR(bad_loader.begin(), "Normalize: 2 means for an image of shape [1, 2, 2]");
    // The iterator ends after the error instead of continuing.
    auto it = data::DataLoader(ds, {.batch_size = 13, .prefetch = prefetch}).begin();
    CHECK(it->target.size(0) == 13);
    CHECK_THROWS_AS(++it, std::runtime_error);
    CHECK(it == std::default_sentinel);
  }
}

TEST_CASE("nn data: producer and consumer both run parallel ops") {
  // Images above the elementwise grain make both threads enter the intra-op pool at once.
  auto ds = std::make_shared<data::TensorDataset>(rand({12, 1, 200, 200}, kF32), arange(int64_t{0}, int64_t{12}, int64_t{1}, kI64));
  auto transform = std::make_shared<data::Compose>(std::vector<std::shared_ptr<const data::Transform>>{
      std::make_shared<data::GaussianNoise>(0.1), std::make_shared<data::Normalize>(std::vector<double>{0.5}, std::vector<double>{0.25})});
  data::DataLoaderOptions opts{.batch_size = 3, .shuffle = true, .seed = 3, .transform = transform};
  data::DataLoaderOptions serial = opts;
  serial.prefetch = false;
  data::DataLoader on(ds, opts), off(ds, serial);
  std::vector<double> sums_on, sums_off;
  for (int epoch = 0; epoch < 3; ++epoch) {
    for (const data::Batch& b : on) {
      Tensor busy = (randn({4, 100, 100}) * 3.0 + 1.0).exp();  // the consumer's own parallel work
      CHECK(busy.numel() == 40000);
      sums_on.push_back(b.data.to(kF64).sum().item<double>());
    }
    for (const data::Batch& b : off) sums_off.push_back(b.data.to(kF64).sum().item<double>());
  }
  CHECK(sums_on.size() == 12);
  CHECK(sums_on == sums_off);
}
