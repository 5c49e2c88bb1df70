#pragma once
// The tern model file (".tern"): one frozen inference model, little-endian, every tensor at a
// 64-byte aligned offset so that a memory-mapped file is used in place. The byte layout is
// documented in docs/model_file.md; in short:
//
//   [0, 256)        header: magic "TERNMODL", version, sizes, config, model description,
//                   policy name, XXH3-64 of the header and the tensor table
//   [256, ...)      tensor table: 128 bytes per tensor (name, dtype, shape, group, offset,
//                   bytes, XXH3-64 of the tensor's bytes)
//   [data_offset..) tensor data, in table order, 64-byte aligned, zero padding between
//
//   save_model(path, model);                           // writes path.tmp, renames it to path
//   infer::inference_model m = load_model(path);       // mmap (read as fallback), every field checked
//
// Loading validates everything before building anything: magic, version, sizes against the
// file's real size, the config (with bounds that keep every derived size in range), the model
// description, the policy name, every tensor's name, dtype, shape and group against what the
// config and description imply, offsets (aligned, inside the data section, in order, no overlap),
// the checksums, and the values (finite scales, gains and dense weights, valid ternary codes,
// zero row padding). Any failure throws model_file_error naming the file and the field; the
// model only exists once everything passed. Saving checks every write through the final close
// and renames only a complete file.
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <sys/mman.h>

#include "tern/infer/dense_f32.hpp"
#include "tern/infer/frozen_linear.hpp"
#include "tern/infer/frozen_norm.hpp"
#include "tern/infer/inference_model.hpp"
#include "tern/io/atomic_file_writer.hpp"
#include "tern/io/checksum.hpp"
#include "tern/io/regular_file.hpp"
#include "tern/kernels/packed_bf16.hpp"
#include "tern/kernels/packed_int8.hpp"
#include "tern/kernels/packed_ternary.hpp"
#include "tern/kernels/packed_ternary_base3.hpp"

namespace tern {

inline constexpr std::uint32_t model_file_version = 1;

/// A model file that cannot be read or written; the message names the file and the field.
class model_file_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct model_load_options {
  bool mmap = true;              ///< map the file (false: read it into memory)
  bool verify_checksums = true;  ///< check every tensor's XXH3-64 (the header's is always checked)
};

namespace detail::model_file {

static_assert(std::endian::native == std::endian::little, "tern model files assume a little-endian host");

inline constexpr std::size_t header_bytes = 256, checksum_at = 248, entry_bytes = 128, name_bytes = 64,
                             policy_at = 208, policy_bytes = 40;
/// dtype tag of plain row-major FP32 (scales and gains), next to the weight_format tags 0..4.
inline constexpr std::uint32_t dtype_f32_raw = 5;

// Bounds on the config: far above any model a CPU runs, low enough that no size derived from
// them (tables, caches, products of two of them) can overflow 64 bits.
inline constexpr index max_vocab = index(1) << 24, max_dim = index(1) << 16, max_layers = 4096,
                       max_ffn = index(1) << 20, max_seq = index(1) << 20;

inline std::size_t align64(std::size_t n) { return (n + 63) / 64 * 64; }

/// One tensor of the file, as the table describes it.
struct entry {
  std::string name;
  std::uint32_t dtype = 0;
  std::uint64_t rows = 0, cols = 0, group = 0, offset = 0, bytes = 0, checksum = 0;
};

/// Bytes of a tensor of this dtype and shape (group: ternary column group).
inline std::size_t tensor_bytes(std::uint32_t dtype, index rows, index cols, index group) {
  switch (dtype) {
    case std::uint32_t(infer::weight_format::f32): return kernels::detail::dense_rows<float>::bytes_for(rows, cols);
    case std::uint32_t(infer::weight_format::bf16): return kernels::detail::dense_rows<std::uint16_t>::bytes_for(rows, cols);
    case std::uint32_t(infer::weight_format::i8): return kernels::detail::dense_rows<std::int8_t>::bytes_for(rows, cols);
    case std::uint32_t(infer::weight_format::tq2):
      return std::size_t(rows) * std::size_t(kernels::k_layout::make(cols, group, kernels::packed_ternary::block_weights).row_bytes());
    case std::uint32_t(infer::weight_format::tq1):
      return std::size_t(rows) *
             std::size_t(kernels::k_layout::make(cols, group, kernels::packed_ternary_base3::block_weights).row_bytes());
    case dtype_f32_raw: return std::size_t(rows) * std::size_t(cols) * sizeof(float);
  }
  return 0;
}

inline std::string dtype_name(std::uint32_t d) {
  if (d == dtype_f32_raw) return "f32_raw";
  if (d <= 4) return std::string(infer::format_name(infer::weight_format(d)));
  return "unknown dtype " + std::to_string(d);
}

/// What the config and description say the file must hold, in order (offsets and checksums
/// left to fill).
inline std::vector<entry> expected_tensors(const transformer_config& c, const infer::model_desc& d) {
  std::vector<entry> out;
  const auto add = [&](std::string name, std::uint32_t dtype, index rows, index cols, index group = 0) {
    entry e;
    e.name = std::move(name);
    e.dtype = dtype;
    e.rows = std::uint64_t(rows);
    e.cols = std::uint64_t(cols);
    e.group = std::uint64_t(group);
    e.bytes = tensor_bytes(dtype, rows, cols, group);
    out.push_back(std::move(e));
  };
  const auto norm = [&](const std::string& name, infer::norm_kind k, index features) {
    if (k == infer::norm_kind::rms_gain) add(name + ".gain", dtype_f32_raw, 1, features);
  };
  const auto proj = [&](const std::string& name, const infer::projection_desc& p, index in, index out_f) {
    const bool ternary = infer::is_ternary(p.format);
    const index group = p.granularity == infer::scale_granularity::group ? p.group : in;
    add(name + ".weight", std::uint32_t(p.format), out_f, in, ternary ? group : 0);
    if (ternary) {
      const index groups = (in + group - 1) / group;
      if (p.granularity == infer::scale_granularity::tensor) add(name + ".scales", dtype_f32_raw, 1, 1);
      else add(name + ".scales", dtype_f32_raw, out_f, groups);
    } else if (p.format == infer::weight_format::i8) {
      add(name + ".scales", dtype_f32_raw, out_f, 1);
    }
    norm(name + ".norm", p.norm, in);
  };
  const index hd = c.dim / c.n_heads, qd = c.n_heads * hd, kvd = c.n_kv_heads * hd;
  add("embed.weight", std::uint32_t(infer::weight_format::f32), c.vocab, c.dim);
  for (index l = 0; l < c.n_layers; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    norm(p + "attn_norm", d.block_norm, c.dim);
    proj(p + "attn.q", d.attn_in, c.dim, qd);
    proj(p + "attn.k", d.attn_in, c.dim, kvd);
    proj(p + "attn.v", d.attn_in, c.dim, kvd);
    proj(p + "attn.o", d.attn_out, qd, c.dim);
    norm(p + "mlp_norm", d.block_norm, c.dim);
    proj(p + "mlp.gate", d.mlp_in, c.dim, c.ffn_hidden);
    proj(p + "mlp.up", d.mlp_in, c.dim, c.ffn_hidden);
    proj(p + "mlp.down", d.mlp_out, c.ffn_hidden, c.dim);
  }
  norm("norm", d.final_norm, c.dim);
  proj("head", d.head, c.dim, c.vocab);
  return out;
}

// ---- little-endian field access over a byte span ----
template <class V>
V get(const std::uint8_t* p) {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}
template <class V>
void put(std::uint8_t* p, V v) {
  std::memcpy(p, &v, sizeof(V));
}

/// A file's bytes, kept alive by a shared_ptr (a mapping or a heap buffer), 64-byte aligned.
struct file_bytes {
  std::shared_ptr<const std::uint8_t> data;
  std::size_t size = 0;
};

inline std::shared_ptr<std::uint8_t> aligned_heap(std::size_t n) {
  return std::shared_ptr<std::uint8_t>(static_cast<std::uint8_t*>(::operator new(std::max<std::size_t>(n, 64), std::align_val_t{64})),
                                       [](std::uint8_t* p) { ::operator delete(p, std::align_val_t{64}); });
}

/// Copies n bytes into a new 64-byte aligned buffer (what a loader from memory works on).
inline file_bytes copy_bytes(const void* p, std::size_t n) {
  auto buf = aligned_heap(n);
  if (n) std::memcpy(buf.get(), p, n);
  return {std::shared_ptr<const std::uint8_t>(buf), n};
}

inline file_bytes read_file(const std::string& path, bool use_mmap) {
  try {
    regular_file f(path, "tern model file");  // a directory, FIFO or device is refused at once
    if (f.size() == 0) throw model_file_error("tern model file '" + path + "': the file is empty");
    if (f.size() > std::numeric_limits<std::size_t>::max() / 2)
      throw model_file_error("tern model file '" + path + "': too large to map");
    const std::size_t n = static_cast<std::size_t>(f.size());
    if (use_mmap) {
      void* p = ::mmap(nullptr, n, PROT_READ, MAP_PRIVATE, f.descriptor(), 0);
      if (p != MAP_FAILED) {
        auto keep = std::shared_ptr<const std::uint8_t>(
            static_cast<const std::uint8_t*>(p), [n](const std::uint8_t* q) { ::munmap(const_cast<std::uint8_t*>(q), n); });
        return {keep, n};
      }
    }
    auto buf = aligned_heap(n);
    f.read(buf.get(), n);
    return {std::shared_ptr<const std::uint8_t>(buf), n};
  } catch (const model_file_error&) {
    throw;
  } catch (const std::exception& e) {
    throw model_file_error(e.what());
  }
}

/// Parses and validates a whole file, then builds the model (see the file comment).
class parser {
 public:
  parser(file_bytes f, std::string name, const model_load_options& o) : f_(std::move(f)), name_(std::move(name)), o_(o) {}

  infer::inference_model parse() {
    const std::uint8_t* p = f_.data.get();
    if (f_.size < header_bytes)
      fail("header", "the file has " + std::to_string(f_.size) + " bytes, fewer than the " + std::to_string(header_bytes) +
                         "-byte header (truncated, or not a tern model file)");
    if (std::memcmp(p, "TERNMODL", 8) != 0) fail("magic", "not a tern model file (the first 8 bytes are not TERNMODL)");
    const auto version = get<std::uint32_t>(p + 8);
    if (version != model_file_version)
      fail("version", "version " + std::to_string(version) + ", this build reads version " + std::to_string(model_file_version));
    if (get<std::uint32_t>(p + 12) != header_bytes)
      fail("header_bytes", std::to_string(get<std::uint32_t>(p + 12)) + ", expected " + std::to_string(header_bytes));
    const auto file_size = get<std::uint64_t>(p + 16);
    if (file_size != f_.size)
      fail("file_bytes", "the header says " + std::to_string(file_size) + " bytes, the file has " + std::to_string(f_.size) +
                             (file_size > f_.size ? " (truncated)" : " (trailing bytes)"));
    const auto count = get<std::uint64_t>(p + 24);
    if (get<std::uint64_t>(p + 32) != header_bytes)
      fail("table_offset", std::to_string(get<std::uint64_t>(p + 32)) + ", expected " + std::to_string(header_bytes));
    if (count == 0 || count > (f_.size - header_bytes) / entry_bytes)
      fail("tensor_count", std::to_string(count) + " tensors do not fit in a table inside the file");
    const std::size_t table_end = header_bytes + std::size_t(count) * entry_bytes;
    const auto data_offset = get<std::uint64_t>(p + 40);
    if (data_offset != align64(table_end))
      fail("data_offset", std::to_string(data_offset) + ", expected " + std::to_string(align64(table_end)) +
                              " (the table's end rounded up to 64)");
    if (data_offset > f_.size) fail("data_offset", "past the end of the file");
    // The checksum of header and table, before any field is trusted further.
    checksum_state cs;
    cs.update(p, checksum_at);
    cs.update(p + header_bytes, table_end - header_bytes);
    if (cs.digest() != get<std::uint64_t>(p + checksum_at))
      fail("header_checksum", "the header or the tensor table is corrupt (XXH3-64 mismatch)");

    transformer_config c;
    index* fields[] = {&c.vocab, &c.dim, &c.n_layers, &c.n_heads, &c.n_kv_heads, &c.ffn_hidden, &c.max_seq};
    const char* names[] = {"vocab", "dim", "n_layers", "n_heads", "n_kv_heads", "ffn_hidden", "max_seq"};
    const index bounds[] = {max_vocab, max_dim, max_layers, max_dim, max_dim, max_ffn, max_seq};
    for (int i = 0; i < 7; ++i) {
      const auto v = get<std::int64_t>(p + 48 + 8 * i);
      if (v <= 0 || v > bounds[i])
        fail(std::string("config.") + names[i], std::to_string(v) + " is outside [1, " + std::to_string(bounds[i]) + "]");
      *fields[i] = index(v);
    }
    c.rope_base = get<double>(p + 104);
    c.norm_eps = get<double>(p + 112);
    if (!std::isfinite(c.rope_base) || !(c.rope_base > 1.0) || c.rope_base > 1e12)
      fail("config.rope_base", std::to_string(c.rope_base) + " is outside (1, 1e12]");
    if (!std::isfinite(c.norm_eps) || !(c.norm_eps > 0.0 && c.norm_eps < 1.0))
      fail("config.norm_eps", std::to_string(c.norm_eps) + " is outside (0, 1)");
    if (!(float(c.norm_eps) >= std::numeric_limits<float>::min()))  // the norms compute in float
      fail("config.norm_eps", std::to_string(c.norm_eps) + " is below the smallest normal float");
    try {
      c.validate();
    } catch (const std::exception& e) {
      fail("config", e.what());
    }
    infer::model_desc d;
    d.block_norm = norm_field(p + 120, "block_norm");
    d.final_norm = norm_field(p + 124, "final_norm");
    infer::projection_desc* roles[] = {&d.attn_in, &d.attn_out, &d.mlp_in, &d.mlp_out, &d.head};
    const char* role_names[] = {"attn_in", "attn_out", "mlp_in", "mlp_out", "head"};
    const index role_in[] = {c.dim, c.dim, c.dim, c.ffn_hidden, c.dim};
    for (int r = 0; r < 5; ++r) *roles[r] = projection_field(p + 128 + 16 * r, role_names[r], role_in[r]);
    const char* pol = reinterpret_cast<const char*>(p + policy_at);
    const std::size_t pol_len = strnlen(pol, policy_bytes);
    if (pol_len == policy_bytes) fail("policy", "the policy name is not NUL-terminated");
    for (std::size_t i = 0; i < policy_bytes; ++i)
      if (i < pol_len ? (pol[i] < 0x20 || pol[i] > 0x7e) : pol[i] != 0)
        fail("policy", "the policy name holds a byte that is not printable ASCII, or non-zero padding");
    policy_.assign(pol, pol_len);

    // The tensor table against what the config and description imply.
    std::vector<entry> want = expected_tensors(c, d);
    if (want.size() != count)
      fail("tensor_count", std::to_string(count) + " tensors in the table, the config and description need " +
                               std::to_string(want.size()));
    std::uint64_t end = data_offset;
    for (std::size_t i = 0; i < want.size(); ++i) {
      const std::uint8_t* e = p + header_bytes + i * entry_bytes;
      entry& w = want[i];
      const std::string field = "tensor #" + std::to_string(i) + " (" + w.name + ")";
      const char* nm = reinterpret_cast<const char*>(e);
      const std::size_t nlen = strnlen(nm, name_bytes);
      if (nlen == name_bytes || std::string_view(nm, nlen) != w.name)
        fail(field + " name", "the table has '" + std::string(nm, nlen) + "', expected '" + w.name + "'");
      for (std::size_t j = nlen; j < name_bytes; ++j)
        if (nm[j] != 0) fail(field + " name", "non-zero bytes after the name");
      const auto dtype = get<std::uint32_t>(e + 64);
      if (dtype != w.dtype) fail(field + " dtype", dtype_name(dtype) + ", expected " + dtype_name(w.dtype));
      if (get<std::uint32_t>(e + 68) != 0 || get<std::uint64_t>(e + 120) != 0) fail(field, "reserved fields are not zero");
      const auto rows = get<std::uint64_t>(e + 72), cols = get<std::uint64_t>(e + 80), group = get<std::uint64_t>(e + 88);
      if (rows != w.rows || cols != w.cols)
        fail(field + " shape", std::to_string(rows) + "x" + std::to_string(cols) + ", expected " + std::to_string(w.rows) + "x" +
                                   std::to_string(w.cols));
      if (group != w.group) fail(field + " group", std::to_string(group) + ", expected " + std::to_string(w.group));
      w.offset = get<std::uint64_t>(e + 96);
      const auto bytes = get<std::uint64_t>(e + 104);
      if (bytes != w.bytes) fail(field + " bytes", std::to_string(bytes) + ", the shape and dtype need " + std::to_string(w.bytes));
      if (w.offset % 64 != 0) fail(field + " offset", std::to_string(w.offset) + " is not a multiple of 64");
      if (w.offset < end)
        fail(field + " offset", std::to_string(w.offset) + " overlaps the table or the previous tensor (which ends at " +
                                    std::to_string(end) + ")");
      if (w.offset > f_.size || w.bytes > f_.size - w.offset)
        fail(field + " offset", "the tensor's bytes [" + std::to_string(w.offset) + ", " + std::to_string(w.offset + w.bytes) +
                                    ") run past the end of the file (" + std::to_string(f_.size) + " bytes)");
      end = w.offset + w.bytes;
      w.checksum = get<std::uint64_t>(e + 112);
      if (o_.verify_checksums && checksum(p + w.offset, w.bytes) != w.checksum)
        fail(field, "its data is corrupt (XXH3-64 mismatch)");
    }
    if (align64(end) != f_.size)
      fail("file_bytes", "the last tensor ends at " + std::to_string(end) + ", the file has " + std::to_string(f_.size) + " bytes");
    return build(c, d, want);
  }

 private:
  [[noreturn]] void fail(const std::string& field, const std::string& why) const {
    throw model_file_error("tern model file '" + name_ + "': " + field + ": " + why);
  }

  infer::norm_kind norm_field(const std::uint8_t* at, const char* what) const {
    const auto v = get<std::uint32_t>(at);
    if (v > 2) fail(std::string("description.") + what, "unknown norm kind " + std::to_string(v));
    return infer::norm_kind(v);
  }

  infer::projection_desc projection_field(const std::uint8_t* at, const char* role, index in) const {
    const std::string f = std::string("description.") + role;
    infer::projection_desc d;
    const auto fmt = get<std::uint32_t>(at), nk = get<std::uint32_t>(at + 4), gr = get<std::uint32_t>(at + 8),
               group = get<std::uint32_t>(at + 12);
    if (fmt > 4) fail(f + ".format", "unknown weight format " + std::to_string(fmt));
    if (nk > 2) fail(f + ".norm", "unknown norm kind " + std::to_string(nk));
    if (gr > 3) fail(f + ".granularity", "unknown scale granularity " + std::to_string(gr));
    d.format = infer::weight_format(fmt);
    d.norm = infer::norm_kind(nk);
    d.granularity = infer::scale_granularity(gr);
    d.group = index(group);
    const bool ternary = infer::is_ternary(d.format);
    const bool ok = ternary ? d.granularity != infer::scale_granularity::none
                            : d.granularity == (d.format == infer::weight_format::i8 ? infer::scale_granularity::row
                                                                                     : infer::scale_granularity::none);
    if (!ok) fail(f + ".granularity", "not a granularity of " + std::string(infer::format_name(d.format)) + " weights");
    if (d.granularity == infer::scale_granularity::group ? (group == 0 || index(group) >= in) : group != 0)
      fail(f + ".group", std::to_string(group) + " is not a group size for " + std::to_string(in) + " columns");
    return d;
  }

  std::shared_ptr<const std::uint8_t> bytes_of(const entry& e) const {
    return std::shared_ptr<const std::uint8_t>(f_.data, f_.data.get() + e.offset);
  }

  /// A plain FP32 tensor (scales, gains), copied; every value finite (and > 0 for scales).
  std::vector<float> floats(const entry& e, bool positive) const {
    std::vector<float> v(static_cast<std::size_t>(e.rows * e.cols));
    std::memcpy(v.data(), f_.data.get() + e.offset, v.size() * sizeof(float));
    for (std::size_t i = 0; i < v.size(); ++i)
      if (!std::isfinite(v[i]) || (positive && !(v[i] > 0.0f)))
        fail(e.name, "value " + std::to_string(i) + " is " + (positive ? "not finite and positive" : "not finite"));
    return v;
  }

  infer::frozen_linear build_linear(const std::vector<entry>& t, std::size_t& k, const infer::projection_desc& d, float eps) const {
    const entry& w = t[k++];
    const index rows = index(w.rows), cols = index(w.cols);
    infer::frozen_linear::weights weights;
    try {
      if (infer::is_ternary(d.format) || d.format == infer::weight_format::i8) {
        const entry& se = t[k++];
        const std::vector<float> s = floats(se, true);
        const matrix<float> scales = Eigen::Map<const matrix<float>>(s.data(), index(se.rows), index(se.cols));
        if (d.format == infer::weight_format::tq2) {
          weights = kernels::packed_ternary::from_bytes(bytes_of(w), w.bytes, rows, cols, index(w.group), scales);  // refuses code 3
        } else if (d.format == infer::weight_format::tq1) {
          weights = kernels::packed_ternary_base3::from_bytes(bytes_of(w), w.bytes, rows, cols, index(w.group), scales);
        } else {
          weights = kernels::packed_int8::from_bytes(bytes_of(w), rows, cols, scales);
        }
      } else if (d.format == infer::weight_format::bf16) {
        weights = kernels::packed_bf16::from_bytes(bytes_of(w), rows, cols);
      } else {
        weights = infer::dense_f32::from_bytes(bytes_of(w), rows, cols);
      }
    } catch (const model_file_error&) {
      throw;
    } catch (const std::exception& e) {
      fail(w.name, e.what());
    }
    infer::frozen_norm norm(infer::norm_kind::none, cols, {}, eps);
    if (d.norm == infer::norm_kind::rms_gain) norm = infer::frozen_norm(d.norm, cols, floats(t[k++], false), eps);
    else norm = infer::frozen_norm(d.norm, cols, {}, eps);
    return infer::frozen_linear(std::move(weights), std::move(norm));
  }

  infer::frozen_norm build_norm(const std::vector<entry>& t, std::size_t& k, infer::norm_kind kind, index features, float eps) const {
    if (kind == infer::norm_kind::rms_gain) return infer::frozen_norm(kind, features, floats(t[k++], false), eps);
    return infer::frozen_norm(kind, features, {}, eps);
  }

  infer::inference_model build(const transformer_config& c, const infer::model_desc& d, const std::vector<entry>& t) const {
    const float eps = float(c.norm_eps);
    std::size_t k = 0;
    infer::dense_f32 embed;
    try {
      embed = infer::dense_f32::from_bytes(bytes_of(t[k]), c.vocab, c.dim);
    } catch (const std::exception& e) {
      fail(t[k].name, e.what());
    }
    ++k;
    std::vector<infer::frozen_block> layers(static_cast<std::size_t>(c.n_layers));
    for (auto& b : layers) {
      b.attn_norm = build_norm(t, k, d.block_norm, c.dim, eps);
      b.q = build_linear(t, k, d.attn_in, eps);
      b.k = build_linear(t, k, d.attn_in, eps);
      b.v = build_linear(t, k, d.attn_in, eps);
      b.o = build_linear(t, k, d.attn_out, eps);
      b.mlp_norm = build_norm(t, k, d.block_norm, c.dim, eps);
      b.gate = build_linear(t, k, d.mlp_in, eps);
      b.up = build_linear(t, k, d.mlp_in, eps);
      b.down = build_linear(t, k, d.mlp_out, eps);
    }
    infer::frozen_norm fn = build_norm(t, k, d.final_norm, c.dim, eps);
    infer::frozen_linear head = build_linear(t, k, d.head, eps);
    try {
      return infer::inference_model(c, policy_, std::move(embed), std::move(layers), std::move(fn), std::move(head));
    } catch (const std::exception& e) {
      fail("model", e.what());
    }
  }

  file_bytes f_;
  std::string name_;
  model_load_options o_;
  std::string policy_;
};

/// The bytes of one tensor as the file stores them (padded rows for the dense dtypes).
inline const std::uint8_t* weight_bytes_of(const infer::frozen_linear& l) {
  return std::visit([](const auto& w) { return reinterpret_cast<const std::uint8_t*>(w.data()); }, l.weight());
}

}  // namespace detail::model_file

/// Loads a model written by save_model from bytes in memory (copied; `name` appears in errors).
inline infer::inference_model load_model_from_bytes(const void* data, std::size_t size, const std::string& name,
                                                    const model_load_options& o = {}) {
  namespace mf = detail::model_file;
  return mf::parser(mf::copy_bytes(data, size), name, o).parse();
}

/// Loads a model file (memory-mapped unless o.mmap is false); throws model_file_error.
inline infer::inference_model load_model(const std::string& path, const model_load_options& o = {}) {
  namespace mf = detail::model_file;
  return mf::parser(mf::read_file(path, o.mmap), path, o).parse();
}

/// Writes `m` to `path` (through path + ".tmp", renamed once complete); throws model_file_error.
inline void save_model(const std::string& path, const infer::inference_model& m) {
  namespace mf = detail::model_file;
  using infer::frozen_linear;
  const transformer_config& c = m.config();
  const infer::model_desc& d = m.desc();
  if (m.policy().size() >= mf::policy_bytes)
    throw model_file_error("save_model '" + path + "': the policy name is longer than " + std::to_string(mf::policy_bytes - 1) + " bytes");
  std::vector<mf::entry> t = mf::expected_tensors(c, d);
  std::vector<const std::uint8_t*> src;
  std::vector<std::vector<float>> copies;  // scales and gains, as plain row-major floats
  const auto plain = [&](const float* p, std::size_t n) {
    const mf::entry& e = t.at(src.size());
    if (e.dtype != mf::dtype_f32_raw || n != std::size_t(e.rows * e.cols))
      throw model_file_error("save_model '" + path + "': " + e.name + " holds " + std::to_string(n) + " values, the format stores " +
                             std::to_string(e.rows) + "x" + std::to_string(e.cols));
    copies.emplace_back(p, p + n);
    src.push_back(reinterpret_cast<const std::uint8_t*>(copies.back().data()));
  };
  copies.reserve(t.size());
  const auto gain = [&](const infer::frozen_norm& n) {
    if (n.kind() == infer::norm_kind::rms_gain) plain(n.gain().data(), n.gain().size());
  };
  const auto linear = [&](const frozen_linear& l) {
    src.push_back(mf::weight_bytes_of(l));
    std::visit([&](const auto& w) {
      using W = std::decay_t<decltype(w)>;
      if constexpr (std::is_same_v<W, kernels::packed_ternary> || std::is_same_v<W, kernels::packed_ternary_base3> ||
                    std::is_same_v<W, kernels::packed_int8>)
        plain(w.scales().data(), std::size_t(w.scales().size()));
    }, l.weight());
    gain(l.input_norm());
  };
  src.push_back(reinterpret_cast<const std::uint8_t*>(m.embedding().data()));
  for (index l = 0; l < c.n_layers; ++l) {
    const infer::frozen_block& b = m.layer(l);
    gain(b.attn_norm);
    for (const frozen_linear* p : {&b.q, &b.k, &b.v, &b.o}) linear(*p);
    gain(b.mlp_norm);
    for (const frozen_linear* p : {&b.gate, &b.up, &b.down}) linear(*p);
  }
  gain(m.final_norm());
  linear(m.head());
  if (src.size() != t.size()) throw std::logic_error("save_model: tensor list mismatch");

  const std::size_t table_end = mf::header_bytes + t.size() * mf::entry_bytes;
  std::size_t off = mf::align64(table_end);
  const std::size_t data_offset = off;
  for (std::size_t i = 0; i < t.size(); ++i) {
    t[i].offset = off;
    t[i].checksum = checksum(src[i], t[i].bytes);
    off = mf::align64(off + t[i].bytes);
  }
  const std::size_t file_size = off;
  std::vector<std::uint8_t> head(data_offset, 0);
  std::uint8_t* p = head.data();
  std::memcpy(p, "TERNMODL", 8);
  mf::put<std::uint32_t>(p + 8, model_file_version);
  mf::put<std::uint32_t>(p + 12, std::uint32_t(mf::header_bytes));
  mf::put<std::uint64_t>(p + 16, file_size);
  mf::put<std::uint64_t>(p + 24, t.size());
  mf::put<std::uint64_t>(p + 32, mf::header_bytes);
  mf::put<std::uint64_t>(p + 40, data_offset);
  const index fields[] = {c.vocab, c.dim, c.n_layers, c.n_heads, c.n_kv_heads, c.ffn_hidden, c.max_seq};
  for (int i = 0; i < 7; ++i) mf::put<std::int64_t>(p + 48 + 8 * i, std::int64_t(fields[i]));
  mf::put<double>(p + 104, c.rope_base);
  mf::put<double>(p + 112, c.norm_eps);
  mf::put<std::uint32_t>(p + 120, std::uint32_t(d.block_norm));
  mf::put<std::uint32_t>(p + 124, std::uint32_t(d.final_norm));
  const infer::projection_desc* roles[] = {&d.attn_in, &d.attn_out, &d.mlp_in, &d.mlp_out, &d.head};
  for (int r = 0; r < 5; ++r) {
    std::uint8_t* q = p + 128 + 16 * r;
    mf::put<std::uint32_t>(q, std::uint32_t(roles[r]->format));
    mf::put<std::uint32_t>(q + 4, std::uint32_t(roles[r]->norm));
    mf::put<std::uint32_t>(q + 8, std::uint32_t(roles[r]->granularity));
    mf::put<std::uint32_t>(q + 12, std::uint32_t(roles[r]->group));
  }
  std::memcpy(p + mf::policy_at, m.policy().data(), m.policy().size());
  for (std::size_t i = 0; i < t.size(); ++i) {
    std::uint8_t* e = p + mf::header_bytes + i * mf::entry_bytes;
    if (t[i].name.size() >= mf::name_bytes) throw model_file_error("save_model '" + path + "': tensor name too long: " + t[i].name);
    std::memcpy(e, t[i].name.data(), t[i].name.size());
    mf::put<std::uint32_t>(e + 64, t[i].dtype);
    mf::put<std::uint64_t>(e + 72, t[i].rows);
    mf::put<std::uint64_t>(e + 80, t[i].cols);
    mf::put<std::uint64_t>(e + 88, t[i].group);
    mf::put<std::uint64_t>(e + 96, t[i].offset);
    mf::put<std::uint64_t>(e + 104, t[i].bytes);
    mf::put<std::uint64_t>(e + 112, t[i].checksum);
  }
  checksum_state cs;
  cs.update(p, mf::checksum_at);
  cs.update(p + mf::header_bytes, table_end - mf::header_bytes);
  mf::put<std::uint64_t>(p + mf::checksum_at, cs.digest());

  try {
    atomic_file_writer out(path, "save_model");
    out.write(head.data(), head.size());
    static const char zeros[64] = {};
    std::size_t at = data_offset;
    for (std::size_t i = 0; i < t.size(); ++i) {
      out.write(src[i], t[i].bytes);
      at += t[i].bytes;
      out.write(zeros, mf::align64(at) - at);
      at = mf::align64(at);
    }
    out.commit();
  } catch (const std::exception& e) {
    throw model_file_error(e.what());
  }
}

}  // namespace tern
