// Pieces shared by `moelab train` and `moelab eval`: the data, evaluation, thread set-up.
#pragma once
#include <functional>
#include <string>

#include "moelab/core/tensor.h"
#include "moelab/nn/module.h"

namespace moelab::app {

// Fashion-MNIST images [N, 1, 28, 28] normalised with the training set's mean and std, labels [N].
struct Split {
  Tensor images, labels;
};
Split load_split(const std::string& data_dir, bool train, int64_t limit);

struct EvalResult {
  double loss = 0, accuracy = 0;
  int64_t count = 0;
};
// Mean cross-entropy and accuracy over the split, in eval mode and without recording gradients.
// after_batch, when given, runs after each batch's forward with that batch's labels (e.g. to read
// the routing decisions of the model's MoE layers).
EvalResult evaluate(nn::UnaryModule& model, const Split& split, int64_t batch_size,
                    const std::function<void(const Tensor& labels)>& after_batch = {});

void setup_threads(int threads);

}  // namespace moelab::app
