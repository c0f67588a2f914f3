#!/usr/bin/env bash
# The one entry point for set-up, build, the main job and the tests (README's two commands).
#   scripts/dev.sh main       install what is missing, build, train the default model (moelab train)
#   scripts/dev.sh test       install what is missing, build, run the whole test suite
#   scripts/dev.sh asan       the test suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   scripts/dev.sh bench      build and run the benchmarks (figures as ratios against references)
set -euo pipefail
cd "$(dirname "$0")/.."

# ocl-icd-opencl-dev: only a Recommends of libdnnl-dev, but Debian's dnnl-config.cmake calls
# find_package(OpenCL REQUIRED), so configuring fails without it under --no-install-recommends.
PACKAGES=(cmake ninja-build g++ pkg-config python3 libopenblas-dev liblapacke-dev libdnnl-dev ocl-icd-opencl-dev doctest-dev
          libbenchmark-dev zlib1g-dev nlohmann-json3-dev libcli11-dev dataset-fashion-mnist)
JOBS=${JOBS:-$(nproc)}

install_missing() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "missing Debian packages: ${missing[*]}" >&2
    echo "install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
}

# build DIR [extra cmake args...]; TARGET=name builds one target only
build() {
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
  cmake --build "$dir" -j "$JOBS" ${TARGET:+--target "$TARGET"}
}

case "${1:-}" in
  main)
    install_missing
    TARGET=moelab_app build build -DCMAKE_BUILD_TYPE=Release -DMOELAB_BUILD_BENCH=OFF
    # The default run: a small CNN on Fashion-MNIST, 2 epochs (about 1.5 minutes on 2 cores,
    # about 90% test accuracy); extra arguments go to `moelab train` (see --help).
    shift
    ./build/bin/moelab train "$@"
    ;;
  test)
    install_missing
    build build -DCMAKE_BUILD_TYPE=Release
    (cd build && ctest --output-on-failure -j "$JOBS")
    ;;
  asan)
    install_missing
    build build-asan -DCMAKE_BUILD_TYPE=Debug -DMOELAB_SANITIZE=ON -DMOELAB_BUILD_BENCH=OFF
    (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j "$JOBS" -E '^install/')
    ;;
  bench)
    install_missing
    build build -DCMAKE_BUILD_TYPE=Release
    # Repetitions interleaved at random, medians reported: ours and the reference see the same
    # machine conditions, which matters on shared or virtual machines.
    for b in build/bench/bench_*; do
      [ -x "$b" ] && OMP_NUM_THREADS=1 "$b" --benchmark_repetitions="${BENCH_REPS:-10}" \
        --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true
    done
    ;;
  *)
    sed -n '2,7p' "$0"
    exit 2
    ;;
esac
