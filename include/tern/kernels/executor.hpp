#pragma once
// Executors: how the kernels run independent tasks in parallel, replaceable by the user.
//
// Concept `executor` (what the compiler cannot check is stated here): e.parallel_for(n, f)
// calls f(t) exactly once for every t in [0, n), possibly concurrently, and returns after all
// calls have finished; e.concurrency() is how many tasks it can usefully run at once (the
// kernels cut their work into that many equal parts). The kernels' tasks never throw, so a
// user executor needs nothing more. Any type with these two members works, e.g. a wrapper over
// OpenMP, TBB or an application's own pool.
//
// The two provided executors promise more, the same for both:
//   - exceptions: if tasks throw, the first exception (in time) is rethrown to the caller of
//     parallel_for after every task already started has finished; tasks not yet started are
//     skipped. The executor stays usable.
//   - nesting: a task may call parallel_for on the executor that runs it; the inner call runs
//     its tasks inline in that task's thread (no deadlock, no oversubscription).
// Provided: sequential_executor (runs in the caller) and thread_pool (std::thread workers, the
// caller takes part).
#include <atomic>
#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
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

/// Runs every task in the calling thread, in order; a throwing task ends the loop (the rest
/// are skipped) and its exception reaches the caller.
struct sequential_executor {
  index concurrency() const { return 1; }
  template <class F>
  void parallel_for(index n, F&& f) {
    for (index t = 0; t < n; ++t) f(t);
  }
};

/// A fixed pool of threads - 1 workers plus the calling thread. Tasks are assigned statically
/// (task t to participant t mod threads), which suits the kernels' equal-sized parts. Workers
/// spin ~100 us after a job (a GEMV is ~100 microseconds, a futex wake-up a good part of that),
/// then sleep on a condition variable.
///
/// One job at a time: parallel_for never waits for another job. While the pool runs a job, a
/// call to parallel_for from anywhere (a task of that job: nesting; or another thread) runs its
/// tasks inline in the calling thread, with the same exception rule. So any number of threads
/// may share one pool and call parallel_for concurrently (each gets the right result; only one
/// at a time gets the workers), and nothing can deadlock on the pool.
/// Exceptions: the first one thrown by a task is rethrown to the caller of parallel_for once
/// every participant has stopped; after it, tasks not yet started are skipped.
/// The destructor must not run while a parallel_for on the pool is in progress.
class thread_pool {
 public:
  /// threads: participants including the caller (0 means 1). Throws std::system_error if the
  /// system cannot start that many threads (the ones already started are stopped first).
  explicit thread_pool(unsigned threads = std::thread::hardware_concurrency())
      : threads_(threads == 0 ? 1 : threads) {
    try {
      workers_.reserve(threads_ - 1);
      for (unsigned i = 1; i < threads_; ++i) workers_.emplace_back([this, i] { work(i); });
    } catch (...) {
      stop();
      throw;
    }
  }
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;
  ~thread_pool() { stop(); }

  index concurrency() const { return threads_; }

  template <class F>
  void parallel_for(index n, F&& f) {
    bool idle = false;
    if (threads_ == 1 || n <= 1 || !busy_.compare_exchange_strong(idle, true, std::memory_order_acquire)) {
      for (index t = 0; t < n; ++t) f(t);  // inline: single thread, one task, or the pool is busy
      return;
    }
    struct release_busy {
      std::atomic<bool>& busy;
      ~release_busy() { busy.store(false, std::memory_order_release); }
    } release{busy_};
    using fn = std::remove_reference_t<F>;
    job_ = [](const void* ctx, index t) { (*static_cast<fn*>(const_cast<void*>(ctx)))(t); };
    job_ctx_ = static_cast<const void*>(std::addressof(f));
    tasks_ = n;
    failed_.store(false, std::memory_order_relaxed);
    error_ = nullptr;
    pending_.store(static_cast<int>(threads_) - 1, std::memory_order_relaxed);
    {
      std::lock_guard lock(mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    run_share(0);
    while (pending_.load(std::memory_order_acquire) != 0) pause();
    job_ = nullptr;
    job_ctx_ = nullptr;
    if (error_) {
      std::exception_ptr e = std::move(error_);
      error_ = nullptr;
      std::rethrow_exception(e);
    }
  }

 private:
  static void pause() {
#if TERN_KERNELS_X86
    _mm_pause();
#else
    std::this_thread::yield();
#endif
  }
  // Participant `who` runs tasks who, who + threads, ...; it stops at the first failure (its
  // own or another participant's) and records the first exception.
  void run_share(unsigned who) noexcept {
    for (index t = who; t < tasks_; t += threads_) {
      if (failed_.load(std::memory_order_relaxed)) return;
      try {
        job_(job_ctx_, t);
      } catch (...) {
        if (!failed_.exchange(true, std::memory_order_acq_rel)) error_ = std::current_exception();
        return;
      }
    }
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
      if (stop_.load(std::memory_order_acquire)) return;
      run_share(who);
      pending_.fetch_sub(1, std::memory_order_acq_rel);  // publishes error_ to the caller
    }
  }
  void stop() noexcept {
    {
      std::lock_guard lock(mutex_);
      stop_.store(true, std::memory_order_release);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  unsigned threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> busy_{false}, failed_{false}, stop_{false};
  // The job, written by the caller before the generation bump and read by workers after it.
  void (*job_)(const void*, index) = nullptr;
  const void* job_ctx_ = nullptr;
  index tasks_ = 0;
  std::exception_ptr error_;  // written by the first failing participant, read by the caller
};

static_assert(executor<sequential_executor>);
static_assert(executor<thread_pool>);

}  // namespace TERN_KERNELS_ABI
}  // namespace tern::kernels
