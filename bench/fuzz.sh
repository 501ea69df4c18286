#!/usr/bin/env bash
# Fuzzes every parser of outside bytes for longer than CI does (tests/fuzz/run.sh: shards, model
# directories, vocabularies, text through both pre-tokenizers and back), and prints each target's
# executions, rate and the coverage it reached. Builds build-fuzz (clang, ASan + UBSan + libFuzzer) first.
# The fuzzers are single-threaded: running the targets one after another keeps the figures comparable.
#   bench/fuzz.sh [--seconds N] [TARGET ...]    (default: 600 seconds per target, every target)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=600
if [ "${1:-}" = --seconds ]; then
  seconds=$2
  shift 2
fi
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g -DNDEBUG" -DLMPIPE_FUZZ=ON -DLMPIPE_NATIVE=OFF > /dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz-shard-reader fuzz-model-dir fuzz-vocab fuzz-tokenize fuzz-chat make-test-shard > /dev/null
echo "fuzzing ${seconds}s per target"
tests/fuzz/run.sh build-fuzz "$seconds" build-fuzz/bench "$@"
