#!/usr/bin/env bash
# pretrain --arch bert and --arch roberta on real pipelines: make-pairs --task nsp | mask-corpus (static masks)
# and make-pairs --task full-sentences (dynamic masks); the papers' parameter counts, falling losses and rising
# accuracy, HuggingFace-style checkpoints, --eval-only, exact resume, accumulation, sequence-length schedules,
# sample --fill-mask on the checkpoints, and bad input.
source "$(dirname "$0")/lib.sh"
samples="$LMPIPE_SOURCE/tests/data/tok"
export OMP_WAIT_POLICY=PASSIVE

# --- presets and --dry-run: the papers' counts ----------------------------------------------------------------------
expect_eq "$(pretrain --arch bert --dry-run | jq .parameters)" "110106428" "BERT base (BertForPreTraining)"
expect_eq "$(pretrain --arch bert --preset bert-large --dry-run | jq .parameters)" "336226108" "BERT large"
expect_eq "$(pretrain --arch roberta --dry-run | jq .parameters)" "124697433" "RoBERTa base (RobertaForMaskedLM)"
expect_status 2 pretrain --arch roberta --preset bert-base --dry-run
expect_contains err.txt "not a roberta shape"

# --- BERT data: sentences per line, documents between blank lines, pairs of up to 48 ids, static masks ---------------
# Tiny Shakespeare's speeches are the documents and its verse lines the sentences.
head -n 1200 "$samples/tinyshakespeare.txt" > train.txt
tail -n +1201 "$samples/tinyshakespeare.txt" > val.txt
for part in train val; do
  tok-encode --docs -v bert-base-uncased --quiet "$part.txt" | make-pairs --task nsp --max-len 48 --dupe-factor 2 --quiet |
    mask-corpus --seed 3 --quiet -o "$part.masked"
done
bert=(--arch bert --preset bert-tiny --data train.masked --val val.masked --batch-size 16 --lr 2e-3 --warmup 5 --threads 2)

# --- a run learns: MLM and NSP losses logged apart, the MLM loss falls and its accuracy rises ----------------------------
pretrain "${bert[@]}" --steps 60 --eval-every 30 -o bert-run --log bert.log --quiet
expect_eq "$(jq -s '(.[0].mlm_loss - ([.[] | select(.step == 60 and .loss != null)][0].mlm_loss)) > 2' bert.log)" "true" \
  "the MLM loss falls"
expect_eq "$(jq -s '[.[] | select(.val_mlm_acc != null) | .val_mlm_acc] | .[1] > .[0]' bert.log)" "true" \
  "the validation MLM accuracy rises"
expect_eq "$(jq -s '[.[] | select(.loss != null)] | all(((.mlm_loss + .nsp_loss) - .loss) | fabs < 1e-9)' bert.log)" "true" \
  "loss = MLM + NSP"
expect_eq "$(jq -c '[.architectures[0], .model_type, .num_hidden_layers, .hidden_size, .vocab_size, .hidden_act]' \
  bert-run/latest/config.json)" '["BertForPreTraining","bert",2,128,30522,"gelu"]' "config.json"
[ -f bert-run/latest/vocab.txt ] || fail "the BERT checkpoint has no vocab.txt (the shipped vocabulary matched)"
last=$(jq -s -c '[.[] | select(.val_mlm_loss != null)][-1] | [.val_mlm_loss, .val_mlm_acc, .val_nsp_loss, .val_nsp_acc]' bert.log)
expect_eq "$(pretrain --arch bert --init-from bert-run --val val.masked --eval-only --batch-size 16 --threads 2 |
  jq -c '[.mlm_loss, .mlm_acc, .nsp_loss, .nsp_acc]')" "$last" "--eval-only gives the logged validation figures"
expect_eq "$(pretrain --arch bert --init-from bert-run --val val.masked --eval-only --batch-size 16 --threads 2 |
  jq '(.loss - .mlm_loss - .nsp_loss) | fabs < 1e-9')" "true" "--eval-only: loss = mlm_loss + nsp_loss"
expect_eq "$(pretrain --arch bert --init-from bert-run --val val.masked --eval-only --batch-size 4 --eval-iters 3 --threads 2 |
  jq .sequences)" "12" "--eval-iters 3 x --batch-size 4: 12 sequences"

# --- exact resume (BERT's recipe: Adam without bias correction, decay from step 0) --------------------------------------
pretrain "${bert[@]}" --steps 12 --save-every 6 -o full --log full.log --quiet
mkdir split && cp -r full/step-6 full/metrics.jsonl split/ && ln -s step-6 split/latest
pretrain "${bert[@]}" --steps 12 -o split --resume --log split.log --quiet
expect_eq "$(jq -c 'select(.loss != null) | [.step, .loss, .grad_norm]' split.log)" \
  "$(jq -c 'select(.loss != null and .step > 6) | [.step, .loss, .grad_norm]' full.log)" "a resumed BERT run"
cmp -s full/step-12/model.safetensors split/step-12/model.safetensors || fail "resumed BERT weights differ"

# --- accumulation: the step's MLM loss is a mean over all of its masked positions, as one big batch (no dropout, whose
# --- draws depend on the micro-batch) ------------------------------------------------------------------------------------
pretrain "${bert[@]}" --steps 2 --dropout 0 -o whole --log whole.log --quiet
pretrain "${bert[@]}" --steps 2 --dropout 0 --micro-batch 4 -o accumulated --log accumulated.log --quiet
expect_eq "$(jq -c 'select(.loss != null) | [.loss, .mlm_acc, .nsp_acc] | map(. * 1e5 | round)' accumulated.log)" \
  "$(jq -c 'select(.loss != null) | [.loss, .mlm_acc, .nsp_acc] | map(. * 1e5 | round)' whole.log)" \
  "accumulated steps: the losses and accuracies of one big batch"

# --- RoBERTa: byte-level BPE with <s> <pad> </s> <unk> <mask>, full sentences, masked anew at every feed ----------------
tok-train --model bpe --vocab-size 600 --special-tokens '<s>,<pad>,</s>,<unk>,<mask>' --quiet -o bpe train.txt
for len in 32 64; do
  for part in train val; do
    tok-encode --docs -v bpe --quiet "$part.txt" | make-pairs --task full-sentences --max-len $len --quiet -o "$part.$len.pairs"
  done
done
roberta=(--arch roberta --n-layer 2 --n-head 2 --d-model 64 --max-len 64 --batch-size 8 --lr 2e-3 --warmup 5 --threads 2 -v bpe)
pretrain "${roberta[@]}" --data train.64.pairs --val val.64.pairs --steps 40 --eval-every 20 -o roberta-run --log roberta.log --quiet
expect_eq "$(jq -s '(.[0].loss - ([.[] | select(.step == 40 and .loss != null)][0].loss)) > 0.5' roberta.log)" "true" \
  "the RoBERTa loss falls"
expect_eq "$(jq -s '[.[] | select(.nsp_loss != null)] | length' roberta.log)" "0" "RoBERTa has no NSP"
expect_eq "$(jq -c '[.architectures[0], .model_type, .type_vocab_size, .max_position_embeddings, .pad_token_id]' \
  roberta-run/latest/config.json)" '["RobertaForMaskedLM","roberta",1,66,1]' "RoBERTa config.json: positions past the padding"
[ -f roberta-run/latest/merges.txt ] || fail "the RoBERTa checkpoint has no merges.txt"
val=$(jq -s '[.[] | select(.val_mlm_loss != null)][-1].val_mlm_loss' roberta.log)
expect_eq "$(pretrain --arch roberta --init-from roberta-run --val val.64.pairs --eval-only --batch-size 8 --threads 2 | jq .mlm_loss)" "$val" \
  "validation masks are the same at every evaluation"

# --- sequence-length schedules: phases and alternation, each length on the shards made with it --------------------------
pretrain "${roberta[@]}" --data 'train.*.pairs' --seq-len-schedule 32:0.75,64:0.25 --steps 4 -o phases --log phases.log --quiet
expect_eq "$(jq -c 'select(.loss != null) | .seq_len' phases.log | paste -sd' ')" "32 32 32 64" "phases"
pretrain "${roberta[@]}" --data 'train.*.pairs' --seq-len-schedule alt:32,64 --steps 4 -o alternating --log alt.log --quiet
expect_eq "$(jq -c 'select(.loss != null) | .seq_len' alt.log | paste -sd' ')" "32 64 32 64" "alternation"
pretrain "${roberta[@]}" --data 'train.*.pairs' --seq-len-schedule alt:32,64 --steps 4 --save-every 2 -o alt-full --log alt-full.log --quiet
mkdir alt-split && cp -r alt-full/step-2 alt-full/metrics.jsonl alt-split/ && ln -s step-2 alt-split/latest
pretrain "${roberta[@]}" --data 'train.*.pairs' --seq-len-schedule alt:32,64 --steps 4 -o alt-split --resume --log alt-split.log --quiet
expect_eq "$(jq -c 'select(.loss != null) | [.step, .loss]' alt-split.log)" \
  "$(jq -c 'select(.loss != null and .step > 2) | [.step, .loss]' alt-full.log)" "a resumed run with a schedule"
# Whole-word dynamic masking reads the vocabulary's word starts (-v), for training and validation alike.
pretrain "${roberta[@]}" --data train.64.pairs --val val.64.pairs --whole-word --steps 2 -o whole-words --quiet
expect_eq "$(jq -s '[.[] | select(.val_mlm_loss != null)] | length' whole-words/metrics.jsonl)" "1" "--whole-word trains and evaluates"
expect_status 2 pretrain --arch roberta --n-layer 2 --n-head 2 --d-model 64 --max-len 64 --batch-size 8 --data train.64.pairs \
  --whole-word --steps 2 -o bad
expect_contains err.txt "--whole-word needs the vocabulary"
expect_status 2 pretrain "${roberta[@]}" --data train.64.pairs --seq-len-schedule 32:0.5,64:0.5 --steps 4 -o bad
expect_contains err.txt "no --data shard was made with --max-len 32"
expect_status 2 pretrain "${roberta[@]}" --data train.64.pairs --seq-len-schedule 32:0.5,64:0.6 --steps 4 -o bad
expect_contains err.txt "add up to"

# --- sample --fill-mask on the checkpoints: candidates ranked by probability, each mask of the text -----------------------
sample bert-run --fill-mask 'to be or not to [MASK], that is the [MASK].' --json --threads 2 > fill.jsonl
expect_eq "$(jq -c '[.mask, .position, (.candidates | length)]' fill.jsonl | paste -sd' ')" "[0,6,5] [1,11,5]" \
  "two masks, five candidates each, at their places after [CLS]"
expect_eq "$(jq -s 'all(.[]; .candidates | (map(.prob) | . == (sort | reverse)) and (map(.prob) | add) <= 1)' fill.jsonl)" \
  "true" "candidates most probable first"
expect_eq "$(jq -s 'all(.[]; .mask as $m | .candidates[] | .sequence | startswith("to be or not to "))' fill.jsonl)" "true" \
  "each candidate's text"
expect_eq "$(sample bert-run --fill-mask 'my [MASK] lord' --top-k 3 --threads 2 | wc -l)" "3" "text: a line per candidate"
expect_eq "$(sample roberta-run --fill-mask 'to be or not to<mask>' --top-k 2 --json --threads 2 | jq '.candidates | length')" \
  "2" "RoBERTa fills <mask>"
expect_status 1 sample bert-run --fill-mask 'no mask here'
expect_contains err.txt "no [MASK]"
expect_status 2 sample bert-run --prompt 'to be'
expect_contains err.txt "give --fill-mask"
expect_status 2 sample "$LMPIPE_SOURCE/tests/data/gen/tiny-gpt" --fill-mask 'a [MASK]'
expect_contains err.txt "needs a BERT or RoBERTa checkpoint"

# --- errors ---------------------------------------------------------------------------------------------------------------
expect_status 1 pretrain --arch bert --preset bert-tiny --vocab-size 600 --data train.64.pairs --steps 1 -o bad
expect_contains err.txt "without a next-sentence label"
expect_status 2 pretrain --arch roberta --init-from bert-run --val val.64.pairs --eval-only
expect_contains err.txt "not --arch roberta"
expect_status 1 pretrain --arch bert --preset bert-tiny --data train.64.pairs --data train.masked --steps 1 -o bad
expect_contains err.txt "give one kind of data"

done_testing
