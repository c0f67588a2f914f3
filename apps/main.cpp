// moelab: train and evaluate models on Fashion-MNIST from the command line.
//   moelab train [--model cnn|mlp] [--epochs N] ...   trains, evaluates, saves a checkpoint
//   moelab eval CHECKPOINT                            evaluates a checkpoint on the test set
//   moelab plot load|heatmap TELEMETRY.json           SVG plots of MoE routing telemetry
#include <CLI/CLI.hpp>

#include <exception>
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

  EvalOptions eval;
  CLI::App* e = app.add_subcommand("eval", "Evaluate a checkpoint written by `moelab train` on the Fashion-MNIST test set");
  e->add_option("checkpoint", eval.checkpoint, "Checkpoint (safetensors)")->required()->check(CLI::ExistingFile);
  e->add_option("--data-dir", eval.data_dir, "Folder with the Fashion-MNIST IDX files")->capture_default_str();
  e->add_option("--batch-size", eval.batch_size, "Evaluation batch size")->check(CLI::PositiveNumber)->capture_default_str();
  e->add_option("--test-limit", eval.test_limit, "Evaluate on the first N test images only (0: all)")->check(CLI::NonNegativeNumber)->capture_default_str();
  e->add_option("--threads", eval.threads, "Threads for compute (0: all cores)")->check(CLI::NonNegativeNumber)->capture_default_str();
  e->add_flag("--json", eval.json, "Print the result as one JSON object");

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
