#include "moelab/nn/data/dataloader.h"

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

#include "moelab/autograd/grad_mode.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/random.h"

namespace moelab::data {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// The seed of one of an epoch's random streams (0: the order, 1: the transforms).
uint64_t stream_seed(uint64_t seed, int64_t epoch, uint64_t stream) {
  return splitmix64(splitmix64(seed) ^ splitmix64(static_cast<uint64_t>(epoch) * 2 + stream));
}

int64_t num_batches(int64_t n, const DataLoaderOptions& o) {
  return o.drop_last ? n / o.batch_size : (n + o.batch_size - 1) / o.batch_size;
}

}  // namespace

// One epoch: the order of the examples, the transforms' generator and, with prefetch, the
// producer thread and its bounded queue.
class EpochRun {
 public:
  EpochRun(std::shared_ptr<const Dataset> dataset, const DataLoaderOptions& options, int64_t epoch)
      : dataset_(std::move(dataset)), options_(options), transform_gen_(stream_seed(options.seed, epoch, 1)) {
    const int64_t n = dataset_->size();
    MOELAB_CHECK(n >= 0, "DataLoader: the dataset reports a negative size ", n);
    num_batches_ = num_batches(n, options_);
    if (options_.shuffle) {
      Generator order_gen(stream_seed(options_.seed, epoch, 0));
      order_ = randperm(n, kI64, &order_gen);
    } else {
      order_ = arange(int64_t{0}, n, int64_t{1}, kI64);
    }
    if (options_.prefetch && num_batches_ > 0) thread_ = std::thread([this] { produce_all(); });
  }

  ~EpochRun() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    space_cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  EpochRun(const EpochRun&) = delete;
  EpochRun& operator=(const EpochRun&) = delete;

  // The next batch, or nothing at the end of the epoch (or after an error was rethrown).
  std::optional<Batch> next() {
    if (!thread_.joinable()) {
      if (failed_ || next_batch_ >= num_batches_) return std::nullopt;
      try {
        return make_batch(next_batch_++);
      } catch (...) {
        failed_ = true;
        throw;
      }
    }
    Item item;
    {
      std::unique_lock lock(mu_);
      item_cv_.wait(lock, [&] { return !queue_.empty() || producer_done_; });
      if (queue_.empty()) return std::nullopt;
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    space_cv_.notify_one();
    if (item.error) std::rethrow_exception(item.error);
    return std::move(item.batch);
  }

 private:
  struct Item {
    Batch batch;
    std::exception_ptr error;
  };

  Batch make_batch(int64_t k) {
    autograd::NoGradGuard no_grad;
    const int64_t bs = options_.batch_size, start = k * bs;
    const Tensor indices = order_.narrow(0, start, std::min(bs, order_.numel() - start));
    if (!options_.transform) return dataset_->get_batch(indices);
    std::vector<Example> examples;
    examples.reserve(static_cast<size_t>(indices.numel()));
    for (int64_t i : indices.to_vector<int64_t>()) {
      Example e = dataset_->get(i);
      e.data = options_.transform->apply(e.data, transform_gen_);
      examples.push_back(std::move(e));
    }
    return stack_examples(examples);
  }

  void produce_all() {
    for (int64_t k = 0; k < num_batches_; ++k) {
      {
        std::unique_lock lock(mu_);
        space_cv_.wait(lock, [&] { return stop_ || static_cast<int64_t>(queue_.size()) < options_.num_prefetch; });
        if (stop_) break;
      }
      Item item;
      try {
        item.batch = make_batch(k);
      } catch (...) {
        item.error = std::current_exception();
      }
      const bool failed = static_cast<bool>(item.error);
      {
        std::lock_guard lock(mu_);
        queue_.push_back(std::move(item));
      }
      item_cv_.notify_one();
      if (failed) break;
    }
    {
      std::lock_guard lock(mu_);
      producer_done_ = true;
    }
    item_cv_.notify_one();
  }

  std::shared_ptr<const Dataset> dataset_;
  DataLoaderOptions options_;
  Generator transform_gen_;
  Tensor order_;
  int64_t num_batches_ = 0;
  int64_t next_batch_ = 0;  // without prefetch
  bool failed_ = false;     // without prefetch

  std::mutex mu_;
  std::condition_variable space_cv_, item_cv_;
  std::deque<Item> queue_;
  bool stop_ = false, producer_done_ = false;
  std::thread thread_;  // last: started once everything above is built
};

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options)
    : dataset_(std::move(dataset)), options_(std::move(options)) {
  MOELAB_CHECK(dataset_ != nullptr, "DataLoader: the dataset is null");
  MOELAB_CHECK(options_.batch_size >= 1, "DataLoader: batch_size must be at least 1, got ", options_.batch_size);
  MOELAB_CHECK(options_.num_prefetch >= 1, "DataLoader: num_prefetch must be at least 1, got ",
               options_.num_prefetch);
}

int64_t DataLoader::size() const { return num_batches(dataset_->size(), options_); }

DataLoader::Iterator DataLoader::begin() {
  auto run = std::make_unique<EpochRun>(dataset_, options_, epoch_++);
  return Iterator(std::move(run));
}

DataLoader::Iterator::Iterator(std::unique_ptr<EpochRun> run) : run_(std::move(run)) { ++*this; }
DataLoader::Iterator::Iterator(Iterator&&) noexcept = default;
DataLoader::Iterator& DataLoader::Iterator::operator=(Iterator&&) noexcept = default;
DataLoader::Iterator::~Iterator() = default;

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  MOELAB_CHECK(!done_ && run_, "DataLoader: the iterator is past the end of the epoch");
  try {
    std::optional<Batch> b = run_->next();
    if (b) {
      current_ = std::move(*b);
      return *this;
    }
  } catch (...) {
    done_ = true;
    current_ = Batch();
    run_.reset();  // joins the producer
    throw;
  }
  done_ = true;
  current_ = Batch();
  run_.reset();
  return *this;
}

}  // namespace moelab::data
