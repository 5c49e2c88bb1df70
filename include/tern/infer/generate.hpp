#pragma once
// Text generation: a prompt through the model (prefill, the GEMM kernels), then one token at a
// time (decode, the GEMV kernels), each drawn by a sampler and handed to a callback as it comes.
//
//   generate_stats st = infer::generate(session, prompt, opts, [](token t) { ... return true; }, pool);
//
// Stops after opts.max_new_tokens tokens, when the callback returns false, or when it draws
// opts.stop_token (which is not handed out). The context is the session's cache: a prompt longer
// than the cache keeps its last capacity - 1 tokens (stats.prompt_tokens says how many ran), and
// when the cache fills during decode the last half of the context is run again from position 0
// (a context shift, counted in stats.context_shifts and timed as decode).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "tern/infer/sampler.hpp"
#include "tern/infer/session.hpp"
#include "tern/kernels/executor.hpp"

namespace tern::infer {

struct generate_options {
  index max_new_tokens = 128;
  sampling_options sampling;
  token stop_token = -1;  ///< < 0: none
};

struct generate_stats {
  index prompt_tokens = 0;  ///< prompt tokens run (after any truncation to the context)
  index new_tokens = 0;     ///< tokens handed to the callback
  index decode_steps = 0;   ///< one-token forwards
  index context_shifts = 0;
  bool stopped = false;     ///< ended by the stop token or the callback
  double prefill_seconds = 0, decode_seconds = 0;
  double prefill_tokens_per_s() const { return prefill_seconds > 0 ? double(prompt_tokens) / prefill_seconds : 0.0; }
  double decode_tokens_per_s() const { return decode_seconds > 0 ? double(decode_steps) / decode_seconds : 0.0; }
};

/// on_token(token) -> bool (false stops) or void. The session's context is reset first.
template <kernels::executor Exec, class OnToken>
generate_stats generate(session& s, std::span<const token> prompt, const generate_options& o, OnToken&& on_token, Exec& ex) {
  if (prompt.empty()) throw std::invalid_argument("tern::infer::generate: the prompt is empty");
  if (o.max_new_tokens < 0) throw std::invalid_argument("tern::infer::generate: max_new_tokens must be >= 0");
  using clock = std::chrono::steady_clock;
  sampler pick(o.sampling);
  generate_stats st;
  const index cap = s.cache().capacity();
  std::vector<token> context(prompt.begin(), prompt.end());
  if (index(context.size()) > cap - 1) context.erase(context.begin(), context.end() - (cap - 1));
  st.prompt_tokens = static_cast<index>(context.size());
  s.reset();
  auto t0 = clock::now();
  const matrix<float>* logits = &s.forward(context, false, ex);
  st.prefill_seconds = std::chrono::duration<double>(clock::now() - t0).count();
  if (o.max_new_tokens == 0) return st;
  t0 = clock::now();
  for (;;) {
    const token next = pick.sample(std::span<const float>(logits->data(), std::size_t(logits->cols())));
    if (next == o.stop_token) {
      st.stopped = true;
      break;
    }
    ++st.new_tokens;
    bool go = true;
    if constexpr (std::is_same_v<std::invoke_result_t<OnToken&, token>, void>) on_token(next);
    else go = on_token(next);
    if (!go) {
      st.stopped = true;
      break;
    }
    if (st.new_tokens >= o.max_new_tokens) break;
    context.push_back(next);
    if (s.cache().free() == 0) {  // context shift: keep the last half, run it again from 0
      context.erase(context.begin(), context.end() - std::max<index>(1, cap / 2));
      s.reset();
      logits = &s.forward(context, false, ex);
      ++st.context_shifts;
    } else {
      logits = &s.forward(std::span<const token>(&context.back(), 1), false, ex);
      ++st.decode_steps;
    }
  }
  st.decode_seconds = std::chrono::duration<double>(clock::now() - t0).count();
  return st;
}

}  // namespace tern::infer
