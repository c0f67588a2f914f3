// `moelab train`: Fashion-MNIST training with a progress display, per-epoch evaluation on the test
// set, a checkpoint after every epoch, and resumption from a checkpoint.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <stdexcept>

#include "checkpoint.h"
#include "commands.h"
#include "moelab/autograd/grad_mode.h"
#include "moelab/core/generator.h"
#include "moelab/core/parallel.h"
#include "moelab/moe/router_sigmoid_bias.h"
#include "moelab/moe/telemetry.h"
#include "moelab/nn/data/dataloader.h"
#include "moelab/nn/optim/adam.h"
#include "moelab/nn/optim/lr_scheduler.h"
#include "moelab/nn/optim/sgd.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/loss.h"
#include "moelab/ops/reduce.h"
#include "training.h"

namespace moelab::app {
namespace {

// A resumed run continues the saved run: everything but the epoch count, threads, paths and
// display comes from the checkpoint.
void adopt_config(TrainOptions& o, const nlohmann::json& c) {
  c.at("model").get_to(o.model);
  c.at("optimizer").get_to(o.optimizer);
  c.at("lr").get_to(o.lr);
  c.at("momentum").get_to(o.momentum);
  c.at("weight_decay").get_to(o.weight_decay);
  c.at("schedule").get_to(o.schedule);
  c.at("batch_size").get_to(o.batch_size);
  c.at("seed").get_to(o.seed);
  c.at("train_limit").get_to(o.train_limit);
  o.telemetry_every = c.value("telemetry_every", o.telemetry_every);
}

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainOptions& o, std::vector<Tensor> params) {
  if (o.optimizer == "sgd")
    return std::make_unique<optim::SGD>(std::move(params),
                                        optim::SGDOptions{.lr = o.lr, .momentum = o.momentum, .weight_decay = o.weight_decay});
  if (o.optimizer == "adamw")
    return std::make_unique<optim::AdamW>(std::move(params), optim::AdamWOptions{.lr = o.lr, .weight_decay = o.weight_decay});
  return std::make_unique<optim::Adam>(std::move(params), optim::AdamOptions{.lr = o.lr, .weight_decay = o.weight_decay});
}

// The default telemetry file of a checkpoint: run.safetensors -> run.telemetry.json.
std::string default_telemetry_path(const std::string& checkpoint) {
  return std::filesystem::path(checkpoint).replace_extension(".telemetry.json").string();
}

// The MoE blocks of a model and what the training loop keeps for each.
struct MoEBlock {
  std::string name;  // the MoE layer's dotted module name, e.g. "3.moe" (the telemetry layer)
  moe::MoELayer* layer;
  moe::SigmoidBiasRouter* sigmoid_bias;  // non-null for --router sigmoid-bias
  double bias_update_rate;
  EpochRoutingStats epoch;
};

std::vector<MoEBlock> moe_blocks(nn::Module& model, uint64_t seed) {
  std::vector<MoEBlock> out;
  for (auto& [name, block] : find_moe_blocks(model)) {
    moe::MoELayer& layer = block->layer();
    layer.router().manual_seed(seed + out.size());  // jitter and router noise follow --seed
    out.push_back({name, &layer, dynamic_cast<moe::SigmoidBiasRouter*>(&layer.router()),
                   block->config().bias_update_rate, {}});
  }
  return out;
}

// The random streams a resumed run must continue rather than restart: the default generator's
// (dropout) and each router's (jitter, noise). Their seeds follow --seed; the checkpoint keeps how
// far each has been drawn.
nlohmann::json rng_state(const std::vector<MoEBlock>& blocks) {
  nlohmann::json routers = nlohmann::json::object();
  for (const MoEBlock& b : blocks) routers[b.name] = b.layer->router().rng_offset();
  return {{"default", default_generator().offset()}, {"routers", routers}};
}

// A checkpoint from before "rng" was saved leaves the streams at their seeds.
void restore_rng(const nlohmann::json& config, std::vector<MoEBlock>& blocks) {
  if (!config.contains("rng")) return;
  const nlohmann::json& rng = config.at("rng");
  default_generator().set_offset(rng.at("default").get<uint64_t>());
  for (MoEBlock& b : blocks)
    if (rng.at("routers").contains(b.name))
      b.layer->router().set_rng_offset(rng.at("routers").at(b.name).get<uint64_t>());
}

nlohmann::json run_config(const TrainOptions& o, const std::vector<MoEBlock>& blocks) {
  return {{"model", o.model},         {"optimizer", o.optimizer},   {"lr", o.lr},
          {"momentum", o.momentum},   {"weight_decay", o.weight_decay}, {"schedule", o.schedule},
          {"epochs", o.epochs},       {"batch_size", o.batch_size}, {"seed", o.seed},
          {"train_limit", o.train_limit}, {"telemetry", o.telemetry},
          {"telemetry_every", o.telemetry_every}, {"rng", rng_state(blocks)}};
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int run_train(const TrainOptions& options) {
  auto t0 = std::chrono::steady_clock::now();
  TrainOptions o = options;
  Checkpoint resumed;
  if (!o.resume.empty()) {
    resumed = load_checkpoint(o.resume);
    adopt_config(o, resumed.config);
    std::cout << "resuming " << o.resume << " after epoch " << resumed.epochs_done << "\n";
  }
  setup_threads(o.threads);
  manual_seed(o.seed);

  auto model = build_model(o.model);
  std::vector<MoEBlock> blocks = moe_blocks(*model, o.seed);
  if (!o.resume.empty()) restore_rng(resumed.config, blocks);
  moe::RoutingTelemetry telemetry;
  if (!blocks.empty()) {
    if (o.telemetry.empty()) o.telemetry = default_telemetry_path(o.checkpoint);
    // A resumed run continues the telemetry of the run it resumes, when that file is still there.
    const std::string previous = o.resume.empty() ? "" : resumed.config.value("telemetry", std::string());
    if (!previous.empty() && std::filesystem::exists(previous)) telemetry = moe::RoutingTelemetry::from_json(previous);
  }
  Split train = load_split(o.data_dir, /*train=*/true, o.train_limit);
  Split test = load_split(o.data_dir, /*train=*/false, o.test_limit);
  auto dataset = std::make_shared<data::TensorDataset>(train.images, train.labels);
  data::DataLoader loader(dataset, {.batch_size = o.batch_size, .shuffle = true, .seed = o.seed});
  auto opt = make_optimizer(o, model->parameters());
  const int64_t steps_per_epoch = loader.size();
  int64_t start_epoch = 0;
  // The cosine schedule spans the run's epochs. Resuming with the same --epochs continues it
  // exactly; extending a finished run starts a new cosine cycle from --lr over the added epochs.
  bool restart_schedule = false;
  if (!o.resume.empty()) {
    model->load_state_dict(resumed.model);
    opt->load_state_dict(resumed.optimizer);
    start_epoch = resumed.epochs_done;
    const int64_t planned = resumed.config.at("epochs").get<int64_t>();
    if (o.epochs != planned && o.schedule == "cosine") {
      if (start_epoch < planned)
        throw std::invalid_argument(o.resume + " is a run of " + std::to_string(planned) + " epochs stopped after " +
                                    std::to_string(start_epoch) + ": resume it with --epochs " + std::to_string(planned) +
                                    " (its cosine schedule spans that many), then extend it");
      restart_schedule = o.epochs > start_epoch;
    }
  }
  std::unique_ptr<optim::LRScheduler> schedule;
  if (o.schedule == "cosine") {
    const int64_t first = restart_schedule ? start_epoch : 0;
    if (restart_schedule) {
      for (auto& g : opt->param_groups()) g.lr = g.initial_lr = o.lr;
      std::cout << "new cosine cycle from lr " << o.lr << " over epochs " << first + 1 << "-" << o.epochs << "\n";
    }
    schedule = std::make_unique<optim::CosineAnnealingLR>(*opt, std::max<int64_t>(steps_per_epoch * (o.epochs - first), 1));
    if (!o.resume.empty() && !restart_schedule) schedule->load_state_dict(resumed.scheduler);
  }
  int64_t params = 0;
  for (const Tensor& p : model->parameters()) params += p.numel();
  std::cout << "model " << o.model.kind << " (" << params << " parameters), " << o.optimizer << " lr " << o.lr << ", "
            << train.images.size(0) << " training images, batch " << o.batch_size << ", " << o.epochs
            << " epochs, " << get_num_threads() << " threads\n";
  if (o.model.moe.enabled)
    std::cout << describe_moe(o.model.moe, o.model.hidden) << "; routing telemetry " << o.telemetry << "\n";

  EvalResult last{};
  for (int64_t epoch = start_epoch; epoch < o.epochs; ++epoch) {
    auto te = std::chrono::steady_clock::now();
    loader.set_epoch(epoch);
    model->train();
    Progress progress("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o.epochs), steps_per_epoch,
                      o.progress, std::cout);
    double loss_sum = 0;
    int64_t correct = 0, seen = 0, step = 0;
    for (auto& b : blocks) b.epoch = {};
    for (const auto& batch : loader) {
      Tensor logits = (*model)(batch.data);
      Tensor loss = cross_entropy(logits, batch.target);
      Tensor total = loss;
      for (const auto& b : blocks) total = total + b.layer->aux_loss();
      opt->zero_grad();
      total.backward();
      opt->step();
      if (schedule) schedule->step();
      const int64_t global_step = epoch * steps_per_epoch + step;
      for (auto& b : blocks) {
        autograd::NoGradGuard no_grad;
        if (b.sigmoid_bias) b.sigmoid_bias->update_bias(b.bias_update_rate);
        const moe::RoutingDecision& d = b.layer->last_decision();
        const moe::RoutingStats stats = moe::routing_stats(d, b.layer->num_experts());
        b.epoch.add(stats, b.layer->aux_loss().item<double>());
        if (global_step % o.telemetry_every == 0) telemetry.record(b.name, global_step, stats);
        telemetry.record_classes(b.name, batch.target, d, 10);
      }
      const int64_t n = batch.target.size(0);
      loss_sum += loss.item<double>() * static_cast<double>(n);
      {
        autograd::NoGradGuard no_grad;
        correct += (logits.argmax(1) == batch.target).sum().item<int64_t>();
      }
      seen += n;
      progress.update(++step, loss_sum / static_cast<double>(seen), static_cast<double>(correct) / static_cast<double>(seen), seen);
    }
    progress.finish();
    last = evaluate(*model, test, 1000);
    std::printf("epoch %lld/%lld: train loss %.4f acc %.2f%% | test loss %.4f acc %.2f%% | %s\n",
                static_cast<long long>(epoch + 1), static_cast<long long>(o.epochs), loss_sum / std::max<int64_t>(seen, 1),
                100.0 * static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(seen, 1)), last.loss,
                100 * last.accuracy, format_duration(seconds_since(te)).c_str());
    for (const auto& b : blocks)
      std::printf("  moe%s%s: %s\n", blocks.size() > 1 ? " " : "", blocks.size() > 1 ? b.name.c_str() : "",
                  b.epoch.summary().c_str());
    std::fflush(stdout);
    if (!blocks.empty()) telemetry.to_json(o.telemetry);
    Checkpoint ckpt{run_config(o, blocks), epoch + 1, last.accuracy, model->state_dict(), opt->state_dict(),
                    schedule ? schedule->state_dict() : std::map<std::string, Tensor>{}};
    save_checkpoint(o.checkpoint, ckpt);
  }
  if (start_epoch >= o.epochs) {
    last = evaluate(*model, test, 1000);
    std::cout << "nothing to train: the checkpoint already has " << start_epoch << " epochs\n";
  }
  std::printf("test accuracy %.2f%% on %lld images after %lld epochs, %s in all; checkpoint %s\n", 100 * last.accuracy,
              static_cast<long long>(last.count), static_cast<long long>(o.epochs),
              format_duration(seconds_since(t0)).c_str(), o.checkpoint.c_str());
  return 0;
}

}  // namespace moelab::app
