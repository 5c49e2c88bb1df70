// The kernel API end to end, as docs/kernels.md shows it: pack, unpack, quantize activations,
// every way to call the GEMM, and the checks that the answers agree.
#include <cstdio>
#include <string_view>

#include "tern/kernels/gemm.hpp"
#include "tern/quant/absmean_ternary.hpp"

int main(int argc, char** argv) {
  if (argc > 1) {  // no options: --help says so, anything else is refused
    const bool help = argc == 2 && (std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h");
    std::fprintf(help ? stdout : stderr, "%susage: kernel_tour   (takes no options)\n", help ? "" : "kernel_tour: unknown arguments\n");
    return help ? 0 : 2;
  }
  const tern::matrix<float> weights = tern::matrix<float>::Random(300, 777);  // M x K, any sizes
  const tern::matrix<float> tokens = tern::matrix<float>::Random(5, 777);     // N x K

  // Packing: from the training quantizer's integer form, or from raw codes and scales.
  const tern::quantized<float> wq = tern::absmean_ternary<tern::per_channel>::quantize(weights);
  tern::kernels::packed_ternary w(wq);                                      // 2 bits per weight
  tern::kernels::packed_ternary same(wq.codes, wq.scales, wq.group);        // int8 codes in {-1,0,1}
  tern::quantized<float> q = w.unpack();                                    // lossless inverse

  namespace tk = tern::kernels;
  auto x = tk::quantize_activations(tokens, w.layout(), tk::norm_fold::rms);  // per call

  tern::matrix<float> y = tk::gemm(w, x);                   // compile-time path (best_arch)
  tk::gemm(w, x, y);                                        // into a preallocated tokens x M y
  tk::thread_pool pool(2);
  y = tk::gemm(w, x, tk::best_arch{}, pool);                // a given path tag, two threads
  y = tk::gemm(w, x, tk::detect_path(), pool);              // run-time dispatch
  tk::accumulators acc = tk::gemm_acc(w, x, tk::detect_path());  // the int32 accumulators
  tern::matrix<float> y_ref = tk::gemm_ref(w, x);           // the specification

  const bool lossless = q.codes == wq.codes && q.scales == wq.scales && same.unpack().codes == wq.codes;
  const bool exact = acc.v == tk::gemm_acc_ref(w, x).v;
  const float err = (y - y_ref).cwiseAbs().maxCoeff();
  std::printf("packed %zu bytes, round trip %s, accumulators %s, max |y - y_ref| = %g\n", w.bytes(),
              lossless ? "lossless" : "LOSSY", exact ? "bit-exact" : "DIFFER", err);
  return lossless && exact && err <= 1e-4f * (1.0f + y_ref.cwiseAbs().maxCoeff()) ? 0 : 1;
}
