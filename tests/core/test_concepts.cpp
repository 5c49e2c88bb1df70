// Concepts: the built-in types model them, and a type missing a member does not.
#include <catch2/catch.hpp>

#include <tern/tern.hpp>

using namespace tern;

namespace {
struct no_backward {  // a quantizer without backward
  template <class T>
  static matrix<T> fake_quantize(const matrix<T>& x) { return x; }
};
struct no_scalar_layer {  // a layer without the scalar typedef
  matrix<float> forward(const matrix<float>& x) { return x; }
  matrix<float> backward(const matrix<float>& x) { return x; }
  template <class F> void for_each_parameter(F&&) {}
};
struct no_visit_layer {
  using scalar = float;
  matrix<float> forward(const matrix<float>& x) { return x; }
  matrix<float> backward(const matrix<float>& x) { return x; }
};
struct bad_schedule {
  double lambda(std::int64_t) const { return 0; }  // no layer argument
};
}  // namespace

static_assert(Quantizer<absmean_ternary<per_group<128>>>);
static_assert(CodeQuantizer<absmax_int8<round_half_up>>);
static_assert(!Quantizer<no_backward>);
static_assert(!Layer<no_scalar_layer>);
static_assert(!Layer<no_visit_layer>);
static_assert(Layer<bit_linear<float, absmean_ternary<per_channel>, absmax_int8<>, no_norm<float>>>);
static_assert(Layer<rms_norm<float, gain::none>>);
static_assert(Schedule<layer_wise<sigmoid_warmup>>);
static_assert(!Schedule<bad_schedule>);

TEST_CASE("concept checks compile (static_asserts above)", "[concepts]") {
  // The assertions are compile-time; this case also checks the runtime face of one of them:
  // a code quantizer's quantized form exposes what the kernels need.
  const auto q = absmean_ternary<per_group<4>>::quantize(matrix<float>::Random(2, 9).eval());
  CHECK(q.group == 4);
  CHECK(q.scales.cols() == 3);
}
