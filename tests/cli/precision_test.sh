#!/usr/bin/env bash
# --precision bf16 (pretrain, sample): training near fp32's losses with fp32 checkpoints, exact resume,
# sampling, and the fallback where the CPU has no AVX512-BF16 (oneDNN's DNNL_MAX_CPU_ISA hides it here):
# one warning line, then fp32's very bits.
source "$(dirname "$0")/lib.sh"
samples="$LMPIPE_SOURCE/tests/data/tok"
export OMP_WAIT_POLICY=PASSIVE
no_bf16=(env DNNL_MAX_CPU_ISA=AVX512_CORE)

tok-train --model bpe --vocab-size 300 -o vocab "$samples/tinyshakespeare.txt"
tok-encode -v vocab "$samples/tinyshakespeare.txt" | make-pairs --task causal --max-len 64 --quiet -o train.shard
run=(--preset gpt-nano --max-len 64 --data train.shard --batch-size 8 --warmup 2 --lr 3e-3 --threads 2 -v vocab)
losses() { jq -r 'select(.loss) | .loss' "$1/metrics.jsonl" | paste -sd' '; }

pretrain "${run[@]}" --steps 12 -o fp32 --quiet
expect_status 0 "${no_bf16[@]}" pretrain "${run[@]}" --steps 12 --precision bf16 -o fallback
expect_eq "$(cat err.txt)" \
  "pretrain: warning: --precision bf16: this CPU has no AVX512-BF16 (oneDNN's ISA: avx512_core); computing in fp32" \
  "the fallback says so in one line"
expect_eq "$(losses fallback)" "$(losses fp32)" "the fallback trains in fp32, bit for bit"
expect_status 0 "${no_bf16[@]}" pretrain "${run[@]}" --steps 12 --precision bf16 -o quiet --quiet
expect_eq "$(cat err.txt)" "" "--quiet silences the warning"
expect_status 2 pretrain "${run[@]}" --steps 12 --precision fp16 -o fp16
expect_contains err.txt "--precision"

if pretrain "${run[@]}" --steps 12 --precision bf16 -o bf16 --quiet 2> warning.txt && [ ! -s warning.txt ]; then
  # This CPU multiplies in bf16: the losses follow fp32's closely but not bit for bit.
  [ "$(losses bf16)" != "$(losses fp32)" ] || fail "bf16 gave fp32's very losses: the products did not run in bf16"
  paste -d' ' <(losses fp32 | tr ' ' '\n') <(losses bf16 | tr ' ' '\n') > pairs.txt
  expect_eq "$(awk '{d = $1 - $2; if (d < 0) d = -d; if (d > 0.01 * $1) bad++} END {print bad + 0}' pairs.txt)" "0" \
    "every step's bf16 loss within 1% of fp32's: $(cat pairs.txt | paste -sd,)"
  expect_eq "$(jq -r '.step' bf16/metrics.jsonl | tail -1)" "12" "bf16 ran every step"
  # The checkpoint holds fp32 weights, as any other.
  dtypes=$(python3 -c 'import json, struct, sys
f = open(sys.argv[1], "rb"); n = struct.unpack("<Q", f.read(8))[0]
print(",".join(sorted({t["dtype"] for k, t in json.loads(f.read(n)).items() if k != "__metadata__"})))' bf16/latest/model.safetensors)
  expect_eq "$dtypes" "F32" "checkpoint tensors are F32"
  # Exact resume: the bf16 copy of the weights is made again from the checkpoint's.
  pretrain "${run[@]}" --steps 12 --save-every 6 --precision bf16 -o full --quiet
  mkdir split && cp -r full/step-6 full/metrics.jsonl split/ && ln -s step-6 split/latest
  pretrain "${run[@]}" --steps 12 --precision bf16 -o split --resume --quiet
  expect_eq "$(losses split)" "$(losses full)" "a bf16 run resumes exactly"
  cmp -s full/step-12/model.safetensors split/step-12/model.safetensors || fail "resumed bf16 weights differ"
  # sample: the same model in bf16 writes text near fp32's (its first words), and with the fallback fp32's own.
  bf16_text=$(sample fp32 --prompt 'ROMEO:' --greedy --max-new-tokens 40 --threads 2 --precision bf16)
  [ -n "$bf16_text" ] || fail "sample --precision bf16 wrote nothing"
  expect_eq "$(sample fp32 --prompt 'ROMEO:' --greedy --max-new-tokens 40 --threads 2 --precision bf16 --quiet)" "$bf16_text" \
    "bf16 sampling is repeatable"
else
  echo "precision_test: this CPU has no AVX512-BF16 ($(cat warning.txt)): only the fallback is tested" >&2
  expect_eq "$(losses bf16)" "$(losses fp32)" "without AVX512-BF16, bf16 runs fp32"
fi
expect_status 0 "${no_bf16[@]}" sample fp32 --prompt 'ROMEO:' --greedy --max-new-tokens 40 --threads 2 --precision bf16
expect_eq "$(cat out.txt)" "$(sample fp32 --prompt 'ROMEO:' --greedy --max-new-tokens 40 --threads 2)" \
  "sample's fallback is fp32's text"
expect_eq "$(cat err.txt)" \
  "sample: warning: --precision bf16: this CPU has no AVX512-BF16 (oneDNN's ISA: avx512_core); computing in fp32" \
  "sample's fallback says so"
done_testing
