// A first look at moelab tensors: factories, views, broadcasting, reductions.
#include <moelab/moelab.h>

#include <iostream>

int main() {
  using namespace moelab;
  Tensor x = arange(0, 6).to(kF32).reshape({2, 3});
  std::cout << "x =\n" << x << "\n";
  std::cout << "x.t() =\n" << x.t() << "\n";
  Tensor b = tensor({10.f, 20.f, 30.f});
  std::cout << "x + b (broadcast) =\n" << x + b << "\n";
  std::cout << "x.sum(1, keepdim) =\n" << x.sum(1, true) << "\n";
  std::cout << "gelu(x - 2) =\n" << gelu(x - 2.0) << "\n";
  auto [values, indices] = max(x, 1);
  std::cout << "max over dim 1: " << values << " at " << indices << "\n";
  return 0;
}
