#!/usr/bin/env bash
# Data-parallel training speed on this machine: 1 rank x 2 threads against 2 ranks x 1 thread
# (bench_dist: the bench_train step, global batch 16 x 64 tokens), and 1 rank x 1 thread for
# reference, each run `repeats` times (default 3), interleaved. Usage: bench/train/run_bench_dist.sh <build dir> [repeats]
set -euo pipefail
build=${1:?usage: run_bench_dist.sh <build dir> [repeats]}
repeats=${2:-3}
bench=$build/bench/train/bench_dist
[ -x "$bench" ] || { echo "run_bench_dist.sh: $bench not built (needs tern::mpi and TERN_BUILD_BENCH)" >&2; exit 1; }
export OMP_WAIT_POLICY=PASSIVE
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OMPI_MCA_btl_vader_single_copy_mechanism=${OMPI_MCA_btl_vader_single_copy_mechanism:-none}
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$repeats"); do
  mpirun -np 1 "$bench" --threads 1
  mpirun -np 1 --bind-to none "$bench" --threads 2
  mpirun -np 2 --bind-to core "$bench" --threads 1
done
