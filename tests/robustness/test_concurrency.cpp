// The executors' contract (kernels/executor.hpp) and kernels shared by threads:
//   - every task runs exactly once, for many task counts and pool sizes;
//   - a nested parallel_for on the same pool runs inline (a deadlock would hang: ctest's
//     timeout fails the test), at two levels, from the caller's and the workers' shares;
//   - a throwing task's exception reaches the caller (the first one), tasks not yet started
//     are skipped, and the pool stays usable; the same for sequential_executor;
//   - several threads share one pool: each gets exactly its own tasks;
//   - one packed_ternary and one pool shared by several threads calling gemm: every result
//     equals the same product computed alone, and the scalar reference.
// run.sh builds this file under ThreadSanitizer as well (no OpenMP there: libgomp is not
// instrumented), so a data race in the pool or in a kernel's shared state fails the suite.
#include <catch2/catch.hpp>
#include <atomic>
#include <chrono>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tern/kernels/gemm.hpp"
#include "tern/quant/absmean_ternary.hpp"

namespace tk = tern::kernels;
using idx = tern::index;

namespace {

// Runs n tasks that count themselves; true when each ran exactly once.
template <class E>
bool each_once(E& ex, idx n) {
  std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
  ex.parallel_for(n, [&](idx t) { hits[std::size_t(t)].fetch_add(1, std::memory_order_relaxed); });
  for (const auto& h : hits)
    if (h.load() != 1) return false;
  return true;
}

}  // namespace

TEST_CASE("thread_pool: every task exactly once, any task count and pool size", "[executor]") {
  for (const unsigned threads : {0u, 1u, 2u, 3u, 5u}) {
    tk::thread_pool pool(threads);
    CHECK(pool.concurrency() == (threads == 0 ? 1 : idx(threads)));
    for (const idx n : {idx(0), idx(1), idx(2), idx(3), idx(7), idx(64), idx(1000)})
      for (int rep = 0; rep < 20; ++rep) {
        INFO("threads " << threads << " tasks " << n);
        REQUIRE(each_once(pool, n));
      }
  }
}

TEST_CASE("thread_pool: nested parallel_for on the same pool runs inline", "[executor]") {
  for (const unsigned threads : {2u, 4u}) {
    tk::thread_pool pool(threads);
    for (int rep = 0; rep < 50; ++rep) {
      const idx outer = 6, inner = 5, innermost = 3;
      std::vector<std::atomic<int>> hits(static_cast<std::size_t>(outer * inner * innermost));
      std::vector<std::thread::id> inner_threads(static_cast<std::size_t>(outer * inner));
      std::vector<std::thread::id> outer_threads(static_cast<std::size_t>(outer));
      pool.parallel_for(outer, [&](idx a) {
        outer_threads[std::size_t(a)] = std::this_thread::get_id();
        pool.parallel_for(inner, [&](idx b) {
          inner_threads[std::size_t(a * inner + b)] = std::this_thread::get_id();
          pool.parallel_for(innermost, [&](idx c) { hits[std::size_t((a * inner + b) * innermost + c)]++; });
        });
      });
      bool once = true, inline_ = true;
      for (const auto& h : hits) once = once && h.load() == 1;
      for (idx a = 0; a < outer; ++a)
        for (idx b = 0; b < inner; ++b) inline_ = inline_ && inner_threads[std::size_t(a * inner + b)] == outer_threads[std::size_t(a)];
      REQUIRE(once);
      REQUIRE(inline_);  // the inner tasks ran in the thread of the task that asked for them
    }
    CHECK(each_once(pool, 100));  // and the pool is still a pool
  }
}

TEST_CASE("thread_pool: a throwing task's exception reaches the caller and the pool stays usable", "[executor]") {
  tk::thread_pool pool(3);
  for (int rep = 0; rep < 30; ++rep)
    for (const idx bad : {idx(0), idx(1), idx(2), idx(40)}) {  // caller's share and workers'
      INFO("failing task " << bad);
      std::atomic<int> ran{0};
      try {
        pool.parallel_for(64, [&](idx t) {
          if (t == bad) throw std::runtime_error("task " + std::to_string(t) + " failed");
          ran.fetch_add(1);
        });
        FAIL("no exception");
      } catch (const std::runtime_error& e) {
        CHECK(std::string(e.what()) == "task " + std::to_string(bad) + " failed");
      }
      CHECK(ran.load() <= 63);
      REQUIRE(each_once(pool, 64));
    }
  // Every task throws: exactly one exception arrives, one of theirs.
  try {
    pool.parallel_for(12, [](idx t) { throw int(t); });
    FAIL("no exception");
  } catch (int t) {
    CHECK((t >= 0 && t < 12));
  }
  // Once a task has failed, tasks not yet started are skipped: with one participant blocked
  // in the failing task's wake, the others see the failure before their later tasks.
  std::atomic<int> after{0};
  CHECK_THROWS_AS(pool.parallel_for(3000,
                                    [&](idx t) {
                                      if (t == 0) throw std::logic_error("first");
                                      if (t > 300) after.fetch_add(1);
                                      std::this_thread::sleep_for(std::chrono::microseconds(20));
                                    }),
                  std::logic_error);
  CHECK(after.load() < 2699);
  // A throw inside a nested (inline) call travels out through the outer task.
  CHECK_THROWS_WITH(pool.parallel_for(4,
                                      [&](idx) {
                                        pool.parallel_for(4, [](idx u) {
                                          if (u == 3) throw std::runtime_error("inner");
                                        });
                                      }),
                    "inner");
  CHECK(each_once(pool, 1000));
}

TEST_CASE("sequential_executor: the same nesting and exception rules", "[executor]") {
  tk::sequential_executor seq;
  CHECK(each_once(seq, 50));
  int ran = 0;
  CHECK_THROWS_WITH(seq.parallel_for(10,
                                     [&](idx t) {
                                       if (t == 4) throw std::runtime_error("four");
                                       ++ran;
                                     }),
                    "four");
  CHECK(ran == 4);  // in order, the rest skipped
  int nested = 0;
  seq.parallel_for(3, [&](idx) { seq.parallel_for(3, [&](idx) { ++nested; }); });
  CHECK(nested == 9);
}

TEST_CASE("thread_pool: several threads share one pool, each gets exactly its own tasks", "[executor]") {
  tk::thread_pool pool(2);
  const int callers = 4;
  std::vector<int> ok(callers, 0);
  std::vector<std::thread> ts;
  for (int c = 0; c < callers; ++c)
    ts.emplace_back([&, c] {
      for (int rep = 0; rep < 200; ++rep) ok[std::size_t(c)] += each_once(pool, 17 + c) ? 1 : 0;
    });
  for (auto& t : ts) t.join();
  for (int c = 0; c < callers; ++c) CHECK(ok[std::size_t(c)] == 200);
}

TEST_CASE("kernels: one packed matrix and one pool shared by threads calling gemm", "[executor][kernels]") {
  std::mt19937 rng(21);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const idx rows = 300, k = 700;
  tern::matrix<float> wf(rows, k);
  for (idx i = 0; i < wf.size(); ++i) wf.data()[i] = normal(rng);
  const tk::packed_ternary w(tern::absmean_ternary<tern::per_channel>::quantize(wf));
  const tk::path p = tk::detect_path();
  INFO("path " << tk::path_name(p));

  const int callers = 4;
  std::vector<tk::quantized_activations> xs;
  std::vector<tern::matrix<float>> expect, ref;
  for (int c = 0; c < callers; ++c) {
    tern::matrix<float> x(1 + 3 * c, k);  // GEMV and GEMM shapes
    for (idx i = 0; i < x.size(); ++i) x.data()[i] = 2.0f * normal(rng);
    xs.push_back(tk::quantize_activations(x, w.layout()));
    expect.push_back(tk::gemm(w, xs.back(), p));  // alone, one thread
    ref.push_back(tk::gemm_ref(w, xs.back()));
  }
  for (int c = 0; c < callers; ++c)
    CHECK((expect[std::size_t(c)] - ref[std::size_t(c)]).cwiseAbs().maxCoeff() <=
          1e-4f * (1.0f + ref[std::size_t(c)].cwiseAbs().maxCoeff()));

  tk::thread_pool pool(2);
  std::vector<int> same(callers, 0);
  std::vector<std::thread> ts;
  for (int c = 0; c < callers; ++c)
    ts.emplace_back([&, c] {
      tern::matrix<float> y(expect[std::size_t(c)].rows(), rows);  // tokens x rows
      for (int rep = 0; rep < 25; ++rep) {
        if (rep % 2) tk::gemm(w, xs[std::size_t(c)], y, p, pool);
        else y = tk::gemm(w, xs[std::size_t(c)], p, pool);
        same[std::size_t(c)] += y == expect[std::size_t(c)] ? 1 : 0;
      }
    });
  for (auto& t : ts) t.join();
  for (int c = 0; c < callers; ++c) CHECK(same[std::size_t(c)] == 25);
}
