#pragma once
// AdamW: Adam with decoupled weight decay (Loshchilov & Hutter), bias-corrected.
//
// For every parameter p with gradient g, at step t = 1, 2, ... and learning rate lr:
//   m  <- beta1 m + (1 - beta1) g
//   v  <- beta2 v + (1 - beta2) g^2
//   m^ =  m / (1 - beta1^t),   v^ = v / (1 - beta2^t)
//   p  <- p - lr * wd * p                      (decoupled decay, only where decays(name, p))
//   p  <- p - lr * m^ / (sqrt(v^) + eps)
// The decay uses the parameter value from before this step's Adam update (PyTorch's order).
//
// State: one (m, v) pair per parameter, created at the first step in the model's
// for_each_parameter order and then checked against it (name and shape) at every step, so an
// optimizer can never silently apply moments to the wrong tensor. `step_count()` is t.
// Checkpoints read and restore the state through for_each_state / restore_slot.
#include <cmath>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tern/optim/parameterized.hpp"
#include "tern/core/matrix.hpp"
#include "tern/core/parameter.hpp"
#include "tern/core/shape_error.hpp"

namespace tern {

struct adamw_config {
  double lr = 1e-3;            ///< default learning rate when step() is called without one
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;   ///< decoupled decay coefficient
  /// Which parameters decay. Default: matrices (both dimensions > 1), not gains or vectors.
  std::function<bool(std::string_view name, index rows, index cols)> decays{};
};

namespace detail {
inline bool default_decays(index rows, index cols) { return rows > 1 && cols > 1; }
}  // namespace detail

/// T: the scalar type of the parameters it updates.
template <class T>
class adamw {
 public:
  struct slot {
    std::string name;
    matrix<T> m, v;
  };

  explicit adamw(adamw_config config = {}) : config_(std::move(config)) {
    if (!(config_.beta1 >= 0 && config_.beta1 < 1)) throw std::invalid_argument("adamw: beta1 must be in [0, 1)");
    if (!(config_.beta2 >= 0 && config_.beta2 < 1)) throw std::invalid_argument("adamw: beta2 must be in [0, 1)");
    if (!(config_.eps > 0)) throw std::invalid_argument("adamw: eps must be > 0");
    if (!(config_.weight_decay >= 0)) throw std::invalid_argument("adamw: weight_decay must be >= 0");
  }

  const adamw_config& config() const { return config_; }
  std::int64_t step_count() const { return t_; }

  /// One update of every parameter of `model` with its accumulated gradients.
  template <Parameterized L>
  void step(L& model) { step(model, config_.lr); }

  template <Parameterized L>
    requires std::same_as<typename L::scalar, T>
  void step(L& model, double lr) {
    const bool fresh = slots_.empty();
    std::size_t i = 0;
    const double t = static_cast<double>(t_ + 1);
    const double c1 = 1.0 - std::pow(config_.beta1, t);
    const double c2 = 1.0 - std::pow(config_.beta2, t);
    const T b1 = T(config_.beta1), b2 = T(config_.beta2);
    const T step_size = T(lr / c1);
    const T inv_sqrt_c2 = T(1.0 / std::sqrt(c2));
    const T eps = T(config_.eps);
    // Validate every slot before changing anything, so a mismatch leaves the model untouched.
    if (!fresh) {
      model.for_each_parameter([&](std::string_view name, parameter<T>& p) {
        check_slot(i++, name, p);
      });
      if (i != slots_.size())
        throw std::invalid_argument("adamw::step: the model has " + std::to_string(i) +
                                    " parameters but the optimizer state has " + std::to_string(slots_.size()));
      i = 0;
    }
    model.for_each_parameter([&](std::string_view name, parameter<T>& p) {
      detail::check_same_shape("adamw::step", std::string(name) + ".grad", p.grad, std::string(name) + ".value", p.value);
      if (fresh) slots_.push_back({std::string(name), matrix<T>::Zero(p.value.rows(), p.value.cols()),
                                   matrix<T>::Zero(p.value.rows(), p.value.cols())});
      slot& s = slots_[i++];
      s.m = b1 * s.m + (T(1) - b1) * p.grad;
      s.v = b2 * s.v + (T(1) - b2) * p.grad.cwiseAbs2();
      if (config_.weight_decay > 0 && decays(name, p)) p.value *= T(1.0 - lr * config_.weight_decay);
      p.value.array() -= step_size * s.m.array() / (s.v.array().sqrt() * inv_sqrt_c2 + eps);
    });
    ++t_;
  }

  /// Visits (name, m, v) of every slot in order (empty before the first step).
  template <class F>
  void for_each_state(F&& f) const {
    for (const auto& s : slots_) f(std::string_view(s.name), s.m, s.v);
  }
  std::size_t slot_count() const { return slots_.size(); }

  /// Replaces the whole state (used by checkpoint loading, which validates it first).
  void restore(std::vector<slot> slots, std::int64_t step_count) {
    if (step_count < 0) throw std::invalid_argument("adamw::restore: negative step count");
    slots_ = std::move(slots);
    t_ = step_count;
  }

  /// Forgets the moments and the step count.
  void reset() { slots_.clear(); t_ = 0; }

 private:
  bool decays(std::string_view name, const parameter<T>& p) const {
    if (config_.decays) return config_.decays(name, p.value.rows(), p.value.cols());
    return detail::default_decays(p.value.rows(), p.value.cols());
  }

  void check_slot(std::size_t i, std::string_view name, const parameter<T>& p) const {
    if (i >= slots_.size())
      throw std::invalid_argument("adamw::step: model parameter '" + std::string(name) +
                                  "' has no optimizer state (state has " + std::to_string(slots_.size()) + " slots)");
    const slot& s = slots_[i];
    if (s.name != name)
      throw std::invalid_argument("adamw::step: optimizer slot " + std::to_string(i) + " is '" + s.name +
                                  "' but the model's parameter " + std::to_string(i) + " is '" + std::string(name) + "'");
    detail::check_same_shape("adamw::step", "moment of " + s.name, s.m, "parameter " + std::string(name), p.value);
  }

  adamw_config config_;
  std::vector<slot> slots_;
  std::int64_t t_ = 0;
};

}  // namespace tern
