// The dense LM-head formats: per-row int8 (every path bit-exact against the reference and an
// independent int64 loop, the K bound, extremes, bad bytes) and bf16 (rounding on known
// values, every path within the float summation bound of a double reference).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <random>
#include <vector>

#include "tern/kernels/packed_bf16.hpp"
#include "tern/kernels/packed_int8.hpp"

namespace tern {
namespace tk = tern::kernels;

namespace {

matrix<float> random_matrix(index r, index c, std::mt19937& rng, float sd = 1.0f) {
  std::normal_distribution<float> d(0.0f, sd);
  matrix<float> m(r, c);
  for (index i = 0; i < m.size(); ++i) m.data()[i] = d(rng);
  return m;
}

template <class F>
void for_each_path(F&& f) {
  for (tk::path p : tk::all_paths) {
    if (!tk::cpu_supports(p)) {
      WARN("skipping kernel path " << tk::path_name(p) << ": not supported by this CPU/OS");
      continue;
    }
    f(p);
  }
}

std::shared_ptr<std::uint8_t> aligned_copy(const void* p, std::size_t n) {
  auto b = std::shared_ptr<std::uint8_t>(static_cast<std::uint8_t*>(::operator new(n, std::align_val_t{64})),
                                         [](std::uint8_t* q) { ::operator delete(q, std::align_val_t{64}); });
  std::memcpy(b.get(), p, n);
  return b;
}

}  // namespace

TEST_CASE("packed_int8 quantizes each row by its absmax and dequantizes within half a step", "[infer][i8]") {
  std::mt19937 rng(1);
  const matrix<float> w = random_matrix(9, 77, rng);
  const tk::packed_int8 q(w);
  for (index i = 0; i < w.rows(); ++i) {
    const float m = w.row(i).cwiseAbs().maxCoeff();
    CHECK(q.scale(i) == m / 127.0f);
    std::int32_t sum = 0;
    for (index j = 0; j < w.cols(); ++j) {
      const float e = std::clamp(std::nearbyint(w(i, j) / q.scale(i)), -127.0f, 127.0f);
      REQUIRE(q.weight_code(i, j) == static_cast<int>(e));
      CHECK(std::abs(q.dequantize()(i, j) - w(i, j)) <= 0.5f * q.scale(i) * (1 + 1e-6f));
      sum += q.weight_code(i, j);
    }
    CHECK(q.row_sum(i) == sum);
    for (index j = w.cols(); j < q.padded_cols(); ++j) CHECK(q.row(i)[j] == 0);
  }
}

TEST_CASE("packed_int8: every path equals the reference and a plain int64 product bit for bit", "[infer][i8]") {
  std::mt19937 rng(2);
  for (index k : {1, 63, 64, 65, 200, 1000}) {
    for (index m : {1, 7, 9, 33}) {
      for (index n : {1, 2, 5}) {
        const tk::packed_int8 w(random_matrix(m, k, rng));
        const matrix<float> x = random_matrix(n, k, rng, 2.0f);
        const auto xq = tk::quantize_activations(x, w.layout());
        const tk::accumulators ref = tk::gemm_acc_ref(w, xq);
        for (index t = 0; t < n; ++t)
          for (index i = 0; i < m; ++i) {
            long long s = 0;
            for (index j = 0; j < k; ++j) s += static_cast<long long>(w.weight_code(i, j)) * xq.code(t, j);
            REQUIRE(ref(t, i, 0) == s);
          }
        for_each_path([&](tk::path p) {
          INFO("path " << tk::path_name(p) << " m " << m << " k " << k << " n " << n);
          tk::thread_pool pool(2);
          const tk::accumulators a = tk::gemm_acc(w, xq, p, pool);
          REQUIRE(a.v == ref.v);
          matrix<float> y(n, m);
          tk::gemm(w, xq, y, p, pool);
          for (index t = 0; t < n; ++t)
            for (index i = 0; i < m; ++i) REQUIRE(y(t, i) == float(ref(t, i, 0)) * w.scale(i) * xq.scale(t));
        });
      }
    }
  }
}

TEST_CASE("packed_int8: extremes at the K bound stay exact; K past it is refused", "[infer][i8]") {
  const index k = tk::packed_int8::max_k;
  for (float sign : {1.0f, -1.0f}) {
    const tk::packed_int8 w(matrix<float>::Constant(2, k, sign));  // every code +-127
    tern::quantized<float> xqv;
    xqv.codes = tern::matrix<std::int8_t>::Constant(2, k, 127);
    xqv.codes.row(1).setConstant(-128);
    xqv.scales = matrix<float>::Ones(2, 1);
    xqv.group = k;
    const auto xq = tk::make_activations(xqv, w.layout());
    for_each_path([&](tk::path p) {
      INFO("path " << tk::path_name(p));
      const tk::accumulators a = tk::gemm_acc(w, xq, p);
      CHECK(a(0, 0, 0) == static_cast<std::int32_t>(sign * 127 * 127 * k));
      CHECK(a(1, 1, 0) == static_cast<std::int32_t>(-sign * 127 * 128 * k));
    });
  }
  CHECK_THROWS_AS(tk::packed_int8(matrix<float>::Ones(1, k + 1)), tern::shape_error);
}

TEST_CASE("packed_int8 refuses bad bytes, bad scales, empty weights and mismatched activations", "[infer][i8]") {
  std::mt19937 rng(3);
  const tk::packed_int8 w(random_matrix(3, 70, rng));
  const matrix<float> s = w.scales();
  auto good = aligned_copy(w.data(), w.bytes());
  const auto view = tk::packed_int8::from_bytes(good, 3, 70, s);
  CHECK(view.borrowed());
  const auto xq = tk::quantize_activations(random_matrix(2, 70, rng), w.layout());
  CHECK(tk::gemm_acc(view, xq).v == tk::gemm_acc_ref(w, xq).v);
  auto bad = aligned_copy(w.data(), w.bytes());
  reinterpret_cast<std::int8_t*>(bad.get())[5] = -128;
  CHECK_THROWS_AS(tk::packed_int8::from_bytes(bad, 3, 70, s), std::invalid_argument);
  bad = aligned_copy(w.data(), w.bytes());
  bad.get()[70] = 1;  // row padding
  CHECK_THROWS_AS(tk::packed_int8::from_bytes(bad, 3, 70, s), std::invalid_argument);
  matrix<float> nan_scale = s;
  nan_scale(1, 0) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_AS(tk::packed_int8::from_bytes(good, 3, 70, nan_scale), std::invalid_argument);
  CHECK_THROWS_AS(tk::packed_int8::from_bytes(good, 3, 70, matrix<float>::Ones(2, 1)), tern::shape_error);
  CHECK_THROWS_AS(tk::gemm_acc(tk::packed_int8(), xq), std::invalid_argument);
  const auto other = tk::quantize_activations(random_matrix(2, 70, rng), tk::k_layout::make(70, 0));
  CHECK_THROWS_AS(tk::gemm_acc(w, other), tern::shape_error);
  matrix<float> inf = random_matrix(2, 4, rng);
  inf(0, 0) = std::numeric_limits<float>::infinity();
  CHECK_THROWS_AS(tk::packed_int8(inf), std::domain_error);
}

TEST_CASE("bf16 rounding: known values, ties to even, NaN stays NaN", "[infer][bf16]") {
  CHECK(tk::to_bf16(1.0f) == 0x3f80);
  CHECK(tk::to_bf16(-2.0f) == 0xc000);
  CHECK(tk::to_bf16(0.0f) == 0x0000);
  // 1 + 2^-8 is halfway between bf16 1.0 (0x3f80) and 1 + 2^-7 (0x3f81): ties to even -> 0x3f80.
  CHECK(tk::to_bf16(1.0f + 0x1p-8f) == 0x3f80);
  // 1 + 3 * 2^-8 is halfway between 0x3f81 and 0x3f82: to even -> 0x3f82.
  CHECK(tk::to_bf16(1.0f + 3 * 0x1p-8f) == 0x3f82);
  CHECK(tk::to_bf16(1.0f + 0x1p-8f + 0x1p-20f) == 0x3f81);  // above the tie: up
  CHECK(std::isnan(tk::from_bf16(tk::to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  CHECK(tk::from_bf16(0x4049) == 3.140625f);
  std::mt19937 rng(4);
  std::normal_distribution<float> d(0.0f, 10.0f);
  for (int i = 0; i < 10000; ++i) {  // the nearest: |f - bf16(f)| <= half a bf16 ulp
    const float f = d(rng);
    const float r = tk::from_bf16(tk::to_bf16(f));
    const float ulp = std::ldexp(1.0f, std::ilogb(f) - 7);
    REQUIRE(std::abs(f - r) <= 0.5f * ulp);
  }
}

TEST_CASE("packed_bf16: every path within the float summation bound of the double reference", "[infer][bf16]") {
  std::mt19937 rng(5);
  for (index k : {1, 15, 16, 17, 100, 1000}) {
    for (index m : {1, 5, 13}) {
      const tk::packed_bf16 w(random_matrix(m, k, rng));
      const matrix<float> x = random_matrix(3, k, rng);
      const matrix<float> ref = tk::gemm_ref(w, x);
      for_each_path([&](tk::path p) {
        INFO("path " << tk::path_name(p) << " m " << m << " k " << k);
        tk::thread_pool pool(2);
        matrix<float> y(3, m);
        tk::gemm(w, x, y, p, pool);
        for (index n = 0; n < 3; ++n)
          for (index i = 0; i < m; ++i) {
            double mag = 0;
            for (index j = 0; j < k; ++j) mag += std::abs(double(w.weight(i, j)) * x(n, j));
            REQUIRE(std::abs(double(y(n, i)) - double(ref(n, i))) <= double(k + 1) * 0x1p-23 * mag + 1e-30);
          }
      });
    }
  }
  const tk::packed_bf16 small(random_matrix(2, 20, rng));
  auto bytes = aligned_copy(small.data(), small.bytes());
  CHECK(tk::packed_bf16::from_bytes(bytes, 2, 20).dequantize() == small.dequantize());
  reinterpret_cast<std::uint16_t*>(bytes.get())[3] = 0x7f80;  // +inf
  CHECK_THROWS_AS(tk::packed_bf16::from_bytes(bytes, 2, 20), std::invalid_argument);
}

}  // namespace tern
