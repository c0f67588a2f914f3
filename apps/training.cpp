#include "training.h"

#include <thread>

#include "moelab/autograd/grad_mode.h"
#include "moelab/core/parallel.h"
#include "moelab/nn/data/fashion_mnist.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/loss.h"
#include "moelab/ops/reduce.h"

namespace moelab::app {

Split load_split(const std::string& data_dir, bool train, int64_t limit) {
  data::FashionMnist ds(data_dir, train);
  Tensor images = ds.data(), labels = ds.targets();
  if (limit > 0 && limit < images.size(0)) {
    images = images.narrow(0, 0, limit);
    labels = labels.narrow(0, 0, limit);
  }
  // Fashion-MNIST training-set pixel mean and std (of the [0, 1] values).
  constexpr double kMean = 0.2860, kStd = 0.3530;
  return {((images - kMean) / kStd).contiguous(), labels.contiguous()};
}

EvalResult evaluate(nn::UnaryModule& model, const Split& split, int64_t batch_size,
                    const std::function<void(const Tensor& labels)>& after_batch) {
  autograd::NoGradGuard no_grad;
  bool was_training = model.is_training();
  model.eval();
  EvalResult r;
  double loss_sum = 0;
  int64_t correct = 0;
  const int64_t n = split.images.size(0);
  for (int64_t start = 0; start < n; start += batch_size) {
    int64_t len = std::min(batch_size, n - start);
    Tensor x = split.images.narrow(0, start, len), y = split.labels.narrow(0, start, len);
    Tensor logits = model(x);
    if (after_batch) after_batch(y);
    loss_sum += cross_entropy(logits, y, {}, -100, "sum").item<double>();
    correct += (logits.argmax(1) == y).sum().item<int64_t>();
  }
  model.train(was_training);
  r.count = n;
  r.loss = n > 0 ? loss_sum / static_cast<double>(n) : 0;
  r.accuracy = n > 0 ? static_cast<double>(correct) / static_cast<double>(n) : 0;
  return r;
}

void setup_threads(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  set_num_threads(threads);
}

}  // namespace moelab::app
