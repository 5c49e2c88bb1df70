#pragma once
// Cross-entropy loss of next-token logits, mean over tokens, in nats.
//
//   forward   p_r = softmax(z_r),   L = -(1/N) sum_r log p_r[t_r]
//             computed stably as  log p_r[t] = z_r[t] - m_r - log sum_j exp(z_r[j] - m_r),
//             m_r = max_j z_r[j]; the sum over rows is accumulated in double.
//   backward  dL/dz_r = (p_r - onehot(t_r)) / N
//
// Forward caches p (N x V) for backward. Targets outside [0, V) throw std::out_of_range.
// Non-finite logits give a non-finite loss (never an exception): the caller decides.
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "tern/core/matrix.hpp"
#include "tern/core/shape_error.hpp"
#include "tern/nn/embedding.hpp"  // tern::token

namespace tern {

namespace detail {
/// Row-wise softmax of a * z (a = 1/tau), and the log of each row's normaliser:
/// p = exp(a z - m - lse) with m the row max of a z; returns a z - m in `shifted`.
template <class T>
void softmax_rows(const matrix<T>& z, T a, matrix<T>& p, matrix<T>& shifted, Eigen::Matrix<T, Eigen::Dynamic, 1>& log_sum) {
  shifted = a * z;
  const Eigen::Matrix<T, Eigen::Dynamic, 1> m = shifted.rowwise().maxCoeff();
  shifted.colwise() -= m;
  p = shifted.array().exp().matrix();
  const Eigen::Matrix<T, Eigen::Dynamic, 1> s = p.rowwise().sum();
  log_sum = s.array().log().matrix();
  p.array().colwise() /= s.array();
}

inline void check_targets(const char* where, std::span<const token> targets, index rows, index vocab) {
  if (index(targets.size()) != rows)
    throw shape_error(std::string(where) + ": targets has " + std::to_string(targets.size()) +
                      " entries but logits has " + std::to_string(rows) + " rows; they must match");
  for (std::size_t r = 0; r < targets.size(); ++r)
    if (targets[r] < 0 || targets[r] >= vocab)
      throw std::out_of_range(std::string(where) + ": target " + std::to_string(targets[r]) +
                              " at row " + std::to_string(r) + " is outside [0, " +
                              std::to_string(vocab) + ")");
}
}  // namespace detail

/// T: scalar type of the logits.
template <class T>
class cross_entropy {
 public:
  using scalar = T;

  /// logits: N x V; targets: N ids. Returns the mean loss in nats and caches softmax(logits).
  T forward(const matrix<T>& logits, std::span<const token> targets) {
    if (logits.rows() == 0) throw shape_error("cross_entropy::forward: logits is 0x" + std::to_string(logits.cols()) + ", expected at least one row");
    detail::check_targets("cross_entropy::forward", targets, logits.rows(), logits.cols());
    matrix<T> shifted;
    Eigen::Matrix<T, Eigen::Dynamic, 1> log_sum;
    probs_.resize(0, 0);
    detail::softmax_rows(logits, T(1), probs_, shifted, log_sum);
    targets_.assign(targets.begin(), targets.end());
    double total = 0;
    for (index r = 0; r < logits.rows(); ++r)
      total += double(log_sum(r)) - double(shifted(r, targets_[std::size_t(r)]));
    return T(total / double(logits.rows()));
  }

  /// dL/dlogits = (softmax(logits) - onehot(targets)) / N, for the last forward.
  matrix<T> backward() const {
    if (probs_.size() == 0) throw std::logic_error("cross_entropy::backward: called before forward");
    matrix<T> d = probs_;
    for (index r = 0; r < d.rows(); ++r) d(r, targets_[std::size_t(r)]) -= T(1);
    d /= T(d.rows());
    return d;
  }

 private:
  matrix<T> probs_;            // N x V softmax of the last logits
  std::vector<token> targets_;
};

}  // namespace tern
