// The building blocks as policies: the same projection built four ways, a layer-wise schedule,
// and the integer form the kernels consume. Shown piece by piece in docs/foundation.md.
#include <tern/tern.hpp>

#include <cstdio>
#include <string_view>

// The paper's projection: absmean ternary weights, absmax int8 activations, extra RMSNorm.
using paper_proj = tern::bit_linear<float>;
// BitNet QAT without the extra norm.
using bitnet_proj = tern::bit_linear<float, tern::absmean_ternary<>, tern::absmax_int8<>, tern::no_norm<float>>;
// Per-group scales (64 along K), PyTorch-incompatible half-up rounding, clipped STE, gain-free norm.
using variant_proj =
    tern::bit_linear<float, tern::absmean_ternary<tern::per_group<64>, tern::round_half_up, tern::clipped_ste>,
                     tern::absmax_int8<tern::round_half_up>, tern::rms_norm<float, tern::gain::none>>;
// Full precision: the FP baseline is the same class.
using fp_proj = tern::fp_linear<float>;

template <class Proj>
float output_norm(const tern::matrix<float>& w, const tern::matrix<float>& x) {
  Proj p(w);                    // weights out x in
  return p.forward(x).norm();   // lambda defaults to 1: fully quantized
}

int main(int argc, char** argv) {
  if (argc > 1) {  // no options: --help says so, anything else is refused
    const bool help = argc == 2 && (std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h");
    std::fprintf(help ? stdout : stderr, "%susage: compose_policies   (takes no options)\n", help ? "" : "compose_policies: unknown arguments\n");
    return help ? 0 : 2;
  }
  const tern::matrix<float> w = tern::matrix<float>::Random(96, 128), x = tern::matrix<float>::Random(4, 128);
  std::printf("|y|  fp %.3f  bitnet %.3f  paper %.3f  variant %.3f\n", output_norm<fp_proj>(w, x),
              output_norm<bitnet_proj>(w, x), output_norm<paper_proj>(w, x), output_norm<variant_proj>(w, x));

  // Four layers quantized one after another, last to first, each over 100 steps, 50 apart.
  const tern::layer_wise<tern::linear_warmup> schedule(tern::linear_warmup(100), /*n_layers=*/4,
                                                       /*start=*/0, /*delay=*/50, tern::layer_order::last_to_first);
  for (std::int64_t step : {0, 100, 200, 250})
    std::printf("step %3ld  lambda per layer: %.2f %.2f %.2f %.2f\n", long(step), schedule.lambda(step, 0),
                schedule.lambda(step, 1), schedule.lambda(step, 2), schedule.lambda(step, 3));

  // The integer form: int8 codes in {-1, 0, 1} and the dequantization scales the kernels use.
  const tern::quantized<float> q = tern::absmean_ternary<tern::per_group<64>>::quantize(w);
  std::printf("codes %ldx%ld, scales %ldx%ld (per row, per 64 columns)\n", long(q.codes.rows()),
              long(q.codes.cols()), long(q.scales.rows()), long(q.scales.cols()));

  // Bad shapes name both shapes.
  try {
    paper_proj p(w);
    p.forward(tern::matrix<float>::Zero(2, 100));
  } catch (const tern::shape_error& e) {
    std::printf("shape_error: %s\n", e.what());
  }
}
