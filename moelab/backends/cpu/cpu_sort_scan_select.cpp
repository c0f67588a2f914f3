// CPU topk and sort. Both order by value with NaN greater than every number (PyTorch's order);
// ties go to the lower index (sort is stable; topk's selection compares (value, index) pairs).
#include <algorithm>
#include <bit>
#include <utility>
#include <numeric>
#include <vector>

#include "moelab/backends/cpu/cpu_sort_scan_rows.h"

namespace moelab::cpu {
namespace {

// "a is better than b" by value alone, for the largest (or smallest) k.
template <class T, bool Largest>
inline bool better(T a, T b) {
  if constexpr (Largest) return less_nan(b, a);
  else return less_nan(a, b);
}

// Small k: keep the best k seen so far in a sorted buffer and insert by shifting. Elements arrive
// in index order, so a later element must be strictly better to pass an earlier one; that is what
// breaks ties towards the lowest index. O(n) for the router's [T, E] rows with k of 1..8.
template <class T, bool Largest>
void topk_row_small(const T* p, int64_t ps, int64_t n, int64_t k, T* vals, int64_t* idx) {
  int64_t cnt = 0;
  for (int64_t i = 0; i < n; ++i) {
    T x = p[i * ps];
    if (cnt == k) {
      if (!better<T, Largest>(x, vals[k - 1])) continue;
      --cnt;  // drop the current worst
    }
    int64_t j = cnt;
    while (j > 0 && better<T, Largest>(x, vals[j - 1])) {
      vals[j] = vals[j - 1];
      idx[j] = idx[j - 1];
      --j;
    }
    vals[j] = x;
    idx[j] = i;
    ++cnt;
  }
}

// Large k: select with nth_element on indices under the (value, index) order, then sort the k.
template <class T, bool Largest>
void topk_row_large(const T* p, int64_t ps, int64_t n, int64_t k, std::vector<int64_t>& order) {
  order.resize(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  auto cmp = [&](int64_t a, int64_t b) {
    T x = p[a * ps], y = p[b * ps];
    if (better<T, Largest>(x, y)) return true;
    if (better<T, Largest>(y, x)) return false;
    return a < b;
  };
  if (k < n) std::nth_element(order.begin(), order.begin() + (k - 1), order.end(), cmp);
  std::sort(order.begin(), order.begin() + k, cmp);
}

// The router's hot path (f32 logits, k <= 8): each element becomes one distinct 64-bit key,
// (order-preserving bits of the value) << 32 | (2^32 - 1 - index), so a larger key is a better
// element and ties go to the lower index. The best k then pass through a fixed min/max network that
// compiles to conditional moves: no data-dependent branches to mispredict on random logits.
inline uint64_t ordered_key(float x, bool largest) {
  uint32_t u = std::bit_cast<uint32_t>(x);
  if (x != x) u = 0x7fffffffu;  // any NaN: above +inf
  if (x == 0.0f) u = 0;          // -0 ties with +0, as the comparison says
  u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return static_cast<uint64_t>(largest ? u : ~u) << 32;
}

template <int K>
void topk_row_keys(const float* p, int64_t ps, int64_t n, bool largest, int64_t* idx) {
  uint64_t slot[K] = {};
  // Long rows: most elements lose to the current k-th best, a branch that soon predicts well.
  const bool reject_early = n >= 8 * K;
  for (int64_t i = 0; i < n; ++i) {
    uint64_t c = ordered_key(p[i * ps], largest) | (0xffffffffu - static_cast<uint32_t>(i));
    if (reject_early && c < slot[K - 1]) continue;
    for (int j = 0; j < K; ++j) {
      // max/min by mask arithmetic; GCC turns std::max/min pairs into a branch here.
      const uint64_t m = uint64_t{0} - static_cast<uint64_t>(c > slot[j]);
      const uint64_t hi = (c & m) | (slot[j] & ~m);
      c ^= slot[j] ^ hi;
      slot[j] = hi;
    }
  }
  for (int j = 0; j < K; ++j) idx[j] = 0xffffffffu - static_cast<uint32_t>(slot[j]);
}

template <int... Ks>
bool topk_row_keys_dispatch(int64_t k, const float* p, int64_t ps, int64_t n, bool largest, int64_t* idx,
                            std::integer_sequence<int, Ks...>) {
  return ((k == Ks + 1 ? (topk_row_keys<Ks + 1>(p, ps, n, largest, idx), true) : false) || ...);
}

constexpr int64_t kSmallK = 16;
constexpr int64_t kKeyedK = 8;

template <class T, bool Largest>
void topk_typed(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, int dim) {
  const T* src = in.data_ptr<T>();
  T* vdst = values.data_ptr<T>();
  int64_t* idst = indices.data_ptr<int64_t>();
  const bool d0 = in.dim() == 0;
  const int64_t n = d0 ? 1 : in.size(dim), ps = d0 ? 1 : in.stride(dim);
  const int64_t vs = d0 ? 1 : values.stride(dim), is = d0 ? 1 : indices.stride(dim);
  if (k == 0) return;
  Rows<3> rows({&values, &indices, &in}, dim);
  rows.for_each(n, [&](const int64_t* off) {
    const T* p = src + off[2];
    T* v = vdst + off[0];
    int64_t* ix = idst + off[1];
    if constexpr (std::is_same_v<T, float>) {
      if (k <= kKeyedK && n < 0xffffffffll) {
        int64_t ib[kKeyedK];
        topk_row_keys_dispatch(k, p, ps, n, Largest, ib, std::make_integer_sequence<int, kKeyedK>{});
        for (int64_t j = 0; j < k; ++j) {
          v[j * vs] = p[ib[j] * ps];
          ix[j * is] = ib[j];
        }
        return;
      }
    }
    if (k <= kSmallK) {
      T vb[kSmallK];
      int64_t ib[kSmallK];
      topk_row_small<T, Largest>(p, ps, n, k, vb, ib);
      for (int64_t j = 0; j < k; ++j) {
        v[j * vs] = vb[j];
        ix[j * is] = ib[j];
      }
    } else {
      thread_local std::vector<int64_t> order;
      topk_row_large<T, Largest>(p, ps, n, k, order);
      for (int64_t j = 0; j < k; ++j) {
        int64_t i = order[static_cast<size_t>(j)];
        v[j * vs] = p[i * ps];
        ix[j * is] = i;
      }
    }
  });
}

template <class T, bool Descending>
void sort_typed(const Tensor& values, const Tensor& indices, const Tensor& in, int dim) {
  const T* src = in.data_ptr<T>();
  T* vdst = values.data_ptr<T>();
  int64_t* idst = indices.data_ptr<int64_t>();
  const bool d0 = in.dim() == 0;
  const int64_t n = d0 ? 1 : in.size(dim), ps = d0 ? 1 : in.stride(dim);
  const int64_t vs = d0 ? 1 : values.stride(dim), is = d0 ? 1 : indices.stride(dim);
  Rows<3> rows({&values, &indices, &in}, dim);
  rows.for_each(n * 8, [&](const int64_t* off) {
    thread_local std::vector<std::pair<T, int64_t>> buf;
    const T* p = src + off[2];
    buf.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) buf[static_cast<size_t>(i)] = {p[i * ps], i};
    // stable_sort keeps equal values (and all NaNs) in index order, ascending or descending.
    std::stable_sort(buf.begin(), buf.end(), [](const auto& a, const auto& b) {
      if constexpr (Descending) return less_nan(b.first, a.first);
      else return less_nan(a.first, b.first);
    });
    T* v = vdst + off[0];
    int64_t* ix = idst + off[1];
    for (int64_t i = 0; i < n; ++i) {
      v[i * vs] = buf[static_cast<size_t>(i)].first;
      ix[i * is] = buf[static_cast<size_t>(i)].second;
    }
  });
}

}  // namespace

void topk_kernel(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, int dim, bool largest) {
  visit_dtype<DTypes::NumericBool>(in.dtype(), "topk", [&]<class T>() {
    if (largest) topk_typed<T, true>(values, indices, in, k, dim);
    else topk_typed<T, false>(values, indices, in, k, dim);
  });
}

void sort_kernel(const Tensor& values, const Tensor& indices, const Tensor& in, int dim, bool descending) {
  visit_dtype<DTypes::NumericBool>(in.dtype(), "sort", [&]<class T>() {
    if (descending) sort_typed<T, true>(values, indices, in, dim);
    else sort_typed<T, false>(values, indices, in, dim);
  });
}

}  // namespace moelab::cpu
