#!/usr/bin/python3
"""../shared/bench/torch_ref.py's training steps under PyTorch's CPU mixed precision: the forward (and so
its backward) in torch.autocast("cpu", dtype=torch.bfloat16), fp32 master weights and AdamW, denormals
flushed as bench/torch_ftz.py. PyTorch's bf16 products on CPU are oneDNN's, as lmpipe's.
  bench/torch_autocast.py gpt-train|bert-train [torch_ref.py options]
Prints torch_ref.py's RESULT line with precision=bf16-autocast appended. PyTorch 1.13's CPU autocast leaves
layer_norm out of its fp32 list (CUDA's autocast has it), and its kernel refuses a bf16 input with fp32
weights (BERT's MLM transform); here layer_norm takes its input in fp32, as on CUDA."""
import contextlib, io, os, runpy, sys

import torch

torch.set_flush_denormal(True)
plain_layer_norm = torch.nn.functional.layer_norm
torch.nn.functional.layer_norm = lambda x, *args, **kwargs: plain_layer_norm(x.float(), *args, **kwargs)
ref = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "bench", "torch_ref.py")
module = runpy.run_path(ref, run_name="torch_ref")
for name in ("GPT", "BERT"):
    cls = module[name]
    plain_forward = cls.forward

    def forward(self, *args, _plain=plain_forward, **kwargs):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return _plain(self, *args, **kwargs).float()

    cls.forward = forward
sys.argv = [ref] + sys.argv[1:]
out = io.StringIO()
with contextlib.redirect_stdout(out):
    module["main"]()
for line in out.getvalue().splitlines():
    print(line + (" precision=bf16-autocast" if line.startswith("RESULT") else ""))
