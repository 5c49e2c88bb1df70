#pragma once
// A software model of the AMX tile unit, for testing the AMX kernel (amx_kernel.hpp) on CPUs
// without AMX: amx_part<amx_emulated_tiles> runs the kernel's own code (A unpack, B packing,
// tile loop, offset correction, epilogue) with the six tile instructions replaced by the
// functions below, written from the operation descriptions in Intel's ISA reference (palette 1:
// 8 tiles of at most 16 rows x 64 bytes). Not used by any production path.
//
//   LDTILECFG  validates the 64-byte operand (palette 0 or 1, reserved bytes zero, rows <= 16,
//              colsb <= 64, a tile is either unused (rows = colsb = 0) or has both), records
//              rows/colsb per tile and zeroes the tile data; palette 0 is TILERELEASE.
//   TILERELEASE  back to the unconfigured state, tile data zero.
//   TILEZERO   all bytes of the tile to zero.
//   TILELOADD  row r < rows from base + r * stride (colsb bytes); the rest of the tile is zero.
//   TILESTORED row r < rows to base + r * stride (colsb bytes).
//   TDPBUSD    C.row[m].dword[n] += sum_{k < A.colsb / 4, e < 4}
//                                     zext(A.row[m].byte[4k + e]) * sext(B.row[k].byte[4n + e])
//              for m < C.rows, n < C.colsb / 4, with 32-bit wrap-around; the rest of C is zero.
//              Shapes must agree: A.colsb = 4 B.rows, C.colsb = B.colsb, C.rows = A.rows, and
//              the three tiles must be distinct.
// Where the hardware raises #UD / #GP (bad configuration, tile use while unconfigured or not
// configured, mismatched shapes) the model throws std::logic_error, so a kernel bug that would
// fault on real hardware fails the test here too.
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "tern/kernels/gemm.hpp"

#if TERN_KERNELS_X86

namespace tern::kernels {
inline namespace TERN_KERNELS_ABI {
namespace detail {

class amx_emulated_tiles {
 public:
  static constexpr int tiles = 8, max_rows = 16, max_colsb = 64;

  void load_config(const amx_tile_config& c) {
    if (c.palette_id == 0) return release();
    if (c.palette_id != 1) fault("LDTILECFG: palette " + std::to_string(c.palette_id) + " (only 0 and 1 exist)");
    if (c.start_row != 0) fault("LDTILECFG: start_row must be 0 outside an interrupted instruction");
    for (std::uint8_t b : c.reserved)
      if (b != 0) fault("LDTILECFG: reserved bytes 2-15 must be zero");
    for (int t = 0; t < 16; ++t) {
      const int rows = c.rows[t], colsb = c.colsb[t];
      if (t >= tiles && (rows != 0 || colsb != 0)) fault("LDTILECFG: palette 1 has tiles 0-7 only");
      if (rows > max_rows || colsb > max_colsb) fault("LDTILECFG: tile larger than 16 rows x 64 bytes");
      if ((rows == 0) != (colsb == 0)) fault("LDTILECFG: a tile needs both rows and colsb, or neither");
    }
    for (int t = 0; t < tiles; ++t) t_[t] = tile{c.rows[t], c.colsb[t], {}};
    configured_ = true;
  }

  void release() {
    for (tile& t : t_) t = tile{};
    configured_ = false;
  }

  template <int T>
  void zero() {
    static_assert(T >= 0 && T < tiles);
    std::memset(use(T, "TILEZERO").data, 0, sizeof(tile::data));
  }

  template <int T>
  void load(const void* base, index stride) {
    static_assert(T >= 0 && T < tiles);
    tile& d = use(T, "TILELOADD");
    std::memset(d.data, 0, sizeof(tile::data));
    for (int r = 0; r < d.rows; ++r) std::memcpy(d.data[r], static_cast<const std::uint8_t*>(base) + r * stride, d.colsb);
  }

  template <int T>
  void store(void* base, index stride) {
    static_assert(T >= 0 && T < tiles);
    const tile& s = use(T, "TILESTORED");
    for (int r = 0; r < s.rows; ++r) std::memcpy(static_cast<std::uint8_t*>(base) + r * stride, s.data[r], s.colsb);
  }

  template <int C, int A, int B>
  void dpbusd() {
    static_assert(C >= 0 && C < tiles && A >= 0 && A < tiles && B >= 0 && B < tiles);
    static_assert(C != A && C != B && A != B, "TDPBUSD: the three tiles must be distinct (#UD)");
    tile& c = use(C, "TDPBUSD");
    const tile& a = use(A, "TDPBUSD");
    const tile& b = use(B, "TDPBUSD");
    if (a.colsb % 4 != 0 || c.colsb % 4 != 0 || b.colsb % 4 != 0) fault("TDPBUSD: colsb not a multiple of 4");
    if (a.colsb / 4 != b.rows || c.colsb != b.colsb || c.rows != a.rows) fault("TDPBUSD: tile shapes do not agree");
    for (int m = 0; m < c.rows; ++m) {
      std::uint32_t row[max_colsb / 4] = {};
      std::memcpy(row, c.data[m], c.colsb);
      for (int k = 0; k < a.colsb / 4; ++k)
        for (int n = 0; n < c.colsb / 4; ++n) {
          std::int32_t dot = 0;  // |dot| <= 4 * 255 * 128: exact
          for (int e = 0; e < 4; ++e)
            dot += std::int32_t(a.data[m][4 * k + e]) * std::int32_t(static_cast<std::int8_t>(b.data[k][4 * n + e]));
          row[n] += static_cast<std::uint32_t>(dot);  // the accumulation wraps modulo 2^32
        }
      std::memset(c.data[m], 0, max_colsb);
      std::memcpy(c.data[m], row, c.colsb);
    }
    for (int m = c.rows; m < max_rows; ++m) std::memset(c.data[m], 0, max_colsb);
  }

 private:
  struct tile {
    std::uint8_t rows = 0;
    std::uint16_t colsb = 0;
    std::uint8_t data[max_rows][max_colsb] = {};
  };

  [[noreturn]] static void fault(const std::string& what) {
    throw std::logic_error("tern::kernels::amx_emulated_tiles: " + what);
  }
  tile& use(int t, const char* insn) {
    if (!configured_) fault(std::string(insn) + " before LDTILECFG");
    if (t_[t].rows == 0) fault(std::string(insn) + ": tile " + std::to_string(t) + " is not configured");
    return t_[t];
  }

  bool configured_ = false;
  tile t_[tiles];
};

}  // namespace detail
}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels

#endif  // TERN_KERNELS_X86
