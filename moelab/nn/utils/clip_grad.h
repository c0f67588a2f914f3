// Gradient clipping: torch.nn.utils.clip_grad_norm_ / clip_grad_value_ (PyTorch 1.13).
#pragma once
#include <vector>

#include "moelab/core/tensor.h"

namespace moelab::nn::utils {

// Scales the grads of `parameters` in place so that their total norm (the norm of all grads
// concatenated) is at most max_norm: every grad is multiplied by min(1, max_norm / (total + 1e-6)),
// computed as a tensor in the grads' dtype, exactly as PyTorch 1.13 does (also when no clipping is
// needed, so the grads are rewritten either way). norm_type: any p > 0, or infinity
// (std::numeric_limits<double>::infinity()). Parameters whose grad is undefined are skipped.
// Returns the total norm (a 0-d tensor; 0-d f32 zero when no parameter has a grad).
// error_if_nonfinite: a nan or infinite total norm is an Error (and no grad is changed).
Tensor clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);

// Clamps every grad in place to [-clip_value, clip_value]. Parameters without a grad are skipped.
void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value);

}  // namespace moelab::nn::utils
