#!/usr/bin/env bash
# pretrain on a tiny byte-level GPT: presets and --dry-run, a run that learns, checkpoints that load,
# exact resume, gradient accumulation, evaluation, and bad input.
source "$(dirname "$0")/lib.sh"
samples="$LMPIPE_SOURCE/tests/data/tok"
export OMP_WAIT_POLICY=PASSIVE

# --- presets and --dry-run: the papers' counts, without allocating ----------------------------------------
expect_eq "$(pretrain --preset gpt2 --dry-run | jq .parameters)" "124439808" "GPT-2 124M"
expect_eq "$(pretrain --preset gpt2-xl --dry-run | jq .parameters)" "1557611200" "GPT-2 XL"
expect_eq "$(pretrain --arch gpt1 --dry-run | jq .parameters)" "116534784" "GPT"
expect_eq "$(pretrain --preset gpt3-175b --dry-run | jq '.parameters > 174000000000 and .bytes_total > 2800000000000')" "true" \
  "GPT-3 175B is only counted"
expect_eq "$(pretrain --preset gpt2 --n-layer 2 --d-model 64 --n-head 4 --dry-run | jq -c '[.n_layer, .d_model, .d_ff]')" \
  "[2,64,256]" "shape flags override the preset"
# GPT-3.5's 4,096 positions: the planned activations grow linearly with the context (no T x T attention map
# is stored; the attention scratch, outside the plan, is a block of rows x T).
acts=$(for T in 1024 2048 4096; do pretrain --preset gpt2 --max-len $T --batch-size 1 --dry-run | jq .bytes_activations; done | paste -sd' ')
expect_eq "$(awk '{print ($3 - $2) == 2 * ($2 - $1)}' <<< "$acts")" "1" "activations at T 1024, 2048, 4096 on a line: $acts"
expect_status 2 pretrain --preset gpt2 --d-model 100 --n-head 3 --dry-run
expect_contains err.txt "not divisible"
expect_status 2 pretrain --preset gpt9 --dry-run
expect_status 2 pretrain --arch gpt1 --preset gpt-nano --d-ff 64 --dry-run
expect_contains err.txt "4 x --d-model"

# --- data: byte-level ids of the samples, windows of 33 ------------------------------------------------------
tok-train --model bpe --vocab-size 257 -o bytes "$samples/tinyshakespeare.txt"
tok-encode -v bytes "$samples/tinyshakespeare.txt" | make-pairs --task causal --max-len 32 --quiet -o train.shard
tok-encode -v bytes "$samples/wikitext2-valid.txt" | make-pairs --task causal --max-len 32 --quiet -o val.shard
base=(--preset gpt-nano --data train.shard --val val.shard --batch-size 4 --warmup 2 --threads 2 -v bytes)
common=("${base[@]}" --lr 3e-3)

# --- a run learns, and writes a HuggingFace-style checkpoint ------------------------------------------------------
pretrain "${common[@]}" --steps 40 --eval-every 20 -o run --log run.log --quiet
expect_eq "$(readlink run/latest)" "step-40" "latest points at the last checkpoint"
for f in model.safetensors config.json trainer_state.safetensors vocab.json merges.txt; do
  [ -f "run/latest/$f" ] || fail "the checkpoint has no $f"
done
expect_eq "$(jq -c '[.model_type, .n_layer, .n_embd, .vocab_size, .n_positions]' run/latest/config.json)" '["gpt2",2,32,257,32]' \
  "config.json"
expect_eq "$(jq -s '(.[0].loss - ([.[] | select(.step == 40 and .loss != null)][0].loss)) > 1' run.log)" "true" "the loss falls"
expect_eq "$(jq -s '[.[] | select(.val_loss != null)] | length' run.log)" "2" "validation every 20 steps"
# --- metrics.jsonl and loss.svg in the run directory: the log's records, and a plot whose points are the log's ------
cmp -s run/metrics.jsonl run.log || fail "run/metrics.jsonl differs from --log"
python3 "$LMPIPE_SOURCE/tests/tools/check_loss_svg.py" run/loss.svg run/metrics.jsonl > /dev/null || fail "loss.svg"
val40=$(jq -s '[.[] | select(.val_loss != null)][-1].val_loss' run.log)
# The same batches split the same way between the threads: how many rows a product has can change how
# OpenBLAS rounds a row (its Haswell kernels do, by 1e-10 here), and the comparison is exact.
expect_eq "$(pretrain --init-from run/latest --val val.shard --eval-only --batch-size 4 --threads 2 | jq .loss)" "$val40" \
  "--eval-only on the checkpoint gives the logged validation loss"
# --eval-iters N: the first N batches of --batch-size windows, however the micro-batches cut them.
first8=$(pretrain --init-from run/latest --val val.shard --eval-only --threads 2 --batch-size 4 --eval-iters 2)
first8b=$(pretrain --init-from run/latest --val val.shard --eval-only --threads 2 --batch-size 8 --micro-batch 2 \
  --eval-iters 1)
expect_eq "$(jq -n --argjson a "$first8" --argjson b "$first8b" --argjson all "$val40" \
  '[$a.tokens, $b.tokens, (($a.loss - $b.loss) / $b.loss | fabs) < 1e-6, $a.loss != $all]')" "$(jq -n '[256, 256, true, true]')" \
  "--eval-iters 2 x --batch-size 4 and 1 x 8 evaluate the same 8 windows of 32 targets"
pretrain "${common[@]}" --steps 2 --eval-every 1 --eval-iters 2 -o estimated --log estimated.log --quiet
expect_eq "$(jq -s '[.[] | select(.val_loss != null)][-1].val_loss' estimated.log)" \
  "$(pretrain --init-from estimated/latest --val val.shard --eval-only --batch-size 4 --eval-iters 2 --threads 2 | jq .loss)" \
  "training evaluates the windows --eval-iters names"
expect_status 2 pretrain --init-from run/latest --val val.shard --eval-only --eval-iters -1
expect_contains err.txt "--eval-iters: '-1' is negative"

# --- exact resume: a run killed after its step-20 checkpoint and resumed gives the losses and weights of one that
# --- never stopped, bit for bit (same --steps, so the same schedule) ---------------------------------------------------
pretrain "${common[@]}" --steps 40 --save-every 20 --eval-every 0 -o full --log full.log --quiet
# The copy of metrics.jsonl has steps 21-40 too, as a run killed late would: a resume drops and redoes them.
mkdir split && cp -r full/step-20 full/metrics.jsonl split/ && ln -s step-20 split/latest
pretrain "${common[@]}" --steps 40 -o split --resume --log split.log --quiet
expect_eq "$(jq -c 'select(.loss != null) | [.step, .loss, .grad_norm]' split.log)" \
  "$(jq -c 'select(.loss != null and .step > 20) | [.step, .loss, .grad_norm]' full.log)" \
  "a resumed run has the losses of an uninterrupted one"
cmp -s full/step-40/model.safetensors split/step-40/model.safetensors || fail "resumed weights differ"
expect_eq "$(jq -c 'select(.loss != null) | .step' split/metrics.jsonl | paste -sd' ')" "$(seq 1 40 | paste -sd' ')" \
  "a resumed run's metrics.jsonl keeps the steps up to its checkpoint and continues (no step twice)"
expect_status 2 pretrain "${common[@]}" --batch-size 2 --steps 40 -o split --resume
expect_contains err.txt "--batch-size"

# --- accumulation: two micro-batches of 2 make the first step's loss of one batch of 4 --------------------------------
pretrain "${common[@]}" --steps 1 --micro-batch 2 -o accumulated --log accumulated.log --quiet
expect_eq "$(jq -c '.loss' accumulated.log | head -n 1 | cut -c1-8)" "$(jq -c 'select(.step == 1) | .loss' full.log | cut -c1-8)" \
  "accumulated loss"

# --- --thread-parallel: threads taking shares of the batch (the default) or all working on every product train the
# --- same model up to rounding; the shares' gradient copies show in --dry-run ----------------------------------------
pretrain "${common[@]}" --steps 6 --eval-every 3 -o shares --log shares.log --quiet
pretrain "${common[@]}" --steps 6 --eval-every 3 --thread-parallel ops -o ops --log ops.log --quiet
expect_eq "$(jq -n -r --slurpfile a ops.log --slurpfile b shares.log '[$a, $b] | map(map(.loss // .val_loss)) |
  if (.[0] | length) != 8 or (.[1] | length) != 8 then "different records"
  else [range(0; 8) as $i | ((.[0][$i] - .[1][$i]) / .[1][$i] | fabs)] | max < 1e-5 end')" "true" \
  "--thread-parallel ops has the losses and validation losses of the default (batch)"
expect_eq "$(pretrain --preset gpt2 --batch-size 4 --threads 2 --dry-run | jq -c '[.batch_threads, .bytes_replica_grads]')" \
  "[2,497759232]" "--dry-run: 2 threads on shares of the batch, one more gradient copy"
expect_eq "$(pretrain --preset gpt2 --batch-size 4 --threads 2 --thread-parallel ops --dry-run |
  jq -c '[.batch_threads, .bytes_replica_grads]')" "[1,0]" "--dry-run: ops needs no gradient copy"
expect_eq "$(pretrain --preset gpt2 --batch-size 1 --threads 2 --dry-run | jq .batch_threads)" "1" \
  "a micro-batch of one sequence is not shared"
expect_status 2 pretrain --arch bert --thread-parallel batch --dry-run
expect_contains err.txt "--thread-parallel batch is for --arch gpt"
expect_status 2 pretrain --preset gpt-nano --thread-parallel rows --dry-run

# --- a sequence-length schedule: each step's windows come from the shards made at its length ----------------------------
tok-encode -v bytes "$samples/tinyshakespeare.txt" | make-pairs --task causal --max-len 16 --quiet -o train16.shard
pretrain --preset gpt-nano --data train.shard --data train16.shard --seq-len-schedule alt:16,32 --batch-size 4 --steps 4 \
  --threads 2 -v bytes -o alternating --log alternating.log --quiet
expect_eq "$(jq -c 'select(.loss != null) | .seq_len' alternating.log | paste -sd' ')" "16 32 16 32" "GPT: alt:16,32"

# --- --objective: the arch's by default; one of another architecture is refused ----------------------------------------
expect_eq "$(pretrain --preset gpt-nano --objective next-token --dry-run)" "$(pretrain --preset gpt-nano --dry-run)" \
  "next-token is GPT's objective"
expect_status 2 pretrain --preset gpt-nano --objective masked-lm --dry-run
expect_contains err.txt "masked-lm trains an encoder"
expect_status 2 pretrain --preset gpt-nano --objective no-such --dry-run

# --- every shard must fit the model before any step: ids within its vocabulary, sequences within its positions ------------
head -c 20000 "$samples/wikitext2-valid.txt" | tok-encode -v gpt2 | make-pairs --task causal --max-len 32 --quiet -o val-gpt2.shard
tok-encode -v bytes "$samples/wikitext2-valid.txt" | make-pairs --task causal --max-len 64 --quiet -o val64.shard
expect_status 2 pretrain --init-from run/latest --val val-gpt2.shard --eval-only --batch-size 4
expect_contains err.txt "--val val-gpt2.shard: made with a vocabulary of 50257 ids, but the model has 257"
expect_status 2 pretrain --init-from run/latest --data val-gpt2.shard --steps 1 --batch-size 4 -o bad
expect_contains err.txt "--data val-gpt2.shard: made with a vocabulary of 50257 ids"
expect_status 2 pretrain --preset gpt-nano --data train.shard --val val-gpt2.shard --batch-size 4 --steps 1 -o bad
expect_contains err.txt "made with another vocabulary than --data train.shard"
expect_status 2 pretrain --init-from run/latest --val val64.shard --eval-only --batch-size 4
expect_contains err.txt "--val val64.shard: sequences of 64 positions, but the model takes 32"
[ ! -e bad ] || fail "a refused run left its directory behind"

# --- a checkpoint whose config.json does not match its weights is refused, before anything is allocated -----------------
lie() {  # JQ-FILTER: a copy of the checkpoint with config.json changed
  rm -rf lie && mkdir lie && cp run/latest/* lie/
  jq "$1" run/latest/config.json > lie/config.json
}
lie '.n_layer = 1'
expect_status 1 pretrain --init-from lie --val val.shard --eval-only
expect_contains err.txt "model.safetensors has tensors that config.json's model (GPT-2 1x32, 2 heads, context 32) does not have: transformer.h.1.attn.c_attn.bias"
lie '.n_layer = 3'
expect_status 1 sample lie --prompt x --max-new-tokens 1
expect_contains err.txt "lie: config.json describes 47424 parameters but model.safetensors holds 34720 values"
for huge in '.n_layer = 1000000000000' '.vocab_size = 1000000000000' '.n_embd = 1000000000000' '.n_positions = 1000000000000'; do
  lie "$huge"
  expect_status 1 timeout 20 sample lie --prompt x --max-new-tokens 1
  expect_status 1 timeout 20 pretrain --init-from lie --val val.shard --eval-only
done
lie '.n_layer = -1'
expect_error 1 'sample: error: lie: config.json "n_layer" is -1: it must be at least 1' sample lie --prompt x
lie '.n_layer = "four"'
expect_error 1 'sample: error: lie: config.json "n_layer" is "four", not a whole number' sample lie --prompt x
lie '.n_layer = 128.5'
expect_error 1 'sample: error: lie: config.json "n_layer" is 128.5, not a whole number' sample lie --prompt x
lie 'del(.n_layer)'
expect_error 1 'sample: error: lie: config.json has no "n_layer"' sample lie --prompt x
head -c 100 run/latest/config.json > lie/config.json
expect_error 1 'sample: error: lie: config.json is not valid JSON (cut short?)' sample lie --prompt x

# --- a run directory holds one run: another is refused unless --resume or --overwrite; one process at a time ------------
expect_status 2 pretrain "${common[@]}" --steps 2 -o run
expect_contains err.txt "run already holds a run (latest): --resume continues it, --overwrite replaces it"
expect_status 2 pretrain "${common[@]}" --steps 2 -o run --resume --overwrite
cp -r run overwritten
pretrain "${common[@]}" --steps 2 -o overwritten --overwrite --quiet
expect_eq "$(ls overwritten | paste -sd' ')" "latest loss.svg metrics.jsonl step-2" "--overwrite replaces the run"
expect_eq "$(jq -s 'map(select(.loss != null)) | length' overwritten/metrics.jsonl)" "2" "--overwrite: the new run's metrics only"
# A killed save's temporary directory is removed by the next run into the directory.
mkdir overwritten/.step-3.tmp-AbCdEf && touch overwritten/.latest.tmp
pretrain "${common[@]}" --steps 3 -o overwritten --resume --quiet
expect_eq "$(ls -A overwritten | grep -c tmp)" "0" "stale temporaries are removed"
# While one pretrain trains into a directory, another is refused and names it.
pretrain "${common[@]}" --steps 100000 --eval-every 0 -o busy --quiet &
busy=$!
for _ in $(seq 100); do grep -q "pretrain pid" busy/.lock 2> /dev/null && break; sleep 0.1; done
expect_status 1 pretrain "${common[@]}" --steps 2 -o busy --overwrite
expect_contains err.txt "busy is in use: pretrain pid $busy on"
kill "$busy"; wait "$busy" 2> /dev/null || true
[ -f busy/metrics.jsonl ] || fail "the refused run removed the busy run's metrics"

# --- errors --------------------------------------------------------------------------------------------------------------
# Flags out of range are refused with the range in words; integers past 2^64 - 1 are not clamped.
for bad in "--lr -1:must be above 0" "--eps 0:must be above 0" "--grad-clip -1:must be at least 0" \
           "--dropout nan:'nan' is not a number" "--dropout 1:must be at least 0 and below 1" "--beta2 inf:not a finite number" \
           "--n-layer 0:0 must be at least 1" "--steps 99999999999999999999:is past the largest value, 18446744073709551615"; do
  flag=${bad%%:*} message=${bad#*:}
  # shellcheck disable=SC2086
  expect_status 2 pretrain --preset gpt-nano --dry-run $flag
  expect_contains err.txt "$message"
done
# Sizes whose counts would wrap around 64 bits are refused, not printed wrapped.
expect_status 2 pretrain --dry-run --d-model 1000000000000 --n-head 1000
expect_contains err.txt "more than any machine can hold"
expect_status 2 pretrain --preset gpt-nano --dry-run --batch-size 100000000000000000
expect_contains err.txt "needs more memory than any machine has"
expect_status 2 pretrain "${common[@]}" --steps 1 --batch-size 3 --micro-batch 2 -o bad
expect_status 2 pretrain --preset gpt-nano --steps 1 -o bad
expect_status 2 pretrain --preset gpt-nano --data train.shard --steps 1 --max-len 16 -o bad
expect_contains err.txt "raise --max-len"
expect_error 1 "pretrain: error: no file matches missing-*.shard" pretrain --preset gpt-nano --data 'missing-*.shard' --steps 1 -o bad
expect_status 1 pretrain "${base[@]}" --steps 3 --lr 1e30 --grad-clip 0 -o blowup
expect_contains err.txt "is not finite"
expect_status 0 pretrain "${base[@]}" --steps 3 --lr 1e30 --grad-clip 0 --skip-nonfinite -o blowup2 --quiet
expect_status 1 pretrain --init-from run/nowhere --val val.shard --eval-only
expect_contains err.txt "not a checkpoint directory"

done_testing
