// Ternary kernels: packing, activation quantization, and every path against the scalar
// reference (bit-exact int32 accumulators). Paths this CPU cannot run are skipped with a WARN.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>
#include <limits>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tern/kernels/amx_tile_emulator.hpp"
#include "tern/kernels/gemm.hpp"
#include "tern/kernels/packed_ternary_base3.hpp"
#include "tern/quant/absmax_int8.hpp"
#include "tern/quant/absmean_ternary.hpp"

#define TERN_TEST_STR2(x) #x
#define TERN_TEST_STR(x) TERN_TEST_STR2(x)
#define TERN_TEST_ABI_NAME TERN_TEST_STR(TERN_KERNELS_ABI)

namespace tern_test {
std::string baseline_abi_name();
std::vector<std::int32_t> baseline_gemm_acc(const std::int8_t* w, const std::int8_t* x, const float* wscales,
                                            long m, long k, long n, long group, int path_index, bool base3);
}  // namespace tern_test

namespace tern::kernels {
namespace {

matrix<std::int8_t> random_ternary(index m, index k, std::mt19937& rng) {
  std::uniform_int_distribution<int> d(-1, 1);
  matrix<std::int8_t> c(m, k);
  for (index i = 0; i < c.size(); ++i) c.data()[i] = static_cast<std::int8_t>(d(rng));
  return c;
}

matrix<std::int8_t> random_int8(index n, index k, std::mt19937& rng) {
  std::uniform_int_distribution<int> d(-128, 127);
  matrix<std::int8_t> c(n, k);
  for (index i = 0; i < c.size(); ++i) c.data()[i] = static_cast<std::int8_t>(d(rng));
  return c;
}

matrix<float> random_scales(index rows, index cols, std::mt19937& rng) {
  std::uniform_real_distribution<float> d(0.01f, 2.0f);
  matrix<float> s(rows, cols);
  for (index i = 0; i < s.size(); ++i) s.data()[i] = d(rng);
  return s;
}

quantized<float> int8_tokens(const matrix<std::int8_t>& codes, std::mt19937& rng) {
  quantized<float> q;
  q.codes = codes;
  q.scales = random_scales(codes.rows(), 1, rng);
  q.group = codes.cols();
  return q;
}

/// acc(n, i, g) from the unpacked int8 matrices with plain loops in int64: independent of the
/// packed layout and of reference.hpp.
std::vector<long long> naive_acc(const matrix<std::int8_t>& w, const matrix<std::int8_t>& x, index group) {
  const index m = w.rows(), n = x.rows(), k = w.cols(), groups = (k + group - 1) / group;
  std::vector<long long> a(static_cast<std::size_t>(n * m * groups), 0);
  for (index t = 0; t < n; ++t)
    for (index i = 0; i < m; ++i)
      for (index j = 0; j < k; ++j) a[static_cast<std::size_t>((t * m + i) * groups + j / group)] += w(i, j) * x(t, j);
  return a;
}

/// Runs f(path) for every path; paths the CPU cannot run are reported with WARN, not passed.
template <class F>
void for_each_path(F&& f, bool warn = true) {
  for (path p : all_paths) {
    if (!cpu_supports(p)) {
      if (warn) WARN("skipping kernel path " << path_name(p) << ": not supported by this CPU/OS");
      continue;
    }
    f(p);
  }
}

bool same_acc(const accumulators& a, const accumulators& b) {
  return a.tokens == b.tokens && a.rows == b.rows && a.groups == b.groups && a.v == b.v;
}

}  // namespace

TEST_CASE("packed_ternary round-trips losslessly for any shape and grouping", "[kernels][pack]") {
  std::mt19937 rng(1);
  for (index m : {1, 3, 17}) {
    for (index k : {1, 5, 63, 64, 255, 256, 257, 1000}) {
      for (index group : {index(0), index(64), index(100), index(256)}) {
        const auto codes = random_ternary(m, k, rng);
        const index groups = group <= 0 || group >= k ? 1 : (k + group - 1) / group;
        const matrix<float> scales = random_scales(group == 64 ? 1 : m, groups, rng);
        const packed_ternary p(codes, scales, group);
        const quantized<float> q = p.unpack();
        CHECK(q.codes == codes);
        CHECK(q.scales == scales);
        CHECK(p.row_bytes() % 64 == 0);
        CHECK(p.row_bytes() * 4 >= k);
        const packed_ternary p2(q);
        CHECK(p2.unpack().codes == codes);
      }
    }
  }
}

TEST_CASE("packed_ternary byte layout matches the documented one", "[kernels][pack]") {
  // Hand-worked: K = 300 -> 2 blocks; w(0, 65) = -1 sits in block 0, byte 1, bits [3:2];
  // w(0, 256 + 2) = +1 in block 1, byte 2, bits [1:0]; everything else 0 (code 1 = 0b01).
  matrix<std::int8_t> c = matrix<std::int8_t>::Zero(1, 300);
  c(0, 65) = -1;
  c(0, 258) = 1;
  const packed_ternary p(c, matrix<float>::Ones(1, 1), 0);
  REQUIRE(p.row_bytes() == 128);
  const std::uint8_t* r = p.row(0);
  CHECK(r[0] == 0x55);
  CHECK(r[1] == 0x51);         // bits [3:2] = 00 (w = -1), others 01
  CHECK(r[64 + 2] == 0x56);    // bits [1:0] = 10 (w = +1)
  CHECK(r[127] == 0x55);       // padding stored as w = 0
}

TEST_CASE("base-3 bytes: the kernels' multiply decode equals exact division for all 243 values",
          "[kernels][pack][tq1]") {
  for (int v = 0; v < 243; ++v) {
    const int c[5] = {v / 81, v / 27 % 3, v / 9 % 3, v / 3 % 3, v % 3};
    const std::uint8_t q = packed_ternary_base3::encode(c);
    unsigned m = q;
    for (int t = 0; t < 5; ++t) {
      CHECK(packed_ternary_base3::decode(q, t) == c[t]);
      CHECK(int(m >= 86) + int(m >= 171) == c[t]);  // what the kernels compute
      m = (m * 3) & 0xff;
    }
  }
}

TEST_CASE("packed_ternary_base3 round-trips losslessly at 1.6 bits per weight", "[kernels][pack][tq1]") {
  std::mt19937 rng(11);
  for (index m : {1, 4}) {
    for (index k : {1, 63, 320, 321, 1000}) {
      for (index group : {index(0), index(100), index(320)}) {
        const auto codes = random_ternary(m, k, rng);
        const index groups = group <= 0 || group >= k ? 1 : (k + group - 1) / group;
        const packed_ternary_base3 p(codes, random_scales(m, groups, rng), group);
        CHECK(p.unpack().codes == codes);
        CHECK(p.row_bytes() == groups * ((std::min(group <= 0 ? k : group, k) + 319) / 320) * 64);
      }
    }
  }
  const packed_ternary_base3 big(matrix<std::int8_t>::Zero(2, 3200), matrix<float>::Ones(1, 1), 0);
  CHECK(double(big.bytes()) * 8.0 / (2 * 3200) == Approx(1.6));
  matrix<std::int8_t> bad = matrix<std::int8_t>::Zero(1, 5);
  bad(0, 4) = -2;
  CHECK_THROWS_AS(packed_ternary_base3(bad, matrix<float>::Ones(1, 1), 0), std::invalid_argument);
}

TEST_CASE("packed_ternary rejects bad input with clear errors", "[kernels][pack]") {
  matrix<std::int8_t> c = matrix<std::int8_t>::Zero(2, 10);
  c(1, 3) = 2;
  CHECK_THROWS_AS(packed_ternary(c, matrix<float>::Ones(1, 1), 0), std::invalid_argument);
  c(1, 3) = 0;
  CHECK_THROWS_AS(packed_ternary(c, matrix<float>::Ones(3, 1), 0), shape_error);
  CHECK_THROWS_AS(packed_ternary(c, matrix<float>::Ones(2, 1), 4), shape_error);  // needs 3 groups
}

TEST_CASE("quantize_activations matches the absmax int8 formula and folds RMSNorm into the scale",
          "[kernels][act]") {
  std::mt19937 rng(2);
  std::normal_distribution<float> d(0.0f, 3.0f);
  for (index k : {1, 7, 64, 100, 513}) {
    matrix<float> x(5, k);
    for (index i = 0; i < x.size(); ++i) x.data()[i] = d(rng);
    x(4, 0) = 0.0f;
    const k_layout l = k_layout::make(k, 64);
    const auto q = quantize_activations(x, l);
    const auto qf = quantize_activations(x, l, norm_fold::rms);
    for (index n = 0; n < x.rows(); ++n) {
      float gamma = 1e-5f;
      double ss = 0.0;
      for (index j = 0; j < k; ++j) {
        gamma = std::max(gamma, std::abs(x(n, j)));
        ss += double(x(n, j)) * x(n, j);
      }
      CHECK(q.scale(n) == gamma / 127.0f);
      const double r = std::sqrt(ss / double(k) + 1e-6);
      CHECK(qf.scale(n) == Approx(gamma / 127.0 / r).epsilon(1e-6));
      int sum0 = 0;
      for (index j = 0; j < k; ++j) {
        const float e = std::nearbyint(127.0f * x(n, j) / gamma);
        CHECK(q.code(n, j) == static_cast<int>(e));
        CHECK(qf.code(n, j) == q.code(n, j));  // Q(x / r) = Q(x): only the scale changes
        if (j < std::min<index>(k, 64)) sum0 += q.code(n, j);
      }
      CHECK(q.sum(n, 0) == sum0);
    }
  }
}

TEST_CASE("quantize_activations with a learned gain: codes of g x, 1/rms(x) in the scale", "[kernels][act]") {
  std::mt19937 rng(12);
  std::normal_distribution<float> d(0.0f, 2.0f);
  std::uniform_real_distribution<float> gd(0.2f, 3.0f);
  for (index k : {1, 5, 16, 64, 100, 333}) {
    matrix<float> x(4, k);
    for (index i = 0; i < x.size(); ++i) x.data()[i] = d(rng);
    std::vector<float> g(static_cast<std::size_t>(k));
    for (auto& v : g) v = gd(rng);
    for (index group : {index(0), index(32)}) {
      const k_layout l = k_layout::make(k, group);
      const auto q = quantize_activations(x, l, norm_fold::rms, g.data());
      const auto qg = quantize_activations(x, l, norm_fold::none, g.data());
      for (index n = 0; n < x.rows(); ++n) {
        // The definition, scalar: u = g x (one float multiply), absmax codes of u, r of x.
        float gamma = 1e-5f;
        double ss = 0.0;
        for (index j = 0; j < k; ++j) {
          gamma = std::max(gamma, std::abs(g[std::size_t(j)] * x(n, j)));
          ss += double(x(n, j)) * x(n, j);
        }
        CHECK(qg.scale(n) == gamma / 127.0f);
        CHECK(q.scale(n) == static_cast<float>(double(gamma / 127.0f) / std::sqrt(ss / double(k) + 1e-6)));
        for (index j = 0; j < k; ++j) {
          const float u = g[std::size_t(j)] * x(n, j);
          const float e = std::min(std::max(std::nearbyint((127.0f * u) / gamma), -128.0f), 127.0f);
          REQUIRE(q.code(n, j) == static_cast<int>(e));
          REQUIRE(qg.code(n, j) == q.code(n, j));
        }
      }
    }
  }
  // Into a reused buffer: the same result, storage kept when the shape matches.
  matrix<float> x(2, 50);
  for (index i = 0; i < x.size(); ++i) x.data()[i] = d(rng);
  const k_layout l = k_layout::make(50, 0);
  quantized_activations reuse;
  quantize_activations_into(reuse, x.data(), 2, l);
  const std::int8_t* storage = reuse.data();
  x *= 3.0f;
  quantize_activations_into(reuse, x.data(), 2, l);
  CHECK(reuse.data() == storage);
  const auto fresh = quantize_activations(x, l);
  for (index n = 0; n < 2; ++n) {
    CHECK(reuse.scale(n) == fresh.scale(n));
    for (index j = 0; j < 50; ++j) CHECK(reuse.code(n, j) == fresh.code(n, j));
  }
}

TEST_CASE("packed formats over borrowed bytes give the same product as the owning ones", "[kernels][pack]") {
  std::mt19937 rng(13);
  const index m = 11, k = 700, group = 128;
  const matrix<std::int8_t> c = random_ternary(m, k, rng);
  const matrix<float> s = random_scales(m, (k + group - 1) / group, rng);
  const matrix<float> x = matrix<float>::Random(3, k);
  const auto check = [&](const auto& owned, auto make_view) {
    using W = std::decay_t<decltype(owned)>;
    const auto xq = quantize_activations(x, owned.layout());
    auto buf = std::shared_ptr<std::uint8_t>(static_cast<std::uint8_t*>(::operator new(owned.bytes(), std::align_val_t{64})),
                                             [](std::uint8_t* p) { ::operator delete(p, std::align_val_t{64}); });
    std::memcpy(buf.get(), owned.data(), owned.bytes());
    const W view = make_view(std::shared_ptr<const std::uint8_t>(buf));
    CHECK(view.borrowed());
    CHECK_FALSE(owned.borrowed());
    const W copy = view;  // shares the borrowed bytes
    CHECK(copy.data() == view.data());
    CHECK(same_acc(gemm_acc(view, xq), gemm_acc_ref(owned, xq)));
    CHECK(same_acc(gemm_acc(copy, xq), gemm_acc_ref(owned, xq)));
    const W owned_copy = owned;  // owns a copy
    CHECK(owned_copy.data() != owned.data());
    CHECK(same_acc(gemm_acc(owned_copy, xq), gemm_acc_ref(owned, xq)));
    auto misaligned = std::shared_ptr<const std::uint8_t>(buf, buf.get() + 1);
    CHECK_THROWS_AS(make_view(misaligned), std::invalid_argument);
  };
  const packed_ternary p2(c, s, group);
  check(p2, [&](std::shared_ptr<const std::uint8_t> b) { return packed_ternary::from_bytes(std::move(b), m, k, group, s); });
  CHECK(p2.valid_codes());
  const packed_ternary_base3 p1(c, s, group);
  check(p1, [&](std::shared_ptr<const std::uint8_t> b) {
    return packed_ternary_base3::from_bytes(std::move(b), m, k, group, s);
  });
  // A 2-bit field holding 3 (w = 2) is refused when the bytes are borrowed (valid by
  // construction), with the row and byte named; the sized overload also refuses a short buffer.
  auto bad = std::shared_ptr<std::uint8_t>(static_cast<std::uint8_t*>(::operator new(p2.bytes(), std::align_val_t{64})),
                                           [](std::uint8_t* p) { ::operator delete(p, std::align_val_t{64}); });
  std::memcpy(bad.get(), p2.data(), p2.bytes());
  CHECK(packed_ternary::from_bytes(bad, p2.bytes(), m, k, group, s).valid_codes());
  CHECK_THROWS_AS(packed_ternary::from_bytes(bad, p2.bytes() - 1, m, k, group, s), std::invalid_argument);
  CHECK_THROWS_AS(packed_ternary_base3::from_bytes(bad, p1.bytes() - 1, m, k, group, s), std::invalid_argument);
  const std::size_t at = p2.bytes() / 2 + 3;
  bad.get()[at] |= 0x30;
  CHECK_THROWS_WITH(packed_ternary::from_bytes(bad, m, k, group, s),
                    Catch::Contains("byte " + std::to_string(at % std::size_t(p2.row_bytes())) + " of row " +
                                    std::to_string(at / std::size_t(p2.row_bytes()))));
}

TEST_CASE("kernel operands agree with the training quantizers (absmax_int8, absmean_ternary)", "[kernels][act]") {
  std::mt19937 rng(8);
  std::normal_distribution<float> d(0.0f, 1.5f);
  const index k = 200, m = 9;
  matrix<float> x(4, k), wf(m, k);
  for (index i = 0; i < x.size(); ++i) x.data()[i] = d(rng);
  for (index i = 0; i < wf.size(); ++i) wf.data()[i] = d(rng);
  const quantized<float> wq = absmean_ternary<per_group<64>>::quantize(wf);
  const packed_ternary w(wq);
  const quantized<float> xq = absmax_int8<>::quantize(x);
  const auto xa = quantize_activations(x, w.layout());
  for (index n = 0; n < x.rows(); ++n) {
    CHECK(xa.scale(n) == xq.scales(n, 0));
    for (index j = 0; j < k; ++j) REQUIRE(xa.code(n, j) == xq.codes(n, j));
  }
  // y matches the dequantized float product x~ W~^T (computed by Eigen in double).
  const matrix<double> ref = xq.dequantize().cast<double>() * wq.dequantize().cast<double>().transpose();
  const matrix<float> y = gemm(w, xa);
  for (index i = 0; i < y.size(); ++i) CHECK(y.data()[i] == Approx(ref.data()[i]).epsilon(1e-4).margin(1e-4));
  matrix<float> bad = x;
  bad(2, 5) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_AS(quantize_activations(bad, w.layout()), std::domain_error);
}

TEST_CASE("folded RMSNorm gives the output of normalizing first", "[kernels][act]") {
  std::mt19937 rng(3);
  std::normal_distribution<float> d(0.0f, 2.0f);
  const index k = 300, m = 7;
  matrix<float> x(3, k);
  for (index i = 0; i < x.size(); ++i) x.data()[i] = d(rng);
  const packed_ternary w(random_ternary(m, k, rng), random_scales(m, 1, rng), 0);
  matrix<float> xn = x;
  for (index n = 0; n < x.rows(); ++n) xn.row(n) /= float(std::sqrt(x.row(n).squaredNorm() / k + 1e-6));
  const matrix<float> y_fold = gemm(w, quantize_activations(x, w.layout(), norm_fold::rms));
  const matrix<float> y_norm = gemm_ref(w, quantize_activations(xn, w.layout()));
  for (index i = 0; i < y_fold.size(); ++i)
    CHECK(y_fold.data()[i] == Approx(y_norm.data()[i]).epsilon(1e-4).margin(1e-4));
}

TEST_CASE("reference accumulators equal a plain int64 product", "[kernels][ref]") {
  std::mt19937 rng(4);
  for (index group : {index(0), index(50), index(256)}) {
    const index m = 6, k = 333, n = 3;
    const auto wc = random_ternary(m, k, rng);
    const auto xc = random_int8(n, k, rng);
    const index groups = group == 0 ? 1 : (k + group - 1) / group;
    const packed_ternary w(wc, random_scales(m, groups, rng), group);
    const auto x = make_activations(int8_tokens(xc, rng), w.layout());
    const accumulators a = gemm_acc_ref(w, x);
    const auto expect = naive_acc(wc, xc, group == 0 ? k : group);
    REQUIRE(a.v.size() == expect.size());
    for (std::size_t i = 0; i < expect.size(); ++i) REQUIRE(a.v[i] == expect[i]);
    // y = sum_g acc * beta * s, checked in double
    const matrix<float> y = gemm_ref(w, x);
    for (index t = 0; t < n; ++t)
      for (index i = 0; i < m; ++i) {
        double e = 0.0;
        for (index g = 0; g < groups; ++g) e += double(a(t, i, g)) * w.scale(i, g);
        CHECK(y(t, i) == Approx(e * x.scale(t)).epsilon(1e-5));
      }
  }
}

template <class W>
void check_paths(const W& w, const quantized<float>& tokens, index m, index k, index n, index g, thread_pool& pool,
                 bool warn) {
  struct shape { index m, k, n, g; } s{m, k, n, g};
  {
    const auto x = make_activations(tokens, w.layout());
    const accumulators ref = gemm_acc_ref(w, x);
    const matrix<float> yref = gemm_ref(w, x);
    for_each_path([&](path p) {
      INFO("format " << W::format << " path " << path_name(p) << " M=" << s.m << " K=" << s.k << " N=" << s.n << " group=" << s.g);
      CHECK(same_acc(gemm_acc(w, x, p), ref));
      CHECK(same_acc(gemm_acc(w, x, p, pool), ref));
      const matrix<float> y = gemm(w, x, p, pool);
      REQUIRE(y.rows() == s.n);
      REQUIRE(y.cols() == s.m);
      for (index i = 0; i < y.size(); ++i)
        REQUIRE(y.data()[i] == Approx(yref.data()[i]).epsilon(1e-5).margin(1e-3));
    }, warn);
#if TERN_KERNELS_X86
    // Every CPU tuning of the tuned paths, whichever this CPU would pick (so the Sapphire Rapids
    // defaults are checked on a Zen 4 machine and the other way round).
    if (cpu_supports(path::avx512vnni)) {
      INFO("format " << W::format << " avx512vnni tunings, M=" << s.m << " K=" << s.k << " N=" << s.n << " group=" << s.g);
      CHECK(same_acc(gemm_acc(w, x, tuned<avx512vnni, tuning_default>{}), ref));
      CHECK(same_acc(gemm_acc(w, x, tuned<avx512vnni, tuning_zen4>{}, pool), ref));
    }
#endif
  }
}

TEST_CASE("every path matches the reference bit for bit on random shapes", "[kernels][paths]") {
  std::mt19937 rng(5);
  const index ms[] = {1, 2, 3, 5, 13, 37};
  const index ks[] = {1, 2, 31, 255, 256, 257, 509, 1024};
  const index ns[] = {1, 2, 3, 7, 70};
  const index gs[] = {0, 64, 100, 256, 300};
  struct shape { index m, k, n, g; };
  std::vector<shape> shapes;
  for (int t = 0; t < 40; ++t)
    shapes.push_back({ms[rng() % 6], ks[rng() % 8], ns[rng() % 5], gs[rng() % 5]});
  shapes.push_back({1, 1, 1, 0});
  shapes.push_back({37, 1024, 70, 100});
  thread_pool pool(2);
  bool first = true;
  for (const shape& s : shapes) {
    const index groups = s.g == 0 || s.g >= s.k ? 1 : (s.k + s.g - 1) / s.g;
    const auto codes = random_ternary(s.m, s.k, rng);
    const auto scales = random_scales(rng() % 2 ? 1 : s.m, groups, rng);
    const auto tokens = int8_tokens(random_int8(s.n, s.k, rng), rng);
    check_paths(packed_ternary(codes, scales, s.g), tokens, s.m, s.k, s.n, s.g, pool, first);
    check_paths(packed_ternary_base3(codes, scales, s.g), tokens, s.m, s.k, s.n, s.g, pool, false);
    first = false;
  }
}

TEST_CASE("extremes: all +1 / -1 weights with +127 / -128 activations at K = 65536", "[kernels][paths]") {
  const index k = 65536, m = 3;
  matrix<std::int8_t> wc(m, k);
  wc.row(0).setConstant(1);
  wc.row(1).setConstant(-1);
  wc.row(2).setConstant(1);
  matrix<std::int8_t> xc(2, k);
  xc.row(0).setConstant(127);
  xc.row(1).setConstant(-128);
  std::mt19937 rng(6);
  const packed_ternary w(wc, matrix<float>::Ones(1, 1), 0);
  const auto x = make_activations(int8_tokens(xc, rng), w.layout());
  const auto x1 = make_activations(int8_tokens(matrix<std::int8_t>(xc.row(1)), rng), w.layout());
  for_each_path([&](path p) {
    INFO("path " << path_name(p));
    const accumulators a = gemm_acc(w, x, p);        // GEMM tiles
    CHECK(a(0, 0, 0) == 127 * 65536);
    CHECK(a(0, 1, 0) == -127 * 65536);
    CHECK(a(1, 0, 0) == -128 * 65536);
    CHECK(a(1, 1, 0) == 128 * 65536);
    CHECK(a(1, 2, 0) == -128 * 65536);
    const accumulators b = gemm_acc(w, x1, p);       // GEMV tiles
    CHECK(b(0, 0, 0) == -128 * 65536);
    CHECK(b(0, 1, 0) == 128 * 65536);
  });
  const packed_ternary_base3 w3(wc, matrix<float>::Ones(1, 1), 0);
  const auto x3 = make_activations(int8_tokens(xc, rng), w3.layout());
  const auto x31 = make_activations(int8_tokens(matrix<std::int8_t>(xc.row(1)), rng), w3.layout());
  for_each_path([&](path p) {
    INFO("tq1 path " << path_name(p));
    const accumulators a = gemm_acc(w3, x3, p);      // GEMM tiles
    CHECK(a(0, 0, 0) == 127 * 65536);
    CHECK(a(0, 1, 0) == -127 * 65536);
    CHECK(a(1, 0, 0) == -128 * 65536);
    CHECK(a(1, 1, 0) == 128 * 65536);
    CHECK(a(1, 2, 0) == -128 * 65536);
    const accumulators b = gemm_acc(w3, x31, p);     // GEMV tiles
    CHECK(b(0, 0, 0) == -128 * 65536);
    CHECK(b(0, 1, 0) == 128 * 65536);
    CHECK(b(0, 2, 0) == -128 * 65536);
  }, false);
}

TEST_CASE("tq1 GEMV at K = 2^20: extremes and random rows past 32-bit lane folds", "[kernels][paths]") {
  // The avx512vnni tq1 GEMV sums 256 x (its lane sums) and folds them every 1024 blocks
  // (base3_kernel.hpp); at K = 2^20 (3277 blocks) and these extremes an unfolded lane would
  // overflow int32. Rows: all +1, all -1, then random codes (5 rows: a 4-row tile and a 1-row one).
  const index k = index(1) << 20, m = 5;
  std::mt19937 rng(31);
  matrix<std::int8_t> wc = random_ternary(m, k, rng);
  wc.row(0).setConstant(1);
  wc.row(1).setConstant(-1);
  const packed_ternary_base3 w(wc, matrix<float>::Ones(1, 1), 0);
  matrix<std::int8_t> lowest(1, k);
  lowest.setConstant(-128);
  const auto xl = make_activations(int8_tokens(lowest, rng), w.layout());
  const auto xr = make_activations(int8_tokens(random_int8(1, k, rng), rng), w.layout());
  const accumulators ref = gemm_acc_ref(w, xr);
  for_each_path([&](path p) {
    INFO("tq1 path " << path_name(p));
    const accumulators a = gemm_acc(w, xl, p);
    CHECK(a(0, 0, 0) == -128 * k);
    CHECK(a(0, 1, 0) == 128 * k);
    CHECK(same_acc(gemm_acc(w, xr, p), ref));
  }, false);
}

#if TERN_KERNELS_X86
TEST_CASE("the emulated AMX tile unit computes TDPBUSD as a u8 x s8 product and faults like the hardware",
          "[kernels][amx]") {
  // Independent of the kernel: C (rows x n) += A (rows x 4 kq, u8) . B (kq x 4 n, s8 in the
  // VNNI layout) against plain loops, for a full 16 x 64 configuration and a partial one,
  // with extreme bytes included.
  std::mt19937 rng(21);
  std::uniform_int_distribution<int> byte(0, 255);
  for (const int rows : {16, 5})
    for (const int kq : {16, 3})
      for (const int cols : {16, 7}) {
        detail::amx_tile_config cfg;
        cfg.rows[0] = std::uint8_t(rows), cfg.colsb[0] = std::uint16_t(4 * cols);  // C
        cfg.rows[4] = std::uint8_t(rows), cfg.colsb[4] = std::uint16_t(4 * kq);    // A
        cfg.rows[6] = std::uint8_t(kq), cfg.colsb[6] = std::uint16_t(4 * cols);    // B
        std::vector<std::uint8_t> a(16 * 64), b(16 * 64);
        for (auto& v : a) v = std::uint8_t(byte(rng));
        for (auto& v : b) v = std::uint8_t(byte(rng));
        a[0] = 255, b[0] = 0x80;  // 255 * -128
        std::vector<std::int32_t> c0(16 * 16);
        for (auto& v : c0) v = std::int32_t(byte(rng)) * 1000 - 128000;
        detail::amx_emulated_tiles u;
        u.load_config(cfg);
        u.load<0>(c0.data(), 64);
        u.load<4>(a.data(), 64);
        u.load<6>(b.data(), 64);
        u.dpbusd<0, 4, 6>();
        u.dpbusd<0, 4, 6>();  // twice: accumulates
        std::vector<std::int32_t> got(16 * 16, -7);
        u.store<0>(got.data(), 64);
        for (int m = 0; m < 16; ++m)
          for (int n = 0; n < 16; ++n) {
            INFO("rows " << rows << " kq " << kq << " cols " << cols << " m " << m << " n " << n);
            long long e = 0;
            for (int j = 0; j < 4 * kq; ++j) e += int(a[m * 64 + j]) * int(std::int8_t(b[(j / 4) * 64 + 4 * n + j % 4]));
            if (m < rows && n < cols) REQUIRE(got[m * 16 + n] == c0[m * 16 + n] + 2 * e);
            else REQUIRE(got[m * 16 + n] == -7);  // past rows / colsb: not stored
          }
        u.zero<0>();
        u.store<0>(got.data(), 64);
        for (int m = 0; m < rows; ++m)
          for (int n = 0; n < cols; ++n) REQUIRE(got[m * 16 + n] == 0);
        u.release();
        CHECK_THROWS_AS(u.zero<0>(), std::logic_error);  // after TILERELEASE
      }
  detail::amx_emulated_tiles u;
  detail::amx_tile_config cfg;
  CHECK_THROWS_AS(u.load<0>(&cfg, 64), std::logic_error);  // before LDTILECFG
  cfg.rows[0] = 16, cfg.colsb[0] = 64, cfg.rows[4] = 16, cfg.colsb[4] = 64, cfg.rows[6] = 8, cfg.colsb[6] = 64;
  u.load_config(cfg);
  CHECK_THROWS_AS((u.dpbusd<0, 4, 6>()), std::logic_error);  // A.colsb / 4 != B.rows
  CHECK_THROWS_AS(u.zero<1>(), std::logic_error);            // tile 1 not configured
  cfg.rows[1] = 17, cfg.colsb[1] = 64;
  CHECK_THROWS_AS(u.load_config(cfg), std::logic_error);     // more than 16 rows
  cfg.rows[1] = 0;
  CHECK_THROWS_AS(u.load_config(cfg), std::logic_error);     // colsb without rows
}

namespace {
/// The AMX kernel's algorithm (amx_kernel.hpp) on the emulated tile unit.
template <class Exec>
accumulators amx_emulated_acc(const packed_ternary& w, const quantized_activations& x, Exec&& ex) {
  accumulators acc(x.tokens(), w.rows(), w.layout().groups);
  detail::run_amx_on<detail::amx_emulated_tiles>(w, x, nullptr, &acc, ex);
  return acc;
}
template <class Exec>
matrix<float> amx_emulated_y(const packed_ternary& w, const quantized_activations& x, Exec&& ex) {
  matrix<float> y(x.tokens(), w.rows());
  detail::run_amx_on<detail::amx_emulated_tiles>(w, x, y.data(), nullptr, ex);
  return y;
}
/// y agrees with yref = apply_scales(ref) to float rounding. The kernel's epilogue sums
/// float(acc) * beta over the groups in the same order as apply_scales, but GCC's default
/// (-ffp-contract=fast) may fuse a multiply-add in one loop and not in the other, which moves
/// each partial sum by at most a rounding of its product: |y - yref| <= (2 G + 2) eps
/// sum_g |acc beta| s. (With -ffp-contract=off the two are bit-identical; checked by hand.)
bool same_epilogue(const matrix<float>& y, const matrix<float>& yref, const accumulators& a, const packed_ternary& w,
                   const quantized_activations& x) {
  for (index n = 0; n < a.tokens; ++n)
    for (index i = 0; i < a.rows; ++i) {
      double mag = 0.0;
      for (index g = 0; g < a.groups; ++g) mag += std::abs(double(a(n, i, g)) * w.scale(i, g));
      const double bound = double(2 * a.groups + 2) * std::numeric_limits<float>::epsilon() * mag * x.scale(n);
      if (!(std::abs(double(y(n, i)) - double(yref(n, i))) <= bound)) {
        UNSCOPED_INFO("y(" << n << ", " << i << ") = " << y(n, i) << ", reference " << yref(n, i) << ", bound " << bound);
        return false;
      }
    }
  return true;
}
bool amx_emulation_runs() {
  // The kernel's A unpack is AVX-512BW code; only the tile instructions are emulated.
  if (cpu_supports(path::avx512bw)) return true;
  WARN("skipping the emulated AMX kernel: it needs AVX-512BW (the A unpack), which this CPU lacks");
  return false;
}
}  // namespace

TEST_CASE("AMX kernel on the emulated tile unit matches the reference bit for bit", "[kernels][amx]") {
  if (!amx_emulation_runs()) return;
  std::mt19937 rng(22);
  const index ms[] = {1, 2, 3, 16, 17, 31, 37, 53};
  const index ks[] = {1, 2, 63, 64, 65, 127, 255, 256, 257, 509, 1031};
  // 1, 2 and 3 token tiles of 16 (3: a pair, then a single tile with two == false).
  const index ns[] = {1, 2, 15, 16, 17, 31, 32, 33, 47, 48};
  enum class scales { per_tensor, per_row, per_group_shared, per_group_row };
  const index groups_of[] = {64, 100, 256, 300};
  struct shape { index m, k, n; scales s; index g; };
  std::vector<shape> shapes;
  for (index n : ns)
    for (int t = 0; t < 6; ++t)
      shapes.push_back({ms[rng() % 8], ks[rng() % 11], n, scales(rng() % 4), groups_of[rng() % 4]});
  shapes.push_back({1, 1, 1, scales::per_tensor, 0});
  shapes.push_back({53, 1031, 48, scales::per_group_row, 100});
  shapes.push_back({37, 509, 33, scales::per_row, 0});
  thread_pool pool(2);
  for (const shape& s : shapes) {
    const index group = s.s == scales::per_tensor || s.s == scales::per_row ? 0 : s.g;
    const index groups = group == 0 || group >= s.k ? 1 : (s.k + group - 1) / group;
    const index scale_rows = s.s == scales::per_row || s.s == scales::per_group_row ? s.m : 1;
    const packed_ternary w(random_ternary(s.m, s.k, rng), random_scales(scale_rows, groups, rng), group);
    const auto x = make_activations(int8_tokens(random_int8(s.n, s.k, rng), rng), w.layout());
    INFO("M=" << s.m << " K=" << s.k << " N=" << s.n << " group=" << group << " scale rows " << scale_rows
              << " groups " << groups);
    const accumulators ref = gemm_acc_ref(w, x);
    const matrix<float> yref = gemm_ref(w, x);
    CHECK(same_acc(amx_emulated_acc(w, x, sequential_executor{}), ref));
    CHECK(same_acc(amx_emulated_acc(w, x, pool), ref));  // one part per 16-row tile, up to 2
    const matrix<float> y = amx_emulated_y(w, x, pool);
    REQUIRE(y.rows() == s.n);
    REQUIRE(y.cols() == s.m);
    CHECK(same_epilogue(y, yref, ref, w, x));
  }
}

TEST_CASE("AMX kernel on the emulated tile unit: extremes at K = 65536", "[kernels][amx]") {
  if (!amx_emulation_runs()) return;
  // Rows of all +1 / all -1 weights against tokens of all +127 / all -128: |acc| = 128 K, and
  // the tile sums before the offset correction span -2 * 128 * K .. 2 * 127 * K. 33 tokens: three token tiles,
  // with a period (3) that does not divide 16, so token tiles differ from each other.
  const index k = 65536, m = 3, n = 33;
  matrix<std::int8_t> wc(m, k);
  wc.row(0).setConstant(1);
  wc.row(1).setConstant(-1);
  wc.row(2).setConstant(1);
  matrix<std::int8_t> xc(n, k);
  for (index t = 0; t < n; ++t) xc.row(t).setConstant(t % 3 ? std::int8_t(-128) : std::int8_t(127));
  std::mt19937 rng(23);
  const packed_ternary w(wc, matrix<float>::Ones(1, 1), 0);
  const auto x = make_activations(int8_tokens(xc, rng), w.layout());
  const accumulators a = amx_emulated_acc(w, x, sequential_executor{});
  for (index t = 0; t < n; ++t) {
    INFO("token " << t);
    const std::int32_t v = t % 3 ? -128 * 65536 : 127 * 65536;
    CHECK(a(t, 0, 0) == v);
    CHECK(a(t, 1, 0) == -v);
    CHECK(a(t, 2, 0) == v);
  }
  CHECK(same_acc(a, gemm_acc_ref(w, x)));
  CHECK(amx_emulated_y(w, x, sequential_executor{}) == gemm_ref(w, x));  // one group, scale 1: exact
}
#endif  // TERN_KERNELS_X86

namespace {
/// Runs f(w) on every product entry point (each path, tag and run-time; the reference).
template <class W, class F>
void for_each_entry(const W& w, const quantized_activations& x, F&& check) {
  check([&] { (void)gemm(w, x); });
  check([&] { (void)gemm_acc(w, x); });
  check([&] { (void)gemm_ref(w, x); });
  check([&] { (void)gemm_acc_ref(w, x); });
  for_each_path([&](path p) {
    check([&] { (void)gemm(w, x, p); });
    check([&] { (void)gemm_acc(w, x, p); });
  }, false);
}
}  // namespace

// quantized_activations keeps its invariants by construction: nothing outside the quantization
// functions can write its fields (writable fields could disagree with the storage).
template <class Q>
concept writable_fields = requires(Q& q) { q.tokens = 5; } || requires(Q& q) { q.scale[0] = 1.0f; } ||
                          requires(Q& q) { q.layout.k = 1; } || requires(Q& q) { q.sums.clear(); };
static_assert(!writable_fields<quantized_activations>);

TEST_CASE("empty weights (default-constructed, moved from) are refused at every entry point", "[kernels][inputs]") {
  std::mt19937 rng(41);
  const matrix<float> xf = matrix<float>::Random(2, 300);
  const auto check = [&](auto make) {
    auto full = make();
    const auto x = quantize_activations(xf, full.layout());
    decltype(full) none;
    CHECK(none.empty());
    for_each_entry(none, x, [](auto call) { CHECK_THROWS_WITH(call(), Catch::Contains("weights are empty")); });
    const auto moved_to = std::move(full);
    CHECK(full.empty());  // NOLINT: the moved-from state is specified (empty)
    for_each_entry(full, x, [](auto call) { CHECK_THROWS_AS(call(), std::invalid_argument); });
    CHECK(same_acc(gemm_acc(moved_to, x), gemm_acc_ref(moved_to, x)));
    matrix<float> y(1, moved_to.rows());  // wrong token count for the preallocated output
    CHECK_THROWS_AS(gemm(moved_to, x, y), shape_error);
  };
  const auto codes = random_ternary(7, 300, rng);
  check([&] { return packed_ternary(codes, matrix<float>::Ones(1, 1), 0); });
  check([&] { return packed_ternary_base3(codes, matrix<float>::Ones(1, 1), 0); });
}

TEST_CASE("inconsistent activations and layouts are refused, not read past their storage", "[kernels][inputs]") {
  std::mt19937 rng(42);
  const packed_ternary w(random_ternary(5, 300, rng), matrix<float>::Ones(1, 5), 64);
  const matrix<float> xf = matrix<float>::Random(3, 300);
  // Default-constructed activations: no tokens, the default layout, which no weights have.
  for_each_entry(w, quantized_activations{}, [](auto call) { CHECK_THROWS_AS(call(), shape_error); });
  // Activations of another layout (same K, another group; same K and group, another block).
  for_each_entry(w, quantize_activations(xf, k_layout::make(300, 0)), [](auto call) { CHECK_THROWS_AS(call(), shape_error); });
  for_each_entry(w, quantize_activations(xf, k_layout::make(300, 64, 320)),
                 [](auto call) { CHECK_THROWS_AS(call(), shape_error); });
  // A hand-built layout whose fields disagree (more groups than K has) is refused wherever a
  // layout is taken, before any storage is sized from it.
  k_layout bad = k_layout::make(300, 64);
  CHECK(bad.valid());
  bad.groups = 50;
  CHECK_FALSE(bad.valid());
  CHECK_THROWS_AS(quantized_activations(bad, 2), std::invalid_argument);
  CHECK_THROWS_AS(quantize_activations(xf, bad), std::invalid_argument);
  quantized_activations q;
  CHECK_THROWS_AS(quantize_activations_into(q, xf.data(), 3, bad), std::invalid_argument);
  CHECK_THROWS_AS(make_activations(int8_tokens(random_int8(2, 300, rng), rng), bad), std::invalid_argument);
  CHECK_FALSE(k_layout{}.valid());
  CHECK_THROWS_AS(quantized_activations(k_layout{}, 1), std::invalid_argument);
  // Token counts: negative, overflowing the storage size, a null input.
  CHECK_THROWS_AS(quantized_activations(w.layout(), -1), std::invalid_argument);
  CHECK_THROWS_AS(quantized_activations(w.layout(), std::numeric_limits<index>::max() / 4), std::length_error);
  CHECK_THROWS_AS(quantize_activations_into(q, nullptr, 2, w.layout()), std::invalid_argument);
  CHECK_THROWS_AS(quantize_activations(matrix<float>::Random(3, 299), w.layout()), shape_error);
  // Accumulators of the wrong shape are refused by the epilogue.
  const auto x = quantize_activations(xf, w.layout());
  accumulators a = gemm_acc_ref(w, x);
  CHECK(apply_scales(a, w, x) == gemm_ref(w, x));
  a.v.pop_back();
  CHECK_THROWS_AS(apply_scales(a, w, x), shape_error);
  CHECK_THROWS_AS(apply_scales(accumulators(3, 4, 5), w, x), shape_error);
  CHECK_THROWS_AS(accumulators(-1, 2, 3), std::invalid_argument);
  CHECK_THROWS_AS(accumulators(std::numeric_limits<index>::max() / 2, 4, 1), std::length_error);
  // Packed formats: blocks that are not whole cache lines, non-finite scales.
  CHECK_THROWS_AS(k_layout::make(300, 0, 100), std::invalid_argument);
  CHECK_THROWS_AS(k_layout::make(0, 0), std::invalid_argument);
  matrix<float> nan_scale = matrix<float>::Ones(5, 5);
  nan_scale(3, 2) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(packed_ternary(random_ternary(5, 300, rng), nan_scale, 64), Catch::Contains("scales(3, 2)"));
  nan_scale(3, 2) = std::numeric_limits<float>::infinity();
  CHECK_THROWS_AS(packed_ternary_base3(random_ternary(5, 300, rng), nan_scale, 64), std::invalid_argument);
}

TEST_CASE("K past the int32 accumulator bound is refused; at the bound every path is exact", "[kernels][inputs]") {
  // reference.hpp: the kernels' partial sums of c = w + 1 times x span [-256 P, 254 P] for a
  // group padded to P columns, exact in int32 while P <= 2^23.
  constexpr index bound = k_layout::max_padded_group;
  static_assert(bound == index(1) << 23);
  CHECK_NOTHROW(k_layout::make(bound, 0));
  CHECK_THROWS_WITH(k_layout::make(bound + 1, 0), Catch::Contains("K = 8388609") && Catch::Contains("8388608"));
  CHECK_NOTHROW(k_layout::make(8388480, 0, packed_ternary_base3::block_weights));  // 26214 blocks of 320
  CHECK_THROWS_AS(k_layout::make(8388481, 0, packed_ternary_base3::block_weights), shape_error);
  CHECK_NOTHROW(k_layout::make(index(1) << 40, 4096));  // many groups, each within the bound
  CHECK_THROWS_AS(k_layout::make(std::numeric_limits<index>::max(), 64), shape_error);  // padded length overflows
  // Refused before any byte is read: a borrowed buffer of one block cannot be reached.
  auto one_block = std::shared_ptr<std::uint8_t>(static_cast<std::uint8_t*>(::operator new(64, std::align_val_t{64})),
                                                 [](std::uint8_t* p) { ::operator delete(p, std::align_val_t{64}); });
  CHECK_THROWS_AS(packed_ternary::from_bytes(one_block, 1, bound + 1, 0, matrix<float>::Ones(1, 1)), shape_error);
  CHECK_THROWS_AS(packed_ternary::from_bytes(one_block, 64, 1, bound, 0, matrix<float>::Ones(1, 1)), std::invalid_argument);
  CHECK_THROWS_AS(packed_ternary_base3::from_bytes(one_block, 1, 8388481, 0, matrix<float>::Ones(1, 1)), shape_error);

  // At the bound: rows of all +1 and all -1 against tokens of all -128 and all +127, so the
  // kernels' partial sums reach -256 P = -2^31 (tq2) exactly.
  std::mt19937 rng(43);
  const auto check = [&](auto tag, index k) {
    using W = decltype(tag);
    matrix<std::int8_t> wc(2, k);
    wc.row(0).setConstant(1);
    wc.row(1).setConstant(-1);
    const W w(wc, matrix<float>::Ones(1, 1), 0);
    matrix<std::int8_t> xc(2, k);
    xc.row(0).setConstant(-128);
    xc.row(1).setConstant(127);
    const auto x = make_activations(int8_tokens(xc, rng), w.layout());
    const auto x0 = make_activations(int8_tokens(matrix<std::int8_t>(xc.row(0)), rng), w.layout());
    for_each_path([&](path p) {
      if (p == path::reference) return;  // the reference loops over int32 products too; slow here
      INFO(W::format << " path " << path_name(p) << " K = " << k);
      const accumulators a = gemm_acc(w, x, p);  // GEMM tiles
      CHECK(a(0, 0, 0) == -128 * k);
      CHECK(a(0, 1, 0) == 128 * k);
      CHECK(a(1, 0, 0) == 127 * k);
      CHECK(a(1, 1, 0) == -127 * k);
      const accumulators b = gemm_acc(w, x0, p);  // GEMV tiles
      CHECK(b(0, 0, 0) == -128 * k);
      CHECK(b(0, 1, 0) == 128 * k);
    }, false);
  };
  check(packed_ternary{}, bound);
  check(packed_ternary_base3{}, index(8388480));
}

/// A user-supplied executor: runs the tasks in reverse order on std::threads of its own.
struct reverse_thread_executor {
  index concurrency() const { return 3; }
  template <class F>
  void parallel_for(index n, F&& f) {
    std::vector<std::thread> ts;
    for (index t = n - 1; t >= 0; --t) ts.emplace_back([&f, t] { f(t); });
    for (auto& th : ts) th.join();
  }
};
static_assert(executor<reverse_thread_executor>);

TEST_CASE("a user-supplied executor gives the same result as the sequential one", "[kernels][executor]") {
  std::mt19937 rng(13);
  const packed_ternary w(random_ternary(50, 300, rng), matrix<float>::Ones(1, 1), 0);
  for (index n : {1, 9}) {
    const auto x = make_activations(int8_tokens(random_int8(n, 300, rng), rng), w.layout());
    reverse_thread_executor ex;
    CHECK(same_acc(gemm_acc(w, x, detect_path(), ex), gemm_acc_ref(w, x)));
    CHECK(gemm(w, x, detect_path(), ex) == gemm(w, x, detect_path()));
  }
}

TEST_CASE("run-time dispatch refuses paths the CPU lacks and picks a supported one", "[kernels][dispatch]") {
  CHECK(cpu_supports(detect_path()));
  CHECK(cpu_supports(path::generic));
  std::mt19937 rng(7);
  const packed_ternary w(random_ternary(4, 40, rng), matrix<float>::Ones(1, 1), 0);
  const auto x = make_activations(int8_tokens(random_int8(2, 40, rng), rng), w.layout());
  for (path p : all_paths)
    if (!cpu_supports(p)) {
      WARN("path " << path_name(p) << " unavailable here: checking that it is refused");
      CHECK_THROWS_AS(gemm(w, x, p), std::invalid_argument);
    }
  // Operands whose K layouts differ are a shape error, not garbage.
  const packed_ternary w2(random_ternary(4, 41, rng), matrix<float>::Ones(1, 1), 0);
  CHECK_THROWS_AS(gemm(w2, x), shape_error);
}

TEST_CASE("a baseline-compiled translation unit dispatches to every path, bit-exact", "[kernels][dispatch]") {
  INFO("this TU: " << TERN_TEST_ABI_NAME << ", baseline TU: " << tern_test::baseline_abi_name());
  // Distinct kernel symbols whenever the two TUs were compiled for different ISAs (with
  // TERN_NATIVE=OFF both are baseline and share one, identically compiled, copy).
  if (tern_test::baseline_abi_name() == TERN_TEST_ABI_NAME)
    WARN("both translation units target " << TERN_TEST_ABI_NAME << ": ABI separation not exercised");
#if defined(__AVX2__) && (defined(__x86_64__) || defined(_M_X64))
  CHECK(tern_test::baseline_abi_name() != TERN_TEST_ABI_NAME);
#endif
  std::mt19937 rng(12);
  for (const bool base3 : {false, true})
    for (const index group : {index(0), index(100)}) {
      const index m = 19, k = 700, n = 11;
      const auto wc = random_ternary(m, k, rng);
      const auto xc = random_int8(n, k, rng);
      const index groups = group == 0 ? 1 : (k + group - 1) / group;
      const matrix<float> sc = random_scales(1, groups, rng);
      const auto expect = naive_acc(wc, xc, group == 0 ? k : group);
      for (int pi = 0; pi < int(std::size(all_paths)); ++pi) {
        const auto got = tern_test::baseline_gemm_acc(wc.data(), xc.data(), sc.data(), m, k, n, group, pi, base3);
#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)
        // This TU needs DotProd to run at all, so the baseline TU's run-time check (HWCAP) must
        // find it too: a silent skip of neon_dotprod there would be a detection bug.
        CHECK_FALSE(got.empty());
#endif
        if (got.empty()) {
          WARN("baseline TU: skipping path " << path_name(all_paths[pi]) << ": not supported by this CPU/OS");
          continue;
        }
        INFO("path " << path_name(all_paths[pi]) << (base3 ? " tq1" : " tq2") << " group " << group);
        REQUIRE(got.size() == expect.size());
        bool same = true;
        for (std::size_t i = 0; i < got.size(); ++i) same = same && got[i] == expect[i];
        CHECK(same);
      }
    }
}

}  // namespace tern::kernels
