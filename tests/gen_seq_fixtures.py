#!/usr/bin/env python3
"""Writes tests/fixtures/seq/: recurrent layers, attention and transformers (issue 9) against
PyTorch, read by tests/test_seq.c. Run with Debian's python3-torch (1.13, no safetensors package):

    /usr/bin/python3 tests/gen_seq_fixtures.py

1. Layer cases: one <case>.safetensors per line of cases.txt. Each holds
   __metadata__   "module" (RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell, MultiheadAttention,
                  TransformerEncoderLayer, GPTBlock, PositionalEncoding), the constructor's
                  arguments as strings, "nin" (how many positional inputs nn_forward_n gets; an
                  absent one in between is NULL), "nout" (how many outputs to ask for), and
                  "same_qkv" = "1" where PyTorch was called as attn(x, x, x) (in.0 stands for all three)
   <param name>   the module's state_dict under PyTorch's names (PyTorch's default init, float32)
   in.K           input K (absent: None); float32, or int64 for a boolean mask (nonzero = True)
   out.K          output K;  gout.K: an upstream gradient for it
   grad.in.K      d loss / d input K, loss = sum_k sum(out.K * gout.K)
   grad.<param>   d loss / d parameter
   The module is built in float32 and run in float64 (.double()) on float32 inputs, train mode,
   dropout 0: the fixtures hold the exact answer for nn.h's float32 result.
2. Whole models, as llm.c's test_gpt2.c: a tiny GPT (2 GPT blocks) and an LSTM language model;
   <name>.safetensors (the state_dict) and <name>_expect.safetensors (input, target, logits, loss,
   grad.<param>, and the losses of 10 AdamW steps run in float32 as PyTorch does).
3. Trained models: an nn.LSTM and an nn.TransformerEncoderLayer trained in float32 on a small task,
   trained_lstm / trained_encoder(.safetensors, _expect.safetensors with "input" and "output").
"""
import json
import math
import os
import struct
import zlib

import torch
import torch.nn as nn
import torch.nn.functional as F

here = os.path.dirname(os.path.abspath(__file__))
outdir = os.path.join(here, "fixtures", "seq")
os.makedirs(outdir, exist_ok=True)
torch.set_num_threads(1)       # reproducible float32 training runs


def save_safetensors(path, tensors, metadata=None):
    """safetensors by its spec: 8-byte little-endian header length, JSON header, raw data.
    float tensors are written as F32, int64 (and bool) as I64; metadata is a dict of strings."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for k, t in tensors.items():
        t = t.detach().contiguous()
        if t.dtype in (torch.int64, torch.int32, torch.bool):
            b, dt = t.to(torch.int64).numpy().astype("<i8").tobytes(), "I64"
        else:
            b, dt = t.float().numpy().astype("<f4").tobytes(), "F32"
        header[k] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def seed_of(name):
    torch.manual_seed(zlib.crc32(name.encode()))


def r32(*shape, scale=1.0):
    """float32 draws (then used in float64)"""
    return (torch.randn(*shape) * scale).float()


# ======================================================================
# 1. layer cases
# ======================================================================
case_names = []


def layer_case(name, meta, m, inputs, call, same_qkv=False, masks_from=99):
    """m: the module (float32, default init, made right after seed_of(name)); inputs: list (None =
    absent) of float32 tensors or int64/bool masks, drawn after it; call(module, xs) -> list of
    outputs (tensors, or None where PyTorch returns None). Inputs from masks_from on are masks
    (no gradient)."""
    state = {k: v.detach().clone() for k, v in m.state_dict().items()}
    m = m.double()
    m.train()
    xs = []
    for k, x in enumerate(inputs):
        if x is None:
            xs.append(None)
        elif x.dtype == torch.bool:
            xs.append(x.clone())
        elif x.dtype == torch.int64:
            xs.append(x.clone())
        else:
            xs.append(x.double().clone().requires_grad_(k < masks_from))
    outs = call(m, xs)
    gouts = [r32(*o.shape).double() if o is not None and o.is_floating_point() else None for o in outs]
    loss = sum((o * g).sum() for o, g in zip(outs, gouts) if g is not None)
    loss.backward()
    t = dict(state)
    for k, x in enumerate(inputs):
        if x is not None:
            t["in.%d" % k] = x
    for k, (o, g) in enumerate(zip(outs, gouts)):
        if o is not None:
            t["out.%d" % k] = o.detach()
        if g is not None:
            t["gout.%d" % k] = g
    for k, x in enumerate(xs):
        if x is not None and x.is_floating_point() and x.grad is not None:
            t["grad.in.%d" % k] = x.grad
    for k, p in m.named_parameters():
        t["grad." + k] = p.grad if p.grad is not None else torch.zeros_like(p)
    md = dict(meta)
    md["nin"] = len(inputs)
    md["nout"] = len(outs)
    if same_qkv:
        md["same_qkv"] = 1
    save_safetensors(os.path.join(outdir, name + ".safetensors"), t, md)
    case_names.append(name)


def rnn_meta(kind, i, h, nl=1, nonlin="tanh", bias=True, bf=False, bidir=False):
    return dict(module=kind, input_size=i, hidden_size=h, num_layers=nl, nonlinearity=nonlin,
                bias=int(bias), batch_first=int(bf), bidirectional=int(bidir), dropout=0)


def rnn_case(name, kind, i=4, h=6, L=5, N=3, nl=1, nonlin="tanh", bias=True, bf=False, bidir=False,
             h0=True, unbatched=False):
    seed_of(name)
    cls = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}[kind]
    kw = dict(num_layers=nl, bias=bias, batch_first=bf, bidirectional=bidir)
    if kind == "RNN":
        kw["nonlinearity"] = nonlin
    D = 2 if bidir else 1
    m = cls(i, h, **kw)
    if unbatched:
        x = r32(L, i)
        hs = (D * nl, h)
    else:
        x = r32(N, L, i) if bf else r32(L, N, i)
        hs = (D * nl, N, h)
    inputs = [x]
    if h0:
        inputs.append(r32(*hs, scale=0.5))
        if kind == "LSTM":
            inputs.append(r32(*hs, scale=0.5))

    def call(m, xs):
        if kind == "LSTM":
            if len(xs) == 3:
                out, (hn, cn) = m(xs[0], (xs[1], xs[2]))
            else:
                out, (hn, cn) = m(xs[0])
            return [out, hn, cn]
        out, hn = m(*xs)
        return [out, hn]
    layer_case(name, rnn_meta(kind, i, h, nl, nonlin, bias, bf, bidir), m, inputs, call)


for kind in ("RNN", "LSTM", "GRU"):
    k = kind.lower()
    if kind == "RNN":
        rnn_case("rnn_tanh", kind)
        rnn_case("rnn_relu", kind, nonlin="relu")
        rnn_case("rnn_relu_2layer_noh0", kind, nonlin="relu", nl=2, h0=False)
    else:
        rnn_case(k, kind)
    rnn_case(k + "_noh0", kind, h0=False)
    rnn_case(k + "_2layer", kind, nl=2)
    rnn_case(k + "_batch_first", kind, bf=True)
    rnn_case(k + "_bidir_2layer", kind, nl=2, bidir=True)
    rnn_case(k + "_bidir_batch_first_noh0", kind, bidir=True, bf=True, h0=False)
    rnn_case(k + "_nobias", kind, bias=False)
    rnn_case(k + "_unbatched", kind, unbatched=True)
    rnn_case(k + "_unbatched_noh0_2layer", kind, unbatched=True, h0=False, nl=2)
rnn_case("lstm_long_L120", "LSTM", i=3, h=6, L=120, N=2)
rnn_case("gru_long_L110", "GRU", i=3, h=6, L=110, N=2)


def cell_case(name, kind, i=4, h=5, N=3, bias=True, nonlin="tanh", hx=True, unbatched=False):
    seed_of(name)
    cls = {"RNNCell": nn.RNNCell, "LSTMCell": nn.LSTMCell, "GRUCell": nn.GRUCell}[kind]
    kw = dict(bias=bias)
    if kind == "RNNCell":
        kw["nonlinearity"] = nonlin
    m = cls(i, h, **kw)
    x = r32(i) if unbatched else r32(N, i)
    hs = (h,) if unbatched else (N, h)
    inputs = [x]
    if hx:
        inputs.append(r32(*hs, scale=0.5))
        if kind == "LSTMCell":
            inputs.append(r32(*hs, scale=0.5))

    def call(m, xs):
        if kind == "LSTMCell":
            hy, cy = m(xs[0], (xs[1], xs[2])) if len(xs) == 3 else m(xs[0])
            return [hy, cy]
        return [m(*xs)]
    meta = dict(module=kind, input_size=i, hidden_size=h, bias=int(bias), nonlinearity=nonlin)
    layer_case(name, meta, m, inputs, call)


for kind in ("RNNCell", "LSTMCell", "GRUCell"):
    k = kind[:-4].lower() + "_cell"
    cell_case(k, kind)
    cell_case(k + "_nohx", kind, hx=False)
    cell_case(k + "_unbatched", kind, unbatched=True)
    cell_case(k + "_unbatched_nohx", kind, unbatched=True, hx=False)
    cell_case(k + "_nobias", kind, bias=False)
cell_case("rnn_cell_relu", "RNNCell", nonlin="relu")


def bool_mask(*shape, p=0.3):
    """True = masked out (MultiheadAttention's convention); the last dim keeps one False per row"""
    m = torch.rand(*shape) < p
    m[..., 0] = False
    return m


def mha_case(name, E=8, H=2, L=4, S=None, N=2, bf=False, bias=True, same_qkv=False, kpm=None, am=None,
             need_weights=True, average=True, unbatched=False):
    """kpm, am: None, "bool", "float"; am may be "bool3d" / "float3d" ((N*H, L, S))"""
    seed_of(name)
    S = L if S is None else S
    m = nn.MultiheadAttention(E, H, dropout=0.0, bias=bias, batch_first=bf)

    def shp(T):
        return (T, E) if unbatched else ((N, T, E) if bf else (T, N, E))
    q = r32(*shp(L))
    if same_qkv:
        k = v = None
    else:
        k, v = r32(*shp(S)), r32(*shp(S))
    kp = None
    if kpm == "bool":
        kp = bool_mask(*((S,) if unbatched else (N, S)))
    elif kpm == "float":
        kp = r32(*((S,) if unbatched else (N, S)))
    a = None
    if am is not None:
        ashape = (L, S) if "3d" not in am else (N * H, L, S)
        a = bool_mask(*ashape) if am.startswith("bool") else r32(*ashape)
    inputs = [q, k, v, kp, a]
    while inputs and inputs[-1] is None:
        inputs.pop()
    nin = len(inputs)

    def call(m, xs):
        xs = xs + [None] * (5 - len(xs))
        qq = xs[0]
        kk = qq if same_qkv else xs[1]
        vv = qq if same_qkv else xs[2]
        out, w = m(qq, kk, vv, key_padding_mask=xs[3], attn_mask=xs[4], need_weights=need_weights,
                   average_attn_weights=average)
        return [out, w] if need_weights else [out]
    meta = dict(module="MultiheadAttention", embed_dim=E, num_heads=H, bias=int(bias), batch_first=int(bf),
                dropout=0, need_weights=int(need_weights), average_attn_weights=int(average))
    layer_case(name, meta, m, inputs[:nin], call, same_qkv=same_qkv, masks_from=3)


mha_case("mha_self", same_qkv=True)
mha_case("mha_self_batch_first", same_qkv=True, bf=True)
mha_case("mha_self_3heads", E=12, H=3, same_qkv=True, bf=True)
mha_case("mha_cross", L=3, S=5)
mha_case("mha_cross_batch_first", L=3, S=5, bf=True)
mha_case("mha_kpm_bool", L=3, S=5, kpm="bool", bf=True)
mha_case("mha_kpm_float", L=3, S=5, kpm="float")
mha_case("mha_attn_bool_2d", L=3, S=5, am="bool")
mha_case("mha_attn_float_2d", L=3, S=5, am="float")
mha_case("mha_attn_bool_3d", L=3, S=5, am="bool3d", bf=True)
mha_case("mha_attn_float_3d", L=3, S=5, am="float3d")
mha_case("mha_kpm_bool_attn_float", L=3, S=5, kpm="bool", am="float", bf=True)
mha_case("mha_kpm_bool_attn_bool", L=3, S=5, kpm="bool", am="bool")
mha_case("mha_self_kpm_bool_attn_bool3d", same_qkv=True, kpm="bool", am="bool3d", bf=True)
mha_case("mha_weights_per_head", L=3, S=5, average=False)
mha_case("mha_weights_per_head_masked", L=3, S=5, average=False, kpm="bool", am="float", bf=True)
mha_case("mha_no_weights", L=3, S=5, need_weights=False, bf=True)
mha_case("mha_self_no_weights", same_qkv=True, need_weights=False)
mha_case("mha_nobias", L=3, S=5, bias=False)
mha_case("mha_unbatched", L=3, S=5, unbatched=True)
mha_case("mha_unbatched_kpm_bool", L=3, S=5, unbatched=True, kpm="bool")


def causal_float(L):
    """nn.Transformer.generate_square_subsequent_mask: -inf above the diagonal, 0 elsewhere"""
    return torch.triu(torch.full((L, L), float("-inf")), diagonal=1)


def tel_case(name, d=8, nhead=2, ff=16, L=5, N=2, act="relu", norm_first=False, bf=False, src_mask=None, kpm=False):
    seed_of(name)
    kw = dict(dim_feedforward=ff, dropout=0.0, activation=act, batch_first=bf, norm_first=norm_first)
    m = nn.TransformerEncoderLayer(d, nhead, **kw)
    x = r32(N, L, d) if bf else r32(L, N, d)
    sm = None
    if src_mask == "causal":
        sm = causal_float(L)
    elif src_mask == "bool":
        sm = bool_mask(L, L)
    kp = bool_mask(N, L) if kpm else None
    inputs = [x, sm, kp]
    while inputs[-1] is None:
        inputs.pop()

    def call(m, xs):
        xs = xs + [None] * (3 - len(xs))
        return [m(xs[0], src_mask=xs[1], src_key_padding_mask=xs[2])]
    meta = dict(module="TransformerEncoderLayer", d_model=d, nhead=nhead, dim_feedforward=ff, dropout=0,
                activation=act, layer_norm_eps=1e-5, batch_first=int(bf), norm_first=int(norm_first))
    layer_case(name, meta, m, inputs, call, masks_from=1)


tel_case("tel_post_relu")
tel_case("tel_pre_gelu", act="gelu", norm_first=True)
tel_case("tel_batch_first", bf=True)
tel_case("tel_causal_mask", src_mask="causal")
tel_case("tel_kpm", kpm=True, bf=True)
tel_case("tel_pre_gelu_causal_kpm", act="gelu", norm_first=True, bf=True, src_mask="causal", kpm=True)
tel_case("tel_bool_mask", src_mask="bool", norm_first=True)


class GPTBlock(nn.Module):
    """nn_gpt_block_new as nn.h documents it"""

    def __init__(self, E, H, p=0.0):
        super().__init__()
        self.ln_1 = nn.LayerNorm(E)
        self.attn = nn.MultiheadAttention(E, H, dropout=p, batch_first=True)
        self.drop = nn.Dropout(p)
        self.ln_2 = nn.LayerNorm(E)
        self.mlp = nn.Sequential(nn.Linear(E, 4 * E), nn.GELU(), nn.Linear(4 * E, E), nn.Dropout(p))

    def forward(self, x):
        L = x.shape[1]
        mask = torch.ones(L, L, dtype=torch.bool, device=x.device).triu(1)     # True = masked
        h = self.ln_1(x)
        a, _ = self.attn(h, h, h, attn_mask=mask, need_weights=False)
        x = x + self.drop(a)
        return x + self.mlp(self.ln_2(x))


def gpt_case(name, E=16, H=4, L=5, N=2):
    seed_of(name)
    m = GPTBlock(E, H)
    layer_case(name, dict(module="GPTBlock", n_embd=E, n_head=H, dropout=0), m, [r32(N, L, E)],
               lambda m, xs: [m(xs[0])])


gpt_case("gpt_block")
gpt_case("gpt_block_L1", L=1, N=3)
gpt_case("gpt_block_6heads", E=12, H=6, L=7, N=1)


def sinusoidal(max_len, d):
    pos = torch.arange(max_len, dtype=torch.float64)[:, None]
    i2 = torch.arange(0, d, 2, dtype=torch.float64)
    div = torch.exp(i2 * (-math.log(10000.0) / d))
    pe = torch.zeros(max_len, d, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : d // 2]
    return pe


class PositionalEncoding(nn.Module):
    """PyTorch tutorial's: the buffer pe (max_len, 1, d_model); with batch_first too"""

    def __init__(self, d, max_len, bf):
        super().__init__()
        self.bf = bf
        self.register_buffer("pe", sinusoidal(max_len, d).float()[:, None, :])

    def forward(self, x):
        if self.bf:
            return x + self.pe[: x.shape[1], 0][None]
        return x + self.pe[: x.shape[0]]


def pe_case(name, d, max_len, L, N=2, bf=False):
    seed_of(name)
    m = PositionalEncoding(d, max_len, bf)
    x = r32(N, L, d) if bf else r32(L, N, d)

    def call(m, xs):
        m.pe = sinusoidal(max_len, d)[:, None, :]   # the exact table, not its float32 copy
        return [m(xs[0])]
    layer_case(name, dict(module="PositionalEncoding", d_model=d, max_len=max_len, batch_first=int(bf), dropout=0),
               m, [x], call)


pe_case("pe_even", 8, 12, 6)
pe_case("pe_odd_batch_first", 7, 10, 10, bf=True)
pe_case("pe_wide", 32, 20, 3)

with open(os.path.join(outdir, "cases.txt"), "w") as f:
    f.write("".join(n + "\n" for n in case_names))
print("wrote %d layer cases to %s" % (len(case_names), outdir))


# ======================================================================
# 2. whole models: a tiny GPT and an LSTM language model
# ======================================================================
class TinyGPT(nn.Module):
    def __init__(self, V=27, E=32, H=4, block=16, n_layer=2):
        super().__init__()
        self.wte = nn.Embedding(V, E)
        self.wpe = nn.Embedding(block, E)
        self.h = nn.Sequential(*[GPTBlock(E, H) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(E)
        self.lm_head = nn.Linear(E, V, bias=False)

    def forward(self, idx):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))
        return self.lm_head(self.ln_f(self.h(x)))


class LSTMLM(nn.Module):
    def __init__(self, V=27, E=16, H=32):
        super().__init__()
        self.embed = nn.Embedding(V, E)
        self.lstm = nn.LSTM(E, H, num_layers=2, batch_first=True)
        self.head = nn.Linear(H, V)

    def forward(self, idx):
        out, _ = self.lstm(self.embed(idx))
        return self.head(out)


TEXT = ("first citizen before we proceed any further hear me speak all speak speak first citizen you are "
        "all resolved rather to die than to famish all resolved resolved first citizen first you know caius "
        "marcius is chief enemy to the people")


def text_batch(B, T, seed):
    ids = torch.tensor([0 if c == " " else ord(c) - ord("a") + 1 for c in TEXT])
    g = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, len(ids) - T - 1, (B,), generator=g)
    x = torch.stack([ids[s: s + T] for s in starts])
    y = torch.stack([ids[s + 1: s + T + 1] for s in starts])
    return x, y


def whole_model(name, make, B=4, T=16, V=27):
    seed_of(name)
    model = make()
    st = {k: v.detach().clone() for k, v in model.state_dict().items()}
    save_safetensors(os.path.join(here, "fixtures", "seq", name + ".safetensors"), st)
    x, y = text_batch(B, T, zlib.crc32(name.encode()))
    exp = {"input": x, "target": y}
    m64 = make()
    m64.load_state_dict(st)
    m64 = m64.double().train()
    logits = m64(x)
    loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
    loss.backward()
    exp["logits"] = logits.detach()
    exp["loss"] = loss.detach().reshape(1)
    for k, p in m64.named_parameters():
        exp["grad." + k] = p.grad.detach().clone()
    m32 = make()
    m32.load_state_dict(st)
    m32.train()
    opt = torch.optim.AdamW(m32.parameters(), lr=1e-3, weight_decay=0.1)
    losses = []
    for _ in range(10):
        opt.zero_grad()
        l = F.cross_entropy(m32(x).reshape(-1, V), y.reshape(-1))
        l.backward()
        opt.step()
        losses.append(l.item())
    exp["losses"] = torch.tensor(losses)
    save_safetensors(os.path.join(outdir, name + "_expect.safetensors"), exp)
    print("wrote %s: %d parameters, loss %.6f; AdamW %.6f -> %.6f" % (
        name, sum(p.numel() for p in model.parameters()), loss.item(), losses[0], losses[-1]))


whole_model("tiny_gpt", lambda: TinyGPT())
whole_model("lstm_lm", lambda: LSTMLM())


# ======================================================================
# 3. trained models (float32 training in PyTorch), loaded with nn_load_model
# ======================================================================
def sine_batch(B, T, g):
    """(B, T, 1) samples of sin with random frequency and phase, and the next sample as target"""
    f = torch.rand(B, 1, generator=g) * 0.3 + 0.1
    ph = torch.rand(B, 1, generator=g) * 6.28
    t = torch.arange(T + 1, dtype=torch.float32)[None]
    s = torch.sin(f * t + ph)
    return s[:, :-1, None], s[:, 1:, None]


def train_lstm():
    seed_of("trained_lstm")
    lstm = nn.LSTM(1, 16, num_layers=2, batch_first=True)
    head = nn.Linear(16, 1)
    opt = torch.optim.Adam(list(lstm.parameters()) + list(head.parameters()), lr=1e-2)
    g = torch.Generator().manual_seed(5)
    first = None
    for step in range(300):
        x, y = sine_batch(16, 24, g)
        out, _ = lstm(x)
        loss = F.mse_loss(head(out), y)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    lstm.eval()
    x, y = sine_batch(3, 20, g)
    with torch.no_grad():
        out, (hn, cn) = lstm(x)
        pred_loss = F.mse_loss(head(out), y).item()
    save_safetensors(os.path.join(outdir, "trained_lstm.safetensors"), lstm.state_dict())
    save_safetensors(os.path.join(outdir, "trained_lstm_expect.safetensors"),
                     {"input": x, "output": out, "h_n": hn, "c_n": cn, "head.weight": head.weight, "head.bias": head.bias,
                      "target": y, "pred_loss": torch.tensor([pred_loss])})
    print("trained_lstm: next-sample MSE %.5f -> %.5f over 300 steps (held-out batch %.5f)" % (first, loss.item(), pred_loss))


def train_encoder():
    seed_of("trained_encoder")
    enc = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0, batch_first=True)
    inp = nn.Linear(1, 16)
    head = nn.Linear(16, 1)
    params = list(enc.parameters()) + list(inp.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=3e-3)
    g = torch.Generator().manual_seed(6)
    T = 12
    mask = causal_float(T)
    first = None
    for step in range(300):
        x, y = sine_batch(16, T, g)
        loss = F.mse_loss(head(enc(inp(x), src_mask=mask)), y)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y = sine_batch(3, T, g)
    with torch.no_grad():
        src = inp(x)
    enc.train()          # dropout is 0: the math of eval mode, without 1.13's fused eval path
    out = enc(src).detach()
    out_causal = enc(src, src_mask=mask).detach()
    save_safetensors(os.path.join(outdir, "trained_encoder.safetensors"), enc.state_dict())
    save_safetensors(os.path.join(outdir, "trained_encoder_expect.safetensors"),
                     {"input": src, "output": out, "src_mask": mask, "output_causal": out_causal})
    print("trained_encoder: next-sample MSE %.5f -> %.5f over 300 steps" % (first, loss.item()))


train_lstm()
train_encoder()


# ======================================================================
# 4. DDPM: the schedules (as the DDPM paper's code and improved-diffusion's betas_for_alpha_bar, in
#    float64), q(x_t | x_0) and a reverse step at t = 0 (no noise)
# ======================================================================
def ddpm_fixture():
    seed_of("ddpm")
    T = 1000
    lin = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    f = lambda t: math.cos((t / T + 0.008) / 1.008 * math.pi / 2) ** 2
    cos_b = torch.tensor([min(1 - f(i + 1) / f(i), 0.999) for i in range(T)], dtype=torch.float64)
    out = {"linear.betas": lin, "linear.alphas_cumprod": torch.cumprod(1 - lin, 0),
           "cosine.betas": cos_b, "cosine.alphas_cumprod": torch.cumprod(1 - cos_b, 0)}
    x0, noise = r32(4, 3), r32(4, 3)
    t = torch.tensor([0, 10, 500, 999])
    ac = out["linear.alphas_cumprod"]
    out.update({"x0": x0, "noise": noise, "t": t,
                "add_noise": ac[t].sqrt()[:, None] * x0.double() + (1 - ac[t]).sqrt()[:, None] * noise.double()})
    xt, eps = r32(4, 3), r32(4, 3)
    b0, a0 = lin[0], 1 - lin[0]
    out.update({"x_t": xt, "eps": eps, "step0": (xt.double() - b0 / (1 - ac[0]).sqrt() * eps.double()) / a0.sqrt()})
    save_safetensors(os.path.join(outdir, "ddpm_expect.safetensors"), out)
    print("wrote ddpm_expect: linear and cosine schedules (T %d), add_noise, step at t = 0" % T)


ddpm_fixture()
