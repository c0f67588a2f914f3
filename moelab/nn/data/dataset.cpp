#include "moelab/nn/data/dataset.h"

#include "moelab/ops/indexing.h"
#include "moelab/ops/shape_ops.h"

namespace moelab::data {

Example Dataset::get_batch(const Tensor& indices) const {
  MOELAB_CHECK(indices.defined() && indices.dim() == 1 && is_integral(indices.dtype()),
               "Dataset::get_batch: indices must be a 1-D integer tensor");
  std::vector<Example> examples;
  examples.reserve(static_cast<size_t>(indices.numel()));
  for (int64_t i : indices.to(kI64).to_vector<int64_t>()) examples.push_back(get(i));
  return stack_examples(examples);
}

Example stack_examples(const std::vector<Example>& examples) {
  MOELAB_CHECK(!examples.empty(), "stack_examples: no examples to stack");
  const bool has_target = examples[0].target.defined();
  std::vector<Tensor> data, targets;
  data.reserve(examples.size());
  targets.reserve(examples.size());
  for (size_t i = 0; i < examples.size(); ++i) {
    const Example& e = examples[i];
    MOELAB_CHECK(e.data.defined(), "stack_examples: example ", i, " has no data");
    MOELAB_CHECK(e.target.defined() == has_target, "stack_examples: example ", i,
                 has_target ? " has no target but example 0 has one" : " has a target but example 0 has none");
    MOELAB_CHECK(e.data.shape() == examples[0].data.shape(), "stack_examples: example ", i, " has data of shape ",
                 e.data.shape(), ", example 0 has ", examples[0].data.shape());
    data.push_back(e.data);
    if (has_target) targets.push_back(e.target);
  }
  return {stack(data, 0), has_target ? stack(targets, 0) : Tensor()};
}

TensorDataset::TensorDataset(Tensor data, Tensor targets) : data_(std::move(data)), targets_(std::move(targets)) {
  MOELAB_CHECK(data_.defined() && data_.dim() >= 1, "TensorDataset: data must be a tensor of at least 1 dim",
               data_.defined() ? ", got a 0-d tensor" : ", got an undefined one");
  if (targets_.defined()) {
    MOELAB_CHECK(targets_.dim() >= 1 && targets_.size(0) == data_.size(0),
                 "TensorDataset: data ", data_.shape(), " and targets ", targets_.shape(),
                 " must have the same size in dim 0");
  }
}

Example TensorDataset::get(int64_t index) const {
  MOELAB_CHECK(index >= 0 && index < size(), "TensorDataset::get: index ", index, " is out of range for ", size(),
               " examples");
  return {data_.select(0, index), targets_.defined() ? targets_.select(0, index) : Tensor()};
}

Example TensorDataset::get_batch(const Tensor& indices) const {
  MOELAB_CHECK(indices.defined() && indices.dim() == 1, "TensorDataset::get_batch: indices must be 1-D");
  return {index_select(data_, 0, indices), targets_.defined() ? index_select(targets_, 0, indices) : Tensor()};
}

}  // namespace moelab::data
