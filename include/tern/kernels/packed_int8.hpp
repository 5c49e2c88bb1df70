#pragma once
// 8-bit weights with one absmax scale per row ("i8"): the compact form of a full-precision LM
// head (llama.cpp keeps its output matrix in 6-8 bits for the same reason: at a large vocabulary
// the head is the biggest matrix a decode step reads).
//
// Quantization of a float row w (K values):
//   s_i = max(max_j |w_ij|, 1e-30) / 127,   c_ij = clamp(round_half_even(w_ij / s_i), -127, 127)
//   dequantized w~_ij = c_ij * s_i
// Product with int8 activations x (quantize_activations, one scale t_n per token):
//   acc(n, i) = sum_j c_ij xq(n, j)                   (int32, exact: |acc| <= 127 * 128 * K)
//   y(n, i)   = float(acc(n, i)) * s_i * t_n
// K is bounded so that every int32 sum of every path is exact: K <= max_k = 65536, where the
// VNNI path's biased sum sum_j (x + 128) c_ij stays below 255 * 127 * 2^16 < 2^31.
//
// Storage: detail::dense_rows<int8_t> (rows padded with zeros to 64 bytes), scales (M x 1 float)
// and row sums sum_j c_ij (for the offset correction of the VNNI path).
// Activation layout: layout() = k_layout::make(K, K, 64): one group, K padded to whole lines, so
// quantize_activations(x, w.layout()) gives activations this format multiplies.
//
// Paths (gemm below; the specification is gemm_acc_ref):
//   reference, generic   the plain loop (the compiler vectorizes it for the target)
//   avx2                 vpmaddubsw(|x|, sign(c, x)) + vpmaddwd: |x| <= 128, |c| <= 127, so an
//                        int16 pair is at most 2 * 128 * 127 = 32512: no saturation
//   avx512vnni           vpdpbusd(x + 128, c) - 128 * sum_j c_ij  (x + 128 = x ^ 0x80 as u8)
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tern/core/matrix.hpp"
#include "tern/core/shape_error.hpp"
#include "tern/kernels/arch.hpp"
#include "tern/kernels/dense_rows.hpp"
#include "tern/kernels/executor.hpp"
#include "tern/kernels/quantized_activations.hpp"
#include "tern/kernels/gemm.hpp"
#include "tern/kernels/reference.hpp"

#if TERN_KERNELS_X86
#include <immintrin.h>
#endif

namespace tern::kernels {
inline namespace TERN_KERNELS_ABI {

class packed_int8 : public detail::dense_rows<std::int8_t> {
 public:
  static constexpr std::string_view format = "i8";
  static constexpr index max_k = index(1) << 16;

  packed_int8() = default;

  /// Quantizes float weights (M x K) per row (see the file comment).
  explicit packed_int8(const matrix<float>& w) : dense_rows(where, w.rows(), w.cols()) {
    check_k(w.cols());
    if (!w.allFinite()) throw std::domain_error(std::string(where) + ": weights hold a non-finite value");
    scales_.resize(w.rows(), 1);
    for (index i = 0; i < w.rows(); ++i) {
      const float m = std::max(w.row(i).cwiseAbs().maxCoeff(), 1e-30f);
      const float s = m / 127.0f;
      scales_(i, 0) = s;
      std::int8_t* r = mutable_row(i);
      for (index j = 0; j < w.cols(); ++j)
        r[j] = static_cast<std::int8_t>(std::clamp(std::nearbyint(w(i, j) / s), -127.0f, 127.0f));
    }
    init_sums();
  }

  /// Borrows rows of codes in this layout (bytes_for(rows, k) bytes, 64-byte aligned) with their
  /// scales (rows x 1, finite, > 0). Codes must lie in [-127, 127] (checked).
  static packed_int8 from_bytes(std::shared_ptr<const std::uint8_t> bytes, index rows, index k,
                                const matrix<float>& scales) {
    packed_int8 w(std::move(bytes), rows, k);
    tern::detail::check_shape(where, "scales", scales, rows, 1);
    for (index i = 0; i < rows; ++i)
      if (!(std::isfinite(scales(i, 0)) && scales(i, 0) > 0.0f))
        throw std::invalid_argument(std::string(where) + ": scale of row " + std::to_string(i) + " is not finite and positive");
    for (index i = 0; i < rows; ++i)
      for (index j = 0; j < w.padded_cols(); ++j)
        if (w.row(i)[j] == -128 || (j >= k && w.row(i)[j] != 0))
          throw std::invalid_argument(std::string(where) + ": code (" + std::to_string(i) + ", " + std::to_string(j) +
                                      ") is " + (j >= k ? "non-zero padding" : "-128, outside [-127, 127]"));
    w.scales_ = scales;
    w.init_sums();
    return w;
  }

  k_layout layout() const { return k_layout::make(cols(), cols(), line); }
  const matrix<float>& scales() const { return scales_; }
  float scale(index i) const { return scales_(i, 0); }
  std::int32_t row_sum(index i) const { return sums_[static_cast<std::size_t>(i)]; }
  /// The code c(i, j).
  std::int8_t weight_code(index i, index j) const { return row(i)[j]; }

  /// The dequantized matrix (M x K).
  matrix<float> dequantize() const {
    matrix<float> w(rows(), cols());
    for (index i = 0; i < rows(); ++i)
      for (index j = 0; j < cols(); ++j) w(i, j) = float(weight_code(i, j)) * scale(i);
    return w;
  }

 private:
  static constexpr std::string_view where = "tern::kernels::packed_int8";
  packed_int8(std::shared_ptr<const std::uint8_t> bytes, index rows, index k) : dense_rows(where, std::move(bytes), rows, k) {
    check_k(k);
  }
  static void check_k(index k) {
    if (k > max_k)
      throw shape_error(std::string(where) + ": K = " + std::to_string(k) + " exceeds " + std::to_string(max_k) +
                        ", past which the int32 accumulators could overflow");
  }
  void init_sums() {
    sums_.assign(static_cast<std::size_t>(rows()), 0);
    for (index i = 0; i < rows(); ++i) {
      std::int32_t s = 0;
      for (index j = 0; j < cols(); ++j) s += row(i)[j];
      sums_[static_cast<std::size_t>(i)] = s;
    }
  }
  matrix<float> scales_;
  std::vector<std::int32_t> sums_;
};

// ---- the specification ----

namespace detail {
inline void check_i8_operands(std::string_view where, const packed_int8& w, const quantized_activations& x) {
  if (w.rows() == 0) throw std::invalid_argument(std::string(where) + ": empty (default-constructed) weights");
  if (!(w.layout() == x.layout()))
    throw shape_error(std::string(where) + ": activations are " + tern::detail::shape_str(x.tokens(), x.layout().k) +
                      " in a layout of K = " + std::to_string(x.layout().k) + ", group " + std::to_string(x.layout().group) +
                      ", block " + std::to_string(x.layout().block) + "; the i8 weights are " +
                      tern::detail::shape_str(w.rows(), w.cols()) + " and need quantize_activations(x, w.layout())");
}
}  // namespace detail

/// acc(n, i, 0) = sum_j c_ij xq(n, j), by the plain loop.
inline accumulators gemm_acc_ref(const packed_int8& w, const quantized_activations& x) {
  detail::check_i8_operands("tern::kernels::gemm_acc_ref", w, x);
  accumulators acc(x.tokens(), w.rows(), 1);
  for (index n = 0; n < x.tokens(); ++n)
    for (index i = 0; i < w.rows(); ++i) {
      std::int32_t s = 0;
      for (index j = 0; j < w.cols(); ++j) s += std::int32_t(w.weight_code(i, j)) * x.code(n, j);
      acc(n, i, 0) = s;
    }
  return acc;
}

// ---- the paths ----

namespace detail {

/// acc[r * C + c] = sum over the padded row of c_r * x_c for R rows and C tokens (plain loop).
template <int R, int C>
inline void i8_tile(generic, const std::int8_t* const* w, const std::int8_t* const* x, index k, std::int32_t* out) {
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) {
      std::int32_t s = 0;
      for (index j = 0; j < k; ++j) s += std::int32_t(w[r][j]) * std::int32_t(x[c][j]);
      out[r * C + c] = s;
    }
}

#if TERN_KERNELS_X86
template <int R, int C>
__attribute__((target("avx2"))) inline void i8_tile(avx2, const std::int8_t* const* w, const std::int8_t* const* x,
                                                   index k, std::int32_t* out) {
  __m256i acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_si256();
  const __m256i ones = _mm256_set1_epi16(1);
  for (index j = 0; j < k; j += 32) {
    __m256i xv[C], ax[C];
    for (int c = 0; c < C; ++c) {
      xv[c] = _mm256_load_si256(reinterpret_cast<const __m256i*>(x[c] + j));
      ax[c] = _mm256_abs_epi8(xv[c]);  // |x| as u8: 128 for -128 is exact
    }
    for (int r = 0; r < R; ++r) {
      const __m256i wv = _mm256_load_si256(reinterpret_cast<const __m256i*>(w[r] + j));
      for (int c = 0; c < C; ++c)
        acc[r][c] = _mm256_add_epi32(acc[r][c], _mm256_madd_epi16(_mm256_maddubs_epi16(ax[c], _mm256_sign_epi8(wv, xv[c])), ones));
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) out[r * C + c] = hsum(acc[r][c]);
}

template <int R, int C>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) inline void i8_tile(avx512vnni, const std::int8_t* const* w,
                                                                                    const std::int8_t* const* x, index k,
                                                                                    std::int32_t* out) {
  __m512i acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_si512();
  const __m512i bias = _mm512_set1_epi8(char(0x80));
  for (index j = 0; j < k; j += 64) {
    __m512i xu[C];
    for (int c = 0; c < C; ++c) xu[c] = _mm512_xor_si512(_mm512_load_si512(x[c] + j), bias);  // x + 128 as u8
    for (int r = 0; r < R; ++r) {
      if constexpr (C == 1) _mm_prefetch(reinterpret_cast<const char*>(w[r] + j + 4096), _MM_HINT_T0);
      const __m512i wv = _mm512_load_si512(w[r] + j);
      for (int c = 0; c < C; ++c) dpbusd(acc[r][c], xu[c], wv);
    }
  }
  store_tile_sums(acc, out);
}
#endif

/// avx512bw and amx have no i8 tile of their own: the nearest one below them.
template <class Arch>
constexpr auto i8_arch(Arch) {
  if constexpr (std::is_base_of_v<avx512vnni, Arch>) return avx512vnni{};
  else if constexpr (std::is_base_of_v<avx2, Arch>) return avx2{};
  else return generic{};
}

template <int R, int C, class Arch>
void i8_rows(Arch a, const packed_int8& w, const quantized_activations& x, float* y, accumulators* acc, index i0,
             index i1) {
  const index m = w.rows(), n = x.tokens(), kp = w.padded_cols();
  constexpr bool vnni = std::is_same_v<decltype(i8_arch(a)), avx512vnni>;
  for (index n0 = 0; n0 < n; n0 += C)
    for (index t = i0; t < i1; t += R) {
      const std::int8_t* wp[R];
      const std::int8_t* xp[C];
      for (int r = 0; r < R; ++r) wp[r] = w.row(std::min(t + r, m - 1));
      for (int c = 0; c < C; ++c) xp[c] = x.token(std::min(n0 + c, n - 1));
      std::int32_t raw[R * C];
      i8_tile<R, C>(i8_arch(a), wp, xp, kp, raw);
      for (int r = 0; r < R && t + r < i1; ++r)
        for (int c = 0; c < C && n0 + c < n; ++c) {
          std::int32_t v = raw[r * C + c];
          if constexpr (vnni) v -= 128 * w.row_sum(t + r);
          if (acc) (*acc)(n0 + c, t + r, 0) = v;
          if (y) y[(n0 + c) * m + t + r] = float(v) * w.scale(t + r) * x.scale(n0 + c);
        }
    }
}

template <class Arch, class Exec>
void i8_run(Arch a, const packed_int8& w, const quantized_activations& x, float* y, accumulators* acc, Exec& ex) {
  check_i8_operands("tern::kernels::gemm", w, x);
  if constexpr (std::is_same_v<Arch, reference>) {
    accumulators r = gemm_acc_ref(w, x);
    if (y)
      for (index n = 0; n < x.tokens(); ++n)
        for (index i = 0; i < w.rows(); ++i)
          y[n * w.rows() + i] = float(r(n, i, 0)) * w.scale(i) * x.scale(n);
    if (acc) *acc = std::move(r);
  } else if (x.tokens() == 1) {
    for_row_parts(ex, w.rows(), 8, [&](index i0, index i1) { i8_rows<8, 1>(a, w, x, y, acc, i0, i1); });
  } else {
    for_row_parts(ex, w.rows(), 4, [&](index i0, index i1) { i8_rows<4, 4>(a, w, x, y, acc, i0, i1); });
  }
}

}  // namespace detail

/// y (tokens x rows) = float(acc) * s_i * t_n on path Arch, into a preallocated y.
template <kernel_arch Arch = best_arch, executor Exec = sequential_executor>
void gemm(const packed_int8& w, const quantized_activations& x, matrix<float>& y, Arch a = {}, Exec&& ex = {}) {
  tern::detail::check_shape("tern::kernels::gemm", "y", y, x.tokens(), w.rows());
  detail::i8_run(a, w, x, y.data(), nullptr, ex);
}

template <kernel_arch Arch = best_arch, executor Exec = sequential_executor>
accumulators gemm_acc(const packed_int8& w, const quantized_activations& x, Arch a = {}, Exec&& ex = {}) {
  accumulators acc(x.tokens(), w.rows(), 1);
  detail::i8_run(a, w, x, nullptr, &acc, ex);
  return acc;
}

/// Run-time dispatch: path p, which must be one this CPU runs (else std::invalid_argument).
template <executor Exec = sequential_executor>
void gemm(const packed_int8& w, const quantized_activations& x, matrix<float>& y, path p, Exec&& ex = {}) {
  if (!cpu_supports(p))
    throw std::invalid_argument("tern::kernels::gemm: path " + std::string(path_name(p)) + " is not supported by this CPU/OS");
  run_path(p, [&](auto arch) { gemm(w, x, y, arch, ex); });
}

template <executor Exec = sequential_executor>
accumulators gemm_acc(const packed_int8& w, const quantized_activations& x, path p, Exec&& ex = {}) {
  if (!cpu_supports(p))
    throw std::invalid_argument("tern::kernels::gemm_acc: path " + std::string(path_name(p)) + " is not supported by this CPU/OS");
  return run_path(p, [&](auto arch) { return gemm_acc(w, x, arch, ex); });
}

}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels
