// A convolutional mixture-of-experts layer for CNNs: per-sample routing. A router sees the
// global-average-pooled input [B, C_in] and picks k experts per sample; each expert is a conv2d with
// its own weights (all experts stored as one [E, C_out, C_in / groups, kH, kW] tensor), the samples are
// dispatched to their experts pad-free (dispatch.h on the flattened [B, C_in*H*W] rows), each
// expert convolves its contiguous segment of samples, and the outputs are combined with the routing
// weights:  y[b] = sum_j w[b, j] * conv2d(x[b], W[ids[b, j]]) + bias[ids[b, j]] * w[b, j].
// A sample whose slots were all dropped by capacity gets 0 (add your residual yourself).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "moelab/moe/capacity.h"
#include "moelab/moe/router.h"
#include "moelab/nn/module.h"
#include "moelab/ops/conv.h"

namespace moelab::moe {

struct MoEConv2dOptions {
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  Int2 kernel_size = 3;
  Int2 stride = 1;
  Int2 padding = 0;
  Int2 dilation = 1;
  int64_t groups = 1;                 // as nn::Conv2d: C_in and C_out divisible by it
  std::string padding_mode = "zeros";  // "zeros", "reflect", "replicate" or "circular" (nn::Conv2d's)
  bool bias = true;
  int64_t num_experts = 0;
  int64_t top_k = 1;
  CapacityOptions capacity;  // dropless by default (over samples: T = batch size)
  DType dtype = kF32;
};

class MoEConv2d : public nn::UnaryModule {
 public:
  // router: any Router with d_model = in_channels and num_experts = options.num_experts; by default
  // a TopKRouter (softmax then top-k, renormalised when k > 1) with options.top_k.
  explicit MoEConv2d(const MoEConv2dOptions& options, std::shared_ptr<Router> router = nullptr);
  // x [B, C_in, H, W] -> [B, C_out, OH, OW]. The routing decision (with its aux_loss: add it to the
  // training loss) is kept in last_routing().
  Tensor forward(const Tensor& x) override;
  // forward with a given routing decision for x's B samples (expert_ids [B, k], weights [B, k], kept).
  Tensor forward_routed(const Tensor& x, const RoutingDecision& routing);

  const RoutingDecision& last_routing() const { return last_; }
  Router& router() { return *router_; }
  const Tensor& weight() const { return weight_; }  // [E, C_out, C_in / groups, kH, kW]
  const Tensor& bias() const { return bias_; }      // [E, C_out] or undefined
  const MoEConv2dOptions& options() const { return opts_; }

 private:
  void check_input(const Tensor& x) const;
  MoEConv2dOptions opts_;
  std::shared_ptr<Router> router_;
  Tensor& weight_;
  Tensor& bias_;
  RoutingDecision last_;
};

}  // namespace moelab::moe
