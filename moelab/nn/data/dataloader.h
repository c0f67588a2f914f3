// DataLoader (torch.utils.data.DataLoader): iterates over a Dataset in batches, stacked along a
// new dim 0, optionally shuffled and augmented, with the next batches made ahead of time on one
// background thread.
//
//   data::DataLoader loader(dataset, {.batch_size = 64, .shuffle = true, .seed = 1});
//   for (int epoch = 0; epoch < 10; ++epoch)
//     for (const data::Batch& b : loader) train_step(b.data, b.target);
//
// Epochs: each begin() starts the next epoch (0, 1, 2, ...; set_epoch chooses one). With shuffle,
// the epoch's order is a random permutation drawn from a Philox generator seeded from (seed, epoch),
// and per-example transforms draw from a second generator seeded the same way, so every epoch is
// reproducible across runs, thread counts, and prefetch on or off.
//
// Prefetch: a background thread makes up to num_prefetch batches ahead into a bounded queue. An
// exception thrown while making a batch (by the dataset or a transform) is rethrown by the fetch
// that would have returned that batch; the iteration then ends. Leaving the loop early (break,
// exception) stops and joins the thread when the iterator is destroyed. The thread runs moelab ops
// under NoGradGuard; the intra-op thread pool serialises parallel regions from the two threads, so
// this is safe (do not call set_num_threads while a loader iterates).
#pragma once
#include <cstddef>
#include <iterator>
#include <memory>

#include "moelab/nn/data/dataset.h"
#include "moelab/nn/data/transforms.h"

namespace moelab::data {

using Batch = Example;

struct DataLoaderOptions {
  int64_t batch_size = 1;
  bool shuffle = false;
  bool drop_last = false;  // drop the last batch when it is smaller than batch_size
  uint64_t seed = 0;
  bool prefetch = true;    // make batches on a background thread
  int64_t num_prefetch = 2;  // how many batches that thread may make ahead
  // Applied to each example's data before stacking (then the dataset's get() is used per example;
  // without a transform the loader asks the dataset for whole batches with get_batch).
  std::shared_ptr<const Transform> transform = nullptr;
};

class EpochRun;  // one pass over the data: the order, the generator, the producer thread

class DataLoader {
 public:
  explicit DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options = {});

  // An input iterator over one epoch's batches; move-only, it owns the epoch's producer thread.
  class Iterator {
   public:
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    Iterator(Iterator&&) noexcept;
    Iterator& operator=(Iterator&&) noexcept;
    ~Iterator();
    const Batch& operator*() const { return current_; }
    const Batch* operator->() const { return &current_; }
    Iterator& operator++();
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const { return done_; }

   private:
    friend class DataLoader;
    explicit Iterator(std::unique_ptr<EpochRun> run);
    std::unique_ptr<EpochRun> run_;
    Batch current_;
    bool done_ = false;
  };

  Iterator begin();  // starts epoch epoch() and advances the epoch counter
  std::default_sentinel_t end() const { return {}; }

  int64_t size() const;  // batches per epoch
  int64_t epoch() const { return epoch_; }
  void set_epoch(int64_t epoch) { epoch_ = epoch; }
  const DataLoaderOptions& options() const { return options_; }
  const std::shared_ptr<const Dataset>& dataset() const { return dataset_; }

 private:
  std::shared_ptr<const Dataset> dataset_;
  DataLoaderOptions options_;
  int64_t epoch_ = 0;
};

}  // namespace moelab::data
