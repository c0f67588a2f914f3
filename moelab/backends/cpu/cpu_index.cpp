// CPU indexing kernels. Each one walks the destination with a LoopPlan (strided, merged dims) and
// looks the indexed dim up per element. Determinism: the only loops that can write one element
// twice (scatter along `dim`, index_put over the index list) run in index order inside one chunk;
// the parallel split is over the other dims.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "moelab/backends/cpu/cpu_backend.h"
#include "moelab/backends/cpu/cpu_weighted_rows.h"
#include "moelab/backends/cpu/loops.h"
#include "moelab/backends/index_kernels.h"
#include "moelab/core/parallel.h"

namespace moelab {
namespace {

using cpu::LoopPlan;

// Pure data movement does not care about the dtype, only the element size.
template <class F>
void visit_element_size(size_t size, F&& f) {
  switch (size) {
    case 1: return f.template operator()<uint8_t>();
    case 2: return f.template operator()<uint16_t>();
    case 4: return f.template operator()<uint32_t>();
    case 8: return f.template operator()<uint64_t>();
    default: MOELAB_FAIL("index kernels: unsupported element size ", size);
  }
}

// t viewed with shape `shape_without` (t.shape() with dim d removed, or smaller) and d's stride dropped.
Tensor drop_dim(const Tensor& t, const Shape& shape_without, int d) {
  Strides st = t.strides();
  st.erase(d);
  return t.as_strided(shape_without, st, t.offset());
}

Shape without(const Shape& s, int d) {
  Shape r = s;
  r.erase(d);
  return r;
}

template <class T>
T combine(ScatterOp op, T dst, T src) {
  switch (op) {
    case ScatterOp::Assign: return src;
    case ScatterOp::Add: return static_cast<T>(dst + src);
    case ScatterOp::Mul: return static_cast<T>(dst * src);
    case ScatterOp::Max: return src != src ? src : (dst < src ? src : dst);  // NaN wins, from either side
    case ScatterOp::Min: return src != src ? src : (src < dst ? src : dst);
  }
  return src;
}

// The rows of advanced indexing: self offsets (in elements) of row b = sum_k idx_k[b] * stride_k.
struct IndexRows {
  std::vector<const int64_t*> ptr;
  std::vector<int64_t> istride, size, stride;

  IndexRows(const Tensor& self, std::span<const Tensor> indices) {
    for (size_t k = 0; k < indices.size(); ++k) {
      ptr.push_back(indices[k].data_ptr<int64_t>());
      istride.push_back(indices[k].dim() ? indices[k].stride(0) : 0);
      size.push_back(self.size(static_cast<int64_t>(k)));
      stride.push_back(self.stride(static_cast<int64_t>(k)));
    }
  }
  int64_t offset(int64_t b) const {
    int64_t off = 0;
    for (size_t k = 0; k < ptr.size(); ++k) {
      int64_t i = ptr[k][b * istride[k]];
      if (i < 0) i += size[k];
      off += i * stride[k];
    }
    return off;
  }
};

// The trailing (non-indexed) dims of self as a view of `rest` shape at self's offset.
Tensor rest_view(const Tensor& self, int k, const Shape& rest) {
  Strides st;
  for (int d = k; d < self.dim(); ++d) st.push_back(self.stride(d));
  return self.as_strided(rest, st, self.offset());
}

class CpuIndexKernels final : public IndexKernels {
 public:
  void gather(const Tensor& out, const Tensor& self, int dim, const Tensor& index) override {
    if (out.numel() == 0) return;
    Strides st = self.strides();
    const int64_t dim_stride = st[dim] * static_cast<int64_t>(self.element_size());
    st[dim] = 0;  // the indexed dim is added per element from the index value
    Tensor sv = self.as_strided(index.shape(), st, self.offset());
    LoopPlan<3> plan({&out, &sv, &index});
    visit_element_size(out.element_size(), [&]<class U>() {
      plan.run([&](char** p, const int64_t* s, int64_t n) {
        for (int64_t i = 0; i < n; ++i) {
          const int64_t k = *reinterpret_cast<const int64_t*>(p[2] + i * s[2]);
          std::memcpy(p[0] + i * s[0], p[1] + i * s[1] + k * dim_stride, sizeof(U));
        }
      });
    });
  }

  void scatter(const Tensor& self, int dim, const Tensor& index, const Tensor& src, ScatterOp op) override {
    if (index.numel() == 0) return;
    const Shape outer = without(index.shape(), dim);
    Tensor self_v = drop_dim(self, outer, dim), src_v = drop_dim(src, outer, dim), idx_v = drop_dim(index, outer, dim);
    const int64_t nj = index.size(dim);
    const int64_t es = static_cast<int64_t>(self.element_size());
    const int64_t self_ds = self.stride(dim) * es, src_ds = src.stride(dim) * es;
    const int64_t idx_ds = index.stride(dim) * static_cast<int64_t>(sizeof(int64_t));
    LoopPlan<3> plan({&self_v, &src_v, &idx_v});
    const int64_t grain = std::max<int64_t>(1, kElementwiseGrain / nj);
    auto run = [&]<class T>() {
      plan.run([&](char** p, const int64_t* s, int64_t n) {
        for (int64_t i = 0; i < n; ++i) {
          char* dst = p[0] + i * s[0];
          const char* sp = p[1] + i * s[1];
          const char* ip = p[2] + i * s[2];
          for (int64_t j = 0; j < nj; ++j) {  // collisions only happen along j: keep it in order
            const int64_t k = *reinterpret_cast<const int64_t*>(ip + j * idx_ds);
            T* d = reinterpret_cast<T*>(dst + k * self_ds);
            const T v = *reinterpret_cast<const T*>(sp + j * src_ds);
            *d = combine<T>(op, *d, v);
          }
        }
      }, grain);
    };
    if (op == ScatterOp::Assign) visit_element_size(self.element_size(), run);
    else visit_dtype<DTypes::NumericBool>(self.dtype(), "scatter", run);
  }

  void index(const Tensor& out, const Tensor& self, std::span<const Tensor> indices) override {
    if (out.numel() == 0) return;
    const int k = static_cast<int>(indices.size());
    const int64_t n = out.size(0);
    const Shape rest = without(out.shape(), 0);
    Tensor out_rest = out.select(0, 0), self_rest = rest_view(self, k, rest);
    const LoopPlan<2> plan({&out_rest, &self_rest});
    const IndexRows rows(self, indices);
    const int64_t es = static_cast<int64_t>(self.element_size());
    const int64_t out_row = out.stride(0) * es;
    visit_element_size(out.element_size(), [&]<class U>() {
      auto copy = [](char** p, const int64_t* s, int64_t m) {
        if (s[0] == sizeof(U) && s[1] == sizeof(U)) {
          std::memcpy(p[0], p[1], static_cast<size_t>(m) * sizeof(U));
          return;
        }
        for (int64_t i = 0; i < m; ++i) std::memcpy(p[0] + i * s[0], p[1] + i * s[1], sizeof(U));
      };
      auto row_plan = [&](int64_t b) {
        LoopPlan<2> p = plan;
        p.base[0] += b * out_row;
        p.base[1] += rows.offset(b) * es;
        return p;
      };
      if (out_rest.is_contiguous() && self_rest.is_contiguous() && plan.numel < kElementwiseGrain) {
        // Whole rows, contiguous on both sides (index_select, embedding, MoE dispatch): one memcpy each.
        const size_t bytes = static_cast<size_t>(plan.numel) * sizeof(U);
        char* o = static_cast<char*>(out.raw_data());
        const char* in = static_cast<const char*>(self.raw_data());
        parallel_for(0, n, std::max<int64_t>(1, kElementwiseGrain / plan.numel), [&](int64_t b0, int64_t b1) {
          for (int64_t b = b0; b < b1; ++b) std::memcpy(o + b * out_row, in + rows.offset(b) * es, bytes);
        });
        return;
      }
      if (plan.numel >= kElementwiseGrain) {  // long rows: split each row across threads
        for (int64_t b = 0; b < n; ++b) row_plan(b).run(copy);
        return;
      }
      // Rows are distinct destinations, so they can be split across threads.
      parallel_for(0, n, std::max<int64_t>(1, kElementwiseGrain / plan.numel), [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) row_plan(b).run_range(0, plan.numel, copy);
      });
    });
  }

  void index_put(const Tensor& self, std::span<const Tensor> indices, const Tensor& values,
                 bool accumulate) override {
    if (values.numel() == 0) return;
    const int k = static_cast<int>(indices.size());
    const int64_t n = values.size(0);
    const Shape rest = without(values.shape(), 0);
    Tensor val_rest = values.select(0, 0), self_rest = rest_view(self, k, rest);
    const LoopPlan<2> plan({&self_rest, &val_rest});
    const IndexRows rows(self, indices);
    const int64_t es = static_cast<int64_t>(self.element_size());
    const int64_t val_row = values.stride(0) * es;
    auto run = [&]<class T>() {
      auto put = [accumulate](char** p, const int64_t* s, int64_t m) {
        for (int64_t i = 0; i < m; ++i) {
          T* d = reinterpret_cast<T*>(p[0] + i * s[0]);
          const T v = *reinterpret_cast<const T*>(p[1] + i * s[1]);
          if constexpr (std::is_arithmetic_v<T>) *d = accumulate ? static_cast<T>(*d + v) : v;
          else *d = v;
        }
      };
      // Several rows may hit one element: split the trailing dims across threads and let each
      // thread visit every row in order, so the result does not depend on the thread count.
      parallel_for(0, plan.numel, std::max<int64_t>(1, kElementwiseGrain / n), [&](int64_t r0, int64_t r1) {
        for (int64_t b = 0; b < n; ++b) {
          LoopPlan<2> p = plan;
          p.base[0] += rows.offset(b) * es;
          p.base[1] += b * val_row;
          p.run_range(r0, r1, put);
        }
      });
    };
    if (accumulate) visit_dtype<DTypes::NumericBool>(self.dtype(), "index_put", run);
    else visit_dtype<DTypes::All>(self.dtype(), "index_put", run);
  }

  void nonzero(const Tensor& out, const Tensor& in) override {
    const int nd = in.dim();
    const int64_t total = in.numel();
    if (total == 0 || out.size(0) == 0) return;
    int64_t* dst = out.data_ptr<int64_t>();
    const int64_t row_stride = out.stride(0), col_stride = nd ? out.stride(1) : 0;
    visit_dtype<DTypes::NumericBool>(in.dtype(), "nonzero", [&]<class T>() {
      const T* src = in.data_ptr<T>();
      // Visits elements [b, e) in row-major order: fn(linear index, coords, value).
      auto walk = [&](int64_t b, int64_t e, auto&& fn) {
        int64_t idx[kMaxDims] = {};
        int64_t rest = b, off = 0;
        for (int d = nd - 1; d >= 0; --d) {
          idx[d] = rest % in.size(d);
          rest /= in.size(d);
          off += idx[d] * in.stride(d);
        }
        for (int64_t l = b; l < e; ++l) {
          fn(idx, src[off]);
          for (int d = nd - 1; d >= 0; --d) {  // odometer increment
            off += in.stride(d);
            if (++idx[d] < in.size(d)) break;
            off -= idx[d] * in.stride(d);
            idx[d] = 0;
          }
        }
      };
      // Two passes over fixed chunks (count, then write at the prefix-summed row), so the output
      // order is row-major whatever the thread count.
      const int64_t chunk = std::max<int64_t>(kElementwiseGrain, (total + 63) / 64);
      const int64_t nchunks = (total + chunk - 1) / chunk;
      std::vector<int64_t> start(static_cast<size_t>(nchunks) + 1, 0);
      parallel_for(0, nchunks, 1, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
          int64_t cnt = 0;
          walk(c * chunk, std::min(total, (c + 1) * chunk), [&](const int64_t*, T v) { cnt += v != T(0); });
          start[static_cast<size_t>(c) + 1] = cnt;
        }
      });
      for (size_t c = 1; c < start.size(); ++c) start[c] += start[c - 1];
      parallel_for(0, nchunks, 1, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
          int64_t row = start[static_cast<size_t>(c)];
          walk(c * chunk, std::min(total, (c + 1) * chunk), [&](const int64_t* coords, T v) {
            if (v == T(0)) return;
            for (int d = 0; d < nd; ++d) dst[row * row_stride + d * col_stride] = coords[d];
            ++row;
          });
        }
      });
    });
  }

  void weighted_row_sum(const Tensor& out, const Tensor& y, const Tensor& w, const Tensor& rows) override {
    cpu::weighted_row_sum_kernel(out, y, w, rows);
  }
  void weighted_row_sum_backward(const Tensor& gy, const Tensor& gw, const Tensor& g, const Tensor& y,
                                 const Tensor& w, const Tensor& rows, const Tensor& slots) override {
    cpu::weighted_row_sum_backward_kernel(gy, gw, g, y, w, rows, slots);
  }
};

}  // namespace

IndexKernels& cpu_index_kernels() {
  static CpuIndexKernels k;
  return k;
}

}  // namespace moelab
