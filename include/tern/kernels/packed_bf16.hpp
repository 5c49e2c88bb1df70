#pragma once
// bfloat16 weights ("bf16"): the top 16 bits of an IEEE float32 (sign, 8 exponent bits, 7
// mantissa bits), half the bytes of FP32 with FP32's range. Used for a full-precision LM head.
//
// Conversion: to_bf16(f) rounds the float to the nearest bf16, ties to even (NaN stays a quiet
// NaN); from_bf16(b) = the float whose bits are b << 16 (exact).
// Product with float activations x (tokens x K), y = x W^T:
//   y(n, i) = sum_j from_bf16(w_ij) * x(n, j)          (float arithmetic)
// The specification gemm_ref sums in double; the paths sum in float in their own order (FMA, lane
// partial sums), so they agree with it to float rounding, not bit for bit:
//   |y - y_ref| <= K * 2^-23 * sum_j |w_ij x(n, j)|   (a summation-error bound, tested).
//
// Paths: reference (double), generic (plain float loop), avx2 (8 lanes: vpmovzxwd, vpslld 16,
// vfmadd), avx512bw and above (16 lanes, the same with zmm; masked loads for the tail of x).
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "tern/core/matrix.hpp"
#include "tern/core/shape_error.hpp"
#include "tern/kernels/arch.hpp"
#include "tern/kernels/dense_rows.hpp"
#include "tern/kernels/executor.hpp"
#include "tern/kernels/gemm.hpp"

#if TERN_KERNELS_X86
#include <immintrin.h>
#endif

namespace tern::kernels {
inline namespace TERN_KERNELS_ABI {

/// Nearest bf16 of f, ties to even.
inline std::uint16_t to_bf16(float f) {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
  if (std::isnan(f)) return static_cast<std::uint16_t>((u >> 16) | 0x40);  // keep a quiet NaN
  const std::uint32_t rounded = u + 0x7fffu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>(rounded >> 16);
}
/// The float of a bf16 (exact).
inline float from_bf16(std::uint16_t b) { return std::bit_cast<float>(std::uint32_t(b) << 16); }

class packed_bf16 : public detail::dense_rows<std::uint16_t> {
 public:
  static constexpr std::string_view format = "bf16";

  packed_bf16() = default;

  /// Rounds float weights (M x K) to bf16.
  explicit packed_bf16(const matrix<float>& w) : dense_rows(where, w.rows(), w.cols()) {
    if (!w.allFinite()) throw std::domain_error(std::string(where) + ": weights hold a non-finite value");
    for (index i = 0; i < w.rows(); ++i)
      for (index j = 0; j < w.cols(); ++j) mutable_row(i)[j] = to_bf16(w(i, j));
  }

  /// Borrows rows in this layout (bytes_for(rows, k) bytes, 64-byte aligned). Every value must
  /// be finite and the row padding zero (checked).
  static packed_bf16 from_bytes(std::shared_ptr<const std::uint8_t> bytes, index rows, index k) {
    packed_bf16 w(std::move(bytes), rows, k);
    for (index i = 0; i < rows; ++i)
      for (index j = 0; j < w.padded_cols(); ++j) {
        const std::uint16_t b = w.row(i)[j];
        if (j >= k ? b != 0 : (b & 0x7f80u) == 0x7f80u)
          throw std::invalid_argument(std::string(where) + ": value (" + std::to_string(i) + ", " + std::to_string(j) +
                                      ") is " + (j >= k ? "non-zero padding" : "not finite"));
      }
    return w;
  }

  float weight(index i, index j) const { return from_bf16(row(i)[j]); }

  /// The weights as floats (M x K).
  matrix<float> dequantize() const {
    matrix<float> w(rows(), cols());
    for (index i = 0; i < rows(); ++i)
      for (index j = 0; j < cols(); ++j) w(i, j) = weight(i, j);
    return w;
  }

 private:
  static constexpr std::string_view where = "tern::kernels::packed_bf16";
  packed_bf16(std::shared_ptr<const std::uint8_t> bytes, index rows, index k) : dense_rows(where, std::move(bytes), rows, k) {}
};

/// y = x W^T summed in double: the specification.
inline matrix<float> gemm_ref(const packed_bf16& w, const matrix<float>& x) {
  tern::detail::check_shape("tern::kernels::gemm_ref", "x", x, -1, w.cols());
  matrix<float> y(x.rows(), w.rows());
  for (index n = 0; n < x.rows(); ++n)
    for (index i = 0; i < w.rows(); ++i) {
      double s = 0.0;
      for (index j = 0; j < w.cols(); ++j) s += double(w.weight(i, j)) * double(x(n, j));
      y(n, i) = float(s);
    }
  return y;
}

namespace detail {

/// out[r] = sum_j w_r(j) x(j) over k values for R rows.
template <int R>
inline void bf16_tile(generic, const std::uint16_t* const* w, const float* x, index k, float* out) {
  for (int r = 0; r < R; ++r) {
    float s = 0.0f;
    for (index j = 0; j < k; ++j) s += from_bf16(w[r][j]) * x[j];
    out[r] = s;
  }
}

#if TERN_KERNELS_X86
template <int R>
__attribute__((target("avx2,fma"))) inline void bf16_tile(avx2, const std::uint16_t* const* w, const float* x, index k,
                                                         float* out) {
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  index j = 0;
  for (; j + 8 <= k; j += 8) {
    const __m256 xv = _mm256_loadu_ps(x + j);
    for (int r = 0; r < R; ++r) {
      const __m256i b = _mm256_cvtepu16_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(w[r] + j)));
      acc[r] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(b, 16)), xv, acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) {
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, acc[r]);
    float s = 0.0f;
    for (float l : lanes) s += l;
    for (index t = j; t < k; ++t) s += from_bf16(w[r][t]) * x[t];
    out[r] = s;
  }
}

template <int R>
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline void bf16_tile(avx512bw, const std::uint16_t* const* w,
                                                                            const float* x, index k, float* out) {
  __m512 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  for (index j = 0; j < k; j += 16) {
    const __mmask16 m = k - j >= 16 ? __mmask16(0xffff) : __mmask16((1u << (k - j)) - 1u);
    const __m512 xv = _mm512_maskz_loadu_ps(m, x + j);
    for (int r = 0; r < R; ++r) {
      if (j % 512 == 0) _mm_prefetch(reinterpret_cast<const char*>(w[r] + j + 2048), _MM_HINT_T0);
      const __m512i b = _mm512_cvtepu16_epi32(_mm256_load_si256(reinterpret_cast<const __m256i*>(w[r] + j)));
      acc[r] = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(b, 16)), xv, acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) {
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, acc[r]);
    float s = 0.0f;
    for (float l : lanes) s += l;
    out[r] = s;
  }
}
#endif

template <class Arch>
constexpr auto bf16_arch(Arch) {
  if constexpr (std::is_base_of_v<avx512bw, Arch>) return avx512bw{};
  else if constexpr (std::is_base_of_v<avx2, Arch>) return avx2{};
  else return generic{};
}

}  // namespace detail

/// y (tokens x rows) = x W^T on path Arch, into a preallocated y; x: tokens x K floats.
template <kernel_arch Arch = best_arch, executor Exec = sequential_executor>
void gemm(const packed_bf16& w, const matrix<float>& x, matrix<float>& y, Arch a = {}, Exec&& ex = {}) {
  constexpr std::string_view where = "tern::kernels::gemm";
  if (w.rows() == 0) throw std::invalid_argument("tern::kernels::gemm: empty (default-constructed) bf16 weights");
  tern::detail::check_shape(where, "x", x, -1, w.cols());
  tern::detail::check_shape(where, "y", y, x.rows(), w.rows());
  if constexpr (std::is_same_v<Arch, reference>) {
    y = gemm_ref(w, x);
  } else {
    constexpr int R = 4;
    const index m = w.rows(), k = w.cols();
    detail::for_row_parts(ex, m, R, [&](index i0, index i1) {
      for (index n = 0; n < x.rows(); ++n)
        for (index t = i0; t < i1; t += R) {
          const std::uint16_t* wp[R];
          for (int r = 0; r < R; ++r) wp[r] = w.row(std::min(t + r, m - 1));
          float out[R];
          detail::bf16_tile<R>(detail::bf16_arch(a), wp, x.data() + n * k, k, out);
          for (int r = 0; r < R && t + r < i1; ++r) y(n, t + r) = out[r];
        }
    });
  }
}

template <executor Exec = sequential_executor>
void gemm(const packed_bf16& w, const matrix<float>& x, matrix<float>& y, path p, Exec&& ex = {}) {
  if (!cpu_supports(p))
    throw std::invalid_argument("tern::kernels::gemm: path " + std::string(path_name(p)) + " is not supported by this CPU/OS");
  run_path(p, [&](auto arch) { gemm(w, x, y, arch, ex); });
}

}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels
