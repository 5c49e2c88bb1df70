// Must NOT compile: freezing a policy the kernels cannot run is a compile-time error with a
// readable message (tests/infer/CMakeLists.txt compiles this with each TERN_CASE and checks the
// message). Never built as part of a target.
#include "tern/infer/freeze.hpp"

#if TERN_CASE == 1  // activations rounded half up: the kernels round half to even
using act = tern::absmax_int8<tern::round_half_up>;
using proj = tern::projection<tern::absmean_ternary<>, act, tern::learned_rms_norm>;
#elif TERN_CASE == 2  // full-precision weights with int8 activations: no kernel for that
using proj = tern::projection<tern::identity_quantizer, tern::absmax_int8<>, tern::no_norm>;
#endif
using policy = tern::model_policy<proj>;

int main() {
  tern::transformer<float, policy> m(tern::transformer_config{}, 1);
  (void)tern::infer::freeze(m);
}
