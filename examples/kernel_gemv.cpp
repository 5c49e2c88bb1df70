// Ternary kernels in a few lines: quantize float weights to ternary, pack them, quantize a
// token with the gain-free RMSNorm folded into its scale, and run the GEMV on the best path
// this CPU has (run-time dispatch) with two threads; checked against the scalar reference.
#include <cstdio>
#include <random>
#include <string_view>

#include "tern/kernels/gemm.hpp"
#include "tern/quant/absmean_ternary.hpp"

int main(int argc, char** argv) {
  if (argc > 1) {  // no options: --help says so, anything else is refused
    const bool help = argc == 2 && (std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h");
    std::fprintf(help ? stdout : stderr, "%susage: kernel_gemv   (takes no options)\n", help ? "" : "kernel_gemv: unknown arguments\n");
    return help ? 0 : 2;
  }
  namespace tk = tern::kernels;
  const tern::index out = 512, in = 1000;  // any shape: no multiple-of-256 rule
  std::mt19937 rng(42);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  tern::matrix<float> w(out, in), x(1, in);
  for (tern::index i = 0; i < w.size(); ++i) w.data()[i] = normal(rng);
  for (tern::index i = 0; i < x.size(); ++i) x.data()[i] = 3.0f * normal(rng);

  // Ternary codes with one scale per output row, packed at 2 bits per weight.
  const tk::packed_ternary packed(tern::absmean_ternary<tern::per_channel>::quantize(w));
  // int8 codes of x; the scale also divides by rms(x), i.e. y = W * Q(x / rms(x)).
  const tk::quantized_activations xq = tk::quantize_activations(x, packed.layout(), tk::norm_fold::rms);

  tk::thread_pool pool(2);
  const tk::path p = tk::detect_path();
  const tern::matrix<float> y = tk::gemm(packed, xq, p, pool);
  const tern::matrix<float> y_ref = tk::gemm_ref(packed, xq);

  const float err = (y - y_ref).cwiseAbs().maxCoeff();
  std::printf("path %s: y is %ldx%ld, %zu bytes of weights, max |y - y_ref| = %g\n",
              std::string(tk::path_name(p)).c_str(), long(y.rows()), long(y.cols()), packed.bytes(), err);
  return err <= 1e-4f * (1.0f + y_ref.cwiseAbs().maxCoeff()) ? 0 : 1;
}
