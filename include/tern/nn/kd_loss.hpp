#pragma once
// Knowledge-distillation loss (Hinton et al. 2015): KL divergence from the teacher's
// softened distribution to the student's, at temperature tau, mean over tokens, scaled by
// tau^2 so that gradient magnitudes do not shrink as tau grows (the usual convention).
//
//   forward   q_r = softmax(t_r / tau) (teacher),  p_r = softmax(s_r / tau) (student)
//             L = tau^2 * (1/N) sum_r sum_j q_r[j] (log q_r[j] - log p_r[j])     >= 0,
//             = 0 exactly when p = q; logs come from the stable log-softmax.
//   backward  dL/ds_r = tau * (p_r - q_r) / N          (teacher logits get no gradient)
//
// Forward caches p and q. Teacher and student logits must have the same shape. Non-finite
// logits give a non-finite loss (never an exception): the caller decides.
#include <cmath>
#include <stdexcept>
#include <string>

#include "tern/core/matrix.hpp"
#include "tern/core/shape_error.hpp"
#include "tern/nn/cross_entropy.hpp"  // detail::softmax_rows

namespace tern {

/// T: scalar type of the logits.
template <class T>
class kd_loss {
 public:
  using scalar = T;

  /// tau: softmax temperature, > 0 (1 = plain KL).
  explicit kd_loss(double tau = 1.0) : tau_(tau) {
    if (!(tau > 0.0) || !std::isfinite(tau))
      throw std::invalid_argument("kd_loss: tau must be positive and finite, got " + std::to_string(tau));
  }

  double tau() const { return tau_; }

  /// student, teacher: N x V logits. Returns tau^2 * mean_r KL(q_r || p_r), in nats.
  T forward(const matrix<T>& student, const matrix<T>& teacher) {
    detail::check_same_shape("kd_loss::forward", "student logits", student, "teacher logits", teacher);
    if (student.rows() == 0 || student.cols() == 0)
      throw shape_error("kd_loss::forward: student logits is " + detail::shape_str(student.rows(), student.cols()) +
                        ", expected at least one row and one column");
    const T a = T(1.0 / tau_);
    matrix<T> s_shift, t_shift;
    Eigen::Matrix<T, Eigen::Dynamic, 1> s_lse, t_lse;
    detail::softmax_rows(student, a, p_, s_shift, s_lse);
    detail::softmax_rows(teacher, a, q_, t_shift, t_lse);
    // log q - log p = (t_shift - t_lse) - (s_shift - s_lse), row-wise.
    matrix<T> log_ratio = t_shift - s_shift;
    log_ratio.colwise() += (s_lse - t_lse);
    double total = 0;
    const Eigen::Matrix<T, Eigen::Dynamic, 1> per_row = (q_.array() * log_ratio.array()).rowwise().sum();
    for (index r = 0; r < per_row.size(); ++r) total += double(per_row(r));
    return T(tau_ * tau_ * total / double(student.rows()));
  }

  /// dL/dstudent = tau * (p - q) / N, for the last forward.
  matrix<T> backward() const {
    if (p_.size() == 0) throw std::logic_error("kd_loss::backward: called before forward");
    return (T(tau_ / double(p_.rows())) * (p_ - q_)).eval();
  }

 private:
  double tau_;
  matrix<T> p_, q_;  // student and teacher softened distributions, N x V
};

}  // namespace tern
