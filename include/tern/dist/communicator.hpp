#pragma once
// The processes of a data-parallel run and the collectives tern uses between them.
//
// With TERN_HAS_MPI (defined by the CMake target tern::mpi, which links MPI) a communicator
// wraps an MPI communicator (MPI_COMM_WORLD by default); without it, it is the one-process
// communicator: rank 0 of 1, every collective returns its input. Code written against it
// (dist/gradient_averager.hpp, the examples) therefore builds and runs with or without MPI and
// behaves the same on one rank either way.
//
//   rank(), size()             this process's index in [0, size) and the number of processes
//   allreduce_sum(span<T>)     every rank's x replaced by x_0 + x_1 + ... + x_{size-1}
//                              (T: float, double, std::int64_t), in place (MPI_IN_PLACE)
//   all_equal(u64)             true on every rank iff every rank passed the same value
//   broadcast(span<byte>)      root's bytes copied to every rank
//   barrier()                  returns once every rank has entered it
//   abort(code)                ends every rank of the run (MPI_Abort); never returns
//
// Counts above INT_MAX (MPI's int count) are sent in several calls. MPI's default error
// handler (MPI_ERRORS_ARE_FATAL) stays in place: a failing MPI call ends the whole run rather
// than leaving ranks waiting for each other.
//
// The float sum of allreduce_sum with two ranks is x_0 + x_1, the same on both ranks (IEEE
// addition is commutative); with more ranks the order is the MPI library's reduction tree,
// fixed for a given library, rank count and message size.
//
// The two definitions live in different inline namespaces (with_mpi, without_mpi), so a
// program whose translation units disagree on TERN_HAS_MPI fails to link instead of merging
// two different classes of one name (an ODR violation); gradient_averager names the
// communicator type among its template arguments for the same reason.
#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>

#if defined(TERN_HAS_MPI)
#include <mpi.h>
#endif

namespace tern::dist {

#if defined(TERN_HAS_MPI)
inline namespace with_mpi {

class communicator {
 public:
  /// Every process of the run (MPI_COMM_WORLD). MPI must be initialised (dist::environment).
  static communicator world() { return communicator(MPI_COMM_WORLD); }
  /// This process alone, as a one-rank communicator (MPI_COMM_SELF).
  static communicator self() { return communicator(MPI_COMM_SELF); }
  /// One process that never started MPI (a program run without a launcher, see
  /// environment.hpp): rank 0 of 1, every collective the identity, no MPI call made.
  static communicator solo() { return communicator(); }
  /// An existing MPI communicator; the caller keeps it alive.
  explicit communicator(MPI_Comm comm) : comm_(comm) {
    int initialised = 0, finalised = 0;
    MPI_Initialized(&initialised);
    MPI_Finalized(&finalised);
    if (!initialised || finalised)
      throw std::logic_error(std::string("tern::dist::communicator: MPI is ") + (finalised ? "finalised" : "not initialised") +
                             " (keep a tern::dist::environment alive in main while communicating)");
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }
  MPI_Comm native() const { return comm_; }

  template <class T>
  void allreduce_sum(std::span<T> x) const {
    if (comm_ == MPI_COMM_NULL) return;
    for (std::size_t i = 0; i < x.size(); i += max_count) {
      const int n = static_cast<int>(std::min<std::size_t>(max_count, x.size() - i));
      MPI_Allreduce(MPI_IN_PLACE, x.data() + i, n, mpi_type<T>(), MPI_SUM, comm_);
    }
  }
  bool all_equal(std::uint64_t v) const {
    if (comm_ == MPI_COMM_NULL) return true;
    std::uint64_t lo = v, hi = v;
    MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, comm_);
    MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, comm_);
    return lo == hi;
  }
  void broadcast(std::span<std::byte> x, int root = 0) const {
    if (comm_ == MPI_COMM_NULL) return;
    for (std::size_t i = 0; i < x.size(); i += max_count) {
      const int n = static_cast<int>(std::min<std::size_t>(max_count, x.size() - i));
      MPI_Bcast(x.data() + i, n, MPI_BYTE, root, comm_);
    }
  }
  void barrier() const {
    if (comm_ != MPI_COMM_NULL) MPI_Barrier(comm_);
  }
  [[noreturn]] void abort(int code) const {
    if (comm_ != MPI_COMM_NULL) MPI_Abort(comm_, code);
    std::_Exit(code);  // MPI_Abort does not return; this keeps [[noreturn]] honest
  }

 private:
  static constexpr std::size_t max_count = INT_MAX;
  template <class T>
  static MPI_Datatype mpi_type() {
    if constexpr (std::is_same_v<T, float>) return MPI_FLOAT;
    else if constexpr (std::is_same_v<T, double>) return MPI_DOUBLE;
    else {
      static_assert(std::is_same_v<T, std::int64_t>, "allreduce_sum: T must be float, double or std::int64_t");
      return MPI_INT64_T;
    }
  }
  communicator() : comm_(MPI_COMM_NULL) {}
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
};

}  // namespace with_mpi
#else  // one process: no MPI
inline namespace without_mpi {

class communicator {
 public:
  static communicator world() { return {}; }
  static communicator self() { return {}; }

  int rank() const { return 0; }
  int size() const { return 1; }
  bool is_root() const { return true; }

  template <class T>
  void allreduce_sum(std::span<T>) const {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, std::int64_t>,
                  "allreduce_sum: T must be float, double or std::int64_t");
  }
  bool all_equal(std::uint64_t) const { return true; }
  void broadcast(std::span<std::byte>, int = 0) const {}
  void barrier() const {}
  [[noreturn]] void abort(int code) const { std::_Exit(code); }
};

}  // namespace without_mpi
#endif

}  // namespace tern::dist
