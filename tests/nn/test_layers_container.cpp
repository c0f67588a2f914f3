// Sequential, ModuleList, ModuleDict, Flatten and Unflatten; a small CNN built with Sequential,
// checked end to end against PyTorch (output and every gradient, given PyTorch's weights).
#include "nn/layers_test_util.h"

using namespace moelab;
using moelab::testing::check_close;
using moelab::testing::check_golden_layer;

namespace {
std::shared_ptr<nn::Sequential> small_cnn(DType dt) {
  // As gen_layers.py's cnn.
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::UnaryModule>>{
      std::make_shared<nn::Conv2d>(2, 4, 3, 1, 1, 1, 1, true, "zeros", dt), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Conv2d>(4, 6, 3, 1, "same", 1, 1, true, "zeros", dt),
      std::make_shared<nn::GELU>(), std::make_shared<nn::AvgPool2d>(2), std::make_shared<nn::AdaptiveAvgPool2d>(2),
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(24, 5, true, dt), std::make_shared<nn::LogSoftmax>(1)});
}
}  // namespace

TEST_CASE("nn layers: a Sequential CNN matches PyTorch end to end, output and all gradients") {
  check_golden_layer("cnn", [](DType dt) { return small_cnn(dt); });
}

TEST_CASE("nn layers: Sequential names children 0, 1, ... so state_dict keys match PyTorch") {
  auto net = small_cnn(kF32);
  std::vector<std::string> names;
  for (const auto& kv : net->named_parameters()) names.push_back(kv.first);
  CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "3.weight", "3.bias", "8.weight", "8.bias"});
  nn::Sequential mlp{std::make_shared<nn::Linear>(4, 3), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(3, 2)};
  auto state = mlp.state_dict();
  CHECK(state.size() == 4);
  CHECK(state.count("0.weight") == 1);
  CHECK(state.count("0.bias") == 1);
  CHECK(state.count("2.weight") == 1);
  CHECK(state.count("2.bias") == 1);
  // Nested: an outer Sequential prefixes the inner names.
  nn::Sequential outer;
  outer.push_back(std::make_shared<nn::Flatten>()).push_back("body", std::make_shared<nn::Sequential>(
      std::initializer_list<std::shared_ptr<nn::UnaryModule>>{std::make_shared<nn::Linear>(6, 2)}));
  CHECK(outer.state_dict().count("body.0.weight") == 1);
  CHECK(outer(randn({3, 2, 3})).shape() == Shape{3, 2});
  auto mods = outer.named_modules();
  REQUIRE(mods.size() == 4);
  CHECK(mods[3].first == "body.0");
}

TEST_CASE("nn layers: Sequential forward chains, indexing, iteration and typed access") {
  auto fc1 = std::make_shared<nn::Linear>(4, 3, true, kF64);
  auto fc2 = std::make_shared<nn::Linear>(3, 2, true, kF64);
  nn::Sequential seq{fc1, std::make_shared<nn::Tanh>()};
  seq.push_back(fc2);
  CHECK(seq.size() == 3);
  CHECK(!seq.empty());
  Tensor x = randn({5, 4}, kF64);
  check_close(seq(x), fc2->forward(tanh(fc1->forward(x))));
  CHECK(seq[0] == fc1);
  CHECK(seq[-1] == fc2);
  CHECK(seq.at<nn::Linear>(2) == fc2);
  CHECK(seq.at<nn::Linear>(0)->in_features() == 4);
  int n = 0;
  for (const auto& m : seq) n += m->type_name() == "Linear";
  CHECK(n == 2);
  CHECK(nn::Sequential()(x).is_same(x));  // empty: the identity, as PyTorch
  CHECK_MOELAB_ERROR(seq[3], "Sequential: index 3 is out of range for 3 modules");
  CHECK_MOELAB_ERROR(seq[-4], "Sequential: index -4 is out of range");
  CHECK_MOELAB_ERROR(seq.at<nn::Conv2d>(1), "Sequential: module \"1\" is a Tanh, not the type asked for");
  CHECK_MOELAB_ERROR(seq.push_back(nullptr), "Sequential: module 3 is null");
  CHECK_MOELAB_ERROR(seq.push_back("0", std::make_shared<nn::ReLU>()), "the name \"0\" is already registered");
  // Gradients reach every layer through the chain.
  seq(x).sum().backward();
  CHECK(fc1->weight().grad().defined());
  CHECK(fc2->bias().grad().defined());
}

TEST_CASE("nn layers: ModuleList holds any modules with typed access") {
  nn::ModuleList list{std::make_shared<nn::Linear>(2, 2), std::make_shared<nn::ReLU>()};
  list.push_back(std::make_shared<nn::Conv2d>(1, 1, 1));
  CHECK(list.size() == 3);
  CHECK(list[1]->type_name() == "ReLU");
  CHECK(list[-1]->type_name() == "Conv2d");
  CHECK(list.at<nn::Linear>(0)->out_features() == 2);
  CHECK(list.at<nn::Conv2d>(2)->in_channels() == 1);
  std::vector<std::string> names;
  for (const auto& kv : list.named_parameters()) names.push_back(kv.first);
  CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
  int count = 0;
  for (const auto& m : list) count += m != nullptr;
  CHECK(count == 3);
  list.eval();
  CHECK(!list[0]->is_training());
  CHECK_MOELAB_ERROR(list.at<nn::Linear>(1), "ModuleList: module \"1\" is a ReLU, not the type asked for");
  CHECK_MOELAB_ERROR(list[5], "ModuleList: index 5 is out of range for 3 modules");
  CHECK_MOELAB_ERROR(list.push_back(nullptr), "ModuleList: module 3 is null");
}

TEST_CASE("nn layers: ModuleDict keeps insertion order and names missing keys") {
  nn::ModuleDict dict{{"encoder", std::make_shared<nn::Linear>(3, 2)}, {"act", std::make_shared<nn::GELU>()}};
  dict.insert("decoder", std::make_shared<nn::Linear>(2, 3));
  CHECK(dict.size() == 3);
  CHECK(dict.keys() == std::vector<std::string>{"encoder", "act", "decoder"});
  CHECK(dict.values().size() == 3);
  CHECK(dict.contains("act"));
  CHECK(!dict.contains("missing"));
  CHECK(dict["act"]->type_name() == "GELU");
  CHECK(dict.at<nn::Linear>("decoder")->out_features() == 3);
  std::vector<std::string> order;
  for (const auto& [k, m] : dict) order.push_back(k);
  CHECK(order == dict.keys());
  auto state = dict.state_dict();
  CHECK(state.count("encoder.weight") == 1);
  CHECK(state.count("decoder.bias") == 1);
  CHECK_MOELAB_ERROR(dict["missing"], "ModuleDict: no module under key \"missing\" (keys: \"encoder\", \"act\", \"decoder\")");
  CHECK_MOELAB_ERROR(dict.at<nn::Linear>("act"), "ModuleDict: module \"act\" is a GELU, not the type asked for");
  CHECK_MOELAB_ERROR(dict.insert("act", std::make_shared<nn::ReLU>()), "ModuleDict: key \"act\" is already present");
  CHECK_MOELAB_ERROR(dict.insert("a.b", std::make_shared<nn::ReLU>()), "must be non-empty and contain no '.'");
}

TEST_CASE("nn layers: Flatten and Unflatten") {
  Tensor x = randn({2, 3, 4, 5});
  CHECK(nn::Flatten()(x).shape() == Shape{2, 60});
  CHECK(nn::Flatten(0, 1)(x).shape() == Shape{6, 4, 5});
  CHECK(nn::Flatten(-2)(x).shape() == Shape{2, 3, 20});
  check_close(nn::Flatten()(x), x.reshape({2, 60}));
  // A non-contiguous input is copied as needed.
  Tensor xt = x.transpose(1, 3);
  check_close(nn::Flatten()(xt), xt.contiguous().reshape({2, 60}));
  CHECK(nn::Unflatten(1, {3, 20})(nn::Flatten()(x)).shape() == Shape{2, 3, 20});
  CHECK(nn::Unflatten(2, {2, -1})(x).shape() == Shape{2, 3, 2, 2, 5});
  check_close(nn::Unflatten(1, {3, 4, 5})(x.reshape({2, 60})), x);
  Tensor leaf = randn({2, 6}, kF64);
  leaf.requires_grad_();
  nn::Unflatten(1, {2, 3})(leaf).sum().backward();
  check_close(leaf.grad(), ones({2, 6}, kF64));
  CHECK(nn::Flatten()(zeros({0, 3, 2})).shape() == Shape{0, 6});
  CHECK_MOELAB_ERROR(nn::Unflatten(1, {4, 4})(randn({2, 6})), "unflatten");
  CHECK_MOELAB_ERROR(nn::Unflatten(1, {}), "Unflatten: sizes must not be empty");
  CHECK_MOELAB_ERROR(nn::Flatten()(randn({3})), "flatten");
}
