// Parameter initialisation, drawing from the global generator (or a given one), as torch.nn.init.
// Each runs under NoGradGuard, so it can fill leaves that require grad.
#pragma once
#include <string_view>

#include "moelab/core/generator.h"
#include "moelab/core/tensor.h"

namespace moelab::nn::init {

// fan_in and fan_out of a weight: [out, in, k...] -> (in * prod(k), out * prod(k)).
std::pair<int64_t, int64_t> fans(const Tensor& w);
// The recommended gain of a nonlinearity ("linear", "relu", "tanh", "sigmoid", "leaky_relu").
double calculate_gain(std::string_view nonlinearity, double param = 0.01);

Tensor& uniform_(Tensor& t, double a, double b, Generator* gen = nullptr);
Tensor& normal_(Tensor& t, double mean = 0, double std = 1, Generator* gen = nullptr);
Tensor& zeros_(Tensor& t);
Tensor& ones_(Tensor& t);
Tensor& constant_(Tensor& t, double value);
// Normal(mean, std) truncated to [a, b], by redrawing outside values.
Tensor& trunc_normal_(Tensor& t, double mean = 0, double std = 1, double a = -2, double b = 2, Generator* gen = nullptr);
// mode "fan_in" or "fan_out".
Tensor& kaiming_uniform_(Tensor& t, double a = 0, std::string_view mode = "fan_in",
                         std::string_view nonlinearity = "leaky_relu", Generator* gen = nullptr);
Tensor& kaiming_normal_(Tensor& t, double a = 0, std::string_view mode = "fan_in",
                        std::string_view nonlinearity = "leaky_relu", Generator* gen = nullptr);
Tensor& xavier_uniform_(Tensor& t, double gain = 1, Generator* gen = nullptr);
Tensor& xavier_normal_(Tensor& t, double gain = 1, Generator* gen = nullptr);
// A (semi-)orthogonal matrix times gain, as torch.nn.init.orthogonal_ (Saxe et al. 2013): t viewed
// as [rows = size(0), cols = the rest] gets Q of the QR decomposition of a standard normal matrix
// (transposed first when rows < cols), with Q's columns signed so that R's diagonal is positive.
// Rows are orthonormal when rows <= cols, columns when rows >= cols. t needs at least 2 dims.
Tensor& orthogonal_(Tensor& t, double gain = 1, Generator* gen = nullptr);

}  // namespace moelab::nn::init
