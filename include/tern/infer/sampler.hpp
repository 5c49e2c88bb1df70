#pragma once
// Choosing the next token from a row of logits, seeded and deterministic.
//
//   temperature == 0      greedy: argmax (the lowest id among equal maxima)
//   otherwise             z_i = logit_i / temperature, then, in this order,
//     top_k > 0           keep the k largest z (ties broken towards the lower id)
//     top_p < 1           of those, keep the smallest set of the most probable whose
//                         probability (softmax over the kept z) sums to >= top_p (at least one)
//                     and draw from softmax over the kept set with tern::rng (one uniform draw
//                     per token, walked in a fixed order): the same seed and logits give the
//                     same tokens on every platform (sums in double).
// A sampler owns its generator: one per generation.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "tern/core/matrix.hpp"
#include "tern/data/rng.hpp"
#include "tern/nn/embedding.hpp"

namespace tern::infer {

struct sampling_options {
  double temperature = 0.8;  ///< 0: greedy
  index top_k = 0;           ///< 0: no top-k cut
  double top_p = 1.0;        ///< 1: no nucleus cut
  std::uint64_t seed = 0;

  void validate() const {
    if (!(temperature >= 0.0) || !std::isfinite(temperature))
      throw std::invalid_argument("sampling_options.temperature must be finite and >= 0, got " + std::to_string(temperature));
    if (top_k < 0) throw std::invalid_argument("sampling_options.top_k must be >= 0, got " + std::to_string(top_k));
    if (!(top_p > 0.0 && top_p <= 1.0))
      throw std::invalid_argument("sampling_options.top_p must be in (0, 1], got " + std::to_string(top_p));
  }
};

class sampler {
 public:
  explicit sampler(const sampling_options& o = {}) : o_((o.validate(), o)), rng_(o.seed) {}

  const sampling_options& options() const { return o_; }

  /// The ids the options allow for these logits with their probabilities (summing to 1), in the
  /// order sample() walks them: most probable first when a top-k or top-p cut applies, by id
  /// otherwise (no sort: a full vocabulary costs one pass).
  std::vector<std::pair<token, double>> candidates(std::span<const float> logits) const {
    check(logits);
    const index v = static_cast<index>(logits.size());
    const auto better = [&](token a, token b) {
      return logits[std::size_t(a)] > logits[std::size_t(b)] || (logits[std::size_t(a)] == logits[std::size_t(b)] && a < b);
    };
    if (o_.temperature == 0.0) {
      token best = 0;
      for (token t = 1; t < token(v); ++t)
        if (better(t, best)) best = t;
      return {{best, 1.0}};
    }
    std::vector<token> ids(static_cast<std::size_t>(v));
    std::iota(ids.begin(), ids.end(), token(0));
    if (o_.top_k > 0 && o_.top_k < v) {
      std::nth_element(ids.begin(), ids.begin() + o_.top_k, ids.end(), better);
      ids.resize(static_cast<std::size_t>(o_.top_k));
      std::sort(ids.begin(), ids.end(), better);
    } else if (o_.top_p < 1.0) {
      std::sort(ids.begin(), ids.end(), better);
    }
    float lmax = logits[std::size_t(ids[0])];
    for (token t : ids) lmax = std::max(lmax, logits[std::size_t(t)]);
    const double zmax = double(lmax) / o_.temperature;
    std::vector<std::pair<token, double>> out;
    out.reserve(ids.size());
    double total = 0.0;
    for (token t : ids) {
      const double p = std::exp(double(logits[std::size_t(t)]) / o_.temperature - zmax);
      out.emplace_back(t, p);
      total += p;
    }
    for (auto& c : out) c.second /= total;
    if (o_.top_p < 1.0) {
      double cum = 0.0;
      std::size_t keep = 0;
      while (keep < out.size()) {
        cum += out[keep].second;
        ++keep;
        if (cum >= o_.top_p) break;
      }
      out.resize(keep);
      double kept = 0.0;
      for (const auto& c : out) kept += c.second;
      for (auto& c : out) c.second /= kept;
    }
    return out;
  }

  /// The next token (advances the generator unless greedy).
  token sample(std::span<const float> logits) {
    const auto c = candidates(logits);
    if (o_.temperature == 0.0 || c.size() == 1) return c[0].first;
    const double u = rng_.uniform();
    double cum = 0.0;
    for (const auto& [t, p] : c) {
      cum += p;
      if (u < cum) return t;
    }
    return c.back().first;  // u within rounding of 1
  }

 private:
  static void check(std::span<const float> logits) {
    if (logits.empty()) throw std::invalid_argument("tern::infer::sampler: no logits");
    for (std::size_t i = 0; i < logits.size(); ++i)
      if (!std::isfinite(logits[i]))
        throw std::domain_error("tern::infer::sampler: logit " + std::to_string(i) + " is not finite");
  }
  sampling_options o_;
  rng rng_;
};

}  // namespace tern::infer
