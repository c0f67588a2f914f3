// MoETransformerEncoderLayer (moe/moe_block.h): the encoder layer's structure with the MoE layer as
// its FFN, pre-norm and post-norm, parameter names, gradients and errors.
#include <memory>

#include "autograd/grad_test_util.h"
#include "support/check.h"

using namespace moelab;
using namespace moelab::testing;
using moe::MoELayer;
using moe::MoETransformerEncoderLayer;

namespace {

std::shared_ptr<MoELayer> make_moe(int64_t d, int64_t E, int64_t k, DType dt, double lb = 0.0) {
  moe::RouterOptions o;
  o.d_model = d;
  o.num_experts = E;
  o.top_k = k;
  o.dtype = dt;
  o.load_balance_coef = lb;
  moe::MoELayerOptions l;
  l.d_ff = 2 * d;
  l.activation = "swiglu";
  l.dtype = dt;
  return std::make_shared<MoELayer>(std::make_shared<moe::TopKRouter>(o), l);
}

}  // namespace

TEST_CASE("moe block: pre-norm and post-norm equal the composition of attention, norms and the MoE layer") {
  manual_seed(1);
  const int64_t B = 2, S = 4, d = 8;
  for (bool norm_first : {false, true}) {
    INFO("norm_first " << norm_first);
    MoETransformerEncoderLayer blk(d, 2, make_moe(d, 4, 2, kF64, 0.01), 0.0, 1e-5, /*batch_first=*/true, norm_first,
                                   kF64);
    const Tensor x = randn({B, S, d}, kF64);
    const Tensor y = blk(x);
    auto sa = [&](const Tensor& t) { return blk.self_attn->forward(t, t, t).first; };
    Tensor ref;
    if (norm_first) {
      Tensor h = x + sa(blk.norm1->forward(x));
      ref = h + blk.moe->forward(blk.norm2->forward(h));
    } else {
      Tensor h = blk.norm1->forward(x + sa(x));
      ref = blk.norm2->forward(h + blk.moe->forward(h));
    }
    check_close(y, ref, 1e-12, 1e-12);
    CHECK(blk.aux_loss().item<double>() > 0.0);
    check_close(blk.aux_loss(), blk.moe->aux_loss(), 0, 0);
  }
}

TEST_CASE("moe block: parameter names follow nn::TransformerEncoderLayer with moe.* for the FFN") {
  MoETransformerEncoderLayer blk(8, 2, make_moe(8, 4, 2, kF32));
  const auto sd = blk.state_dict();
  for (const char* n : {"self_attn.in_proj_weight", "self_attn.out_proj.weight", "norm1.weight", "norm2.bias",
                        "moe.router.weight", "moe.experts.w1", "moe.experts.w2", "moe.experts.w3"})
    CHECK_MESSAGE(sd.count(n) == 1, n);
  CHECK(sd.count("linear1.weight") == 0);
  // Sequence-first layout, the default as in PyTorch.
  const Tensor x = randn({5, 3, 8});
  CHECK(blk(x).shape() == Shape{5, 3, 8});
}

TEST_CASE("moe block: f64 gradcheck through the block") {
  manual_seed(2);
  for (bool norm_first : {false, true}) {
    MoETransformerEncoderLayer blk(4, 2, make_moe(4, 3, 2, kF64), 0.0, 1e-5, true, norm_first, kF64);
    auto fn = [&](const std::vector<Tensor>& v) {
      return nn::functional_call(blk, {{"moe.experts.w1", v[1]}}, [&] { return blk(v[0]); });
    };
    CHECK(gradcheck1(fn, {leaf64({2, 3, 4}), blk.moe->experts().w1().detach().clone().requires_grad_()}));
  }
}

TEST_CASE("moe block: errors") {
  CHECK_MOELAB_ERROR(MoETransformerEncoderLayer(8, 2, nullptr), "MoE layer is null");
  CHECK_MOELAB_ERROR(MoETransformerEncoderLayer(6, 2, make_moe(8, 4, 2, kF32)), "d_model = 8");
  CHECK_MOELAB_ERROR(MoETransformerEncoderLayer(8, 2, make_moe(8, 4, 2, kF32), 0.1, 1e-5, false, false, kF64),
                     "dtype");
  CHECK_MOELAB_ERROR(MoETransformerEncoderLayer(8, 3, make_moe(8, 4, 2, kF32)), "embed_dim (8)");
}
