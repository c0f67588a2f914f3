// Fashion-MNIST (Xiao, Rasul, Vollgraf 2017): 28x28 grey images of 10 kinds of clothing, 60000 for
// training and 10000 for testing, read from the four IDX files (gzip-compressed or not) under root.
#pragma once
#include <array>
#include <string>
#include <string_view>

#include "moelab/nn/data/dataset.h"

namespace moelab::data {

class FashionMnist : public Dataset {
 public:
  static constexpr const char* kDefaultRoot = "/usr/share/datasets/fashion-mnist";
  static constexpr std::array<std::string_view, 10> kClasses = {
      "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

  // Reads <root>/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (the .gz file when both exist).
  explicit FashionMnist(const std::string& root = kDefaultRoot, bool train = true);

  int64_t size() const override { return tensors_.size(); }
  // data: f32 [1, 28, 28] in [0, 1] (a view); target: 0-d i64 in [0, 9].
  Example get(int64_t index) const override { return tensors_.get(index); }
  Example get_batch(const Tensor& indices) const override { return tensors_.get_batch(indices); }

  const Tensor& data() const { return tensors_.data(); }        // f32 [N, 1, 28, 28], pixel / 255
  const Tensor& targets() const { return tensors_.targets(); }  // i64 [N]
  // Both as a TensorDataset (shares the tensors).
  const TensorDataset& tensor_dataset() const { return tensors_; }

 private:
  TensorDataset tensors_;
};

}  // namespace moelab::data
