// moelab: train and evaluate models on Fashion-MNIST from the command line.
//   moelab train [--model cnn|mlp] [--epochs N] ...   trains, evaluates, saves a checkpoint
//   moelab eval CHECKPOINT                            evaluates a checkpoint on the test set (MoE: routing too)
//   moelab plot load|heatmap TELEMETRY.json           SVG plots of MoE routing telemetry
#include <CLI/CLI.hpp>

#include <exception>
#include <stdexcept>
#include <string>
#include <iostream>

#include "commands.h"
#include "moelab/core/error.h"

int main(int argc, char** argv) {
  using namespace moelab::app;
  CLI::App app{"moelab: Mixture-of-Experts research framework - train and evaluate on Fashion-MNIST"};
  app.require_subcommand(1);

  TrainOptions train;
  std::string progress = "auto";
  CLI::App* t = app.add_subcommand("train", "Train a model on Fashion-MNIST, evaluate it, save a safetensors checkpoint");
  t->add_option("--model", train.model.kind, "Model: cnn (two conv layers) or mlp (one hidden layer)")
      ->check(CLI::IsMember({"cnn", "mlp"}))->capture_default_str();
  t->add_option("--hidden", train.model.hidden, "Hidden width of the classifier")->check(CLI::PositiveNumber)->capture_default_str();
  t->add_option("--dropout", train.model.dropout, "Dropout before the last layer")->check(CLI::Range(0.0, 0.95))->capture_default_str();
  t->add_option("--optimizer", train.optimizer, "sgd (with momentum), adam or adamw")
      ->check(CLI::IsMember({"sgd", "adam", "adamw"}))->capture_default_str();
  t->add_option("--lr", train.lr, "Peak learning rate")->check(CLI::PositiveNumber)->capture_default_str();
  t->add_option("--momentum", train.momentum, "SGD momentum")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  t->add_option("--weight-decay", train.weight_decay, "Weight decay")->check(CLI::NonNegativeNumber)->capture_default_str();
  t->add_option("--schedule", train.schedule, "Learning-rate schedule: constant, or cosine decay over all steps")
      ->check(CLI::IsMember({"constant", "cosine"}))->capture_default_str();
  t->add_option("--epochs", train.epochs, "Total epochs (a resumed run continues up to this many)")->check(CLI::PositiveNumber)->capture_default_str();
  t->add_option("--batch-size", train.batch_size, "Training batch size")->check(CLI::PositiveNumber)->capture_default_str();
  t->add_option("--seed", train.seed, "Seed for initialisation and shuffling")->capture_default_str();
  t->add_option("--threads", train.threads, "Threads for compute (0: all cores)")->check(CLI::NonNegativeNumber)->capture_default_str();
  t->add_option("--data-dir", train.data_dir, "Folder with the Fashion-MNIST IDX files (.gz or raw)")->capture_default_str();
  t->add_option("--checkpoint,-o", train.checkpoint, "Checkpoint to write after every epoch (safetensors)")->capture_default_str();
  t->add_option("--resume", train.resume, "Checkpoint to resume from (model, optimizer, schedule and epoch)")->check(CLI::ExistingFile);
  t->add_option("--train-limit", train.train_limit, "Train on the first N images only (0: all)")->check(CLI::NonNegativeNumber)->capture_default_str();
  t->add_option("--test-limit", train.test_limit, "Evaluate on the first N test images only (0: all)")->check(CLI::NonNegativeNumber)->capture_default_str();
  t->add_option("--progress", progress, "Progress display: auto (bar on a terminal, lines otherwise), bar, lines or none")
      ->check(CLI::IsMember({"auto", "bar", "lines", "none"}))->capture_default_str();

  MoEConfig& m = train.model.moe;
  CLI::Option* moe = t->add_flag("--moe", m.enabled,
                                 "Add a residual Mixture-of-Experts block h + MoE(h) after the hidden layer (mlp and cnn)");
  const std::string g = "MoE (with --moe)";
  // Numeric MoE values are checked by validate_moe_config, whose messages name the flag plainly.
  std::vector<CLI::Option*> moe_opts{
      t->add_option("--router", m.router,
                    "Router: topk (softmax then top-k), noisy (Shazeer noisy top-k), gshard (top-2 with capacity), "
                    "expert-choice, sigmoid-bias (DeepSeek-V3 aux-loss-free bias), cosine, dense-to-sparse, top-p, hash")
          ->check(CLI::IsMember({"topk", "noisy", "gshard", "expert-choice", "sigmoid-bias", "cosine", "dense-to-sparse",
                                 "top-p", "hash"}))->capture_default_str(),
      t->add_option("--experts,-E", m.experts, "Number of experts E")->capture_default_str(),
      t->add_option("--top-k,-k", m.top_k, "Experts per token k (top-p: at most k; expert-choice: unused)")->capture_default_str(),
      t->add_option("--expert-hidden", m.expert_hidden, "Hidden width f of each expert (0: twice --hidden)")->capture_default_str(),
      t->add_option("--expert-activation", m.activation, "Expert FFN: swiglu, relu, gelu or silu")
          ->check(CLI::IsMember({"swiglu", "relu", "gelu", "silu"}))->capture_default_str(),
      t->add_option("--capacity-factor", m.capacity_factor,
                    "Expert capacity factor: C = ceil(cf * T * k / E) slots per expert and batch, overflow dropped "
                    "(0: dropless; expert-choice: tokens per expert cf * T / E, 0 means 1)")->capture_default_str(),
      t->add_option("--drop-policy", m.drop_policy,
                    "Which slots an expert over capacity keeps: position (first choices first, in token order) or score")
          ->check(CLI::IsMember({"position", "score"}))->capture_default_str(),
      t->add_option("--aux-loss-coef", m.aux_loss_coef, "Load-balancing loss coefficient (noisy: importance + load)")->capture_default_str(),
      t->add_option("--z-loss-coef", m.z_loss_coef, "Router z-loss coefficient")->capture_default_str(),
      t->add_option("--bias-update-rate", m.bias_update_rate,
                    "sigmoid-bias: bias step b += rate * sign(mean load - load) after each optimizer step")->capture_default_str(),
      t->add_option("--top-p", m.top_p, "top-p: cumulative probability threshold p in (0, 1]")->capture_default_str(),
      t->add_option("--jitter", m.jitter, "Multiplicative router-input jitter eps in [0, 1), training only")->capture_default_str(),
      t->add_option("--telemetry", train.telemetry,
                    "Routing telemetry JSON written every epoch, for `moelab plot load|heatmap` "
                    "(default: the checkpoint path with extension .telemetry.json)"),
      t->add_option("--telemetry-every", train.telemetry_every, "Steps between routing-telemetry entries")->capture_default_str()};
  for (CLI::Option* opt : moe_opts) opt->group(g)->needs(moe);
  moe->group(g);

  EvalOptions eval;
  CLI::App* e = app.add_subcommand("eval", "Evaluate a checkpoint written by `moelab train` on the Fashion-MNIST test set");
  e->add_option("checkpoint", eval.checkpoint, "Checkpoint (safetensors)")->required()->check(CLI::ExistingFile);
  e->add_option("--data-dir", eval.data_dir, "Folder with the Fashion-MNIST IDX files")->capture_default_str();
  e->add_option("--batch-size", eval.batch_size, "Evaluation batch size")->check(CLI::PositiveNumber)->capture_default_str();
  e->add_option("--test-limit", eval.test_limit, "Evaluate on the first N test images only (0: all)")->check(CLI::NonNegativeNumber)->capture_default_str();
  e->add_option("--threads", eval.threads, "Threads for compute (0: all cores)")->check(CLI::NonNegativeNumber)->capture_default_str();
  e->add_flag("--json", eval.json, "Print the result as one JSON object");
  e->add_option("--telemetry", eval.telemetry,
                "MoE models: write the test set's class x expert counts to this JSON file (for `moelab plot heatmap`)");

  PlotOptions plot;
  CLI::App* p = app.add_subcommand("plot", "Plot MoE routing telemetry (a JSON file written by training) as SVG");
  p->require_subcommand(1);
  CLI::App* pl = p->add_subcommand("load", "Expert load over training steps: one line per expert (share of kept slots)");
  CLI::App* ph = p->add_subcommand("heatmap", "Class x expert heatmap of kept slots (each class's row as shares)");
  for (CLI::App* sub : {pl, ph}) {
    const bool load = sub == pl;
    sub->add_option("telemetry", plot.telemetry, "Routing telemetry JSON")->required()->check(CLI::ExistingFile);
    sub->add_option("--layer", plot.layer, "MoE layer to plot (may be left out when the file has one layer)");
    sub->add_option("--output,-o", plot.output, "SVG file to write")->default_str(load ? "load.svg" : "heatmap.svg");
    sub->add_flag("--counts", plot.counts,
                  load ? "Plot kept-slot counts instead of each expert's share" : "Colour raw counts instead of row shares");
    sub->add_option("--title", plot.title, "Plot title (default: names the layer)");
    if (!load) sub->add_option("--class-names", plot.class_names, "Row labels, one per class (comma-separated)")->delimiter(',');
  }

  CLI11_PARSE(app, argc, argv);
  try {
    if (t->parsed()) {
      train.progress = parse_progress_style(progress);
      if (train.model.moe.enabled) validate_moe_config(train.model.moe);
      if (train.telemetry_every < 1)
        throw std::invalid_argument("--telemetry-every must be positive, got " + std::to_string(train.telemetry_every));
      return run_train(train);
    }
    if (p->parsed()) {
      plot.kind = pl->parsed() ? "load" : "heatmap";
      if (plot.output.empty()) plot.output = plot.kind + ".svg";
      return run_plot(plot);
    }
    return run_eval(eval);
  } catch (const moelab::Error& err) {
    std::cerr << "moelab: " << err.what() << "\n";
  } catch (const std::exception& err) {
    std::cerr << "moelab: " << err.what() << "\n";
  }
  return 1;
}
