#!/usr/bin/env bash
# tok-train: byte-level BPE identical to HuggingFace's BpeTrainer, files that HuggingFace tokenizers
# loads and encodes with exactly as tok-encode does, the same files on any thread count, vocabularies
# extended with special tokens (--extend), and bad input.
source "$(dirname "$0")/lib.sh"
samples="$LMPIPE_SOURCE/tests/data/tok"
reference="$LMPIPE_SOURCE/tests/reference/hf_train.py"
cat "$samples/tinyshakespeare.txt" "$samples/bench-corpus.txt" "$samples/wikitext2-valid.txt" > corpus.txt

# --- BPE: the same vocabulary and merges as HuggingFace, on any thread count --------------------------------
tok-train --model bpe --vocab-size 1200 --threads 1 -o bpe corpus.txt
python3 "$reference" bpe corpus.txt hf 1200
cmp -s bpe/merges.txt hf/merges.txt || fail "merges differ from HuggingFace's: $(diff bpe/merges.txt hf/merges.txt | head -n 4)"
expect_eq "$(jq -c 'to_entries | sort_by(.value) | map(.key)' bpe/vocab.json)" \
  "$(jq -c 'to_entries | sort_by(.value) | map(.key)' hf/vocab.json)" "vocab.json as HuggingFace's"
expect_eq "$(jq -r '."<|endoftext|>"' bpe/vocab.json)" "0" "the special token first"
expect_eq "$(wc -l < bpe/merges.txt)" "$((1200 - 257 + 1))" "merges fill the vocabulary"
tok-train --model bpe --vocab-size 1200 --threads 2 -o bpe2 corpus.txt
for f in vocab.json merges.txt tokenizer.json; do
  cmp -s "bpe/$f" "bpe2/$f" || fail "$f differs between --threads 1 and 2"
done

# --- the files load in HuggingFace and in tok-encode, and encode alike ----------------------------------------
tok-encode -v bpe --format ids "$samples/tinyshakespeare.txt" > ours.ids
tok-encode -v bpe/tokenizer.json --format ids "$samples/tinyshakespeare.txt" > ours-json.ids
python3 "$reference" encode bpe/tokenizer.json "$samples/tinyshakespeare.txt" > hf.ids
cmp -s ours.ids hf.ids || fail "HuggingFace encodes with our tokenizer.json differently: $(diff ours.ids hf.ids | head -n 4)"
cmp -s ours.ids ours-json.ids || fail "tok-encode reads tokenizer.json differently from vocab.json + merges.txt"
expect_eq "$(tok-encode -v bpe "$samples/tinyshakespeare.txt" | tok-encode -v bpe --decode | cmp - "$samples/tinyshakespeare.txt" && echo same)" "same" "round trip with a trained vocabulary"
tok-train --model bpe --vocab-size 600 --special-tokens '<s>,<pad>,</s>,<unk>' --special-tokens '<mask>' -o roberta corpus.txt
expect_eq "$(jq -c '[."<s>", ."<pad>", ."</s>", ."<unk>", ."<mask>"]' roberta/vocab.json)" "[0,1,2,3,4]" "RoBERTa's specials in order"
expect_eq "$(jq -r .post_processor.type roberta/tokenizer.json)" "RobertaProcessing" "<s> </s> framing"

# --- WordPiece: BERT's layout, loads in HuggingFace, encodes alike ------------------------------------------
tok-train --model wordpiece --vocab-size 2000 -o wp corpus.txt
expect_eq "$(sed -n '1p;2p;100p;101p;102p;103p;104p' wp/vocab.txt | tr '\n' ' ')" "[PAD] [unused0] [unused98] [UNK] [CLS] [SEP] [MASK] " "BERT's special ids"
expect_eq "$(wc -l < wp/vocab.txt)" "2000" "vocab.txt size"
grep -q '^##' wp/vocab.txt || fail "no continuation pieces"
tok-encode -v wp --format ids "$samples/wikitext2-valid.txt" > wp-ours.ids
python3 "$reference" encode-bert wp/vocab.txt "$samples/wikitext2-valid.txt" > wp-hf.ids
cmp -s wp-ours.ids wp-hf.ids || fail "HuggingFace encodes with our vocab.txt differently"
python3 "$reference" encode wp/tokenizer.json "$samples/wikitext2-valid.txt" > wp-hf-json.ids
cmp -s wp-ours.ids wp-hf-json.ids || fail "HuggingFace encodes with our tokenizer.json differently"
tok-train --model wordpiece --vocab-size 2000 --cased -o wp-cased corpus.txt
grep -q '^[A-Z]' wp-cased/vocab.txt || fail "--cased kept no upper case"
expect_eq "$(jq -r .normalizer.lowercase wp-cased/tokenizer.json)" "false" "cased tokenizer.json"

# --- bad input --------------------------------------------------------------------------------------------------
expect_error 1 "tok-train: error: --vocab-size 100 is smaller than the special tokens and the alphabet (257)" \
  tok-train --model bpe --vocab-size 100 -o small corpus.txt
[ ! -e small/vocab.json ] || fail "a failed run wrote files"
: > empty.txt
tok-train --model bpe --vocab-size 300 -o empty empty.txt
expect_eq "$(jq length empty/vocab.json)" "257" "no text: the specials and the byte alphabet"
expect_status 1 tok-train --model bpe --vocab-size 300 -o /proc/nope corpus.txt
expect_contains err.txt "tok-train: error: cannot create the output directory /proc/nope"
expect_status 2 tok-train --model sentencepiece --vocab-size 300 -o x corpus.txt
expect_status 2 tok-train --model bpe -o x corpus.txt
expect_status 1 tok-train --model bpe --vocab-size 300 -o x missing.txt
expect_eq "$(cat err.txt)" "tok-train: error: cannot open missing.txt: No such file or directory" "missing input"

# --- --extend: special tokens appended to a vocabulary, in every file, read alike by HuggingFace ----------------
tok-train --extend gpt2 --add-special '<|im_start|>' --add-special '<|im_end|>' -o chatml
expect_eq "$(jq -c '[."<|endoftext|>", ."<|im_start|>", ."<|im_end|>"] + [length]' chatml/vocab.json)" "[50256,50257,50258,50259]" \
  "GPT-2 extended: the markers at 50257 and 50258"
cmp -s <(tail -n +2 chatml/merges.txt) <(tail -n +2 "$LMPIPE_SOURCE/share/vocab/gpt2/merges.txt") || fail "--extend changed GPT-2's merges"
expect_eq "$(jq -c '[.added_tokens[] | [.id, .content, .special]]' chatml/tokenizer.json)" \
  '[[50256,"<|endoftext|>",true],[50257,"<|im_start|>",true],[50258,"<|im_end|>",true]]' "tokenizer.json's added tokens"
printf '<|im_start|>user\nHi <|im_end|> there<|im_end|>\n<|im_start|>assistant\n' > chat.txt
expect_eq "$(tok-encode -v chatml --format ids --special-in-text chat.txt | head -n 1)" "50257 7220" "--special-in-text finds a marker"
tok-encode -v chatml --format ids --special-in-text chat.txt > chat-ours.ids
python3 "$reference" encode chatml/tokenizer.json chat.txt > chat-hf.ids
cmp -s chat-ours.ids chat-hf.ids || fail "HuggingFace encodes with the extended tokenizer.json differently: $(diff chat-ours.ids chat-hf.ids | head -n 4)"
expect_eq "$(tok-encode -v chatml --format ids "$samples/messy.txt" | md5sum)" \
  "$(tok-encode -v gpt2 --format ids "$samples/messy.txt" | md5sum)" "text encodes as with GPT-2"
tok-train --extend chatml --add-special '<|im_end|>' --add-special '<tool>' -o chatml2 2> extend.err
expect_eq "$(jq -c '[."<|im_end|>", ."<tool>"]' chatml2/vocab.json)" "[50258,50259]" "a token already there keeps its id"
expect_contains extend.err "1 of the 2 tokens were in the vocabulary already"
tok-train --extend bert-base-uncased --add-special '<|im_start|>' -o bert-chat
expect_eq "$(wc -l < bert-chat/vocab.txt) $(tail -n 1 bert-chat/vocab.txt)" "30523 <|im_start|>" "WordPiece extended"
expect_eq "$(echo 'x <|im_start|>' | tok-encode -v bert-chat --format ids --special-in-text)" "1060 30522" "a WordPiece added token"
expect_status 2 tok-train --extend gpt2 -o never-extended
expect_contains err.txt "--extend needs the tokens to add"
expect_status 2 tok-train --extend gpt2 --add-special x --model bpe -o never-extended
expect_status 2 tok-train --add-special x -o never-extended
[ ! -e never-extended ] || fail "a refused --extend wrote files"

# A range error says the range in words; a failed run leaves no part of the vocabulary behind.
expect_status 2 tok-train --model bpe --vocab-size 0 -o never "$LMPIPE_SOURCE/tests/data/tok/messy.txt"
expect_contains err.txt "--vocab-size: 0 must be at least 1"
touch parent-is-a-file
expect_status 1 tok-train --model bpe --vocab-size 300 -o parent-is-a-file/vocab "$LMPIPE_SOURCE/tests/data/tok/messy.txt"
[ ! -e never ] && [ -z "$(ls -A | grep '\.tmp-')" ] || fail "a failed tok-train left files behind"

done_testing
