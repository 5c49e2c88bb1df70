#pragma once
// The dense types tern computes with. Activations are row-major (tokens x features), so a
// token's features are contiguous; weights are (out x in), so y = x * W^T.
#include <Eigen/Dense>
#include <cstdint>

namespace tern {

/// Row-major dynamic matrix over scalar type T (float for use, double for gradient checks).
template <class T>
using matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Signed index type used for every dimension (Eigen's).
using index = Eigen::Index;

}  // namespace tern
