#include "moelab/moe/moe_conv.h"

#include <cmath>
#include <vector>

#include "moelab/moe/dispatch.h"
#include "moelab/nn/conv.h"
#include "moelab/nn/init.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/reduce.h"
#include "moelab/ops/shape_ops.h"

namespace moelab::moe {

namespace {

const MoEConv2dOptions& checked(const MoEConv2dOptions& o) {
  MOELAB_CHECK(o.in_channels > 0 && o.out_channels > 0, "MoEConv2d: in_channels and out_channels must be positive, got ",
               o.in_channels, " and ", o.out_channels);
  MOELAB_CHECK(o.kernel_size.h > 0 && o.kernel_size.w > 0, "MoEConv2d: kernel_size must be positive, got (",
               o.kernel_size.h, ", ", o.kernel_size.w, ")");
  MOELAB_CHECK(o.stride.h > 0 && o.stride.w > 0, "MoEConv2d: stride must be positive");
  MOELAB_CHECK(o.dilation.h > 0 && o.dilation.w > 0, "MoEConv2d: dilation must be positive");
  MOELAB_CHECK(o.padding.h >= 0 && o.padding.w >= 0, "MoEConv2d: padding must be >= 0");
  MOELAB_CHECK(o.groups > 0 && o.in_channels % o.groups == 0 && o.out_channels % o.groups == 0,
               "MoEConv2d: groups = ", o.groups, " must be positive and divide in_channels = ", o.in_channels,
               " and out_channels = ", o.out_channels);
  nn::check_padding_mode(o.padding_mode, "MoEConv2d");
  MOELAB_CHECK(o.num_experts > 0, "MoEConv2d: num_experts must be positive, got ", o.num_experts);
  MOELAB_CHECK(o.top_k >= 1 && o.top_k <= o.num_experts, "MoEConv2d: top_k must be in [1, num_experts = ",
               o.num_experts, "], got ", o.top_k);
  MOELAB_CHECK(o.dtype == kF32 || o.dtype == kF64, "MoEConv2d: dtype must be f32 or f64");
  return o;
}

std::shared_ptr<Router> default_router(const MoEConv2dOptions& o, std::shared_ptr<Router> r) {
  if (r) {
    MOELAB_CHECK(r->d_model() == o.in_channels, "MoEConv2d: the router's d_model = ", r->d_model(),
                 " must equal in_channels = ", o.in_channels);
    MOELAB_CHECK(r->num_experts() == o.num_experts, "MoEConv2d: the router has ", r->num_experts(),
                 " experts, the layer ", o.num_experts);
    return r;
  }
  RouterOptions ro;
  ro.d_model = o.in_channels;
  ro.num_experts = o.num_experts;
  ro.top_k = o.top_k;
  ro.dtype = o.dtype;
  return std::make_shared<TopKRouter>(ro, TopKOrder::kSoftmaxThenTopK, /*renormalize=*/o.top_k > 1);
}

}  // namespace

MoEConv2d::MoEConv2d(const MoEConv2dOptions& options, std::shared_ptr<Router> router)
    : nn::UnaryModule("MoEConv2d"),
      opts_(checked(options)),
      router_(register_module("router", default_router(opts_, std::move(router)))),
      weight_(register_parameter("weight", empty({opts_.num_experts, opts_.out_channels,
                                                  opts_.in_channels / opts_.groups, opts_.kernel_size.h,
                                                  opts_.kernel_size.w},
                                                 opts_.dtype))),
      bias_(opts_.bias ? register_parameter("bias", empty({opts_.num_experts, opts_.out_channels}, opts_.dtype))
                       : register_buffer("bias", Tensor())) {
  // Each expert as torch.nn.Conv2d.reset_parameters: kaiming_uniform_(a = sqrt(5)) and the bias
  // both give U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = C_in / groups * kH * kW.
  const double bound = 1.0 / std::sqrt(static_cast<double>(opts_.in_channels / opts_.groups * opts_.kernel_size.h *
                                                           opts_.kernel_size.w));
  nn::init::uniform_(weight_, -bound, bound);
  if (bias_.defined()) nn::init::uniform_(bias_, -bound, bound);
}

void MoEConv2d::check_input(const Tensor& x) const {
  MOELAB_CHECK(x.defined() && x.dim() == 4 && x.size(1) == opts_.in_channels,
               "MoEConv2d: expected input [B, C_in = ", opts_.in_channels, ", H, W], got ",
               x.defined() ? x.shape() : Shape{});
  MOELAB_CHECK(is_floating(x.dtype()), "MoEConv2d: input must be floating point, got ", x.dtype());
}

Tensor MoEConv2d::forward(const Tensor& x) {
  check_input(x);
  RoutingDecision d = (*router_)(mean(x, {2, 3}));  // global average pool -> [B, C_in]
  apply_capacity(d, opts_.num_experts, opts_.capacity);
  Tensor y = forward_routed(x, d);
  last_ = std::move(d);
  return y;
}

Tensor MoEConv2d::forward_routed(const Tensor& x, const RoutingDecision& d) {
  check_input(x);
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const auto& o = opts_;
  const int64_t OH = (H + 2 * o.padding.h - o.dilation.h * (o.kernel_size.h - 1) - 1) / o.stride.h + 1;
  const int64_t OW = (W + 2 * o.padding.w - o.dilation.w * (o.kernel_size.w - 1) - 1) / o.stride.w + 1;
  MOELAB_CHECK(H + 2 * o.padding.h >= o.dilation.h * (o.kernel_size.h - 1) + 1 &&
                   W + 2 * o.padding.w >= o.dilation.w * (o.kernel_size.w - 1) + 1,
               "MoEConv2d: input ", x.shape(), " is smaller than the (dilated) kernel (", o.kernel_size.h, ", ",
               o.kernel_size.w, ") with padding (", o.padding.h, ", ", o.padding.w, ")");
  MOELAB_CHECK(d.expert_ids.defined() && d.expert_ids.dim() == 2 && d.expert_ids.size(0) == B,
               "MoEConv2d: routing for ", B, " samples expected, got expert_ids of shape ",
               d.expert_ids.defined() ? d.expert_ids.shape() : Shape{});
  const DispatchPlan plan = plan_dispatch(d.expert_ids, o.num_experts, d.kept);
  const int64_t N = plan.num_rows();
  const Tensor w = weight_.to(x.dtype());
  const Tensor b = bias_.defined() ? bias_.to(x.dtype()) : Tensor();
  // Samples sorted by expert: each expert's samples are one contiguous [n, C, H, W] segment. A
  // non-zero padding mode pads them first (as nn::Conv2d does), then convolves without padding.
  Tensor xs = dispatch(x.reshape({B, C * H * W}), plan).view({N, C, H, W});
  Int2 conv_padding = o.padding;
  if (o.padding_mode != "zeros") {
    xs = pad(xs, {o.padding.w, o.padding.w, o.padding.h, o.padding.h}, o.padding_mode);
    conv_padding = 0;
  }
  std::vector<Tensor> parts;
  for (int64_t e = 0; e < o.num_experts; ++e) {
    const int64_t lo = plan.offsets_cpu[static_cast<size_t>(e)], n = plan.offsets_cpu[static_cast<size_t>(e + 1)] - lo;
    if (n == 0) continue;
    parts.push_back(conv2d(xs.narrow(0, lo, n), w.select(0, e), b.defined() ? b.select(0, e) : Tensor(), o.stride,
                           conv_padding, o.dilation, o.groups));
  }
  const int64_t F = o.out_channels * OH * OW;
  const Tensor ys = parts.empty()      ? zeros({0, F}, x.dtype())
                    : parts.size() == 1 ? parts[0].reshape({N, F})
                                        : cat(parts, 0).reshape({N, F});
  return combine(ys, d.weights, plan, B).view({B, o.out_channels, OH, OW});
}

}  // namespace moelab::moe
