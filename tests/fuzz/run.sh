#!/usr/bin/env bash
# Runs fuzz targets of a -DLMPIPE_FUZZ=ON build for a fixed time each, from their seed corpora (copied,
# so that what a run adds stays out of the repository), and prints a line per target: executions, their
# rate, and the coverage reached (libFuzzer's cov: edges, ft: features) and the corpus it ended with.
# Exits non-zero, with the end of the target's log, when a target finds an input that crashes, leaks,
# trips a sanitizer, or allocates past -malloc_limit_mb; the input is kept in WORK/artifacts. Targets run
# FUZZ_JOBS at a time (default: one per core).
#   tests/fuzz/run.sh BUILD_DIR SECONDS WORK [TARGET ...]   (default: every target)
# .ci/test runs it briefly; bench/fuzz.sh for longer.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=$1 seconds=$2 work=$3
shift 3
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(shard-reader model-dir vocab tokenize chat image)
mkdir -p "$work/artifacts"
jobs=${FUZZ_JOBS:-$(nproc)}  # each target runs on one core
# Leaks LLVM's OpenMP runtime keeps until exit are not the targets' (tests/lsan.supp).
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp}

# fuzz TARGET: runs it; writes its line of figures to WORK/TARGET.line, or fails.
fuzz() {
  local target=$1 corpus="$work/corpus-$1" log="$work/$1.log"
  rm -rf "$corpus" && mkdir -p "$corpus"
  # Shard seeds come from the build's writer, so that they follow the format; seeds/ holds the rest and
  # the inputs that once found a bug.
  [ "$target" != shard-reader ] || tests/fuzz/make-seeds.sh "$build/tests/make-test-shard" "$corpus"
  [ "$target" != image ] || cp tests/data/image/*.png tests/data/image/*.jpg "$corpus"/  # the unit test's pictures
  cp tests/fuzz/seeds/"$target"/* "$corpus"/
  "$build/tests/fuzz-$target" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=512 -max_len=8192 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/$target-" "$corpus" 2> "$log" || return 1
  local done_line executions rate cov ft corpus_size
  done_line=$(grep -E '^#[0-9]+[[:space:]].* cov: ' "$log" | tail -n 1)  # the last status line
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  cov=$(sed -E -n 's/.* cov: ([0-9]+).*/\1/p' <<< "$done_line")
  ft=$(sed -E -n 's/.* ft: ([0-9]+).*/\1/p' <<< "$done_line")
  corpus_size=$(sed -E -n 's/.* corp: ([0-9]+\/[0-9A-Za-z]+).*/\1/p' <<< "$done_line")
  printf '%-13s %12s %9s %7s %8s %9s\n' "$target" "$executions" "$rate" "$cov" "$ft" "$corpus_size" > "$work/$target.line"
}

# The targets, `jobs` at a time; then their figures in order, or the log of the first that failed.
pids=()
for target in "${targets[@]}"; do
  rm -f "$work/$target.line"
  fuzz "$target" &
  pids+=($!)
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
done
failed=()
for i in "${!targets[@]}"; do
  wait "${pids[$i]}" || failed+=("${targets[$i]}")
done
printf '%-13s %12s %9s %7s %8s %9s\n' target executions exec/s cov ft corpus
for target in "${targets[@]}"; do
  [ -f "$work/$target.line" ] && cat "$work/$target.line"
done
for target in "${failed[@]}"; do
  tail -n 60 "$work/$target.log"
  echo "fuzz-$target found a problem: $work/$target.log, input in $work/artifacts/"
done
[ ${#failed[@]} -eq 0 ]
