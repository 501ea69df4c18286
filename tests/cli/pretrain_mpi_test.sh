#!/usr/bin/env bash
# Data-parallel pretrain under mpirun: 2 ranks at global batch G train on the same batches as one process at G
# and log the same losses (GPT, BERT with accumulation, RoBERTa with dynamic masking, LLaVA's frozen stages), a
# resumed 2-rank run continues exactly, a batch the ranks cannot share is refused with a fix, an error before
# training is printed once (not once per rank, and without Open MPI's abort banner), and a killed rank ends the
# job with an error instead of a hang. Skipped (77) where Open MPI is missing or pretrain was built without it.
source "$(dirname "$0")/lib.sh"
samples="$LMPIPE_SOURCE/tests/data/tok"
export OMP_WAIT_POLICY=PASSIVE
# Open MPI refuses to start as root unless told; CI containers run as root.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
command -v mpirun > /dev/null || { echo "skipped: no mpirun (apt-get install openmpi-bin libopenmpi-dev)"; exit 77; }
# Under AddressSanitizer: Open MPI keeps allocations (some in plugins it unloads) past MPI_Finalize, which
# LeakSanitizer reports as leaks of ours. Memory errors are still checked; our own leaks are checked by the
# single-process pretrain tests.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
mpi=(mpirun --oversubscribe -np 2)

tok-train --model bpe --vocab-size 300 --special-tokens '<s>,<pad>,</s>,<unk>,<mask>' --quiet -o bpe "$samples/tinyshakespeare.txt"
tok-encode -v bpe --quiet "$samples/tinyshakespeare.txt" | make-pairs --task causal --max-len 32 --quiet -o windows.shard
tok-encode --docs -v bpe --quiet "$samples/tinyshakespeare.txt" |
  make-pairs --task full-sentences --max-len 32 --quiet -o pairs.shard
tok-encode --docs -v bert-base-uncased --quiet "$samples/tinyshakespeare.txt" | make-pairs --task nsp --max-len 32 --quiet |
  mask-corpus --quiet -o masked.shard

same_losses() {  # LOG_A LOG_B WHAT: the same number of steps, each loss within 1e-5 relative
  local worst
  worst=$(jq -n -r --slurpfile a "$1" --slurpfile b "$2" '[$a, $b] | map(map(select(.loss != null) | .loss)) |
    if (.[0] | length) != (.[1] | length) or (.[0] | length) == 0 then "different steps"
    else [range(0; .[0] | length) as $i | ((.[0][$i] - .[1][$i]) / .[1][$i] | fabs)] | max end')
  expect_eq "$(jq -n --arg w "$worst" '($w | tonumber? // 1) < 1e-5')" "true" "$3 (worst relative difference: $worst)"
}

gpt=(--preset gpt-nano --vocab-size 300 --data windows.shard --batch-size 8 --lr 3e-3 --warmup 2 -v bpe --quiet)
pretrain "${gpt[@]}" --steps 5 --threads 2 --no-shuffle -o one --log one.log
"${mpi[@]}" pretrain "${gpt[@]}" --steps 5 --threads 1 --no-shuffle -o two --log two.log
jq -e 'select(.allreduce_s != null)' two.log > /dev/null || { echo "skipped: pretrain was built without MPI"; exit 77; }
same_losses two.log one.log "GPT: 2 ranks at batch 8 train as one process at batch 8, unshuffled"
pretrain "${gpt[@]}" --steps 5 --threads 2 -o one-shuffled --log one-shuffled.log
"${mpi[@]}" pretrain "${gpt[@]}" --steps 5 --threads 1 -o two-shuffled --log two-shuffled.log
same_losses two-shuffled.log one-shuffled.log "GPT, shuffled: the global order does not depend on the ranks"
[ -f two/latest/model.safetensors ] && [ ! -e two/metrics.jsonl.tmp ] || fail "rank 0 writes the checkpoint"
expect_eq "$(jq -s '[.[] | select(.loss != null)] | length' two/metrics.jsonl)" "5" "one metrics line per step, from rank 0"

bert=(--arch bert --preset bert-tiny --data masked.shard --batch-size 8 --lr 1e-3 --warmup 2 --steps 5 --dropout 0 --quiet)
pretrain "${bert[@]}" --threads 2 -o bert-one --log bert-one.log
"${mpi[@]}" pretrain "${bert[@]}" --micro-batch 2 --threads 1 -o bert-two --log bert-two.log
same_losses bert-two.log bert-one.log "BERT: 2 ranks x 2 micro-batches of 2 train as one batch of 8"
expect_eq "$(jq -c 'select(.loss != null) | [.mlm_acc, .nsp_acc]' bert-two.log | paste -sd' ')" \
  "$(jq -c 'select(.loss != null) | [.mlm_acc, .nsp_acc]' bert-one.log | paste -sd' ')" "BERT accuracies"

roberta=(--arch roberta --n-layer 2 --n-head 2 --d-model 32 --max-len 32 --data pairs.shard --batch-size 8 --lr 1e-3
         --warmup 2 --steps 5 --dropout 0 -v bpe --quiet)
pretrain "${roberta[@]}" --threads 2 -o roberta-one --log roberta-one.log
"${mpi[@]}" pretrain "${roberta[@]}" --threads 1 -o roberta-two --log roberta-two.log
same_losses roberta-two.log roberta-one.log "RoBERTa: dynamic masks are keyed by the record's place in the step, not the rank"

# LLaVA's stages: the ranks reduce the trained parts' gradients alone (the projector's; the decoder's too in stage 2).
python3 "$LMPIPE_SOURCE/examples/vision/shapes.py" make -o shapes --train 16 --test 4 --size 32 --seed 2 > /dev/null
tok-train --extend gpt2 --add-special '<image>' -q -o vocab-images
make-images -v vocab-images --image-size 32 --max-len 40 -q shapes/captions.jsonl -o captions.images
for freeze in vision vision,lm; do
  llava=(--arch llava --preset gpt-nano --max-len 64 --vision vit-tiny --freeze "$freeze" --data captions.images
         --batch-size 8 --lr 1e-3 --steps 3 --no-shuffle --quiet)
  pretrain "${llava[@]}" --threads 2 -o "llava-one-$freeze" --log "llava-one-$freeze.log"
  "${mpi[@]}" pretrain "${llava[@]}" --threads 1 -o "llava-two-$freeze" --log "llava-two-$freeze.log"
  same_losses "llava-two-$freeze.log" "llava-one-$freeze.log" "LLaVA --freeze $freeze: 2 ranks train as one process"
done

# --- resume under mpirun ----------------------------------------------------------------------------------------
"${mpi[@]}" pretrain "${gpt[@]}" --threads 1 --steps 8 --save-every 4 -o full --log full.log
mkdir split && cp -r full/step-4 full/metrics.jsonl split/ && ln -s step-4 split/latest
"${mpi[@]}" pretrain "${gpt[@]}" --threads 1 --steps 8 -o split --resume --log split.log
expect_eq "$(jq -c 'select(.loss != null) | [.step, .loss]' split.log)" \
  "$(jq -c 'select(.loss != null and .step > 4) | [.step, .loss]' full.log)" "a resumed 2-rank run"

# --- a global batch the ranks cannot share --------------------------------------------------------------------------
expect_status 2 "${mpi[@]}" pretrain --preset gpt-nano --vocab-size 300 --data windows.shard --steps 5 --batch-size 7 -o bad
expect_contains err.txt "must be shared by the 2 ranks"
expect_status 2 "${mpi[@]}" pretrain "${gpt[@]}" --steps 5 --micro-batch 3 -o bad
expect_contains err.txt "try --micro-batch 4"

# --- an error before training is printed once, by one rank, and the job ends without MPI_Abort -----------------------
quiet_mpi=(mpirun -q --oversubscribe -np 2)  # -q: no note from mpirun itself about the non-zero exit
expect_error 2 "pretrain: error: Could not convert: --steps = x
Run 'pretrain --help' for the options." "${quiet_mpi[@]}" pretrain --steps x
expect_error 2 "pretrain: error: two already holds a run (latest): --resume continues it, --overwrite replaces it, or give another -o" \
  "${quiet_mpi[@]}" pretrain "${gpt[@]}" --steps 5 -o two
expect_status 1 "${quiet_mpi[@]}" pretrain "${gpt[@]}" --steps 5 --data missing.shard -o missing
expect_eq "$(grep -c 'error' err.txt)" "1" "a missing shard, found by every rank, is reported once"
expect_eq "$("${quiet_mpi[@]}" pretrain --help | grep -c '^Usage:')" "1" "--help is printed once"
expect_status 2 "${mpi[@]}" pretrain --preset gpt-nano --vocab-size 300 --data windows.shard --steps 5 --batch-size 7 -o bad
expect_eq "$(grep -c 'pretrain: error' err.txt)" "1" "a batch the ranks cannot share is reported once"
if grep -q MPI_ABORT err.txt; then fail "a usage error aborted the job: $(cat err.txt)"; fi

# --- a killed rank ends the job with an error, not a hang -------------------------------------------------------------
timeout 120 "${mpi[@]}" pretrain "${gpt[@]}" --threads 1 --steps 100000 -o killed --log killed.log 2> killed.err &
job=$!
for _ in $(seq 100); do [ -s killed.log ] && break; sleep 0.2; done
[ -s killed.log ] || fail "the 2-rank job did not start"
launcher=$(pgrep -P "$job")                 # timeout -> mpirun -> the two ranks
rank1=$(pgrep -P "$launcher" | tail -n 1)
[ -n "$rank1" ] || fail "no rank processes under mpirun"
kill -9 "$rank1"
status=0
wait "$job" || status=$?
[ "$status" -ne 0 ] || fail "the job went on after a rank was killed"
[ "$status" -ne 124 ] || fail "the job hung after a rank was killed"
expect_contains killed.err "exited on signal 9"

done_testing
