#pragma once
// The built-in synthetic corpus: a seeded order-k Markov source over a small byte alphabet,
// whose entropy rate is known exactly, so a model's bits/byte can be compared with the limit.
//
// Construction (all from one seed, through tern::rng):
//   * alphabet: `alphabet` distinct bytes (default 32 text characters), A = alphabet size;
//   * for every context c (the last k symbols, A^k contexts) the next-symbol distribution is
//       P(a | c) = floor / A + (1 - floor) * w_a / sum(w)
//     where w is nonzero only on `branching` distinct symbols chosen at random, with weights
//     w = -log(u), u uniform (i.e. Exp(1), a flat Dirichlet). floor > 0 makes every transition
//     possible, so the chain on contexts is irreducible and aperiodic: one stationary law pi.
//   * related sources: with shared = f > 0, each context's row P(. | c) is, with probability f
//     (drawn per context from its own stream), the row of the source with table seed
//     `shared_seed`, else the row this seed draws. Two such sources agree on about a fraction f
//     of the contexts and differ on the rest: text of one teaches part of the other.
//
// Entropy rate (bits per byte), exact up to the stationary-law iteration (~1e-12):
//   H = sum_c pi(c) * H(P(. | c)),   H(p) = -sum_a p_a log2 p_a,
//   pi = the fixed point of pi'(c') = sum_{c -> c'} pi(c) P(a | c), found by power iteration.
// The first k bytes of a generated text are drawn from pi, so the text is stationary from the
// start and its per-byte log-loss under the true model averages to H.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "tern/data/rng.hpp"

namespace tern {

struct markov_source_config {
  std::string alphabet = "etaoinshrdlucmfwygpbvkxjqz ,.;!\n";  ///< 32 distinct bytes
  int order = 2;             ///< k: context length in symbols
  int branching = 4;         ///< favoured successors per context
  double floor = 0.05;       ///< probability mass spread uniformly over the alphabet
  std::uint64_t seed = 1;    ///< seed of the transition table (not of the generated text)
  double shared = 0.0;       ///< fraction of contexts whose row comes from `shared_seed`'s table
  std::uint64_t shared_seed = 1;  ///< the table seed of the related source (with shared > 0)
};

class markov_source {
 public:
  explicit markov_source(markov_source_config config = {}) : c_(std::move(config)) {
    const auto a = static_cast<int>(c_.alphabet.size());
    if (a < 2) throw std::invalid_argument("markov_source: alphabet needs at least 2 symbols");
    for (int i = 0; i < a; ++i)
      for (int j = i + 1; j < a; ++j)
        if (c_.alphabet[i] == c_.alphabet[j]) throw std::invalid_argument("markov_source: alphabet has a repeated byte");
    if (c_.order < 1 || c_.order > 4) throw std::invalid_argument("markov_source: order must be in [1, 4]");
    if (c_.branching < 1 || c_.branching > a) throw std::invalid_argument("markov_source: branching must be in [1, alphabet size]");
    if (!(c_.floor > 0 && c_.floor <= 1)) throw std::invalid_argument("markov_source: floor must be in (0, 1]");
    if (!(c_.shared >= 0 && c_.shared <= 1)) throw std::invalid_argument("markov_source: shared must be in [0, 1]");
    contexts_ = 1;
    for (int i = 0; i < c_.order; ++i) contexts_ *= static_cast<std::size_t>(a);
    build_table();
    compute_stationary();
  }

  const markov_source_config& config() const { return c_; }
  int alphabet_size() const { return static_cast<int>(c_.alphabet.size()); }
  std::size_t contexts() const { return contexts_; }

  /// P(symbol a | context c); c = sum_i s_i A^(k-1-i) over the last k symbol indices, oldest first.
  double probability(std::size_t context, int a) const { return p_[context * alphabet_size() + a]; }
  /// The stationary probability of a context.
  double stationary(std::size_t context) const { return pi_[context]; }

  /// Exact entropy rate in bits per byte (see the header comment).
  double entropy_bits_per_byte() const {
    double h = 0.0;
    const int a = alphabet_size();
    for (std::size_t c = 0; c < contexts_; ++c) {
      double hc = 0.0;
      for (int s = 0; s < a; ++s) {
        const double p = probability(c, s);
        if (p > 0) hc -= p * std::log2(p);
      }
      h += pi_[c] * hc;
    }
    return h;
  }
  double entropy_nats_per_byte() const { return entropy_bits_per_byte() * std::log(2.0); }

  /// `n` bytes of text, from the text seed `seed` (independent of the table seed).
  std::vector<std::uint8_t> generate(std::size_t n, std::uint64_t seed) const {
    rng r(seed ^ 0x5eed5eed5eed5eedULL);
    const int a = alphabet_size();
    std::vector<std::uint8_t> out;
    out.reserve(n);
    std::size_t ctx = draw(pi_.data(), contexts_, r);
    // Emit the initial context's symbols (oldest first).
    std::vector<int> syms(static_cast<std::size_t>(c_.order));
    std::size_t tmp = ctx;
    for (int i = c_.order - 1; i >= 0; --i) { syms[static_cast<std::size_t>(i)] = static_cast<int>(tmp % a); tmp /= a; }
    for (int s : syms) if (out.size() < n) out.push_back(static_cast<std::uint8_t>(c_.alphabet[s]));
    while (out.size() < n) {
      const auto s = static_cast<int>(draw(&p_[ctx * a], static_cast<std::size_t>(a), r));
      out.push_back(static_cast<std::uint8_t>(c_.alphabet[s]));
      ctx = next_context(ctx, s);
    }
    return out;
  }

  /// The context after appending symbol index s to context c.
  std::size_t next_context(std::size_t c, int s) const {
    return (c * alphabet_size() + static_cast<std::size_t>(s)) % contexts_;
  }
  /// Index of byte b in the alphabet, or -1.
  int symbol_index(std::uint8_t b) const {
    const auto pos = c_.alphabet.find(static_cast<char>(b));
    return pos == std::string::npos ? -1 : static_cast<int>(pos);
  }

 private:
  static std::size_t draw(const double* p, std::size_t n, rng& r) {
    double u = r.uniform(), acc = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      acc += p[i];
      if (u < acc) return i;
    }
    return n - 1;  // u within rounding of 1
  }

  void build_table() {
    p_ = draw_table(c_.seed);
    if (c_.shared > 0) {
      const std::vector<double> base = draw_table(c_.shared_seed);
      const auto a = static_cast<std::size_t>(alphabet_size());
      rng pick(c_.seed ^ 0x5a4ed5a4ed5a4ed5ULL);
      for (std::size_t c = 0; c < contexts_; ++c)
        if (pick.uniform() < c_.shared)
          std::copy_n(base.begin() + std::ptrdiff_t(c * a), a, p_.begin() + std::ptrdiff_t(c * a));
    }
  }

  /// The table of the construction above for one seed.
  std::vector<double> draw_table(std::uint64_t seed) const {
    const int a = alphabet_size();
    rng r(seed);
    std::vector<double> table(contexts_ * static_cast<std::size_t>(a), 0.0);
    std::vector<int> perm(static_cast<std::size_t>(a));
    for (std::size_t c = 0; c < contexts_; ++c) {
      for (int i = 0; i < a; ++i) perm[static_cast<std::size_t>(i)] = i;
      std::vector<double> w(static_cast<std::size_t>(a), 0.0);
      double sum = 0.0;
      for (int i = 0; i < c_.branching; ++i) {  // partial Fisher-Yates: `branching` distinct symbols
        const auto j = i + static_cast<int>(r.below(static_cast<std::uint64_t>(a - i)));
        std::swap(perm[static_cast<std::size_t>(i)], perm[static_cast<std::size_t>(j)]);
        double u = r.uniform();
        while (u <= 0.0) u = r.uniform();
        w[static_cast<std::size_t>(perm[static_cast<std::size_t>(i)])] = -std::log(u);
        sum += -std::log(u);
      }
      for (int s = 0; s < a; ++s)
        table[c * a + s] = c_.floor / a + (1.0 - c_.floor) * w[static_cast<std::size_t>(s)] / sum;
    }
    return table;
  }

  void compute_stationary() {
    const int a = alphabet_size();
    pi_.assign(contexts_, 1.0 / static_cast<double>(contexts_));
    std::vector<double> next(contexts_);
    for (int it = 0; it < 100000; ++it) {
      std::fill(next.begin(), next.end(), 0.0);
      for (std::size_t c = 0; c < contexts_; ++c)
        for (int s = 0; s < a; ++s) next[next_context(c, s)] += pi_[c] * p_[c * a + s];
      double diff = 0.0, total = 0.0;
      for (std::size_t c = 0; c < contexts_; ++c) { diff += std::abs(next[c] - pi_[c]); total += next[c]; }
      for (std::size_t c = 0; c < contexts_; ++c) pi_[c] = next[c] / total;
      if (diff < 1e-14) return;
    }
  }

  markov_source_config c_;
  std::size_t contexts_ = 0;
  std::vector<double> p_;   // contexts x A, row-major
  std::vector<double> pi_;  // stationary law over contexts
};

}  // namespace tern
