#!/usr/bin/env bash
# pretrain --arch llava: a CLIP vision tower, a projector and a GPT-2 decoder trained on images shards; from
# nothing, from a GPT and a CLIP vision tower (CLIPVisionModel's files), with LLaVA's frozen stages; exact
# --resume; LlavaForConditionalGeneration's checkpoint files; refusals.
source "$(dirname "$0")/lib.sh"
export OMP_WAIT_POLICY=PASSIVE

python3 "$LMPIPE_SOURCE/examples/vision/shapes.py" make -o shapes --train 48 --test 16 --size 32 --seed 2 > /dev/null
tok-train --extend gpt2 --add-special '<|im_start|>' --add-special '<|im_end|>' --add-special '<image>' -q -o vocab
make-images -v vocab --image-size 32 --max-len 40 -q shapes/train.jsonl -o train.images
make-images -v vocab --image-size 32 --max-len 40 -q shapes/test.jsonl -o test.images
make-images -v vocab --image-size 32 --max-len 40 -q shapes/captions.jsonl -o captions.images
common=(--arch llava --data train.images --batch-size 8 --lr 1e-3 --threads 1 --quiet)
new=(--preset gpt-nano --max-len 64 --vision vit-tiny)

# safetensors.py: tensors of model directories, read and written with Python's standard library.
cat > safetensors.py <<'PY'
import json, struct, sys
def read(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    header.pop("__metadata__", None)
    return {k: (v, data[v["data_offsets"][0]:v["data_offsets"][1]]) for k, v in header.items()}
def write(path, tensors):
    header, blobs, at = {}, [], 0
    for name, (info, blob) in tensors.items():
        header[name] = {"dtype": info["dtype"], "shape": info["shape"], "data_offsets": [at, at + len(blob)]}
        blobs.append(blob)
        at += len(blob)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
command = sys.argv[1]
if command == "part":  # part LLAVA_DIR OUT_DIR PREFIX CONFIG_KEY: one part as transformers saves it alone
    src, out, prefix, key = sys.argv[2:6]
    tensors = {k[len(prefix):]: v for k, v in read(src + "/model.safetensors").items() if k.startswith(prefix)}
    write(out + "/model.safetensors", tensors)
    json.dump(json.load(open(src + "/config.json"))[key], open(out + "/config.json", "w"))
elif command == "same":  # same A PREFIX_A B PREFIX_B: the tensors under PREFIX_A of A are B's under PREFIX_B, bit for bit
    a, pa, b, pb = sys.argv[2:6]
    ta, tb = read(a + "/model.safetensors"), read(b + "/model.safetensors")
    names = [k for k in ta if k.startswith(pa)]
    print("same" if names and all(ta[k][1] == tb[pb + k[len(pa):]][1] for k in names) else "different")
PY

# --- from nothing: every part trains; LlavaForConditionalGeneration's files; exact --resume ---------------------------------
pretrain "${common[@]}" "${new[@]}" --freeze none --val test.images --steps 4 --save-every 2 -o run
expect_eq "$(jq -c '[.architectures[0], .model_type, .image_token_index, .vision_config.model_type, .text_config.model_type]' run/latest/config.json)" \
  '["LlavaForConditionalGeneration","llava",50259,"clip_vision_model","gpt2"]' "config.json"
expect_eq "$(jq -s -c '[.[] | select(.val_loss != null)] | length' run/metrics.jsonl)" 1 "a validation at the end"
expect_eq "$(jq -s -c '[.[] | select(.loss != null) | .targets > 0] | unique' run/metrics.jsonl)" '[true]' "targets every step"
[ -s run/latest/tokenizer_config.json ] || fail "no chat template for the conversations' model"
# A run killed after its step-2 checkpoint and resumed gives the weights of the one that did not stop.
mkdir resumed && cp -r run/step-2 run/metrics.jsonl resumed/ && ln -s step-2 resumed/latest
pretrain "${common[@]}" --freeze none --steps 4 -o resumed --resume
cmp run/step-4/model.safetensors resumed/step-4/model.safetensors || fail "--resume differs from the run it continues"
expect_error 2 "pretrain: error: --resume: --freeze vision differs from the run's \"none\"" \
  pretrain "${common[@]}" --steps 6 -o resumed --resume
expect_eq "$(python3 safetensors.py same run/step-2 vision_tower. run/latest vision_tower.)" different "--freeze none trains the vision tower"

# --- LLaVA's stages from a GPT and a CLIP vision tower as transformers saves them alone ---------------------------------------
mkdir gpt clip
python3 safetensors.py part run/latest gpt language_model. text_config
python3 safetensors.py part run/latest clip vision_tower. vision_config
cp vocab/vocab.json vocab/merges.txt gpt/
pretrain "${common[@]}" --init-from gpt --init-vision-from clip --freeze vision,lm --data captions.images --steps 2 -o stage1
expect_eq "$(python3 safetensors.py same stage1/latest vision_tower. clip '')" same "stage 1: the vision tower as loaded"
expect_eq "$(python3 safetensors.py same stage1/latest language_model. gpt '')" same "stage 1: the decoder as loaded"
expect_eq "$(python3 safetensors.py same stage1/latest multi_modal_projector. run/latest multi_modal_projector.)" different \
  "stage 1: a new projector, trained"
pretrain "${common[@]}" --init-from stage1 --freeze vision --steps 2 --save-every 1 -o stage2
expect_eq "$(python3 safetensors.py same stage2/latest vision_tower. clip '')" same "stage 2: the vision tower as loaded"
expect_eq "$(python3 safetensors.py same stage2/latest language_model. gpt '')" different "stage 2: the decoder trains"
# A frozen stage resumed (its gradients and moments the trained tensors' alone) ends where the whole run did.
mkdir stage2-resumed && cp -r stage2/step-1 stage2/metrics.jsonl stage2-resumed/ && ln -s step-1 stage2-resumed/latest
pretrain "${common[@]}" --freeze vision --steps 2 --save-every 1 -o stage2-resumed --resume
cmp stage2/step-2/model.safetensors stage2-resumed/step-2/model.safetensors || fail "stage 2's --resume differs"
# Gradients and AdamW's moments for the trained tensors alone (a frozen decoder's gradients besides, as scratch).
for f in none vision; do
  expect_eq "$(pretrain "${common[@]}" "${new[@]}" --freeze $f --dry-run |
    jq '.bytes_grads_and_adamw == 12 * .parameters_trained')" true "--dry-run --freeze $f: the training state's bytes"
done
expect_eq "$(pretrain "${common[@]}" "${new[@]}" --freeze vision,lm --dry-run |
  jq '.bytes_grads_and_adamw < .parameters * 4 and .parameters_trained < .parameters / 10')" true \
  "--dry-run --freeze vision,lm: the projector's state and the decoder's scratch"
pretrain --arch llava --init-from stage2 --eval-only --val test.images --threads 1 > eval.json
expect_eq "$(jq -c 'keys' eval.json)" '["loss","ppl","tokens"]' "--eval-only"
pretrain "${common[@]}" "${new[@]}" --projector linear --steps 1 -o linear
expect_eq "$(jq -r .lmpipe_projector linear/latest/config.json)" linear "LLaVA-1's projector, named for lmpipe"

# --- refusals -----------------------------------------------------------------------------------------------------------------
expect_error 2 "pretrain: error: --vision is --arch llava's" \
  pretrain --arch gpt --vision vit-tiny --data train.images --steps 1 -o never
expect_error 2 "pretrain: error: --vision makes a new vision tower, --init-vision-from loads one: give one of them" \
  pretrain "${common[@]}" --init-from gpt --vision vit-tiny --init-vision-from clip --steps 1 -o never
expect_error 2 "pretrain: error: $PWD/run/step-2 is a LLaVA model with a vision tower of its own: --vision and --init-vision-from start a new one around a GPT" \
  pretrain "${common[@]}" --init-from run/step-2 --vision vit-tiny --steps 1 -o never
expect_status 1 pretrain "${common[@]}" --init-from gpt --init-vision-from gpt --steps 1 -o never
expect_contains err.txt "config.json names the model_type \"gpt2\", not a CLIP vision tower"

# --- sample with a picture ---------------------------------------------------------------------------------------------------
sample stage2 --image shapes/pics/test-000000.png --prompt A --max-new-tokens 4 --json --num-samples 2 --seed 3 > caption.json
expect_eq "$(jq -c '[.image, .prompt, .sample, (.ids | length <= 4), .finish_reason != null]' caption.json | tr '\n' ' ')" \
  '["shapes/pics/test-000000.png","A",0,true,true] ["shapes/pics/test-000000.png","A",1,true,true] ' "a caption's JSON"
sample stage2 --messages shapes/test.jsonl --greedy --max-new-tokens 3 > answers.jsonl
expect_eq "$(jq -c '[.image, .messages[-1].role, (.reply | type)]' answers.jsonl | sort -u | wc -l | tr -d ' ')" 16 \
  "an answer to each test picture's question"
expect_eq "$(jq -r '.image' answers.jsonl | head -n 1)" "pics/test-000000.png" "the picture as the line names it"
sample stage2 --messages shapes/test.jsonl --greedy --max-new-tokens 3 --threads 2 | cmp -s - answers.jsonl ||
  fail "the answers depend on the thread count"
printf 'How many shapes are there?\n' | sample stage2 --image shapes/pics/test-000001.png --chat --greedy \
  --max-new-tokens 3 > chat.txt
expect_eq "$(wc -l < chat.txt | tr -d ' ')" 1 "a reply a user turn"
expect_error 2 "sample: error: stage2 holds a LLaVA model: give a picture with --image (or --messages)" \
  sample stage2 --prompt hello
expect_status 1 sample stage2 --image shapes/pics/none.png
expect_contains err.txt "cannot open shapes/pics/none.png"
expect_status 2 sample gpt --image shapes/pics/test-000000.png
expect_contains err.txt "--image needs a LLaVA checkpoint (pretrain --arch llava)"
done_testing
