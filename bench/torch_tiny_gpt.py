#!/usr/bin/env python3
"""examples/tiny_gpt.c in PyTorch, for make bench-gpt: the same model (nn.Embedding wte and wpe, GPT-2
blocks of nn.LayerNorm, nn.MultiheadAttention(batch_first=True) with a boolean causal mask and an MLP
Linear-GELU-Linear, ln_f, a bias-free lm_head), the same data (wamerican's a-z words, the same seeded
shuffle and 90/10 split, the same training windows from the same splitmix64 stream, the same
validation windows), AdamW with CosineAnnealingLR to lr/10 and clip_grad_norm_, the same
hyperparameters. With --init PATH it starts from the weights tiny_gpt --save-init wrote (the state
dicts have the same names), so the two runs differ only in arithmetic.
Prints the same lines as tiny_gpt: "step ...", "training speed: N tokens/s ..." and
"val loss after N steps: X".

    /usr/bin/python3 bench/torch_tiny_gpt.py [--steps N] [--threads N] [--init PATH] ...
"""
import argparse
import json
import math
import re
import struct
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB = 27
MASK64 = (1 << 64) - 1


class SplitMix64:
    """the split's shuffle and the windows' positions, as next_u64 in examples/tiny_gpt.c"""

    def __init__(self, seed):
        self.s = seed & MASK64

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & MASK64
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)


def load_words(path, split_seed=1234):
    words = []
    with open(path, "rb") as f:
        for line in f:
            w = re.split(rb"[\r\n]", line, maxsplit=1)[0]
            if 0 < len(w) < 64 and re.fullmatch(rb"[a-z]+", w):
                words.append(w.decode())
    rng = SplitMix64(split_seed)
    for i in range(len(words) - 1, 0, -1):
        j = rng.next() % (i + 1)
        words[i], words[j] = words[j], words[i]
    ntrain = len(words) * 9 // 10

    def stream(ws):
        out = []
        for w in ws:
            out.extend(ord(ch) - ord("a") + 1 for ch in w)
            out.append(0)
        return torch.tensor(out, dtype=torch.long)

    return words, ntrain, stream(words[:ntrain]), stream(words[ntrain:])


class Block(nn.Module):
    """nn_gpt_block_new: x = x + drop(attn(ln_1(x))), x = x + mlp(ln_2(x)), causal"""

    def __init__(self, n_embd, n_head, dropout=0.0):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = nn.MultiheadAttention(n_embd, n_head, dropout=dropout, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd), nn.Dropout(dropout))

    def forward(self, x, mask):
        h = self.ln_1(x)
        x = x + self.drop(self.attn(h, h, h, attn_mask=mask, need_weights=False)[0])
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, n_layer, n_head, n_embd, block_size):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(VOCAB, n_embd),
            wpe=nn.Embedding(block_size, n_embd),
            h=nn.ModuleList([Block(n_embd, n_head) for _ in range(n_layer)]),
            ln_f=nn.LayerNorm(n_embd),
        ))
        self.lm_head = nn.Linear(n_embd, VOCAB, bias=False)
        # True = may not attend (MultiheadAttention's boolean convention): the keys after the query
        self.register_buffer("mask", torch.triu(torch.ones(block_size, block_size, dtype=torch.bool), diagonal=1),
                             persistent=False)

    def forward(self, idx):
        T = idx.shape[1]
        tr = self.transformer
        x = tr.wte(idx) + tr.wpe(torch.arange(T))
        mask = self.mask[:T, :T]
        for block in tr.h:
            x = block(x, mask)
        return self.lm_head(tr.ln_f(x))


def load_safetensors(path):
    """the few lines of the safetensors format this needs: F32 and I64 tensors"""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    dtypes = {"F32": torch.float32, "I64": torch.int64}
    out = {}
    for name, v in header.items():
        if name == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[a:b]), dtype=dtypes[v["dtype"]]).reshape(v["shape"]).clone()
    return out


@torch.no_grad()
def evaluate(model, stream, nwin, T, B):
    model.eval()
    total, n = 0.0, 0
    for w in range(0, nwin - B + 1, B):
        starts = torch.arange(w, w + B) * T
        idx = starts[:, None] + torch.arange(T)
        x, y = stream[idx], stream[idx + 1]
        total += F.cross_entropy(model(x).view(-1, VOCAB), y.view(-1)).item()
        n += 1
    model.train()
    return total / n if n else float("nan")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--words", default="/usr/share/dict/american-english")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--block-size", type=int, default=32)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--val-windows", type=int, default=1024)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--init", help="initial weights from tiny_gpt --save-init (safetensors)")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    words, ntrain, train, val = load_words(a.words)
    T, B = a.block_size, a.batch_size
    val_windows = min(a.val_windows, (len(val) - 1) // T)
    eval_b = min(256, val_windows)
    warmup = a.warmup if a.warmup < a.steps else 0
    model = GPT(a.n_layer, a.n_head, a.n_embd, T)
    if a.init:
        model.load_state_dict(load_safetensors(a.init))
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=a.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=a.steps, eta_min=a.lr / 10)
    print(f"{len(words)} words ({ntrain} train, {len(words) - ntrain} validation), {len(train)} + {len(val)} characters")
    print(f"GPT (PyTorch {torch.__version__}): n_layer {a.n_layer}, n_head {a.n_head}, n_embd {a.n_embd}, block_size {T}: "
          f"{sum(q.numel() for q in model.parameters())} parameters{', from ' + a.init if a.init else ''}; "
          f"{torch.get_num_threads()} thread(s)")
    rng = SplitMix64(a.seed * 0x2545F4914F6CDD1D + 7)
    ar = torch.arange(T)
    first_val = evaluate(model, val, val_windows, T, eval_b)
    print(f"step {0:5d}  val loss {first_val:.4f} ({val_windows // eval_b * eval_b} windows)")
    t_train, train_sum, train_n, v = 0.0, 0.0, 0, float("nan")
    for step in range(1, a.steps + 1):
        t0 = time.perf_counter()
        starts = torch.tensor([rng.next() % (len(train) - T) for _ in range(B)])
        idx = starts[:, None] + ar
        x, y = train[idx], train[idx + 1]
        loss = F.cross_entropy(model(x).view(-1, VOCAB), y.view(-1))
        opt.zero_grad()
        loss.backward()
        if a.clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
        opt.step()
        sched.step()
        train_sum += loss.item()
        train_n += 1
        if step > warmup:
            t_train += time.perf_counter() - t0
        if step % a.eval_every == 0 or step == a.steps:
            v = evaluate(model, val, val_windows, T, eval_b)
            tps = (step - warmup) * B * T / t_train if step > warmup else 0.0
            print(f"step {step:5d}  train loss {train_sum / train_n:.4f}  val loss {v:.4f}  "
                  f"({t_train:.1f} s training, {tps:.0f} tokens/s)", flush=True)
            train_sum, train_n = 0.0, 0
    print(f"\ntraining speed: {(a.steps - warmup) * B * T / t_train:.0f} tokens/s (steps {warmup + 1} to {a.steps}, "
          f"batch {B} x {T}, {torch.get_num_threads()} thread(s))")
    print(f"val loss after {a.steps} steps: {v:.4f} (from {first_val:.4f}, {v / first_val:.2f}x)")


if __name__ == "__main__":
    main()
