#!/usr/bin/env bash
# make-images: captions, chats and LLaVA's conversations with their pictures into an images shard (ids with
# the placeholder, loss masks, pictures resized and cropped); paths relative to the JSON file; bad lines
# and bad pictures reported by line or counted with --skip-bad; output independent of the thread count.
source "$(dirname "$0")/lib.sh"

tok-train --extend gpt2 --add-special '<|im_start|>' --add-special '<|im_end|>' --add-special '<image>' -o vocab
mkdir -p data/pics
cp "$LMPIPE_SOURCE"/tests/data/image/{rgb.png,baseline.jpg,palette.png,flat.png} data/pics/
cat > data/set.jsonl <<'JSON'
{"image": "pics/rgb.png", "text": "A gradient."}
{"image": "pics/baseline.jpg", "messages": [{"role": "user", "content": "<image>\nWhat is this?"}, {"role": "assistant", "content": "A gradient."}]}
{"id": "7", "image": "pics/flat.png", "conversations": [{"from": "human", "value": "What is <image> this?"}, {"from": "gpt", "value": "Wide."}]}

{"image": "pics/palette.png", "messages": [{"role": "system", "content": "Look."}, {"role": "user", "content": "Colours?\n<image>"}, {"role": "assistant", "content": "Sixteen."}]}
JSON

# --- the records -------------------------------------------------------------------------------------------------------
make-images -v vocab --image-size 16 data/set.jsonl -o set.images 2> set.err
expect_contains set.err "4 pictures (1 captions, 3 chats)"
expect_eq "$(shard-cat --stats set.images | jq -c '[.kind, .records, .pixels]')" '["images",4,1024]' "4 pictures of 16 x 16"
expect_eq "$(shard-cat set.images | head -n 1)" \
  '{"ids":[50259,32,31312,13,50256],"loss_mask":[0,1,1,1,1],"image":[16,16]}' \
  "a caption: <image>, the caption and <|endoftext|>, the caption learned"
expect_eq "$(shard-cat set.images | sed -n 2p | jq -c '.ids')" \
  '[50257,7220,198,50259,198,2061,318,428,30,50258,198,50257,562,10167,198,32,31312,13,50258,198]' \
  "<|im_start|>user\\n<image>\\nWhat is this?<|im_end|>\\n<|im_start|>assistant\\nA gradient.<|im_end|>\\n"
expect_eq "$(shard-cat set.images | sed -n 2p | jq -c '.loss_mask')" \
  '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,1,1,1,0]' "the reply and its <|im_end|> learned"
expect_eq "$(shard-cat set.images | sed -n 3p | jq -c '.ids[:9]')" '[50257,7220,198,2061,318,220,50259,428,30]' \
  "LLaVA's layout, the text on each side of <image> encoded apart"
# Without the placeholder the chat's ids are make-chat's.
sed -n 5p data/set.jsonl | jq -c '.messages[1].content = "Colours?\n"' | make-chat -v vocab -q -o chat.shard
expect_eq "$(shard-cat set.images | tail -n 1 | jq -c '.ids | map(select(. != 50259))')" "$(shard-cat chat.shard | jq -c .ids)" \
  "the rest is make-chat's"
expect_eq "$(shard-cat --header set.images | jq -c '[.image_token, .image_size, .template.im_start]')" \
  '[{"content":"<image>","id":50259},16,50257]' "the header names the placeholder and the size"

# Paths are relative to the JSON file, stdin's to the current directory; the thread count changes nothing.
(cd data && make-images -v ../vocab --image-size 16 -q --threads 1 < set.jsonl > ../stdin.images)
shard-cat --pixels set.images > set.jsonl
cmp set.jsonl <(shard-cat --pixels stdin.images) || fail "stdin (paths from the current directory) differs"
make-images -v vocab --image-size 16 -q --threads 2 data/set.jsonl -o threads.images
cmp set.jsonl <(shard-cat --pixels threads.images) || fail "--threads 2 differs"
expect_eq "$(jq -c '.pixels | length' set.jsonl | sort -u)" 768 "16 x 16 x 3 bytes"
# The pixels are CLIPImageProcessor's (tests/reference/make_image_reference.py wrote them), record by record.
for pair in 1:rgb.png 2:baseline.jpg 3:flat.png 4:palette.png; do
  expect_eq "$(sed -n "${pair%%:*}p" set.jsonl | jq -c .pixels)" "$(python3 - "$LMPIPE_SOURCE/tests/data/image/expected.safetensors" \
    "${pair#*:}/16" <<'PY'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
    begin, end = header[sys.argv[2]]["data_offsets"]
    f.seek(8 + n + begin)
    print(json.dumps(list(f.read(end - begin)), separators=(",", ":")))
PY
)" "record ${pair%%:*}'s pixels: CLIPImageProcessor's of ${pair#*:}"
done
make-images -v vocab -q data/set.jsonl -o default.images
expect_eq "$(shard-cat default.images | jq -c '.image' | sort -u)" '[224,224]' "224 by default"

# --- bad lines ----------------------------------------------------------------------------------------------------------
printf 'not a picture' > data/pics/text.png
head -c 300 data/pics/rgb.png > data/pics/cut.png
bad() {  # LINE EXPECTED-MESSAGE: a file whose second line is LINE
  printf '%s\n%s\n' "$(head -n 1 data/set.jsonl)" "$1" > data/bad.jsonl
  expect_error 1 "make-images: error: data/bad.jsonl:2: $2" make-images -v vocab -q data/bad.jsonl -o never.images
  [ ! -e never.images ] || fail "a failed run left never.images"
}
bad '{"image": "pics/none.png", "text": "x"}' "cannot open data/pics/none.png: No such file or directory"
bad '{"image": "pics/text.png", "text": "x"}' "data/pics/text.png: not a PNG or JPEG file"
bad '{"image": "pics/cut.png", "text": "x"}' "data/pics/cut.png: a corrupt PNG (libpng says: the file ends inside the picture)"
bad '{"image": "pics", "text": "x"}' "data/pics: is a directory"
bad '{"text": "x"}' 'the record has no "image"'
bad '{"image": "pics/rgb.png"}' 'no "text", "messages" or "conversations" with the image'
bad '{"image": "pics/rgb.png", "text": "x", "messages": []}' 'more than one of "text", "messages" and "conversations"'
bad '{"image": "pics/rgb.png", "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}' \
  "no <image> in the conversation: nowhere for the picture to go"
bad '{"image": "pics/rgb.png", "messages": [{"role": "user", "content": "<image><image>"}, {"role": "assistant", "content": "Yo"}]}' \
  "2 <image> in the conversation: a record has one picture"
bad '{"image": "pics/rgb.png", "conversations": [{"from": "robot", "value": "<image>"}]}' \
  'conversation turn 0 is from "robot": not human, gpt or system'
bad '{"image": "pics/rgb.png", "messages": [{"role": "user", "content": "<image>"}]}' "no assistant turn: nothing to learn from"
printf '%s\n' '{"image": "pics/rgb.png", "text": "x"}' > data/one.jsonl
expect_error 1 "make-images: error: data/one.jsonl:1: data/pics/rgb.png: a PNG of 61 x 47 pixels, more than --max-pixels 2000" \
  make-images -v vocab -q --max-pixels 2000 data/one.jsonl -o never.images
# The placeholder past --max-len: nowhere to put the picture; a caption is cut at its end.
printf '%s\n' '{"image": "pics/rgb.png", "messages": [{"role": "user", "content": "Long question. <image>"}, {"role": "assistant", "content": "x"}]}' > data/long.jsonl
expect_error 1 "make-images: error: data/long.jsonl:1: the <image> is id 8 of the text, past --max-len 6" \
  make-images -v vocab -q --max-len 6 data/long.jsonl -o never.images
make-images -v vocab --image-size 8 --max-len 3 data/one.jsonl -o whole.images 2> whole.err
expect_contains whole.err "0 cut at --max-len"
expect_eq "$(shard-cat whole.images | jq -c .ids)" "[50259,87,50256]" "<image> x <|endoftext|> fits 3"
make-images -v vocab --image-size 8 --max-len 2 data/one.jsonl -o cut.images 2> cut.err
expect_contains cut.err "1 cut at --max-len"
expect_eq "$(shard-cat cut.images | jq -c .ids)" "[50259,87]" "cut at its end"

# --skip-bad counts them; the good lines are written.
cat data/set.jsonl > data/mixed.jsonl
printf '%s\n' '{"image": "pics/text.png", "text": "x"}' '{"image": 3}' >> data/mixed.jsonl
make-images -v vocab --image-size 16 --skip-bad data/mixed.jsonl -o mixed.images 2> mixed.err
expect_contains mixed.err "4 pictures (1 captions, 3 chats)"
expect_contains mixed.err "2 bad lines left out"
cmp <(shard-cat --pixels mixed.images) set.jsonl || fail "--skip-bad changed the good records"

# The vocabulary must have the placeholder, and the markers for chats (a caption needs none).
tok-train --extend gpt2 --add-special '<image>' -o captions-vocab
make-images -v captions-vocab -q --image-size 8 data/one.jsonl -o captions.images
expect_eq "$(shard-cat --stats captions.images | jq -c .records)" 1 "captions need no chat markers"
expect_error 1 "make-images: error: data/set.jsonl:2: captions-vocab: the vocabulary has no <|im_start|> or <|im_end|> for the ChatML template; tok-train --extend captions-vocab --add-special '<|im_start|>' --add-special '<|im_end|>' -o DIR writes one that has" \
  make-images -v captions-vocab -q data/set.jsonl -o never.images
tok-train --extend gpt2 --add-special '<|im_start|>' --add-special '<|im_end|>' -o chatml
expect_error 1 "make-images: error: chatml: the vocabulary has no added token <image> for the picture; tok-train --extend chatml --add-special '<image>' -o DIR writes one that has" \
  make-images -v chatml -q data/one.jsonl -o never.images
expect_status 2 make-images -v vocab --image-size 0 data/one.jsonl -o never.images
done_testing
