#pragma once
// Instruction-set tags for the ternary kernels, xsimd style, and the two ways to pick one.
//
// Tags inherit from the less capable ones (amx : avx512vnni : avx512bw : avx2 : generic on x86,
// neon_dotprod : neon : generic on AArch64), and every kernel is an overload on a tag parameter:
// the most specific overload wins and a tag without its own overload falls back to its base by
// itself. `reference` is not in the chain; it names the scalar specification (reference.hpp).
//
// Capability on the tag (the ArchTag concept below): each tag states its run-time name, its
// `path` value, whether the CPU runs it (`supported()`), whether this translation unit's flags
// already guarantee it (`native`) and whether automatic selection may pick it (`automatic`).
// One list of tags per platform (`platform_archs`) then drives everything that enumerates paths:
// `all_paths`, `path_name`, `cpu_supports`, `detect_path`, `run_path`, `best_arch`, the tests
// and the benchmark. Adding an instruction set is one tag here, one `path` value, one entry in
// the list and one kernel file (kernels/detail/).
//
// Picking a path:
//  - compile time (default): `best_arch` is the most capable automatic tag whose `native` is
//    true; nothing is checked at run time.
//  - run time (opt in): `detect_path()` asks the CPU (and, for AMX, the Linux kernel), and
//    `run_path(p, f)` calls f with the matching tag. The x86 kernels carry function-level target
//    attributes, so they exist in every x86 translation unit whatever its flags, and are only
//    ever called after the CPU said yes. Same on AArch64: neon is always there, neon_dotprod has
//    a target attribute and is asked for through Linux's HWCAP_ASIMDDP.
//
// ODR safety (the Highway rule): every kernel lives in the inline namespace TERN_KERNELS_ABI,
// whose name encodes the translation unit's baseline instruction set. Two translation units
// built with different -m flags therefore never share a kernel symbol, so the linker can never
// keep the AVX-512 copy of an inline function for code that runs on an AVX2-only CPU.
#include <concepts>
#include <cstddef>
#include <string_view>
#include <type_traits>

#if defined(__x86_64__) || defined(_M_X64)
#define TERN_KERNELS_X86 1
#include <cpuid.h>
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

/// Run-time names of the paths, x86 ones in order of capability, then the AArch64 ones.
enum class path { reference, generic, avx2, avx512bw, avx512vnni, amx, neon, neon_dotprod };

/// What a path tag states about itself (the compiler checks the members exist; what it cannot
/// check: `supported()` is true only where every kernel of the tag and of its bases may run,
/// and `native` implies `supported()`).
///   A::name       run-time name (path_name, benchmark names)
///   A::id         its `path` value
///   A::native     this translation unit's target flags guarantee the instructions
///   A::automatic  best_arch / detect_path may pick it (AMX and the reference only on request)
///   A::supported  whether this CPU and OS run it (cached CPU queries)
template <class A>
concept ArchTag = requires {
  { A::name } -> std::convertible_to<std::string_view>;
  { A::id } -> std::convertible_to<path>;
  { A::native } -> std::convertible_to<bool>;
  { A::automatic } -> std::convertible_to<bool>;
  { A::supported() } -> std::same_as<bool>;
};

/// The scalar specification (not part of the fallback chain).
struct reference {
  static constexpr std::string_view name = "ref";
  static constexpr path id = path::reference;
  static constexpr bool native = true, automatic = false;
  static bool supported() { return true; }
};

/// Portable path written with xsimd for xsimd's default architecture of this translation unit.
struct generic {
  static constexpr std::string_view name = "xsimd";
  static constexpr path id = path::generic;
  static constexpr bool native = true, automatic = true;
  static bool supported() { return true; }
};

/// AVX2: vpmaddubsw + vpmaddwd.
struct avx2 : generic {
  static constexpr std::string_view name = "avx2";
  static constexpr path id = path::avx2;
#if TERN_KERNELS_X86 && defined(__AVX2__)
  static constexpr bool native = true;
#else
  static constexpr bool native = false;
#endif
  static bool supported() {
#if TERN_KERNELS_X86
    return __builtin_cpu_supports("avx2");
#else
    return false;
#endif
  }
};

/// AVX-512BW: the AVX2 scheme on 512-bit registers.
struct avx512bw : avx2 {
  static constexpr std::string_view name = "avx512bw";
  static constexpr path id = path::avx512bw;
#if TERN_KERNELS_X86 && defined(__AVX512BW__) && defined(__AVX512VL__)
  static constexpr bool native = true;
#else
  static constexpr bool native = false;
#endif
  static bool supported() {
#if TERN_KERNELS_X86
    return avx2::supported() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
#else
    return false;
#endif
  }
};

/// AVX-512 VNNI: vpdpbusd (u8 x s8 -> s32).
struct avx512vnni : avx512bw {
  static constexpr std::string_view name = "avx512vnni";
  static constexpr path id = path::avx512vnni;
#if TERN_KERNELS_X86 && defined(__AVX512VNNI__) && defined(__AVX512BW__) && defined(__AVX512VL__)
  static constexpr bool native = true;
#else
  static constexpr bool native = false;
#endif
  static bool supported() {
#if TERN_KERNELS_X86
    return avx512bw::supported() && __builtin_cpu_supports("avx512vnni");
#else
    return false;
#endif
  }
};

namespace detail {
/// CPUID leaf 7: EDX bit 24 AMX-TILE, bit 25 AMX-INT8 (asked directly: clang's
/// __builtin_cpu_supports does not know the AMX names).
inline bool cpu_has_amx_int8() {
#if TERN_KERNELS_X86
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  return (d >> 24 & 1u) && (d >> 25 & 1u);
#else
  return false;
#endif
}
}  // namespace detail

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

/// AMX-INT8 tiles (tq2 GEMM only). Falls back to avx512vnni for everything it does not override.
/// Never picked automatically: it needs the run-time permission request above.
struct amx : avx512vnni {
  static constexpr std::string_view name = "amx";
  static constexpr path id = path::amx;
  static constexpr bool native = false, automatic = false;
  static bool supported() {
#if TERN_KERNELS_X86
    return avx512vnni::supported() && detail::cpu_has_amx_int8() && amx_permission();
#else
    return false;
#endif
  }
};

/// AArch64 NEON: smull/smlal into int16, sadalp into int32 (ARMv8.0, always present).
struct neon : generic {
  static constexpr std::string_view name = "neon";
  static constexpr path id = path::neon;
  static constexpr bool native = TERN_KERNELS_NEON != 0;
  static bool supported() { return TERN_KERNELS_NEON != 0; }
};

/// AArch64 NEON DotProd (ARMv8.2): sdot (s8 x s8 -> s32).
struct neon_dotprod : neon {
  static constexpr std::string_view name = "neon-dotprod";
  static constexpr path id = path::neon_dotprod;
#if TERN_KERNELS_NEON && defined(__ARM_FEATURE_DOTPROD)
  static constexpr bool native = true;
#else
  static constexpr bool native = false;
#endif
  static bool supported() {
#if TERN_KERNELS_NEON && defined(__ARM_FEATURE_DOTPROD)
    return true;
#elif TERN_KERNELS_NEON && defined(__linux__) && defined(HWCAP_ASIMDDP)
    return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#else
    return false;
#endif
  }
};

/// A list of tags in order of capability (each may only follow its bases).
template <ArchTag... A>
struct arch_list {
  static constexpr std::size_t size = sizeof...(A);
  static constexpr path ids[sizeof...(A)] = {A::id...};
};

/// Every tag of every platform (path_name knows them all).
using every_arch = arch_list<reference, generic, avx2, avx512bw, avx512vnni, amx, neon, neon_dotprod>;

/// The tags of this platform: what all_paths, cpu_supports, detect_path, run_path, the tests and
/// the benchmark walk.
#if TERN_KERNELS_NEON
using platform_archs = arch_list<reference, generic, neon, neon_dotprod>;
#elif TERN_KERNELS_X86
using platform_archs = arch_list<reference, generic, avx2, avx512bw, avx512vnni, amx>;
#else
using platform_archs = arch_list<reference, generic>;
#endif

/// The paths of this platform, in order of capability.
inline constexpr const auto& all_paths = platform_archs::ids;

namespace detail {
template <class F, class... A>
constexpr bool any_arch(arch_list<A...>, F&& f) {
  return (f(A{}) || ...);
}

/// The last tag of the list for which Pick<A>::value holds (Fallback if none).
template <class Fallback, template <class> class Pick, class List>
struct last_arch;
template <class Fallback, template <class> class Pick>
struct last_arch<Fallback, Pick, arch_list<>> {
  using type = Fallback;
};
template <class Fallback, template <class> class Pick, class A, class... Rest>
struct last_arch<Fallback, Pick, arch_list<A, Rest...>> {
  using type = typename last_arch<std::conditional_t<Pick<A>::value, A, Fallback>, Pick, arch_list<Rest...>>::type;
};

template <class A>
struct native_automatic : std::bool_constant<A::native && A::automatic> {};

template <class F, class A, class... Rest>
decltype(auto) run_path_in(path p, F& f, arch_list<A, Rest...>) {
  if constexpr (sizeof...(Rest) == 0) {
    if (p == A::id) return f(A{});
    return f(generic{});
  } else {
    if (p == A::id) return f(A{});
    return run_path_in(p, f, arch_list<Rest...>{});
  }
}
}  // namespace detail

/// The most capable tag this translation unit's target flags allow (compile-time selection).
/// AMX is never chosen implicitly: it needs the run-time permission request (amx_permission).
using best_arch = typename detail::last_arch<generic, detail::native_automatic, platform_archs>::type;

inline constexpr std::string_view path_name(path p) {
  std::string_view n = "?";
  detail::any_arch(every_arch{}, [&](auto a) { return a.id == p ? (n = a.name, true) : false; });
  return n;
}

/// True when this CPU (and OS) can run path p. The x86 paths exist in every x86 build.
inline bool cpu_supports(path p) {
  bool yes = false;
  detail::any_arch(platform_archs{}, [&](auto a) { return a.id == p ? (yes = a.supported(), true) : false; });
  return yes;
}

/// The most capable automatic path this CPU runs (run-time selection; AMX only on request).
inline path detect_path() {
  path best = path::generic;
  detail::any_arch(platform_archs{}, [&](auto a) {
    if (a.automatic && a.supported()) best = a.id;
    return false;
  });
  return best;
}

/// Calls f(tag) with the tag of path p (the caller checks cpu_supports(p) first); a path of
/// another platform runs the portable `generic` tag.
template <class F>
decltype(auto) run_path(path p, F&& f) {
  return detail::run_path_in(p, f, platform_archs{});
}

}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels
