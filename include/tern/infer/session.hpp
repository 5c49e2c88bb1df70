#pragma once
// One generation's state over a shared frozen model: its KV cache, its forward buffers and the
// kernel path it runs on. The model is only read; make one session per thread.
//
//   infer::session s(model);                       // path: the best this CPU runs (detect_path)
//   const matrix<float>& logits = s.forward(prompt, /*all_logits=*/false, pool);   // prefill
//   ... s.forward(std::span(&next, 1), false, pool) ...                            // decode
//   s.forward_on(kernels::avx512vnni{}, tokens, false, pool);   // a compile-time path instead
#include <span>
#include <stdexcept>
#include <string>

#include "tern/infer/inference_model.hpp"
#include "tern/infer/kv_cache.hpp"
#include "tern/kernels/arch.hpp"
#include "tern/kernels/executor.hpp"

namespace tern::infer {

class session {
 public:
  /// capacity: positions of context (default: the model's default_capacity()); p: the kernel path, which
  /// the CPU must run (std::invalid_argument otherwise).
  explicit session(const inference_model& m, kernels::path p = kernels::detect_path(), index capacity = -1)
      : model_(&m), cache_(m.make_cache(capacity)), path_(p) {
    if (!kernels::cpu_supports(p))
      throw std::invalid_argument("tern::infer::session: kernel path " + std::string(kernels::path_name(p)) +
                                  " is not supported by this CPU/OS");
  }

  const inference_model& model() const { return *model_; }
  const kv_cache& cache() const { return cache_; }
  kv_cache& cache() { return cache_; }
  kernels::path path() const { return path_; }
  /// Positions in the context.
  index position() const { return cache_.size(); }
  /// Forgets the context.
  void reset() { cache_.clear(); }

  /// Runs tokens after the context on the session's path; returns their logits (every row, or
  /// the last). The reference stays valid until the next forward.
  template <kernels::executor Exec>
  const matrix<float>& forward(std::span<const token> tokens, bool all_logits, Exec& ex) {
    model_->forward(tokens, cache_, scratch_, all_logits, path_, ex);
    return scratch_.logits;
  }
  /// The same on a compile-time path (an arch tag such as kernels::best_arch{}).
  template <class Arch, kernels::executor Exec>
  const matrix<float>& forward_on(Arch arch, std::span<const token> tokens, bool all_logits, Exec& ex) {
    model_->forward(tokens, cache_, scratch_, all_logits, arch, ex);
    return scratch_.logits;
  }

 private:
  const inference_model* model_;
  kv_cache cache_;
  forward_scratch scratch_;
  kernels::path path_;
};

}  // namespace tern::infer
