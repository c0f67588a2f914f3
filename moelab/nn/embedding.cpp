#include "moelab/nn/embedding.h"

#include "moelab/autograd/grad_mode.h"
#include "moelab/nn/init.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/normalization.h"

namespace moelab::nn {

namespace {
int64_t non_negative(int64_t n, const char* what) {
  MOELAB_CHECK(n >= 0, "Embedding: ", what, " must be non-negative, got ", n);
  return n;
}

std::optional<int64_t> normalised_padding(std::optional<int64_t> p, int64_t n) {
  if (!p) return p;
  MOELAB_CHECK(*p >= -n && *p < n, "Embedding: padding_idx ", *p, " must be within num_embeddings ", n, " (in [", -n,
               ", ", n, "))");
  return *p < 0 ? *p + n : *p;
}

const Tensor& checked_pretrained(const Tensor& w) {
  MOELAB_CHECK(w.defined() && w.dim() == 2, "Embedding::from_pretrained: embeddings must be 2-D, got shape ",
               w.defined() ? w.shape() : Shape{});
  MOELAB_CHECK(is_floating(w.dtype()), "Embedding::from_pretrained: embeddings must be floating, got ", w.dtype());
  return w;
}
}  // namespace

Embedding::Embedding(int64_t num_embeddings, int64_t embedding_dim, std::optional<int64_t> padding_idx, DType dtype)
    : UnaryModule("Embedding"),
      num_embeddings_(non_negative(num_embeddings, "num_embeddings")),
      embedding_dim_(non_negative(embedding_dim, "embedding_dim")),
      padding_idx_(normalised_padding(padding_idx, num_embeddings)),
      weight_(register_parameter("weight", empty({num_embeddings, embedding_dim}, dtype))) {
  reset_parameters();
}

Embedding::Embedding(const Tensor& weight, bool freeze, std::optional<int64_t> padding_idx)
    : UnaryModule("Embedding"),
      num_embeddings_(checked_pretrained(weight).size(0)),
      embedding_dim_(weight.size(1)),
      padding_idx_(normalised_padding(padding_idx, weight.size(0))),
      weight_(register_parameter("weight", weight.detach(), !freeze)) {}

std::shared_ptr<Embedding> Embedding::from_pretrained(const Tensor& embeddings, bool freeze,
                                                      std::optional<int64_t> padding_idx) {
  return std::shared_ptr<Embedding>(new Embedding(embeddings, freeze, padding_idx));
}

void Embedding::reset_parameters() {
  init::normal_(weight_);
  if (padding_idx_) {
    autograd::NoGradGuard no_grad;
    weight_.select(0, *padding_idx_).zero_();
  }
}

Tensor Embedding::forward(const Tensor& indices) { return embedding(indices, weight_, padding_idx_); }

}  // namespace moelab::nn
