#pragma once
// Instruction-set tags for the ternary kernels, xsimd style, and the two ways to pick one.
//
// Tags inherit from the less capable ones (amx : avx512vnni : avx512bw : avx2 : generic on x86,
// neon_dotprod : neon : generic on AArch64), and
// every kernel is an overload on a tag parameter: the most specific overload wins and a tag
// without its own overload falls back to its base by itself. `reference` is not in the chain;
// it names the scalar specification (kernels/reference.hpp).
//
// Picking a path:
//  - compile time (default): `best_arch` is the most capable tag the translation unit's own
//    target flags (-march=..., -mavx2, ...) allow; nothing is checked at run time.
//  - run time (opt in): `detect_path()` asks the CPU (and, for AMX, the Linux kernel), and
//    `run_path(p, f)` calls f with the matching tag. The x86 paths are compiled with
//    function-level target attributes, so they exist in every x86 translation unit whatever its
//    flags, and are only ever called after the CPU said yes. Same on AArch64: neon is always
//    there, neon_dotprod has a target attribute and is asked for through Linux's HWCAP_ASIMDDP.
//
// ODR safety (the Highway rule): every kernel lives in the inline namespace TERN_KERNELS_ABI,
// whose name encodes the translation unit's baseline instruction set. Two translation units
// built with different -m flags therefore never share a kernel symbol, so the linker can never
// keep the AVX-512 copy of an inline function for code that runs on an AVX2-only CPU.
#include <string_view>

#if defined(__x86_64__) || defined(_M_X64)
#define TERN_KERNELS_X86 1
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#else
#define TERN_KERNELS_X86 0
#endif

#if defined(__aarch64__) && defined(__ARM_NEON)
#define TERN_KERNELS_NEON 1
#if defined(__linux__)
#include <sys/auxv.h>
#endif
#else
#define TERN_KERNELS_NEON 0
#endif

#if defined(__AMX_INT8__) && defined(__AMX_TILE__) && defined(__AVX512VNNI__)
#define TERN_KERNELS_ABI abi_amx
#elif defined(__AVX512VNNI__) && defined(__AVX512BW__)
#define TERN_KERNELS_ABI abi_avx512vnni
#elif defined(__AVX512BW__)
#define TERN_KERNELS_ABI abi_avx512bw
#elif defined(__AVX512F__)
#define TERN_KERNELS_ABI abi_avx512f
#elif defined(__AVX2__)
#define TERN_KERNELS_ABI abi_avx2
#elif defined(__AVX__)
#define TERN_KERNELS_ABI abi_avx
#elif defined(__SSE4_1__)
#define TERN_KERNELS_ABI abi_sse41
#elif defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)
#define TERN_KERNELS_ABI abi_aarch64_dotprod
#elif defined(__aarch64__)
#define TERN_KERNELS_ABI abi_aarch64
#else
#define TERN_KERNELS_ABI abi_baseline
#endif

namespace tern::kernels {
inline namespace TERN_KERNELS_ABI {

/// The scalar specification (not part of the fallback chain).
struct reference {
  static constexpr std::string_view name = "ref";
};
/// Portable path written with xsimd for xsimd's default architecture of this translation unit.
struct generic {
  static constexpr std::string_view name = "xsimd";
};
/// AVX2: vpmaddubsw + vpmaddwd.
struct avx2 : generic {
  static constexpr std::string_view name = "avx2";
};
/// AVX-512BW: the AVX2 scheme on 512-bit registers.
struct avx512bw : avx2 {
  static constexpr std::string_view name = "avx512bw";
};
/// AVX-512 VNNI: vpdpbusd (u8 x s8 -> s32).
struct avx512vnni : avx512bw {
  static constexpr std::string_view name = "avx512vnni";
};
/// AMX-INT8 tiles (GEMM only). Falls back to avx512vnni for everything it does not override.
struct amx : avx512vnni {
  static constexpr std::string_view name = "amx";
};

/// AArch64 NEON: smull/smlal into int16, sadalp into int32 (ARMv8.0, always present).
struct neon : generic {
  static constexpr std::string_view name = "neon";
};
/// AArch64 NEON DotProd (ARMv8.2): sdot (s8 x s8 -> s32).
struct neon_dotprod : neon {
  static constexpr std::string_view name = "neon-dotprod";
};

/// Run-time names of the paths, x86 ones in order of capability, then the AArch64 ones.
enum class path { reference, generic, avx2, avx512bw, avx512vnni, amx, neon, neon_dotprod };

/// The paths of this architecture (what the tests walk).
#if TERN_KERNELS_NEON
inline constexpr path all_paths[] = {path::reference, path::generic, path::neon, path::neon_dotprod};
#else
inline constexpr path all_paths[] = {path::reference, path::generic,    path::avx2,
                                     path::avx512bw,  path::avx512vnni, path::amx};
#endif

inline constexpr std::string_view path_name(path p) {
  switch (p) {
    case path::reference: return reference::name;
    case path::generic: return generic::name;
    case path::avx2: return avx2::name;
    case path::avx512bw: return avx512bw::name;
    case path::avx512vnni: return avx512vnni::name;
    case path::amx: return amx::name;
    case path::neon: return neon::name;
    case path::neon_dotprod: return neon_dotprod::name;
  }
  return "?";
}

/// The most capable tag this translation unit's target flags allow (compile-time selection).
/// AMX is never chosen implicitly: it needs the run-time permission request (see amx_usable).
#if TERN_KERNELS_X86 && defined(__AVX512VNNI__) && defined(__AVX512BW__) && defined(__AVX512VL__)
using best_arch = avx512vnni;
#elif TERN_KERNELS_X86 && defined(__AVX512BW__) && defined(__AVX512VL__)
using best_arch = avx512bw;
#elif TERN_KERNELS_X86 && defined(__AVX2__)
using best_arch = avx2;
#elif TERN_KERNELS_NEON && defined(__ARM_FEATURE_DOTPROD)
using best_arch = neon_dotprod;
#elif TERN_KERNELS_NEON
using best_arch = neon;
#else
using best_arch = generic;
#endif

/// Asks the Linux kernel for permission to use the AMX tile data state (arch_prctl
/// ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA); without it the first tile load faults.
inline bool amx_permission() {
#if TERN_KERNELS_X86 && defined(__linux__) && defined(SYS_arch_prctl)
  static const bool granted = [] {
    constexpr long arch_req_xcomp_perm = 0x1023;
    constexpr long xfeature_xtiledata = 18;
    return syscall(SYS_arch_prctl, arch_req_xcomp_perm, xfeature_xtiledata) == 0;
  }();
  return granted;
#else
  return false;
#endif
}

/// True when this CPU (and OS) can run path p. The x86 paths exist in every x86 build.
inline bool cpu_supports(path p) {
  switch (p) {
    case path::reference:
    case path::generic: return true;
#if TERN_KERNELS_X86
    case path::avx2: return __builtin_cpu_supports("avx2");
    case path::avx512bw:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl");
    case path::avx512vnni:
      return cpu_supports(path::avx512bw) && __builtin_cpu_supports("avx512vnni");
    case path::amx:
      return cpu_supports(path::avx512vnni) && __builtin_cpu_supports("amx-tile") &&
             __builtin_cpu_supports("amx-int8") && amx_permission();
#endif
#if TERN_KERNELS_NEON
    case path::neon: return true;
    case path::neon_dotprod:
#if defined(__ARM_FEATURE_DOTPROD)
      return true;
#elif defined(__linux__) && defined(HWCAP_ASIMDDP)
      return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#else
      return false;
#endif
#endif
    default: return false;
  }
  return false;
}

/// The most capable non-AMX path this CPU runs (run-time selection; AMX only on request).
inline path detect_path() {
#if TERN_KERNELS_NEON
  return cpu_supports(path::neon_dotprod) ? path::neon_dotprod : path::neon;
#else
  for (path p : {path::avx512vnni, path::avx512bw, path::avx2})
    if (cpu_supports(p)) return p;
  return path::generic;
#endif
}

/// Calls f(tag) with the tag of path p (the caller checks cpu_supports(p) first).
template <class F>
decltype(auto) run_path(path p, F&& f) {
  switch (p) {
    case path::reference: return f(reference{});
#if TERN_KERNELS_X86
    case path::avx2: return f(avx2{});
    case path::avx512bw: return f(avx512bw{});
    case path::avx512vnni: return f(avx512vnni{});
    case path::amx: return f(amx{});
#endif
#if TERN_KERNELS_NEON
    case path::neon: return f(neon{});
    case path::neon_dotprod: return f(neon_dotprod{});
#endif
    default: return f(generic{});
  }
}

}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels
