#pragma once
// MPI's lifetime as an object of main: MPI_Init_thread in the constructor, MPI_Finalize in the
// destructor (only if this object initialised MPI, so a program embedded in a larger MPI
// application leaves MPI to it). Without TERN_HAS_MPI it does nothing and the run has one rank.
//
// MPI is started only when a launcher started this process (mpirun/mpiexec of Open MPI, MPICH
// or Intel MPI, srun: one of OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_RANK, PMI_SIZE in the
// environment) or when TERN_MPI_INIT=1 asks for it. A program run by itself gets the one-
// process communicator (communicator::solo) without touching MPI: MPI's singleton start-up
// costs a third of a second per process, which tools and tests that run a program hundreds of
// times would pay for nothing.
//
// Thread level MPI_THREAD_FUNNELED: OpenMP and tern's thread pool compute, only the main thread
// calls MPI.
//
// stop_all(code), for main's catch blocks: with several ranks a rank that fails alone would
// leave the others waiting in their next collective, so it ends every rank (MPI_Abort with
// `code`, after the caller printed its message); with one rank it returns `code` for main to
// return, so the program's exit status and output are those of the program without MPI.
//
//   int main(int argc, char** argv) {
//     tern::dist::environment env(argc, argv);
//     try { return run(argc, argv); }
//     catch (const std::exception& e) { std::cerr << "prog: " << e.what() << "\n"; return env.stop_all(1); }
//   }
#include <cstdlib>
#include <stdexcept>
#include <string_view>

#include "tern/dist/communicator.hpp"

namespace tern::dist {
#if defined(TERN_HAS_MPI)
inline namespace with_mpi {
#else
inline namespace without_mpi {
#endif

class environment {
 public:
  environment(int& argc, char**& argv) {
#if defined(TERN_HAS_MPI)
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised && !launched_by_mpi()) {
      solo_ = true;
    } else if (!initialised) {
      int provided = 0;
      if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        throw std::runtime_error("tern::dist::environment: MPI_Init_thread failed");
      owner_ = true;
    }
#else
    (void)argc;
    (void)argv;
#endif
  }
  environment(const environment&) = delete;
  environment& operator=(const environment&) = delete;
  ~environment() {
#if defined(TERN_HAS_MPI)
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (owner_ && !finalised) MPI_Finalize();
#endif
  }

  communicator world() const {
#if defined(TERN_HAS_MPI)
    if (solo_) return communicator::solo();
#endif
    return communicator::world();
  }

  /// True when an MPI launcher started this process, or TERN_MPI_INIT=1 (which only forces
  /// MPI on: any other value changes nothing).
  static bool launched_by_mpi() {
    for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
      if (std::getenv(v)) return true;
    const char* f = std::getenv("TERN_MPI_INIT");
    return f && std::string_view(f) == "1";
  }

  /// Ends every rank with `code` when there are several; returns `code` with one.
  int stop_all(int code) const {
    const communicator w = world();
    if (w.size() > 1) w.abort(code);
    return code;
  }

 private:
  bool owner_ = false, solo_ = false;
};

}  // inline namespace with_mpi / without_mpi (see communicator.hpp)
}  // namespace tern::dist
