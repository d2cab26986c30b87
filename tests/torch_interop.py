#!/usr/bin/env python3
"""Loads the safetensors files that examples/mynet.c writes into PyTorch:
mynet_model.safetensors with load_state_dict(strict=True) into seed 004's
mynet, then checks PyTorch's output on the saved input equals nn.h's.
Reads the format by its spec (8-byte little-endian header length, JSON
header, raw little-endian data); Debian has no safetensors package.
Usage: python3 tests/torch_interop.py build/   (after `make examples`)"""
import json
import os
import struct
import sys

import torch


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", e
        b, end = e["data_offsets"]
        t = torch.frombuffer(bytearray(data[8 + n + b:8 + n + end]), dtype=torch.float32)
        out[name] = t.reshape(e["shape"])
    return out


class MyNet(torch.nn.Module):
    def __init__(self, d0, d1, d2, d3):
        super().__init__()
        self.m0 = torch.nn.Linear(d0, d1)
        self.m1 = torch.nn.Linear(d1, d2)
        self.m2 = torch.nn.Linear(d2, d3)

    def forward(self, x):
        return self.m2(torch.relu(self.m1(torch.relu(self.m0(x.view(-1))))))


d = sys.argv[1] if len(sys.argv) > 1 else "build"
model = MyNet(600, 60, 40, 10)
model.load_state_dict(load_safetensors(os.path.join(d, "mynet_model.safetensors")), strict=True)
io = load_safetensors(os.path.join(d, "mynet_io.safetensors"))
with torch.no_grad():
    out = model(io["input"])
err = (out - io["output"]).abs().max().item()
print("PyTorch loaded nn.h's mynet_model.safetensors (strict); max |torch - nn.h| output difference: %.3g" % err)
sys.exit(0 if err < 1e-5 else 1)
