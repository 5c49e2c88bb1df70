// Compiled WITHOUT the native ISA flags (-march=x86-64 on x86, see CMakeLists.txt) and linked into
// test_kernels next to the natively compiled test_kernels.cpp. It checks that (1) a baseline
// translation unit still reaches every fast path through run-time dispatch (function-level
// target attributes), (2) xsimd's portable path works at its baseline width (SSE2: 16 bytes),
// and (3) the two copies of the kernels do not clash at link time (ABI namespace per baseline).
// The interface is plain data so that no tern::kernels type crosses the two ABIs.
#include <cstdint>
#include <string>
#include <vector>

#include "tern/kernels/gemm.hpp"

namespace tern_test {

std::string baseline_abi_name() {
#define TERN_TEST_STR2(x) #x
#define TERN_TEST_STR(x) TERN_TEST_STR2(x)
  return TERN_TEST_STR(TERN_KERNELS_ABI);
}

/// acc(n, i, g) of a path (index into tern::kernels::all_paths), or empty if the CPU lacks it.
std::vector<std::int32_t> baseline_gemm_acc(const std::int8_t* w, const std::int8_t* x, const float* wscales,
                                            long m, long k, long n, long group, int path_index, bool base3) {
  namespace tk = tern::kernels;
  const tk::path p = tk::all_paths[path_index];
  if (!tk::cpu_supports(p)) return {};
  const tern::matrix<std::int8_t> wc = Eigen::Map<const tern::matrix<std::int8_t>>(w, m, k);
  const tk::k_layout probe = tk::k_layout::make(k, group);
  const tern::matrix<float> s = Eigen::Map<const tern::matrix<float>>(wscales, 1, probe.groups);
  tern::quantized<float> xq;
  xq.codes = Eigen::Map<const tern::matrix<std::int8_t>>(x, n, k);
  xq.scales = tern::matrix<float>::Ones(n, 1);
  xq.group = k;
  tk::accumulators a;
  if (base3) {
    const tk::packed_ternary_base3 pw(wc, s, group);
    a = tk::gemm_acc(pw, tk::make_activations(xq, pw.layout()), p);
  } else {
    const tk::packed_ternary pw(wc, s, group);
    a = tk::gemm_acc(pw, tk::make_activations(xq, pw.layout()), p);
  }
  return a.v;
}

}  // namespace tern_test
