// Datasets (torch.utils.data.Dataset): a Dataset hands out Examples by index; a DataLoader
// (dataloader.h) batches them. TensorDataset wraps tensors whose first dim indexes the examples.
#pragma once
#include <cstdint>
#include <vector>

#include "moelab/core/tensor.h"

namespace moelab::data {

// One example, or (in a Batch) many stacked along a new dim 0. target may be undefined (unlabelled
// data); it is then undefined in every example.
struct Example {
  Tensor data;
  Tensor target;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  // Example `index`, 0 <= index < size(). A DataLoader calls it from its background thread (one
  // call at a time per iteration), so it must not depend on thread-local state.
  virtual Example get(int64_t index) const = 0;
  // Examples `indices` (i64, 1-D) stacked along a new dim 0. The default calls get() for each index
  // and stacks; datasets that can gather a whole batch in one op (TensorDataset) override it.
  virtual Example get_batch(const Tensor& indices) const;
};

// Stacks examples along a new dim 0 (data with data, target with target). Every example must have
// the same shapes, and either all or none have a target.
Example stack_examples(const std::vector<Example>& examples);

// Examples are data[i] and targets[i] (views; get_batch gathers with index_select, one op each).
// targets may be undefined.
class TensorDataset : public Dataset {
 public:
  TensorDataset(Tensor data, Tensor targets = Tensor());
  int64_t size() const override { return data_.size(0); }
  Example get(int64_t index) const override;
  Example get_batch(const Tensor& indices) const override;
  const Tensor& data() const { return data_; }
  const Tensor& targets() const { return targets_; }

 private:
  Tensor data_, targets_;
};

}  // namespace moelab::data
