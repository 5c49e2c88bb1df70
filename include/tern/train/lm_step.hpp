#pragma once
// The step functions of language-model training, for tern::train's step_fn, and the
// validation loss, for any vocabulary (byte_corpus, token_corpus). Model: anything with forward(std::span<const token>, seq) -> logits
// ((B*seq) x vocab) and backward(dlogits), such as tern::transformer.
//
//   lm_step:  L = CE(model(x), y)                          mean nats per token
//   kd_step:  L = tau^2 KL(softmax(teacher(x)/tau) || softmax(student(x)/tau))
//             the teacher runs forward only (no gradient); the student's gradient is
//             tau (p - q) / N (see nn/kd_loss.hpp). The true next bytes are not used.
//   evaluate_lm: mean CE over fixed validation windows, in chunks of `chunk` windows,
//             weighted by tokens (nats per token: per byte for a byte corpus). Corpus: anything
//             with validation_batch(starts, seq) -> token_batch (byte_corpus, token_corpus).
#include <algorithm>
#include <cstddef>
#include <vector>

#include "tern/core/matrix.hpp"
#include "tern/data/byte_corpus.hpp"
#include "tern/nn/cross_entropy.hpp"
#include "tern/nn/kd_loss.hpp"

namespace tern {

/// Forward, cross-entropy and backward on one batch; returns the loss. Gradients accumulate.
template <class Model>
double lm_step(Model& model, const token_batch& b, cross_entropy<typename Model::scalar>& ce) {
  const matrix<typename Model::scalar> logits = model.forward(b.inputs, b.seq);
  const double loss = double(ce.forward(logits, b.targets));
  model.backward(ce.backward());
  return loss;
}

/// Distillation step: the student learns the teacher's (softened) next-byte distribution.
template <class Student, class Teacher>
double kd_step(Student& student, Teacher& teacher, const token_batch& b, kd_loss<typename Student::scalar>& kd) {
  const matrix<typename Student::scalar> target = teacher.forward(b.inputs, b.seq);
  const matrix<typename Student::scalar> logits = student.forward(b.inputs, b.seq);
  const double loss = double(kd.forward(logits, target));
  student.backward(kd.backward());
  return loss;
}

/// Mean cross-entropy over the validation windows `starts` (from Corpus::validation_starts).
template <class Model, class Corpus>
double evaluate_lm(Model& model, const Corpus& corpus, const std::vector<index>& starts, index seq,
                   std::size_t chunk = 32) {
  cross_entropy<typename Model::scalar> ce;
  double total = 0;
  double count = 0;
  for (std::size_t i = 0; i < starts.size(); i += chunk) {
    const std::vector<index> part(starts.begin() + std::ptrdiff_t(i),
                                  starts.begin() + std::ptrdiff_t(std::min(starts.size(), i + chunk)));
    const token_batch b = corpus.validation_batch(part, seq);
    const matrix<typename Model::scalar> logits = model.forward(b.inputs, seq);
    total += double(ce.forward(logits, b.targets)) * double(b.inputs.size());
    count += double(b.inputs.size());
  }
  return count > 0 ? total / count : 0.0;
}

}  // namespace tern
