#pragma once
// The training loop, independent of the model and the loss.
//
// Every step t (0-based, from state.step up to options.end_step - 1):
//   1. zero all parameter gradients;
//   2. loss = step_fn(t): the caller samples a batch, sets lambdas for step t, runs forward,
//      the loss and backward (gradients accumulate into the parameters);
//   3. n = clip_grad_norm(model, options.clip)    (the pre-clip global norm);
//   4. if loss and n are finite: adamw step with lr = schedule(t); otherwise the update is
//      skipped and counted (a NaN never reaches the weights);
//   5. state.step = t + 1, state.tokens += options.tokens_per_step.
// Every options.log_every steps, and at the last step, one progress line:
//   [label] step 200/1000  loss 1.2345  lambda 0.50  lr 1.00e-03  |g| 0.81  12.3k tok/s  0:15 elapsed  1:00 left
// with the loss averaged over the steps since the last line. After every step,
// options.on_step (if set) receives that step's record (for per-step metrics logs).
//
// Nothing here draws random numbers, so a run resumed from a checkpoint (weights, adamw
// state and train_state restored, the caller's data rng restored from state.rng_state) repeats the
// uninterrupted run exactly.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <ostream>
#include <string>

#include "tern/optim/parameterized.hpp"
#include "tern/io/checkpoint.hpp"  // train_state
#include "tern/optim/adamw.hpp"
#include "tern/optim/clip_grad_norm.hpp"
#include "tern/optim/lr_schedule.hpp"

namespace tern {

/// What one step did, as handed to trainer_options::on_step.
struct step_record {
  std::int64_t step = 0;    ///< the step just run, 1-based (state.step after it)
  double loss = 0;          ///< its loss (as step_fn returned it)
  double lr = 0;            ///< the learning rate it used
  double grad_norm = 0;     ///< the global gradient norm before clipping
  bool skipped = false;     ///< the update was skipped (non-finite loss or gradient)
  double tokens_per_s = 0;  ///< tokens per second since this call of train began
};

struct trainer_options {
  std::int64_t end_step = 0;          ///< train until state.step == end_step
  std::int64_t tokens_per_step = 0;   ///< for tokens/s and state.tokens
  double clip = 1.0;                  ///< global gradient-norm limit
  std::int64_t log_every = 0;         ///< progress line period (0: no progress lines)
  std::string label = "train";
  std::ostream* log = nullptr;        ///< where progress lines go (nullptr: nowhere)
  /// lambda shown in the progress line for step t (e.g. the mean over layers); may be empty.
  std::function<double(std::int64_t)> lambda_of{};
  /// Called after every step with its record; may be empty.
  std::function<void(const step_record&)> on_step{};
};

struct train_report {
  std::int64_t steps = 0;      ///< steps run by this call
  std::int64_t skipped = 0;    ///< steps whose update was skipped (non-finite loss or gradient)
  double seconds = 0;
  double last_loss = 0;        ///< mean loss over the last progress window
};

namespace detail {
inline std::string clock_str(double s) {
  if (!(s >= 0) || !std::isfinite(s)) return "?";
  const auto total = static_cast<long long>(s + 0.5);
  char buf[32];
  if (total >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", total / 3600, (total / 60) % 60, total % 60);
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", total / 60, total % 60);
  return buf;
}
}  // namespace detail

/// Runs steps state.step .. options.end_step - 1. step_fn: double(std::int64_t step).
template <Parameterized M, class StepFn>
train_report train(M& model, adamw<typename M::scalar>& opt, const lr_schedule& schedule, train_state& state,
                   StepFn&& step_fn, const trainer_options& options) {
  if (options.clip <= 0) throw std::invalid_argument("train: options.clip must be > 0");
  train_report report;
  const auto t0 = std::chrono::steady_clock::now();
  const std::int64_t first = state.step;
  double window_loss = 0, last_norm = 0;
  std::int64_t window_steps = 0;
  while (state.step < options.end_step) {
    const std::int64_t t = state.step;
    zero_parameter_grads(model);
    const double loss = static_cast<double>(step_fn(t));
    const double norm = clip_grad_norm(model, options.clip);
    const bool finite = std::isfinite(loss) && std::isfinite(norm);
    if (finite) {
      opt.step(model, schedule(t));
    } else {
      ++report.skipped;
    }
    last_norm = norm;
    window_loss += loss;
    ++window_steps;
    state.step = t + 1;
    state.tokens += options.tokens_per_step;
    ++report.steps;
    if (options.on_step) {
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      options.on_step({.step = state.step, .loss = loss, .lr = schedule(t), .grad_norm = norm, .skipped = !finite,
                       .tokens_per_s = secs > 0 ? static_cast<double>(report.steps * options.tokens_per_step) / secs : 0});
    }
    const bool last = state.step == options.end_step;
    if (options.log_every > 0 && (state.step % options.log_every == 0 || last)) {
      report.last_loss = window_loss / static_cast<double>(window_steps);
      if (options.log) {
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double done = static_cast<double>(state.step - first);
        const double tok_s = secs > 0 ? done * static_cast<double>(options.tokens_per_step) / secs : 0;
        const double left = done > 0 ? secs / done * static_cast<double>(options.end_step - state.step) : 0;
        char buf[256];
        std::snprintf(buf, sizeof buf, "[%s] step %lld/%lld  loss %.4f  lambda %.2f  lr %.2e  |g| %.3g  %.1fk tok/s  %s elapsed  %s left%s\n",
                      options.label.c_str(), static_cast<long long>(state.step), static_cast<long long>(options.end_step),
                      report.last_loss, options.lambda_of ? options.lambda_of(t) : 1.0, schedule(t), last_norm,
                      tok_s / 1000.0, detail::clock_str(secs).c_str(), detail::clock_str(left).c_str(),
                      report.skipped ? ("  (" + std::to_string(report.skipped) + " skipped)").c_str() : "");
        *options.log << buf << std::flush;
      }
      window_loss = 0;
      window_steps = 0;
    }
  }
  if (window_steps > 0) report.last_loss = window_loss / static_cast<double>(window_steps);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace tern
