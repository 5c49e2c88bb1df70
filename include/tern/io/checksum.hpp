#pragma once
// The checksum of tern's file formats: XXH3, 64 bits (xxHash, Debian's libxxhash-dev, used
// header-only). It detects corruption, not tampering: a file that lies consistently (a valid
// checksum over wrong values) is caught by the loaders' own validation of every field.
//
//   checksum(p, n)            XXH3_64bits of n bytes
//   checksum_state            the same over bytes given in pieces (update, then digest)
#include <cstddef>
#include <cstdint>
#include <stdexcept>

#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#define TERN_DEFINED_XXH_INLINE_ALL
#endif
// GCC 12 flags its own AVX-512 intrinsics (the `__m512i __Y = __Y;` idiom) when xxHash's
// AVX-512 loop is inlined: a known false positive, silenced for this header only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <xxhash.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#ifdef TERN_DEFINED_XXH_INLINE_ALL
#undef XXH_INLINE_ALL
#undef TERN_DEFINED_XXH_INLINE_ALL
#endif

namespace tern {

/// XXH3-64 of the n bytes at p.
inline std::uint64_t checksum(const void* p, std::size_t n) { return XXH3_64bits(p, n); }

/// XXH3-64 over bytes that arrive in pieces: checksum_state s; s.update(p, n) ...; s.digest()
/// equals checksum() of the concatenation.
class checksum_state {
 public:
  checksum_state() {
    if (XXH3_64bits_reset(&state_) != XXH_OK) throw std::runtime_error("checksum_state: XXH3 reset failed");
  }
  void update(const void* p, std::size_t n) {
    if (n != 0 && XXH3_64bits_update(&state_, p, n) != XXH_OK)
      throw std::runtime_error("checksum_state: XXH3 update failed");
  }
  std::uint64_t digest() const { return XXH3_64bits_digest(&state_); }

 private:
  XXH3_state_t state_;
};

}  // namespace tern
