#pragma once
// The GGUF tensor encodings tern reads and writes, element by element (the specification the
// import and export are built on): IEEE half (F16), bfloat16 (BF16), and ggml's two ternary
// block formats. A ternary weight is w in {-1, 0, 1}, stored as the code q = w + 1 in {0, 1, 2};
// every block holds 256 weights of one row and a half-precision scale d: the weight's value is
// w * d.
//
// TQ2_0 (66 bytes): qs[64], then d (f16, little-endian).
//   The block is two halves of 128 weights; byte m (0..31) of half h holds the weights
//   128 h + m + 32 n (n = 0..3) in bit pairs 2n, 2n + 1 (so weight e of the block is in byte
//   32 (e / 128) + e % 32 at shift 2 ((e % 128) / 32)). Code 3 is not ternary (refused).
// TQ1_0 (54 bytes): qs[48], qh[4], then d (f16).
//   Five trits per byte in qs, four in qh, as a base-3 number with the first trit most
//   significant, scaled to a byte as b = ceil(t * 256 / 243) (t = sum_n q_n 3^(4 - n)); trit n
//   of a byte decodes as ((uint8_t)(b * 3^n) * 3) >> 8 (the top trit of the fraction t / 243).
//   qs bytes 0..31: byte m holds weights m + 32 n (n = 0..4), the first 160;
//   qs bytes 32..47: byte 32 + m holds weights 160 + m + 16 n (n = 0..4), the next 80;
//   qh byte j (0..3): weights 240 + j + 4 n (n = 0..3) as trits 0..3, trit 4 zero.
//   Only the bytes this encoding produces are accepted on decode (a byte is re-encoded from
//   its trits and must match): other bytes decode to trits too but are not what any writer of
//   the format emits, so they mark a corrupt file.
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

namespace tern::gguf_quants {

inline constexpr int block_weights = 256;
inline constexpr int tq2_0_bytes = 66, tq1_0_bytes = 54;

// ---- half precision ----
/// The f16 nearest to f (round half to even; overflow to infinity; NaN stays NaN).
inline std::uint16_t to_f16(float f) {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t sign = (u >> 16) & 0x8000u;
  const std::uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return std::uint16_t(sign | 0x7e00u);  // NaN
  if (abs >= 0x477ff000u) return std::uint16_t(sign | 0x7c00u);  // rounds to >= 65520: infinity
  if (abs < 0x38800000u) {  // below 2^-14: a subnormal half (or zero), value = m * 2^-24
    const float a = std::bit_cast<float>(abs);
    const float m = std::nearbyint(a * 16777216.0f);  // exact scaling; nearbyint rounds half to even
    return std::uint16_t(sign | std::uint32_t(m));
  }
  // normal: rebias the exponent (127 -> 15) and round the 23-bit mantissa to 10 bits
  const std::uint32_t rounded = abs + 0xfffu + ((abs >> 13) & 1u);
  return std::uint16_t(sign | ((rounded - 0x38000000u) >> 13));
}
/// The float of an f16 (exact).
inline float from_f16(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
  const std::uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0) {
    const float v = float(m) * (1.0f / 16777216.0f);  // m * 2^-24
    return sign ? -v : v;
  }
  if (e == 31) return std::bit_cast<float>(sign | 0x7f800000u | (m << 13));
  return std::bit_cast<float>(sign | ((e + 112u) << 23) | (m << 13));
}
/// bfloat16: the top half of an IEEE float32 (round half to even; NaN kept quiet).
inline std::uint16_t to_bf16(float f) {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
  if (std::isnan(f)) return static_cast<std::uint16_t>((u >> 16) | 0x40);
  return static_cast<std::uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
inline float from_bf16(std::uint16_t b) { return std::bit_cast<float>(std::uint32_t(b) << 16); }

// ---- TQ2_0 ----
/// Byte and bit shift of weight e (0..255) in a TQ2_0 block.
inline constexpr int tq2_0_byte(int e) { return 32 * (e / 128) + e % 32; }
inline constexpr int tq2_0_shift(int e) { return 2 * ((e % 128) / 32); }

/// Encodes 256 ternary weights w[e] in {-1, 0, 1} and the scale bits d into out[66].
inline void encode_tq2_0(const std::int8_t* w, std::uint16_t d, std::uint8_t* out) {
  std::memset(out, 0, 64);
  for (int e = 0; e < block_weights; ++e) {
    if (w[e] < -1 || w[e] > 1) throw std::invalid_argument("tern::gguf_quants::encode_tq2_0: weight " + std::to_string(e) + " is not ternary");
    out[tq2_0_byte(e)] = std::uint8_t(out[tq2_0_byte(e)] | ((w[e] + 1) << tq2_0_shift(e)));
  }
  out[64] = std::uint8_t(d & 0xff);
  out[65] = std::uint8_t(d >> 8);
}
/// Decodes a TQ2_0 block into w[256]; returns the scale bits. Returns -1 (and leaves w
/// partly written) when a 2-bit field holds 3, with bad = the weight's index.
inline int decode_tq2_0(const std::uint8_t* in, std::int8_t* w, int& bad) {
  for (int e = 0; e < block_weights; ++e) {
    const int q = (in[tq2_0_byte(e)] >> tq2_0_shift(e)) & 3;
    if (q == 3) return bad = e, -1;
    w[e] = std::int8_t(q - 1);
  }
  return int(in[64]) | (int(in[65]) << 8);
}

// ---- TQ1_0 ----
/// The byte of five trits q[0..4] (each 0..2), q[0] the most significant.
inline constexpr std::uint8_t pack_trits5(const int* q) {
  int t = 0;
  for (int n = 0; n < 5; ++n) t = 3 * t + q[n];
  return std::uint8_t((t * 256 + 242) / 243);
}
/// Trit n (0..4) of a packed byte.
inline constexpr int trit(std::uint8_t b, int n) {
  constexpr std::uint8_t pow3[5] = {1, 3, 9, 27, 81};
  return (int(std::uint8_t(b * pow3[n])) * 3) >> 8;
}
/// Weight index of trit n of byte k (0..51: qs 0..47, then qh 0..3) in a TQ1_0 block.
inline constexpr int tq1_0_weight(int k, int n) {
  if (k < 32) return k + 32 * n;
  if (k < 48) return 160 + (k - 32) + 16 * n;
  return 240 + (k - 48) + 4 * n;  // n < 4
}

inline void encode_tq1_0(const std::int8_t* w, std::uint16_t d, std::uint8_t* out) {
  for (int e = 0; e < block_weights; ++e)
    if (w[e] < -1 || w[e] > 1) throw std::invalid_argument("tern::gguf_quants::encode_tq1_0: weight " + std::to_string(e) + " is not ternary");
  for (int k = 0; k < 52; ++k) {
    int q[5] = {0, 0, 0, 0, 0};
    for (int n = 0; n < (k < 48 ? 5 : 4); ++n) q[n] = w[tq1_0_weight(k, n)] + 1;
    out[k] = pack_trits5(q);
  }
  out[52] = std::uint8_t(d & 0xff);
  out[53] = std::uint8_t(d >> 8);
}
/// Decodes a TQ1_0 block into w[256]; returns the scale bits, or -1 with bad = the byte
/// (0..51) that is not what the encoding produces.
inline int decode_tq1_0(const std::uint8_t* in, std::int8_t* w, int& bad) {
  for (int k = 0; k < 52; ++k) {
    int q[5];
    for (int n = 0; n < 5; ++n) q[n] = trit(in[k], n);
    if (k >= 48 && q[4] != 0) return bad = k, -1;
    if (pack_trits5(q) != in[k]) return bad = k, -1;
    for (int n = 0; n < (k < 48 ? 5 : 4); ++n) w[tq1_0_weight(k, n)] = std::int8_t(q[n] - 1);
  }
  return int(in[52]) | (int(in[53]) << 8);
}

}  // namespace tern::gguf_quants
