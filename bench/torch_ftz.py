#!/usr/bin/python3
"""../shared/bench/torch_ref.py with denormal floats flushed to zero (torch.set_flush_denormal(True)), as
lmpipe's programs run (lib/nn/runtime.cpp). On random-token data PyTorch's AdamW state fills with denormals
after a few steps and a GPT-2 124M step slows from about 5 s to 45 s here; this is PyTorch without that.
  bench/torch_ftz.py MODE [torch_ref.py options]"""
import os, runpy, sys

import torch

torch.set_flush_denormal(True)
ref = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "bench", "torch_ref.py")
sys.argv = [ref] + sys.argv[1:]
runpy.run_path(ref, run_name="__main__")
