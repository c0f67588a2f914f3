// A project outside moelab's tree that finds the installed package and uses it.
#include <moelab/moelab.h>

#include <iostream>

int main() {
  moelab::Tensor x = moelab::arange(0, 6).reshape({2, 3}).to(moelab::kF32);
  float total = x.sum().item<float>();
  std::cout << x << "\nsum = " << total << "\n";
  return total == 15.0f ? 0 : 1;
}
