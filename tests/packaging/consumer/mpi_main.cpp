// A downstream use of tern::mpi: MPI initialised by tern::dist::environment, a sum over the
// ranks (one when run directly: MPI's singleton start).
#include <tern/dist/environment.hpp>

#include <cstdint>
#include <iostream>
#include <span>

int main(int argc, char** argv) {
  tern::dist::environment env(argc, argv);
  const tern::dist::communicator w = env.world();
  std::int64_t one = 1;
  w.allreduce_sum(std::span<std::int64_t>(&one, 1));
  const bool ok = one == w.size();
#if !defined(TERN_HAS_MPI)
  const bool linked = false;
#else
  const bool linked = true;
#endif
  if (w.is_root()) std::cout << "tern::mpi consumer: " << w.size() << " rank(s), " << (ok && linked ? "ok" : "WRONG") << "\n";
  return ok && linked ? 0 : 1;
}
