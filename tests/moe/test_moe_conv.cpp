// MoEConv2d: equals a per-sample loop over the routed experts (dropless and with capacity), f64
// gradcheck through input, expert weights, biases and the router, shapes and errors.
#include <memory>
#include <vector>

#include "autograd/grad_test_util.h"
#include "support/check.h"

using namespace moelab;
using moelab::testing::check_close;
using moe::MoEConv2d;
using moe::MoEConv2dOptions;

namespace {

MoEConv2dOptions conv_opts(int64_t cin, int64_t cout, int64_t E, int64_t k, DType dt = kF32) {
  MoEConv2dOptions o;
  o.in_channels = cin;
  o.out_channels = cout;
  o.kernel_size = 3;
  o.padding = 1;
  o.num_experts = E;
  o.top_k = k;
  o.dtype = dt;
  return o;
}

// y[b] = sum over kept j of w[b, j] * conv2d(x[b], W[e], bias[e]), e = ids[b, j]; sample_shape is
// one sample's output shape [1, C_out, OH, OW].
Tensor per_sample_loop(MoEConv2d& m, const Tensor& x, const moe::RoutingDecision& d, const Shape& sample_shape) {
  const auto& o = m.options();
  std::vector<Tensor> rows;
  for (int64_t b = 0; b < x.size(0); ++b) {
    Tensor acc = zeros(sample_shape, x.dtype());  // a sample with every slot dropped outputs 0
    for (int64_t j = 0; j < d.top_k(); ++j) {
      if (!d.kept.select(0, b).select(0, j).item<bool>()) continue;
      const int64_t e = d.expert_ids.select(0, b).select(0, j).item<int64_t>();
      Tensor y = conv2d(x.narrow(0, b, 1), m.weight().select(0, e), m.bias().defined() ? m.bias().select(0, e) : Tensor(),
                        o.stride, o.padding, o.dilation) *
                 d.weights.select(0, b).select(0, j).to(x.dtype());
      acc = acc + y;
    }
    rows.push_back(acc);
  }
  return cat(rows, 0);
}

}  // namespace

TEST_CASE("moe conv: MoEConv2d equals a per-sample loop over the routed experts") {
  for (int64_t k : {1, 2}) {
    INFO("k = " << k);
    MoEConv2d m(conv_opts(3, 5, 4, k, kF64));
    Tensor x = randn({7, 3, 6, 5}, kF64);
    Tensor y = m(x);
    CHECK(y.shape() == Shape{7, 5, 6, 5});
    const moe::RoutingDecision& d = m.last_routing();
    CHECK(d.expert_ids.shape() == Shape{7, k});
    check_close(d.logits, linear(mean(x, {2, 3}), m.tensor_slot("router.weight")), 1e-12, 1e-12);
    check_close(y, per_sample_loop(m, x, d, {1, 5, 6, 5}), 1e-12, 1e-12);
  }
  // Strided convolution without bias, f32, non-contiguous input.
  MoEConv2dOptions o = conv_opts(4, 2, 3, 2);
  o.stride = 2;
  o.dilation = {1, 2};
  o.bias = false;
  MoEConv2d m(o);
  Tensor x = randn({5, 9, 4, 8}).transpose(1, 2).narrow(2, 0, 8);  // [5, 4, 8, 8], non-contiguous
  REQUIRE_FALSE(x.is_contiguous());
  Tensor y = m(x);
  CHECK(y.shape() == Shape{5, 2, 4, 3});  // OH = (8+2-2-1)/2+1, OW = (8+2-4-1)/2+1
  check_close(y, per_sample_loop(m, x, m.last_routing(), {1, 2, 4, 3}), 1e-5, 1e-5);
}

TEST_CASE("moe conv: groups and every padding mode match nn::Conv2d per routed expert") {
  for (const char* mode : {"zeros", "reflect", "replicate", "circular"}) {
    INFO("padding_mode " << mode);
    MoEConv2dOptions o = conv_opts(4, 6, 3, 2, kF64);
    o.groups = 2;
    o.padding_mode = mode;
    o.padding = {1, 2};
    o.stride = {1, 2};
    MoEConv2d m(o);
    CHECK(m.weight().shape() == Shape{3, 6, 2, 3, 3});
    Tensor x = randn({5, 4, 6, 7}, kF64);
    Tensor y = m(x);
    const moe::RoutingDecision& d = m.last_routing();
    // The reference: expert e as an nn::Conv2d with its weights, summed over each sample's slots.
    std::vector<std::unique_ptr<nn::Conv2d>> experts;
    for (int64_t e = 0; e < 3; ++e) {
      experts.push_back(std::make_unique<nn::Conv2d>(4, 6, 3, o.stride, Conv2dPadding(o.padding), o.dilation, 2, true,
                                                     mode, kF64));
      autograd::NoGradGuard ng;
      experts.back()->tensor_slot("weight").copy_(m.weight().select(0, e));
      experts.back()->tensor_slot("bias").copy_(m.bias().select(0, e));
    }
    std::vector<Tensor> rows;
    for (int64_t b = 0; b < 5; ++b) {
      Tensor acc;
      for (int64_t j = 0; j < 2; ++j) {
        const int64_t e = d.expert_ids.select(0, b).select(0, j).item<int64_t>();
        Tensor t = (*experts[size_t(e)])(x.narrow(0, b, 1)) * d.weights.select(0, b).select(0, j);
        acc = acc.defined() ? acc + t : t;
      }
      rows.push_back(acc);
    }
    check_close(y, cat(rows, 0), 1e-12, 1e-12);
  }
  // gradcheck through the reflect padding and the grouped convolution.
  MoEConv2dOptions o = conv_opts(2, 4, 2, 1, kF64);
  o.groups = 2;
  o.padding_mode = "reflect";
  MoEConv2d m(o);
  Tensor xin = randn({3, 2, 4, 4}, kF64).requires_grad_();
  Tensor w = m.weight().detach().clone().requires_grad_();
  CHECK(testing::gradcheck1([&](const std::vector<Tensor>& in) {
    return nn::functional_call(m, {{"weight", in[1]}}, [&] { return m(in[0]); });
  }, {xin, w}));
  MoEConv2dOptions bad = conv_opts(3, 4, 2, 1);
  bad.groups = 2;
  CHECK_MOELAB_ERROR(MoEConv2d{bad}, "groups = 2 must be positive and divide in_channels = 3");
  bad = conv_opts(4, 4, 2, 1);
  bad.padding_mode = "mirror";
  CHECK_MOELAB_ERROR(MoEConv2d{bad}, "padding_mode must be");
}

TEST_CASE("moe conv: capacity drops samples, which then output zero") {
  MoEConv2dOptions o = conv_opts(3, 4, 2, 1, kF64);
  o.capacity.factor = 0.5;  // C = ceil(8 * 1 / 2 * 0.5) = 2 per expert: 4 of 8 samples kept
  MoEConv2d m(o);
  Tensor x = randn({8, 3, 5, 5}, kF64);
  Tensor y = m(x);
  const moe::RoutingDecision& d = m.last_routing();
  CHECK(sum(d.kept.to(kI64)).item<int64_t>() <= 4);
  CHECK(max(moe::kept_counts(d, 2)).item<int64_t>() <= 2);
  check_close(y, per_sample_loop(m, x, d, {1, 4, 5, 5}), 1e-12, 1e-12);
  for (int64_t b = 0; b < 8; ++b)
    if (!d.kept.select(0, b).select(0, 0).item<bool>()) CHECK(equal(y.select(0, b), zeros({4, 5, 5}, kF64)));
}

TEST_CASE("moe conv: f64 gradcheck through input, expert weights, biases and router") {
  MoEConv2d m(conv_opts(2, 3, 3, 2, kF64));
  Tensor xin = randn({4, 2, 3, 4}, kF64).transpose(2, 3);  // non-contiguous [4, 2, 4, 3]
  xin.requires_grad_();
  Tensor w = m.weight().detach().clone().requires_grad_();
  Tensor b = m.bias().detach().clone().requires_grad_();
  Tensor rw = m.tensor_slot("router.weight").detach().clone().requires_grad_();
  CHECK(testing::gradcheck1([&](const std::vector<Tensor>& in) {
    return nn::functional_call(m, {{"weight", in[1]}, {"bias", in[2]}, {"router.weight", in[3]}}, [&] {
      Tensor y = m(in[0]);
      return sum(y * y) + m.last_routing().aux_loss;
    });
  }, {xin, w, b, rw}));
}

TEST_CASE("moe conv: empty batch, custom router and errors") {
  MoEConv2d m(conv_opts(3, 2, 4, 2));
  CHECK(m(zeros({0, 3, 5, 5})).shape() == Shape{0, 2, 5, 5});
  moe::RouterOptions ro;
  ro.d_model = 3;
  ro.num_experts = 4;
  ro.top_k = 2;
  auto router = std::make_shared<moe::GShardTop2Router>(ro);
  MoEConv2d g(conv_opts(3, 2, 4, 2), router);
  g.eval();
  Tensor x = randn({6, 3, 4, 4});
  Tensor y = g(x);
  check_close(y, per_sample_loop(g, x, g.last_routing(), {1, 2, 4, 4}), 1e-5, 1e-5);
  CHECK(g.named_parameters().size() == 3);  // weight, bias, router.weight

  CHECK_MOELAB_ERROR(MoEConv2d(conv_opts(0, 2, 4, 1)), "in_channels");
  CHECK_MOELAB_ERROR(MoEConv2d(conv_opts(3, 2, 0, 1)), "num_experts");
  CHECK_MOELAB_ERROR(MoEConv2d(conv_opts(3, 2, 2, 3)), "top_k");
  ro.d_model = 4;
  CHECK_MOELAB_ERROR(MoEConv2d(conv_opts(3, 2, 4, 2), std::make_shared<moe::GShardTop2Router>(ro)), "d_model");
  CHECK_MOELAB_ERROR(m(randn({2, 4, 5, 5})), "C_in = 3");
  CHECK_MOELAB_ERROR(m(randn({3, 5, 5})), "MoEConv2d");
  CHECK_MOELAB_ERROR(m(ones({2, 3, 5, 5}, kI64)), "floating");
  MoEConv2dOptions o = conv_opts(3, 2, 4, 1);
  o.padding = 0;
  MoEConv2d small(o);
  CHECK_MOELAB_ERROR(small(randn({2, 3, 2, 5})), "smaller than");
  CHECK_MOELAB_ERROR(m.forward_routed(randn({2, 3, 5, 5}), m.last_routing()), "routing for 2 samples");
}
