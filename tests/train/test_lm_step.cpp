// The language-model step functions on a tiny transformer: the losses they return match
// independent double-precision formulas, a student identical to its teacher has zero KD loss
// and zero gradient, distillation steps pull a ternary student towards the teacher, and the
// validation loss does not depend on how windows are chunked.
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "tern/data/markov_source.hpp"
#include "tern/nn/projection_policy.hpp"
#include "tern/nn/transformer.hpp"
#include "tern/optim/adamw.hpp"
#include "tern/train/lm_step.hpp"
#include "tern/train/retain_heap.hpp"

namespace {

tern::transformer_config tiny() {
  tern::transformer_config c;
  c.dim = 8;
  c.n_layers = 1;
  c.n_heads = 2;
  c.n_kv_heads = 2;
  c.ffn_hidden = 16;
  c.max_seq = 6;
  c.init_std = 0.3;
  return c;
}

tern::byte_corpus small_corpus() {
  tern::markov_source_config sc;
  sc.alphabet = "abcdefgh";
  return tern::byte_corpus(tern::markov_source(sc).generate(2000, 1), "test corpus", 0.2, 7);
}

// log softmax(z_r / tau)[j], in double.
double log_softmax(const tern::matrix<float>& z, tern::index r, tern::index j, double tau) {
  double m = -1e300;
  for (tern::index k = 0; k < z.cols(); ++k) m = std::max(m, double(z(r, k)) / tau);
  double s = 0;
  for (tern::index k = 0; k < z.cols(); ++k) s += std::exp(double(z(r, k)) / tau - m);
  return double(z(r, j)) / tau - m - std::log(s);
}

double kl_manual(const tern::matrix<float>& student, const tern::matrix<float>& teacher, double tau) {
  double total = 0;
  for (tern::index r = 0; r < student.rows(); ++r)
    for (tern::index j = 0; j < student.cols(); ++j) {
      const double lq = log_softmax(teacher, r, j, tau), lp = log_softmax(student, r, j, tau);
      total += std::exp(lq) * (lq - lp);
    }
  return tau * tau * total / double(student.rows());
}

}  // namespace

TEST_CASE("lm_step: returns the mean cross-entropy of the batch") {
  const auto corpus = small_corpus();
  tern::transformer<float, tern::fp_policy> m(tiny(), 3);
  tern::rng r(1);
  const auto b = corpus.sample_train(3, 6, r);
  tern::cross_entropy<float> ce;
  m.zero_grad();
  const double loss = tern::lm_step(m, b, ce);
  const tern::matrix<float> logits = m.forward(b.inputs, 6);
  double expect = 0;
  for (tern::index row = 0; row < logits.rows(); ++row) expect -= log_softmax(logits, row, b.targets[std::size_t(row)], 1.0);
  expect /= double(logits.rows());
  CHECK(loss == Approx(expect).epsilon(1e-5));
  double gn = 0;
  m.for_each_parameter([&](std::string_view, tern::parameter<float>& p) { gn += p.grad.squaredNorm(); });
  CHECK(gn > 0);
}

TEST_CASE("kd_step: a student equal to its teacher has zero loss and zero gradient") {
  const auto corpus = small_corpus();
  tern::transformer<float, tern::fp_policy> teacher(tiny(), 3), student(tiny(), 3);
  tern::rng r(2);
  const auto b = corpus.sample_train(2, 6, r);
  tern::kd_loss<float> kd(2.0);
  student.zero_grad();
  const double loss = tern::kd_step(student, teacher, b, kd);
  CHECK(std::abs(loss) < 1e-6);
  student.for_each_parameter([&](std::string_view name, tern::parameter<float>& p) {
    INFO(name);
    CHECK(p.grad.cwiseAbs().maxCoeff() < 1e-6f);
  });
}

TEST_CASE("kd_step: loss matches tau^2 KL, and steps pull a ternary student towards the teacher") {
  const auto corpus = small_corpus();
  tern::transformer<float, tern::fp_policy> teacher(tiny(), 3);
  tern::transformer<float, tern::qat_policy> student(tiny(), 3);
  student.copy_parameters_from(teacher);
  student.set_lambda(1.0);
  tern::rng r(3);
  const auto b = corpus.sample_train(4, 6, r);
  tern::kd_loss<float> kd(1.5);
  student.zero_grad();
  const double first = tern::kd_step(student, teacher, b, kd);
  const tern::matrix<float> ls = student.forward(b.inputs, 6), lt = teacher.forward(b.inputs, 6);
  CHECK(first == Approx(kl_manual(ls, lt, 1.5)).epsilon(1e-4));
  CHECK(first > 0);
  tern::adamw<float> opt({.lr = 1e-2});
  opt.step(student);
  double last = first;
  for (int i = 0; i < 30; ++i) {
    student.zero_grad();
    last = tern::kd_step(student, teacher, b, kd);
    opt.step(student);
  }
  CHECK(last < 0.5 * first);
}

TEST_CASE("evaluate_lm: independent of chunking, equal to the per-window mean") {
  const auto corpus = small_corpus();
  tern::transformer<float, tern::fp_policy> m(tiny(), 5);
  const auto starts = corpus.validation_starts(6, 0);
  REQUIRE(starts.size() > 3);
  const double all = tern::evaluate_lm(m, corpus, starts, 6, 1000);
  const double ones = tern::evaluate_lm(m, corpus, starts, 6, 1);
  CHECK(all == Approx(ones).epsilon(1e-5));
  double manual = 0;
  tern::cross_entropy<float> ce;
  for (auto s : starts) {
    const auto b = corpus.validation_batch({s}, 6);
    manual += ce.forward(m.forward(b.inputs, 6), b.targets);
  }
  CHECK(all == Approx(manual / double(starts.size())).epsilon(1e-5));
}

TEST_CASE("retain_heap configures glibc's allocator, and says so", "[train][heap]") {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // The sanitizers replace malloc; their mallopt accepts nothing: documented, returns false.
  CHECK_FALSE(tern::retain_heap());
#elif defined(__GLIBC__)
  CHECK(tern::retain_heap());
  // Allocations keep working after the change, including above the old mmap threshold.
  std::vector<float> big(std::size_t(1) << 20, 1.0f);
  CHECK(big.back() == 1.0f);
#else
  CHECK_FALSE(tern::retain_heap());  // documented: no effect outside glibc
#endif
}
