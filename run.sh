#!/usr/bin/env bash
# tern's two entry points (see README):
#   bash run.sh demo [demo options]   build and run the end-to-end demo (FP -> ternary fine-tuning)
#   bash run.sh test                  build everything and pass the whole test suite, then the
#                                     test suite again under AddressSanitizer + UBSan, the
#                                     concurrency tests under ThreadSanitizer, and every libFuzzer
#                                     target for TERN_FUZZ_SECONDS (default 30) each
# Each installs the Debian packages it needs first (as root, or through sudo).
set -euo pipefail
cd "$(dirname "$0")"

packages=(cmake make g++ libeigen3-dev libxsimd-dev libxxhash-dev catch2 libbenchmark-dev g++-aarch64-linux-gnu qemu-user
          clang libclang-rt-dev nlohmann-json3-dev libpcre2-dev libsentencepiece-dev sentencepiece gnuplot-nox
          libopenmpi-dev openmpi-bin python3)
jobs=$(nproc 2>/dev/null || echo 2)

install_deps() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "run.sh: installing ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "run.sh: need root or sudo to install ${missing[*]}" >&2; exit 1; }
    sudo=sudo
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

configure() {  # configure <build dir> <extra cmake args...>
  local dir=$1; shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
}

case "${1:-}" in
  demo)
    shift
    install_deps
    configure build-demo -DTERN_BUILD_TESTS=OFF -DTERN_BUILD_BENCH=OFF -DTERN_BUILD_EXAMPLES=ON
    cmake --build build-demo --target tern_demo -j "$jobs"
    ./build-demo/examples/tern_demo "$@"
    ;;
  test)
    install_deps
    start=$(date +%s)
    echo "== release build: library tests, kernels, examples, benchmarks (compile only), packaging"
    configure build -DTERN_BUILD_TESTS=ON -DTERN_BUILD_EXAMPLES=ON -DTERN_BUILD_BENCH=ON \
      -DTERN_PACKAGING_TESTS=ON
    cmake --build build -j "$jobs"
    (cd build && ctest --output-on-failure --no-tests=error -j "$jobs")
    echo "== AddressSanitizer + UndefinedBehaviorSanitizer build of the test suite"
    # Without MPI (-DTERN_MPI=OFF, here and below): libmpi is not instrumented, and what it
    # keeps allocated at exit would read as leaks; the MPI tests run in the release build.
    # -O1 -g without NDEBUG: Eigen's own dimension and bounds assertions stay on.
    # float-cast-overflow is not part of GCC's -fsanitize=undefined; it catches float -> int8
    # conversions of out-of-range values, the main risk in quantization code.
    # -Wno-uninitialized: at -O1 GCC 12 flags its own avx512fintrin.h (the `__m512 __Y = __Y;`
    # idiom, reached through Eigen's AVX-512 transposes) ~300 times; the release build above
    # keeps the warning for tern's code.
    configure build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g" \
      "-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all -fno-omit-frame-pointer -Wno-uninitialized" \
      -DTERN_BUILD_TESTS=ON -DTERN_BUILD_BENCH=OFF -DTERN_BUILD_EXAMPLES=OFF -DTERN_PACKAGING_TESTS=OFF -DTERN_MPI=OFF
    cmake --build build-asan -j "$jobs"
    (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
       ctest --output-on-failure --no-tests=error -j "$jobs")
    echo "== ThreadSanitizer build of the concurrency tests (thread pool, kernels shared by threads)"
    # Without OpenMP: libgomp is not instrumented, so its internals would be reported as races.
    stage=$(date +%s)
    configure build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g" \
      "-DCMAKE_CXX_FLAGS=-fsanitize=thread -fno-omit-frame-pointer -Wno-uninitialized" -DTERN_OPENMP=OFF \
      -DTERN_BUILD_TESTS=ON -DTERN_BUILD_BENCH=OFF -DTERN_BUILD_EXAMPLES=OFF -DTERN_PACKAGING_TESTS=OFF -DTERN_MPI=OFF
    cmake --build build-tsan --target test_robustness_concurrency -j "$jobs"
    (cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
       ctest --output-on-failure --no-tests=error -R '^test_robustness_concurrency$')
    echo "== TSan stage: $(( $(date +%s) - stage )) s"
    echo "== libFuzzer targets (clang++, ASan+UBSan), ${TERN_FUZZ_SECONDS:-30} s each (TERN_FUZZ_SECONDS)"
    stage=$(date +%s)
    configure build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g" -DTERN_FUZZ=ON -DTERN_BUILD_TESTS=OFF -DTERN_BUILD_BENCH=OFF \
      -DTERN_BUILD_EXAMPLES=OFF -DTERN_PACKAGING_TESTS=OFF -DTERN_MPI=OFF
    cmake --build build-fuzz -j "$jobs"
    (cd build-fuzz && ctest --output-on-failure --no-tests=error -j "$jobs")
    for log in build-fuzz/tests/fuzz/*/fuzzer.log; do
      echo "   fuzz_$(basename "$(dirname "$log")"): $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$log"), no findings"
    done
    echo "== fuzz stage: $(( $(date +%s) - stage )) s"
    echo "== all tests passed in $(( $(date +%s) - start )) s"
    ;;
  *)
    echo "usage: bash run.sh demo [options] | bash run.sh test" >&2
    exit 2
    ;;
esac
