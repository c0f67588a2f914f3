#include "moelab/moe/experts.h"

#include <cmath>
#include <cstdint>

#include "moelab/core/error.h"
#include "moelab/moe/grouped_ffn.h"
#include "moelab/moe/grouped_gemm.h"
#include "moelab/nn/init.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"

namespace moelab::moe {

ExpertActivation parse_expert_activation(const std::string& name, const char* op) {
  if (name == "relu") return ExpertActivation::kReLU;
  if (name == "gelu") return ExpertActivation::kGELU;
  if (name == "silu") return ExpertActivation::kSiLU;
  if (name == "swiglu") return ExpertActivation::kSwiGLU;
  MOELAB_FAIL(op, ": activation must be \"relu\", \"gelu\", \"silu\" or \"swiglu\", got \"", name, "\"");
}

namespace {
const ExpertOptions& checked(const ExpertOptions& o) {
  MOELAB_CHECK(o.num_experts > 0, "ExpertFFN: num_experts must be positive, got ", o.num_experts);
  MOELAB_CHECK(o.d_model > 0, "ExpertFFN: d_model must be positive, got ", o.d_model);
  MOELAB_CHECK(o.d_ff > 0, "ExpertFFN: d_ff must be positive, got ", o.d_ff);
  MOELAB_CHECK(o.dtype == kF32 || o.dtype == kF64, "ExpertFFN: dtype must be f32 or f64, got ", o.dtype);
  return o;
}
}  // namespace

ExpertFFN::ExpertFFN(const ExpertOptions& o)
    : nn::Module("ExpertFFN"),
      opts_(checked(o)),
      act_(parse_expert_activation(o.activation)),
      w1_(register_parameter("w1", empty({o.num_experts, o.d_model, o.d_ff}, o.dtype))),
      w2_(register_parameter("w2", empty({o.num_experts, o.d_ff, o.d_model}, o.dtype))),
      w3_(act_ == ExpertActivation::kSwiGLU ? register_parameter("w3", empty({o.num_experts, o.d_model, o.d_ff}, o.dtype))
                                            : register_buffer("w3", Tensor())) {
  reset_parameters();
}

ExpertFFN::ExpertFFN(int64_t num_experts, int64_t d_model, int64_t d_ff, const std::string& activation, DType dtype)
    : ExpertFFN(ExpertOptions{num_experts, d_model, d_ff, activation, dtype}) {}

void ExpertFFN::reset_parameters() {
  const double b_in = 1.0 / std::sqrt(static_cast<double>(opts_.d_model));
  const double b_ff = 1.0 / std::sqrt(static_cast<double>(opts_.d_ff));
  nn::init::uniform_(w1_, -b_in, b_in);
  nn::init::uniform_(w2_, -b_ff, b_ff);
  if (w3_.defined()) nn::init::uniform_(w3_, -b_in, b_in);
}

Tensor ExpertFFN::forward(const Tensor& xs, const std::vector<int64_t>& offsets) {
  MOELAB_CHECK(xs.defined() && xs.dim() == 2 && xs.size(1) == opts_.d_model,
               "ExpertFFN: expected dispatched tokens [N, d_model = ", opts_.d_model, "], got ",
               xs.defined() ? xs.shape() : Shape{});
  MOELAB_CHECK(xs.dtype() == opts_.dtype, "ExpertFFN: tokens of dtype ", xs.dtype(), " for experts of dtype ",
               opts_.dtype);
  MOELAB_CHECK(static_cast<int64_t>(offsets.size()) == opts_.num_experts + 1, "ExpertFFN: offsets must have E + 1 = ",
               opts_.num_experts + 1, " entries, got ", offsets.size());
  // grouped_matmul validates the offsets themselves against N.
  // SwiGLU runs as one primitive that keeps only xs, x w1 and x w3 for backward (moe/grouped_ffn.h).
  if (act_ == ExpertActivation::kSwiGLU) return grouped_swiglu_ffn(xs, w1_, w3_, w2_, offsets);
  const Tensor h1 = grouped_matmul(xs, w1_, offsets);
  Tensor h;
  switch (act_) {
    case ExpertActivation::kReLU: h = relu(h1); break;
    case ExpertActivation::kGELU: h = gelu(h1); break;
    default: h = silu(h1); break;
  }
  return grouped_matmul(h, w2_, offsets);
}

}  // namespace moelab::moe
