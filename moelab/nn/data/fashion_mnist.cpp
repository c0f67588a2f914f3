#include "moelab/nn/data/fashion_mnist.h"

#include <filesystem>

#include "moelab/nn/data/idx.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/indexing.h"

namespace moelab::data {
namespace {

// <root>/<stem>.gz, else <root>/<stem>.
std::string find_file(const std::string& root, const std::string& stem) {
  const std::filesystem::path dir(root);
  std::error_code ec;
  if (std::filesystem::exists(dir / (stem + ".gz"), ec)) return (dir / (stem + ".gz")).string();
  if (std::filesystem::exists(dir / stem, ec)) return (dir / stem).string();
  MOELAB_FAIL("FashionMnist: cannot find '", (dir / (stem + ".gz")).string(), "' (nor the uncompressed '", stem,
              "') under '", root, "'");
}

TensorDataset load(const std::string& root, bool train) {
  const std::string prefix = train ? "train" : "t10k";
  const std::string images_path = find_file(root, prefix + "-images-idx3-ubyte");
  const std::string labels_path = find_file(root, prefix + "-labels-idx1-ubyte");
  Tensor images = read_idx(images_path, kF32, IdxType::U8, /*divide_by=*/255);  // as torchvision's ToTensor
  Tensor labels = read_idx(labels_path, kI64, IdxType::U8);
  MOELAB_CHECK(images.dim() == 3 && images.size(1) == 28 && images.size(2) == 28, "FashionMnist: '", images_path,
               "' holds shape ", images.shape(), ", expected [N, 28, 28]");
  MOELAB_CHECK(labels.dim() == 1, "FashionMnist: '", labels_path, "' holds shape ", labels.shape(), ", expected [N]");
  MOELAB_CHECK(images.size(0) == labels.size(0), "FashionMnist: '", images_path, "' has ", images.size(0),
               " images but '", labels_path, "' has ", labels.size(0), " labels");
  const Tensor bad = nonzero(labels > int64_t{9});  // u8 labels cannot be negative
  if (bad.numel() > 0) {
    const int64_t i = bad.select(1, 0).select(0, 0).item<int64_t>();
    MOELAB_FAIL("FashionMnist: '", labels_path, "': label ", labels.select(0, i).item<int64_t>(), " at index ", i,
                " is not a class in [0, 9] (", bad.size(0), " such labels)");
  }
  return TensorDataset(images.unsqueeze(1), labels);
}

}  // namespace

FashionMnist::FashionMnist(const std::string& root, bool train) : tensors_(load(root, train)) {}

}  // namespace moelab::data
