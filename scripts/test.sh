#!/usr/bin/env bash
# Runs every parley test: the README's test command, and what .ci/run runs.
#
#  1. installs missing Debian packages (scripts/install-deps.sh)
#  2. g++ build, warnings as errors, unit tests (and the interop, CLI,
#     browser, proxy and js suites: every ctest label); the API reference
#  3. clang build with AddressSanitizer + UndefinedBehaviorSanitizer, warnings as errors, unit tests
#  4. clang build with ThreadSanitizer: the threaded tests (net runtime, server)
#  5. cmake --install into a temporary prefix, and a consumer project built
#     against it with find_package(parley) and with pkg-config; the same
#     with the shared library (which also links the installed parley command)
#  6. every libFuzzer target in fuzz/ for PARLEY_FUZZ_SECONDS (default 30) each
#
# Environment: PARLEY_JOBS (parallel build jobs, default nproc),
# PARLEY_FUZZ_SECONDS (0 skips fuzzing), PARLEY_SKIP_DEPS=1 (no apt-get).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=${PARLEY_JOBS:-$(nproc)}
fuzz_seconds=${PARLEY_FUZZ_SECONDS:-30}
export CTEST_OUTPUT_ON_FAILURE=1

stage() { printf '\n==== %s (%s)\n' "$1" "$(date +%T)"; }

if [ "${PARLEY_SKIP_DEPS:-0}" != 1 ]; then
  stage "dependencies"
  scripts/install-deps.sh
fi

stage "g++ build + unit tests"
cmake -S . -B build/gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=g++ -DPARLEY_WERROR=ON >/dev/null
cmake --build build/gcc -j "$jobs"
ctest --test-dir build/gcc -j "$jobs" --timeout 300

stage "API reference (Doxygen): an undocumented public name fails"
cmake --build build/gcc --target docs

stage "clang ASan+UBSan build + unit tests"
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ -DPARLEY_WERROR=ON \
  -DPARLEY_SANITIZE=address,undefined -DPARLEY_BUILD_BENCH=OFF >/dev/null
cmake --build build/asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/asan -j "$jobs" --timeout 600 -LE "browser|js|proxy"  # (browser, JS, proxy: real programs around parley, run once above)

stage "clang TSan build + threaded tests"
cmake -S . -B build/tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DPARLEY_WERROR=ON \
  -DPARLEY_SANITIZE=thread -DPARLEY_BUILD_BENCH=OFF -DPARLEY_BUILD_EXAMPLES=OFF -DPARLEY_BUILD_TOOLS=OFF >/dev/null
cmake --build build/tsan -j "$jobs"
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 ctest --test-dir build/tsan -j "$jobs" --timeout 600 -R '^(Net|Server|Client|Tls)'

stage "install + consumer project"
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install build/gcc --prefix "$prefix" >/dev/null
cmake -S tests/consumer -B build/consumer -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build build/consumer -j "$jobs"
build/consumer/consumer
PKG_CONFIG_PATH="$prefix/lib/pkgconfig" \
  g++ -o build/consumer/consumer_pc tests/consumer/main.cpp $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs --static parley)
build/consumer/consumer_pc

stage "shared library: build, install, consumer, installed parley command"
cmake -S . -B build/shared -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_SHARED_LIBS=ON -DPARLEY_WERROR=ON \
  -DPARLEY_BUILD_TESTS=OFF -DPARLEY_BUILD_BENCH=OFF -DPARLEY_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build/shared -j "$jobs"
shared_prefix="$prefix/shared"
cmake --install build/shared --prefix "$shared_prefix" >/dev/null
cmake -S tests/consumer -B build/consumer-shared -DCMAKE_PREFIX_PATH="$shared_prefix" >/dev/null
cmake --build build/consumer-shared -j "$jobs"
LD_LIBRARY_PATH="$shared_prefix/lib" build/consumer-shared/consumer
LD_LIBRARY_PATH="$shared_prefix/lib" "$shared_prefix/bin/parley" --version

if [ "$fuzz_seconds" != 0 ]; then
  stage "fuzzers, ${fuzz_seconds}s each"
  # The library itself is instrumented too (coverage feedback + ASan/UBSan),
  # not only the fuzz targets.
  cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link -DPARLEY_SANITIZE=address,undefined \
    -DPARLEY_BUILD_FUZZ=ON -DPARLEY_BUILD_TESTS=OFF -DPARLEY_BUILD_BENCH=OFF -DPARLEY_BUILD_EXAMPLES=OFF \
    -DPARLEY_BUILD_TOOLS=OFF >/dev/null
  cmake --build build/fuzz -j "$jobs"
  fuzz/run.sh build/fuzz/fuzz "$fuzz_seconds" "$jobs"
fi

stage "all tests passed"
