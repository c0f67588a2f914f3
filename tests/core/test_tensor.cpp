#include <cmath>
#include <sstream>

#include "support/check.h"

using namespace moelab;
using namespace moelab::indexing;
using moelab::testing::check_close;
using moelab::testing::check_equal;

TEST_CASE("tensor: construction, shape queries and element access") {
  Tensor x = tensor({{1.0f, 2.0f, 3.0f}, {4.0f, 5.0f, 6.0f}});
  CHECK(x.shape() == Shape{2, 3});
  CHECK(x.dim() == 2);
  CHECK(x.numel() == 6);
  CHECK(x.size(-1) == 3);
  CHECK(x.stride(0) == 3);
  CHECK(x.dtype() == kF32);
  CHECK(x.device() == kCPU);
  CHECK(x.is_contiguous());
  CHECK(x.to_vector<float>() == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(x[1][2].item<float>() == 6.0f);
  CHECK(tensor({1, 2}).dtype() == kI32);
  CHECK(tensor({int64_t{1}}).dtype() == kI64);
  CHECK(tensor({1.0, 2.0}).dtype() == kF64);
  CHECK(scalar(true).dtype() == kBool);
  CHECK_MOELAB_ERROR(x.item<float>(), "item: the tensor has 6 elements");
  CHECK_MOELAB_ERROR(x.size(2), "size: dim 2 is out of range");
  CHECK_MOELAB_ERROR(x.data_ptr<double>(), "data_ptr: tensor has dtype f32, asked for f64");
  CHECK_MOELAB_ERROR(from_vector(std::vector<float>{1, 2, 3}, {2, 2}), "3 values do not fill shape [2, 2]");
  CHECK_MOELAB_ERROR(zeros({2, -1}), "negative size");
  CHECK_MOELAB_ERROR(zeros({1, 1, 1, 1, 1, 1, 1, 1, 1}), "at most 8 dimensions");
}

TEST_CASE("tensor: views share storage") {
  Tensor x = arange(0, 24).reshape({2, 3, 4});
  CHECK(x.view({6, 4}).storage() == x.storage());
  Tensor p = x.permute({2, 0, 1});
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK(p.strides() == Strides{1, 12, 4});
  CHECK(!p.is_contiguous());
  CHECK(p.contiguous().is_contiguous());
  check_equal(x.transpose(0, 2).contiguous().view({-1}).slice(0, 0, 4), tensor<int64_t>({0, 12, 4, 16}));
  check_equal(x.select(1, -1), tensor<int64_t>({{8, 9, 10, 11}, {20, 21, 22, 23}}));
  check_equal(x.narrow(2, 1, 2)[0][0], tensor<int64_t>({1, 2}));
  check_equal(x.slice(2, std::nullopt, std::nullopt, 3)[1][2], tensor<int64_t>({20, 23}));
  check_equal(x.slice(2, -3, -1)[0][0], tensor<int64_t>({1, 2}));
  CHECK(x.unsqueeze(1).shape() == Shape{2, 1, 3, 4});
  CHECK(x.unsqueeze(-1).shape() == Shape{2, 3, 4, 1});
  CHECK(x.unsqueeze(1).squeeze(1).shape() == Shape{2, 3, 4});
  CHECK(zeros({1, 3, 1}).squeeze().shape() == Shape{3});
  CHECK(x.flatten(1).shape() == Shape{2, 12});
  CHECK(x.flatten().shape() == Shape{24});
  CHECK(x.unflatten(2, {2, -1}).shape() == Shape{2, 3, 2, 2});
  CHECK_MOELAB_ERROR(x.t(), "t: expects a tensor with at most 2 dims");
  Tensor m = zeros({3, 1});
  CHECK(m.expand({2, 3, 5}).strides() == Strides{0, 1, 0});
  CHECK(m.expand({-1, 4}).shape() == Shape{3, 4});
  // Writing through a view changes the base.
  Tensor y = zeros({2, 3});
  y.select(0, 1).fill_(7.0);
  check_equal(y, tensor({{0.0f, 0.0f, 0.0f}, {7.0f, 7.0f, 7.0f}}));
}

TEST_CASE("tensor: view vs reshape on non-contiguous input") {
  Tensor x = arange(0, 6).reshape({2, 3}).t();  // [3, 2], not contiguous
  CHECK_MOELAB_ERROR(x.view({6}), "view: shape [6] is not compatible with the input's strides");
  Tensor r = x.reshape({6});
  check_equal(r, tensor<int64_t>({0, 3, 1, 4, 2, 5}));
  CHECK(r.storage() != x.storage());
  // Splitting a dim of a transposed tensor is still a view.
  Tensor z = arange(0, 24).reshape({4, 6}).t();  // [6, 4]
  CHECK(z.view({2, 3, 4}).storage() == z.storage());
  CHECK(x.reshape({3, 2}).storage() == x.storage());
}

TEST_CASE("tensor: indexing with integers, slices, None and Ellipsis") {
  Tensor x = arange(0, 24).reshape({2, 3, 4});
  check_equal(x.index({1, Slice(), 0}), tensor<int64_t>({12, 16, 20}));
  check_equal(x.index({-1, -1, -1}), scalar(int64_t{23}));
  CHECK(x.index({Ellipsis, 0}).shape() == Shape{2, 3});
  CHECK(x.index({None, 0}).shape() == Shape{1, 3, 4});
  CHECK(x.index({Slice(None, None, 2), Slice(1, None), Slice(None, -1)}).shape() == Shape{1, 2, 3});
  check_equal(x.index({0, Slice(None, None, 2), Slice(1, 3)}), tensor<int64_t>({{1, 2}, {9, 10}}));
  CHECK(x.index({Slice(5, 10)}).shape() == Shape{0, 3, 4});
  CHECK_MOELAB_ERROR(x.index({0, 0, 0, 0}), "index: too many indices");
  CHECK_MOELAB_ERROR(x.index({2}), "select: index 2 is out of range for dim 0 of size 2");
  CHECK_MOELAB_ERROR(x.index({Slice(0, 2, 0)}), "slice: step must be positive");
}

TEST_CASE("tensor: view errors") {
  Tensor x = zeros({2, 3});
  CHECK_MOELAB_ERROR(x.view({4, 2}), "view: shape [4, 2] is invalid for input of shape [2, 3]");
  CHECK_MOELAB_ERROR(x.reshape({-1, -1}), "only one dimension can be -1");
  CHECK_MOELAB_ERROR(x.permute({0, 0}), "permute: dim 0 repeats");
  CHECK_MOELAB_ERROR(x.permute({0}), "permute: [0] has 1 dims");
  CHECK_MOELAB_ERROR(x.expand({3, 3}), "expand: the input's size 2 at dim 0");
  CHECK_MOELAB_ERROR(x.narrow(1, 2, 2), "narrow: start 2 length 2 out of range");
  CHECK_MOELAB_ERROR(x.as_strided({10}, {1}, 0), "reach outside a storage of 6 elements");
  CHECK_MOELAB_ERROR(x.transpose(0, 2), "transpose: dim 2 is out of range");
  CHECK_MOELAB_ERROR(zeros({2, 2, 2}).t(), "t: expects a tensor with at most 2 dims");
}

TEST_CASE("tensor: dtype conversion including 16-bit floats") {
  Tensor x = tensor({1.5f, -2.25f, 65504.0f, 1e-7f, 3.3f});
  check_close(x.to(kF64), tensor({1.5, -2.25, 65504.0, 1e-7, 3.3}), 1e-7, 0);
  check_equal(x.to(kI32), tensor({1, -2, 65504, 0, 3}));
  check_equal(x.to(kBool), tensor({true, true, true, true, true}));
  Tensor h = x.to(kF16);
  CHECK(h.dtype() == kF16);
  CHECK(h.element_size() == 2);
  // 1.5, -2.25 and 65504 are exact in f16; 1e-7 becomes a subnormal; 3.3 rounds to nearest.
  std::vector<float> back = h.to(kF32).to_vector<float>();
  CHECK(back[0] == 1.5f);
  CHECK(back[1] == -2.25f);
  CHECK(back[2] == 65504.0f);
  CHECK(back[3] == doctest::Approx(1.1920929e-7f).epsilon(1e-6));
  CHECK(back[4] == 3.30078125f);
  std::vector<float> bf = x.to(kBF16).to(kF32).to_vector<float>();
  CHECK(bf[0] == 1.5f);
  CHECK(bf[4] == 3.296875f);  // 8 bits of mantissa
  CHECK(tensor({70000.0f}).to(kF16).to(kF32).item<float>() == INFINITY);
}

TEST_CASE("tensor: copy_ broadcasts and casts; clone is deep") {
  Tensor x = zeros({2, 3});
  x.copy_(tensor({1, 2, 3}));
  check_equal(x, tensor({{1.0f, 2.0f, 3.0f}, {1.0f, 2.0f, 3.0f}}));
  Tensor c = x.clone();
  c.zero_();
  CHECK(x.sum().item<float>() == 12.0f);
  CHECK_MOELAB_ERROR(x.copy_(zeros({4})), "expand");
}

TEST_CASE("tensor: printing like PyTorch") {
  std::ostringstream os;
  os << tensor({{1.0f, 2.5f}, {-3.0f, 4.0f}});
  CHECK(os.str() == "tensor([[ 1.0000,  2.5000],\n        [-3.0000,  4.0000]])");
  CHECK(tensor({1, 2, 3}).to(kI64).to_string() == "tensor([1, 2, 3])");
  CHECK(tensor({1, 2}).to_string() == "tensor([1, 2], dtype=i32)");
  CHECK(tensor({1.0, 2.0}).to_string() == "tensor([1., 2.], dtype=f64)");
  CHECK(tensor({true, false}).to_string() == "tensor([ True, False])");
  CHECK(scalar(2.5f).to_string() == "tensor(2.5000)");
  CHECK(zeros({0, 2}).to_string() == "tensor([], size=[0, 2])");
  std::string big = arange(0, 2000).to_string();
  CHECK(big.find("...") != std::string::npos);
  CHECK(Tensor().to_string() == "tensor(undefined)");
}

TEST_CASE("tensor: factories") {
  check_equal(arange(5), tensor<int64_t>({0, 1, 2, 3, 4}));
  check_close(arange(0.0, 1.0, 0.25), tensor({0.0f, 0.25f, 0.5f, 0.75f}));
  check_equal(arange(10, 0, -3), tensor<int64_t>({10, 7, 4, 1}));
  check_close(linspace(0, 1, 5), tensor({0.0f, 0.25f, 0.5f, 0.75f, 1.0f}));
  CHECK(linspace(0, 1, 0).numel() == 0);
  check_equal(eye(2, 3), tensor({{1.0f, 0.0f, 0.0f}, {0.0f, 1.0f, 0.0f}}));
  check_equal(full({2}, 7, kI64), tensor<int64_t>({7, 7}));
  CHECK(ones_like(tensor({1.0, 2.0})).dtype() == kF64);
  CHECK(zeros_like(tensor({1.0}), kI32).dtype() == kI32);
  CHECK(empty({3, 0}).numel() == 0);
  CHECK_MOELAB_ERROR(arange(0, 5, 0), "arange: step must be non-zero");
  CHECK_MOELAB_ERROR(arange(5, 0, 1), "arange: step 1 does not go from 5 towards 0");
  CHECK_MOELAB_ERROR(linspace(0, 1, -1), "linspace: steps must be non-negative");
}
