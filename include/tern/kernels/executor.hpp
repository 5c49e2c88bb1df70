#pragma once
// Executors: how the kernels run independent tasks in parallel, replaceable by the user.
//
// Concept `executor` (what the compiler cannot check is stated here): e.parallel_for(n, f)
// calls f(t) exactly once for every t in [0, n), possibly concurrently, and returns after all
// calls have finished; e.concurrency() is how many tasks it can usefully run at once (the
// kernels cut their work into that many equal parts). f never throws.
// Provided: sequential_executor (runs in the caller) and thread_pool (std::thread workers, the
// caller takes part). Any type with these two members works, e.g. a wrapper over OpenMP, TBB or
// an application's own pool.
#include <atomic>
#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "tern/core/matrix.hpp"
#include "tern/kernels/arch.hpp"

#if TERN_KERNELS_X86
#include <immintrin.h>
#endif

namespace tern::kernels {
inline namespace TERN_KERNELS_ABI {

template <class E>
concept executor = requires(E& e, index n, void (*f)(index)) {
  { e.concurrency() } -> std::convertible_to<index>;
  e.parallel_for(n, f);
};

/// Runs every task in the calling thread.
struct sequential_executor {
  index concurrency() const { return 1; }
  template <class F>
  void parallel_for(index n, F&& f) {
    for (index t = 0; t < n; ++t) f(t);
  }
};

/// A fixed pool of threads - 1 workers plus the calling thread. Tasks are assigned statically
/// (task t to participant t mod threads), which suits the kernels' equal-sized parts. Workers
/// spin ~100 us after a job (a GEMV is ~100 microseconds, a futex wake-up a good part of that), then
/// sleep on a condition variable. One parallel_for at a time (calls are serialised).
class thread_pool {
 public:
  explicit thread_pool(unsigned threads = std::thread::hardware_concurrency())
      : threads_(threads == 0 ? 1 : threads) {
    for (unsigned i = 1; i < threads_; ++i) workers_.emplace_back([this, i] { work(i); });
  }
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;
  ~thread_pool() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

  index concurrency() const { return threads_; }

  template <class F>
  void parallel_for(index n, F&& f) {
    if (threads_ == 1 || n <= 1) {
      for (index t = 0; t < n; ++t) f(t);
      return;
    }
    std::lock_guard serial(call_mutex_);
    job_ = [&f](index t) { f(t); };
    tasks_ = n;
    pending_.store(static_cast<int>(threads_) - 1, std::memory_order_relaxed);
    {
      std::lock_guard lock(mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    run_share(0);
    while (pending_.load(std::memory_order_acquire) != 0) pause();
    job_ = nullptr;
  }

 private:
  static void pause() {
#if TERN_KERNELS_X86
    _mm_pause();
#else
    std::this_thread::yield();
#endif
  }
  void run_share(unsigned who) {
    for (index t = who; t < tasks_; t += threads_) job_(t);
  }
  void work(unsigned who) {
    std::uint64_t seen = 0;
    for (;;) {
      // Spin a little (a few thousand pauses: ~100 microseconds), then sleep.
      for (int i = 0; i < 4000 && generation_.load(std::memory_order_acquire) == seen; ++i) pause();
      if (generation_.load(std::memory_order_acquire) == seen) {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      }
      seen = generation_.load(std::memory_order_acquire);
      if (stop_) return;
      run_share(who);
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  unsigned threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_, call_mutex_;
  std::condition_variable cv_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::function<void(index)> job_;
  index tasks_ = 0;
  bool stop_ = false;
};

static_assert(executor<sequential_executor>);
static_assert(executor<thread_pool>);

}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels
