// An MoE layer learning a piecewise-linear teacher: inputs come from 4 clusters and each cluster has
// its own linear map, so a 4-expert layer can split the work. Prints the loss and the routing
// statistics as training goes, without and with the load-balancing loss: without it the router
// leaves an expert dead and capacity drops tokens; with it each expert takes one cluster.
//   ./build/examples/moe_layer
#include <moelab/moelab.h>

#include <cstdio>
#include <iostream>

using namespace moelab;

int main() {
  set_num_threads(1);
  manual_seed(0);
  const int64_t T = 1024, d = 16, E = 4;
  // The teacher: cluster c has centre mu[c] and map A[c]; y = A[c] x.
  const Tensor mu = randn({E, d}) * 3.0, A = randn({E, d, d}) / 4.0;
  const Tensor cluster = randint(0, E, {T});
  const Tensor x = index_select(mu, 0, cluster) + randn({T, d});
  const Tensor y = matmul(x.unsqueeze(1), index_select(A, 0, cluster)).squeeze(1);

  for (double coef : {0.0, 0.1}) {
    std::printf("load-balancing coefficient %g\n", coef);
    manual_seed(1);
    moe::RouterOptions ro;
    ro.d_model = d, ro.num_experts = E, ro.top_k = 1, ro.load_balance_coef = coef;
    auto router = std::make_shared<moe::TopKRouter>(ro);
    moe::MoELayerOptions mo;
    mo.d_ff = 32;
    mo.capacity.factor = 1.5;  // each expert takes at most 1.5x its even share; the rest is dropped
    moe::MoELayer layer(router, mo);
    optim::Adam opt(layer.parameters(), {.lr = 3e-3});

    for (int step = 0; step <= 600; ++step) {
      Tensor mse = mse_loss(layer(x), y);
      Tensor loss = mse + layer.aux_loss();
      opt.zero_grad();
      loss.backward();
      opt.step();
      if (step % 150 == 0) {
        moe::RoutingStats s = moe::routing_stats(layer.last_decision(), E);
        std::printf("step %3d  mse %.4f  dropped %.1f%%  imbalance %.2f  entropy %.2f\n", step, mse.item<float>(),
                    100 * s.dropped_fraction, s.load_imbalance, s.mean_entropy);
      }
    }
    std::cout << moe::routing_stats(layer.last_decision(), E) << "\n\n";
  }
  return 0;
}
