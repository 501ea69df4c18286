#!/usr/bin/env python3
"""The ids and assistant mask transformers' apply_chat_template gives for each conversation of a JSON-lines
file, with the ChatML template and a vocabulary extended with <|im_start|> and <|im_end|>
(tok-train --extend): one JSON line {"ids": [...], "loss_mask": [...]} per conversation, what
`make-chat | shard-cat` prints for the same file. The mask comes from the template's {% generation %}
blocks (return_assistant_tokens_mask): the assistant's contents and the <|im_end|> closing each.
Needs transformers (PyPI); its output for tests/data/chat/conversations.jsonl is committed beside it as
conversations.hf.jsonl, which tests/cli/make_chat_test.sh compares make-chat with:

  tests/reference/chat_template_ids.py VOCAB_DIR tests/data/chat/conversations.jsonl > tests/data/chat/conversations.hf.jsonl

where VOCAB_DIR is `tok-train --extend share/vocab/gpt2 --add-special '<|im_start|>' --add-special '<|im_end|>'`.
"""
import json, os, sys

from tokenizers import processors
from transformers import PreTrainedTokenizerFast

CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' }}"
          "{% if message['role'] == 'assistant' %}{% generation %}{{ message['content'] + '<|im_end|>' }}"
          "{% endgeneration %}{{ '\\n' }}{% else %}{{ message['content'] + '<|im_end|>' + '\\n' }}{% endif %}"
          "{% endfor %}")


def main():
    vocab_dir, conversations = sys.argv[1:3]
    tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(vocab_dir, "tokenizer.json"))
    # The mask maps the template's character ranges to tokens by offsets: the post-processor must keep them
    # untrimmed (as GPT-2's tokenizer.json and tok-train's do), or a content's leading space is in no token
    # and transformers drops the mask of the whole conversation.
    tok.backend_tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    with open(conversations, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            out = tok.apply_chat_template(json.loads(line)["messages"], chat_template=CHATML, tokenize=True,
                                          return_dict=True, return_assistant_tokens_mask=True)
            print(json.dumps({"ids": out["input_ids"], "loss_mask": out["assistant_masks"]}, separators=(",", ":")))


if __name__ == "__main__":
    main()
