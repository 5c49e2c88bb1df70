#pragma once
// FP32 weights of the frozen model (full-precision projections, the FP32 LM head, the token
// embedding), in the same padded-row storage as the other dense formats (rows padded to 64
// bytes, owned or borrowed from a memory-mapped file), multiplied through Eigen:
//   one token (GEMV):   rows split over the executor, Eigen's GEMV per part
//   several (GEMM):     one Eigen GEMM, which uses Eigen's own threads (OpenMP) if it has any
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "tern/core/matrix.hpp"
#include "tern/core/shape_error.hpp"
#include "tern/kernels/dense_rows.hpp"
#include "tern/kernels/executor.hpp"

namespace tern::infer {

class dense_f32 : public kernels::detail::dense_rows<float> {
 public:
  static constexpr std::string_view format = "f32";
  using map_type = Eigen::Map<const matrix<float>, Eigen::Unaligned, Eigen::OuterStride<>>;

  dense_f32() = default;
  explicit dense_f32(const matrix<float>& w) : dense_rows(where, w.rows(), w.cols()) {
    if (!w.allFinite()) throw std::domain_error(std::string(where) + ": weights hold a non-finite value");
    for (index i = 0; i < w.rows(); ++i)
      for (index j = 0; j < w.cols(); ++j) mutable_row(i)[j] = w(i, j);
  }

  /// Borrows rows in this layout (bytes_for(rows, cols) bytes, 64-byte aligned); every value must
  /// be finite and the row padding zero (checked).
  static dense_f32 from_bytes(std::shared_ptr<const std::uint8_t> bytes, index rows, index cols) {
    dense_f32 w(std::move(bytes), rows, cols);
    for (index i = 0; i < rows; ++i)
      for (index j = 0; j < w.padded_cols(); ++j) {
        const float v = w.row(i)[j];
        if (j >= cols ? v != 0.0f : !std::isfinite(v))
          throw std::invalid_argument(std::string(where) + ": value (" + std::to_string(i) + ", " + std::to_string(j) +
                                      ") is " + (j >= cols ? "non-zero padding" : "not finite"));
      }
    return w;
  }

  /// The weights as an Eigen matrix view (rows x cols, row stride padded_cols()).
  map_type view() const { return map_type(data(), rows(), cols(), Eigen::OuterStride<>(padded_cols())); }

  /// y (n x rows) = x (n x cols) W^T.
  template <kernels::executor Exec>
  void multiply(const matrix<float>& x, matrix<float>& y, Exec& ex) const {
    tern::detail::check_shape("tern::infer::dense_f32", "x", x, -1, cols());
    y.resize(x.rows(), rows());
    if (x.rows() == 1) {
      kernels::detail::for_row_parts(ex, rows(), 16, [&](index i0, index i1) {
        y.row(0).segment(i0, i1 - i0).noalias() = (view().middleRows(i0, i1 - i0) * x.row(0).transpose()).transpose();
      });
    } else {
      y.noalias() = x * view().transpose();
    }
  }

 private:
  static constexpr std::string_view where = "tern::infer::dense_f32";
  dense_f32(std::shared_ptr<const std::uint8_t> bytes, index rows, index cols) : dense_rows(where, std::move(bytes), rows, cols) {}
};

}  // namespace tern::infer
