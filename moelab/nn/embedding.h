// Embedding: a lookup table weight [num_embeddings, embedding_dim] indexed by integer tensors
// (i64 or i32, any shape), as torch.nn.Embedding. Initialised N(0, 1) with the padding_idx row
// (if any) zeroed; that row never receives a gradient.
#pragma once
#include <memory>
#include <optional>

#include "moelab/nn/module.h"

namespace moelab::nn {

class Embedding : public UnaryModule {
 public:
  // padding_idx may be negative (counting from the end); it is stored normalised to [0, num_embeddings).
  Embedding(int64_t num_embeddings, int64_t embedding_dim, std::optional<int64_t> padding_idx = std::nullopt,
            DType dtype = kF32);
  // A layer whose weight is `embeddings` itself (storage shared, as PyTorch's Parameter(embeddings)),
  // trainable unless freeze. The padding row is not zeroed.
  static std::shared_ptr<Embedding> from_pretrained(const Tensor& embeddings, bool freeze = true,
                                                    std::optional<int64_t> padding_idx = std::nullopt);
  Tensor forward(const Tensor& indices) override;
  void reset_parameters();

  int64_t num_embeddings() const { return num_embeddings_; }
  int64_t embedding_dim() const { return embedding_dim_; }
  std::optional<int64_t> padding_idx() const { return padding_idx_; }
  const Tensor& weight() const { return weight_; }

 private:
  Embedding(const Tensor& weight, bool freeze, std::optional<int64_t> padding_idx);

  int64_t num_embeddings_, embedding_dim_;
  std::optional<int64_t> padding_idx_;
  Tensor& weight_;
};

}  // namespace moelab::nn
