#!/usr/bin/env bash
# The peer benchmark: decode and prefill tokens/s of tern and of llama.cpp (node-llama-cpp, the
# prebuilt CPU binary) on the same TQ2_0 GGUF file, the large random model (dim 2048, 16 layers),
# at 1 and 2 threads, in one run.
# Usage: bench/peer/run.sh BUILD_DIR [NODE_MODULES] [MODEL.gguf]
#   BUILD_DIR     a Release build with bench_peer (TERN_BUILD_BENCH=ON)
#   NODE_MODULES  default BUILD_DIR/../build-npm/gguf/node_modules (ctest's gguf_npm_install puts
#                 node-llama-cpp@3.21.1 and @node-llama-cpp/linux-x64@3.21.1 there)
#   MODEL.gguf    default BUILD_DIR/peer_large_tq2.gguf (made by bench_peer make if absent)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: run.sh BUILD_DIR [NODE_MODULES] [MODEL.gguf]}" && pwd)
modules=${2:-$build/../build-npm/gguf/node_modules}
model=${3:-$build/peer_large_tq2.gguf}
bench="$build/bench/peer/bench_peer"
[ -x "$bench" ] || { echo "no $bench: build the bench_peer target" >&2; exit 1; }
[ -d "$modules/node-llama-cpp" ] || { echo "no node-llama-cpp in $modules (run ctest -R gguf_npm_install)" >&2; exit 1; }
[ -f "$model" ] || "$bench" make "$model"
echo "# $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# model: $model ($(du -h "$model" | cut -f1))"
for t in 1 2; do
  OMP_WAIT_POLICY=PASSIVE "$bench" run "$model" "$t"
  node "$here/llama_cpp_bench.mjs" "$modules" "$model" "$t"
done
