#pragma once
// Data-parallel gradient averaging: after every rank ran forward and backward on its shard of
// the global batch (dist/shard_batch.hpp), average() makes every rank's parameter gradients
// and loss those of the global batch.
//
// Rank r has n_r tokens, its mean loss L_r and the gradient g_r of L_r. The global batch of
// N = sum_r n_r tokens has
//   L = sum_r (n_r / N) L_r        g = sum_r (n_r / N) g_r
// (the mean of per-token losses is linear in them). average() computes both:
//   1. one MPI_Allreduce of the two doubles (n_r L_r, n_r): N and L;
//   2. every gradient scaled by w_r = n_r / N and packed, in for_each_parameter order, into one
//      contiguous buffer, summed over ranks by MPI_Allreduce in chunks of bucket_bytes (a few
//      large calls rather than one per tensor: each call costs a latency), then unpacked.
// Afterwards every rank holds the same g bit for bit, so clip_grad_norm computes the norm of
// the global gradient identically on every rank, clipping and AdamW make the same update
// everywhere, and the replicas stay identical (replicas_identical() checks it). A non-finite
// loss or gradient on any rank makes L or g non-finite on all of them, so the trainer skips
// the step on every rank alike.
//
// On one rank average() returns L_0 and leaves the gradients untouched: a one-rank run is
// bit-identical to training without the averager.
//
// Against a one-rank run of the same global batch, the two-rank g differs only in float
// summation order: the one-rank backward sums the per-token contributions of all N tokens in
// one pass (Eigen's GEMM blocking order), the two-rank one sums each half, then adds the two
// halves (w_r = 1/2 is exact). The difference per step is a few float ulps of the gradient;
// AdamW can amplify it where a gradient element is a near-cancelling sum.
//
// Timing: seconds() is the time inside average(), allreduce_seconds() the part inside
// MPI_Allreduce (both cumulative; the share of a step spent communicating).
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#include "tern/core/parameter.hpp"
#include "tern/dist/communicator.hpp"
#include "tern/io/checksum.hpp"
#include "tern/optim/parameterized.hpp"

namespace tern::dist {

/// T: the parameters' scalar type (float or double). Comm: the communicator type (MPI's or the
/// one-process one: part of the name, see communicator.hpp).
template <class T, class Comm = communicator>
class gradient_averager {
 public:
  static constexpr std::size_t default_bucket_bytes = std::size_t(4) << 20;

  explicit gradient_averager(Comm comm, std::size_t bucket_bytes = default_bucket_bytes)
      : comm_(comm), bucket_elems_(bucket_bytes / sizeof(T)) {
    if (bucket_elems_ == 0)
      throw std::invalid_argument("gradient_averager: bucket_bytes must hold at least one value");
  }

  const Comm& comm() const { return comm_; }

  /// Call after backward on this rank's shard: `local_loss` is the mean loss over its
  /// `local_tokens` (> 0) tokens. Returns the global mean loss; the gradients of `model` become
  /// the global batch's.
  template <Parameterized M>
    requires std::is_same_v<typename M::scalar, T>
  double average(M& model, double local_loss, std::int64_t local_tokens) {
    if (local_tokens <= 0)
      throw std::invalid_argument("gradient_averager::average: local_tokens must be > 0, got " +
                                  std::to_string(local_tokens));
    if (comm_.size() == 1) return local_loss;
    const auto t0 = std::chrono::steady_clock::now();
    double sums[2] = {double(local_tokens) * local_loss, double(local_tokens)};
    timed([&] { comm_.allreduce_sum(std::span<double>(sums)); });
    const double global_tokens = sums[1];
    const T w = T(double(local_tokens) / global_tokens);

    check_layout(model);
    std::size_t at = 0;
    model.for_each_parameter([&](std::string_view, parameter<T>& p) {
      flat(buffer_.data() + at, p.grad.size()) = w * flat(p.grad.data(), p.grad.size());
      at += std::size_t(p.grad.size());
    });
    for (std::size_t i = 0; i < buffer_.size(); i += bucket_elems_) {
      const std::size_t n = std::min(bucket_elems_, buffer_.size() - i);
      timed([&] { comm_.allreduce_sum(std::span<T>(buffer_.data() + i, n)); });
      ++calls_;
    }
    at = 0;
    model.for_each_parameter([&](std::string_view, parameter<T>& p) {
      flat(p.grad.data(), p.grad.size()) = flat(buffer_.data() + at, p.grad.size());
      at += std::size_t(p.grad.size());
    });
    seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return sums[0] / global_tokens;
  }

  /// True on every rank iff every rank's parameter values are the same bytes (XXH3-64 of all
  /// of them compared across ranks).
  template <Parameterized M>
    requires std::is_same_v<typename M::scalar, T>
  bool replicas_identical(M& model) const {
    checksum_state h;
    model.for_each_parameter([&](std::string_view, parameter<T>& p) {
      h.update(p.value.data(), sizeof(T) * std::size_t(p.value.size()));
    });
    return comm_.all_equal(h.digest());
  }

  double seconds() const { return seconds_; }
  double allreduce_seconds() const { return allreduce_seconds_; }
  /// Gradient MPI_Allreduce calls so far (buckets x steps).
  std::int64_t allreduce_calls() const { return calls_; }
  /// Buckets per step (0 before the first step with several ranks).
  std::size_t buckets() const { return (buffer_.size() + bucket_elems_ - 1) / bucket_elems_; }
  void reset_timers() {
    seconds_ = allreduce_seconds_ = 0;
    calls_ = 0;
  }

 private:
  /// n contiguous values as a vector (the packing is a vectorised copy).
  static Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>> flat(T* p, Eigen::Index n) { return {p, n}; }

  template <class F>
  void timed(F&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    allreduce_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

  /// The tensor sizes are recorded at the first step and must stay the same.
  template <class M>
  void check_layout(M& model) {
    std::vector<std::size_t> sizes;
    model.for_each_parameter([&](std::string_view, parameter<T>& p) { sizes.push_back(std::size_t(p.grad.size())); });
    if (sizes_.empty() && buffer_.empty()) {
      sizes_ = sizes;
      std::size_t total = 0;
      for (std::size_t s : sizes) total += s;
      buffer_.assign(total, T(0));
      return;
    }
    if (sizes != sizes_)
      throw std::invalid_argument("gradient_averager::average: the model's parameters (" + std::to_string(sizes.size()) +
                                  " tensors) are not those of the first step (" + std::to_string(sizes_.size()) +
                                  " tensors, or other shapes); use one averager per model");
  }

  Comm comm_;
  std::size_t bucket_elems_;
  std::vector<std::size_t> sizes_;
  std::vector<T> buffer_;
  double seconds_ = 0, allreduce_seconds_ = 0;
  std::int64_t calls_ = 0;
};

}  // namespace tern::dist
