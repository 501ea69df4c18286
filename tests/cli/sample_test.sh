#!/usr/bin/env bash
# sample on a tiny committed byte-level GPT (tests/data/gen/tiny-gpt, made by tests/reference/make_tiny_gpt.sh):
# greedy output against a golden file, determinism, stop strings, batch and few-shot prompts, JSON, the context
# limit, and bad input.
source "$(dirname "$0")/lib.sh"
export OMP_WAIT_POLICY=PASSIVE
ckpt="$LMPIPE_SOURCE/tests/data/gen/tiny-gpt"
golden="$LMPIPE_SOURCE/tests/data/gen/greedy-romeo.txt"
s() { sample "$ckpt" --threads 2 "$@"; }

# --- greedy: the golden text, also through stdin, a prompt file, -o and a run directory ------------------------
s --prompt 'ROMEO:' --greedy --max-new-tokens 60 > greedy.txt
cmp -s greedy.txt "$golden" || fail "greedy output differs from $golden: $(cat greedy.txt)"
printf 'ROMEO:\n' | s --greedy --max-new-tokens 60 > stdin.txt
cmp -s stdin.txt "$golden" || fail "a prompt on stdin (its final newline dropped) differs"
printf 'ROMEO:\n' > prompt.txt
s --prompt-file prompt.txt --greedy --max-new-tokens 60 -o file.txt
cmp -s file.txt "$golden" || fail "--prompt-file with -o differs"
mkdir run && cp -r "$ckpt" run/step-7 && ln -s step-7 run/latest
sample run --prompt 'ROMEO:' --greedy --max-new-tokens 60 > run.txt
cmp -s run.txt "$golden" || fail "a run directory stands for its latest checkpoint"
expect_eq "$(s --prompt 'ROMEO:' --temperature 0 --max-new-tokens 60)" "$(cat "$golden")" "temperature 0 is greedy"
expect_eq "$(s --prompt 'ROMEO:' --echo --greedy --max-new-tokens 60)" "ROMEO:$(cat "$golden")" "--echo"

# --- JSON: ids that decode to the text, finish reasons -------------------------------------------------------------
s --prompt 'ROMEO:' --greedy --max-new-tokens 60 --json > greedy.json
expect_eq "$(jq -r .text greedy.json)" "$(cat "$golden")" "JSON text"
expect_eq "$(jq -c '[(.ids | length), .finish_reason, .prompt_tokens, .prompt, .sample]' greedy.json)" '[60,"length",6,"ROMEO:",0]' \
  "JSON fields"
jq -r '.ids | map(tostring) | join(" ")' greedy.json > ids.txt
tok-encode -v "$ckpt" --decode --format ids ids.txt > decoded.txt
expect_eq "$(cat decoded.txt)" "$(cat "$golden")" "the ids decode to the text"

# --- sampling: the same seed, the same text; another seed, another text; samples are distinct ------------------------
a=$(s --prompt 'ROMEO:' --top-p 0.9 --temperature 1.2 --seed 5 --max-new-tokens 80)
b=$(sample "$ckpt" --prompt 'ROMEO:' --top-p 0.9 --temperature 1.2 --seed 5 --max-new-tokens 80 --threads 1)
c=$(s --prompt 'ROMEO:' --top-p 0.9 --temperature 1.2 --seed 6 --max-new-tokens 80)
expect_eq "$a" "$b" "the same seed gives the same sample (on any thread count)"
[ "$a" != "$c" ] || fail "another seed gave the same sample"
s --prompt 'ROMEO:' --top-k 5 --num-samples 3 --json --max-new-tokens 30 > three.json
expect_eq "$(jq -c .sample three.json | tr '\n' ' ')" "0 1 2 " "three samples"
[ "$(jq -r .text three.json | sort -u | wc -l)" -ge 2 ] || fail "three samples are all the same"
s --prompt 'ROMEO:' --top-k 5 --num-samples 2 --max-new-tokens 20 > two.txt
expect_eq "$(grep -c '^---------------$' two.txt)" "1" "text samples are separated by a line of dashes"

# --- stop strings: the text ends before the first one ----------------------------------------------------------------
stop=$(head -c 25 "$golden" | tail -c 3)  # three characters from inside the golden text
want=$(awk -v s="$stop" 'BEGIN { RS = "\0" } { i = index($0, s); printf "%s", substr($0, 1, i - 1) }' "$golden")
s --prompt 'ROMEO:' --greedy --max-new-tokens 60 --stop "$stop" --json > stopped.json
expect_eq "$(jq -r .text stopped.json)" "$want" "text up to the stop string"
expect_eq "$(jq -r .finish_reason stopped.json)" "stop" "finish reason stop"

# --- batch: one answer line per prompt, the first line of what a single prompt gives ----------------------------------
printf 'ROMEO:\nJULIET:\n\nFirst Citizen:\n' > batch.txt
s --batch-file batch.txt --greedy --max-new-tokens 40 > answers.txt
expect_eq "$(wc -l < answers.txt | tr -d ' ')" "4" "one line per prompt (the empty one too)"
expect_eq "$(sed -n 2p answers.txt)" "$(s --prompt 'JULIET:' --greedy --max-new-tokens 40 | head -n 1)" "a batch answer"
expect_eq "$(s --batch-file batch.txt --greedy --max-new-tokens 5 --json | jq -c .index | tr '\n' ' ')" "0 1 2 3 " \
  "JSON batch indexes"

# --- few-shot: shots and template make the prompt ------------------------------------------------------------------
printf 'KING\nRICHARD\n\nQUEEN\nELIZABETH\n' > shots.txt
s --shots shots.txt --template '{input}: {output}' --prompt 'DUKE' --echo --greedy --max-new-tokens 5 --quiet > fewshot.txt
expect_eq "$(head -c 39 fewshot.txt)" "KING: RICHARD

QUEEN: ELIZABETH

DUKE: " "the few-shot prompt"
s --shots shots.txt --prompt 'DUKE' --echo --greedy --max-new-tokens 5 --quiet > verbatim.txt
expect_eq "$(head -c 35 verbatim.txt)" "KING
RICHARD

QUEEN
ELIZABETH

DUKE" "examples as written without a template"

# --- the context (32 positions): a long prompt is cut from the left with a warning; generation slides past the end ------
long=$(head -c 200 "$LMPIPE_SOURCE/tests/data/tok/tinyshakespeare.txt")
s --prompt "$long" --greedy --max-new-tokens 10 --json > long.json 2> long.err
expect_contains long.err "sample: warning: prompt: the prompt has 200 tokens, the context 32: its first 168 were dropped"
expect_eq "$(jq .prompt_tokens long.json)" "32" "the prompt keeps the context's worth of tokens"
expect_eq "$(s --prompt "$long" --greedy --max-new-tokens 10 --quiet 2>&1 >/dev/null)" "" "--quiet silences the warning"
expect_eq "$(s --prompt 'ROMEO:' --max-new-tokens 100 --json | jq '.ids | length')" "100" "generation goes past the context"

# --- unconditional: from <|endoftext|> -------------------------------------------------------------------------------
expect_eq "$(s --prompt '' --json --max-new-tokens 8 | jq -c '[.prompt_tokens, (.ids | length)]')" "[1,8]" "an empty prompt"

# --- errors ------------------------------------------------------------------------------------------------------------
expect_error 1 "sample: error: nowhere: not a checkpoint directory" sample nowhere --prompt x
mkdir bare && cp "$ckpt/config.json" "$ckpt/model.safetensors" bare/
expect_error 1 "sample: error: bare: no tokenizer files (vocab.json and merges.txt); name one with -v" sample bare --prompt x
expect_status 0 sample bare -v "$ckpt" --prompt x --max-new-tokens 2
mkdir nomodel && cp "$ckpt/config.json" nomodel/
expect_error 1 "sample: error: nomodel: no model.safetensors" sample nomodel --prompt x
expect_status 1 sample "$ckpt" -v gpt2 --prompt x
expect_contains err.txt "the model has 257 outputs but the tokenizer 50257 tokens"
expect_status 2 s --prompt x --top-p 0
expect_contains err.txt "--top-p"
expect_status 2 s --prompt x --temperature -1
expect_status 2 s --prompt x --prompt-file prompt.txt
expect_status 2 s --prompt x --template 'no fields'
expect_contains err.txt "{input}"
printf 'only an input\n' > bad-shots.txt
expect_error 1 "sample: error: bad-shots.txt:1: this example has no output line (with --template, an example is its input line followed by its output lines)" \
  s --shots bad-shots.txt --template '{input} {output}' --prompt x
expect_status 2 s --prompt x --num-samples 0
# An unsigned option refuses a minus sign (CLI11 would wrap -1 to 2^64 - 1): every program, through core/cli.
expect_status 2 s --prompt x --max-new-tokens -1
expect_contains err.txt "--max-new-tokens: '-1' is negative"
expect_status 2 sample
[ ! -e out.tmp ] && [ -z "$(ls -A | grep -F '.tmp' || true)" ] || fail "a temporary file was left behind"

done_testing
