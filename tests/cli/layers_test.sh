#!/usr/bin/env bash
# The layers of lib/ use only the layers docs/DESIGN.md ("Layers") allows them, and generation does not
# depend on training: sample links no MPI. Reinforcement learning (rl) uses both.
source "$(dirname "$0")/lib.sh"

declare -A allowed=(
  [core]="" [io]="core" [text]="core" [tok]="core io text" [image]="core" [data]="core image io tok text"
  [nn]="core" [checkpoint]="core io nn" [train]="checkpoint core data image io nn text tok" [gen]="checkpoint core image nn text tok"
  [rl]="checkpoint core data gen image io nn text tok train"
)
for layer in "${!allowed[@]}"; do
  for used in $(grep -ho '#include "[a-z_]*/' "$LMPIPE_SOURCE/lib/$layer"/* | sed 's/#include "//; s#/##' | sort -u); do
    TESTS_RUN=$((TESTS_RUN + 1))
    [ "$used" = "$layer" ] || [ "$used" = lmpipe ] || [[ " ${allowed[$layer]} " == *" $used "* ]] ||
      fail "lib/$layer includes lib/$used, which docs/DESIGN.md does not let it use"
  done
done
for dir in "$LMPIPE_SOURCE"/lib/*/; do
  TESTS_RUN=$((TESTS_RUN + 1))
  [ -n "${allowed[$(basename "$dir")]+known}" ] || fail "lib/$(basename "$dir") is a layer this test does not know"
done
TESTS_RUN=$((TESTS_RUN + 1))
if ldd "$LMPIPE_BIN/sample" | grep -qi mpi; then fail "sample links MPI: generation depends on training"; fi
done_testing
