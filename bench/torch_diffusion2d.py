#!/usr/bin/env python3
"""PyTorch side of bench/diffusion2d.sh: examples/diffusion2d.c's recipe in PyTorch.

The same data (two moons from the same splitmix64 streams, in double precision: the same
float32 points as the C program, which both print a checksum of), the same model
(MLP([x_t, timestep_embedding(t, 32, 10000)]), 34-128-128-128-2 with SiLU), the same noise
schedule, T, batches (the same reshuffled epochs), Adam with the same cosine-annealed lr, the
same sampler (Ho et al.'s Algorithm 2, sigma_t^2 = beta_t) and the same metric: the sliced
Wasserstein-1 distance over 256 evenly spaced directions to the same held-out points, next to
the Gaussian baseline and the noise floor, and the share of points off the moons (farther than 3
noise sigmas from both arcs). Only the random draws of t, the noise and the
initial weights differ (PyTorch's generator, not nn.h's).

--eval-c FILE scores the C program's samples (its --samples CSV) with this file's metric too.
Prints "key value" lines.
Usage: python3 bench/torch_diffusion2d.py [--steps N] [--schedule linear|cosine] [--seed N]
       [--eval-points N] [--threads N] [--eval-c FILE]"""
import argparse
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MOON_NOISE, MOON_SCALE, N_TRAIN, N_PROJ, EMB_DIM, CHECK_FIRST, CHECK_LAST = 0.1, 0.71, 8000, 256, 32, 10, 50
STREAM_TRAIN, STREAM_HELDOUT, STREAM_REAL2, STREAM_GAUSS, STREAM_BATCH = 1, 2, 3, 4, 5
M64 = (1 << 64) - 1


class SplitMix:                                   # examples/diffusion2d.c's rng_next, rng_uniform, rng_normal
    def __init__(self, seed, stream):
        self.s = (seed * 1000 + stream) & M64

    def next(self):
        self.s = (self.s + 0x9e3779b97f4a7c15) & M64
        z = self.s
        z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M64
        z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M64
        return z ^ (z >> 31)

    def uniform(self):
        return (self.next() >> 11) * (1.0 / 9007199254740992.0)

    def normal(self):
        u1, u2 = self.uniform(), self.uniform()
        return math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)


def make_moons(r, n):
    xy = np.empty((n, 2), np.float32)
    for i in range(n):
        upper = r.uniform() < 0.5
        th = math.pi * r.uniform()
        x, y = (math.cos(th), math.sin(th)) if upper else (1.0 - math.cos(th), 0.5 - math.sin(th))
        x += MOON_NOISE * r.normal()
        y += MOON_NOISE * r.normal()
        xy[i] = ((x - 0.5) / MOON_SCALE, (y - 0.25) / MOON_SCALE)
    return xy


def make_gaussian(r, ref, n):                     # the mean and covariance of ref, as the C program
    ref = [(float(a), float(b)) for a, b in ref]
    m = len(ref)
    mx = sum(p[0] for p in ref) / m
    my = sum(p[1] for p in ref) / m
    cxx = cxy = cyy = 0.0
    for a, b in ref:
        dx, dy = a - mx, b - my
        cxx += dx * dx
        cxy += dx * dy
        cyy += dy * dy
    cxx, cxy, cyy = cxx / (m - 1), cxy / (m - 1), cyy / (m - 1)
    l11 = math.sqrt(cxx)
    l21 = cxy / l11
    l22 = math.sqrt(cyy - l21 * l21)
    xy = np.empty((n, 2), np.float32)
    for i in range(n):
        z1, z2 = r.normal(), r.normal()
        xy[i] = (mx + l11 * z1, my + l21 * z1 + l22 * z2)
    return xy


def swd(a, b):                                    # sliced W1, N_PROJ directions at angles pi k / N_PROJ
    a, b = a.astype(np.float64), b.astype(np.float64)
    total = 0.0
    for k in range(N_PROJ):
        c, s = math.cos(math.pi * k / N_PROJ), math.sin(math.pi * k / N_PROJ)
        pa = np.sort(c * a[:, 0] + s * a[:, 1])
        pb = np.sort(c * b[:, 0] + s * b[:, 1])
        total += np.abs(pa - pb).sum() / len(a)
    return total / N_PROJ


def off_moons(xy):                               # % of points farther than 3 noise sigmas from both arcs
    x = xy[:, 0].astype(np.float64) * MOON_SCALE + 0.5
    y = xy[:, 1].astype(np.float64) * MOON_SCALE + 0.25

    def arc(cx, cy, upper):
        dx, dy = x - cx, y - cy
        on = dy >= 0 if upper else dy <= 0
        ends = np.minimum(np.hypot(dx - 1, dy), np.hypot(dx + 1, dy))
        return np.where(on, np.abs(np.hypot(dx, dy) - 1.0), ends)

    return 100.0 * np.mean(np.minimum(arc(0.0, 0.0, True), arc(1.0, 0.5, False)) > 3 * MOON_NOISE)


def schedule(kind, T):                            # betas, alphas, alphas_cumprod (float32)
    if kind == "linear":
        betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    else:                                         # Nichol and Dhariwal, s = 0.008, betas capped at 0.999
        f = lambda t: math.cos((t / T + 0.008) / 1.008 * math.pi / 2) ** 2
        betas = torch.tensor([min(1 - f(t + 1) / f(t), 0.999) for t in range(T)], dtype=torch.float64)
    betas = betas.float()
    alphas = 1 - betas
    return betas, alphas, torch.cumprod(alphas.double(), 0).float()


def timestep_embedding(t, dim, max_period=10000.0):   # guided diffusion's: [cos(t f_i), sin(t f_i)]
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class Denoiser(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(2 + EMB_DIM, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 2))

    def forward(self, x, t):
        return self.mlp(torch.cat([x, timestep_embedding(t, EMB_DIM)], 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=12000)
    ap.add_argument("--schedule", choices=["linear", "cosine"], default="linear")
    ap.add_argument("--timesteps", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--eval-points", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eval-c", metavar="FILE", help="the C program's samples (CSV) to score as well")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    n, T = a.eval_points, a.timesteps

    train = make_moons(SplitMix(a.seed, STREAM_TRAIN), N_TRAIN)
    heldout = make_moons(SplitMix(a.seed, STREAM_HELDOUT), n)
    real2 = make_moons(SplitMix(a.seed, STREAM_REAL2), n)
    gauss = make_gaussian(SplitMix(a.seed, STREAM_GAUSS), train, n)
    checksum = 0.0
    for v in heldout.reshape(-1):
        checksum += float(v)
    print("heldout_sum %.6f" % checksum)

    betas, alphas, abar = schedule(a.schedule, T)
    print("sqrt_abar_T %.4f" % math.sqrt(abar[-1].item()))
    model = Denoiser(a.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=a.steps, eta_min=0.0)
    sqrt_ab, sqrt_1mab = abar.sqrt(), (1 - abar).sqrt()
    train_t = torch.from_numpy(train)
    rb = SplitMix(a.seed, STREAM_BATCH)
    perm, pos = list(range(N_TRAIN)), N_TRAIN
    losses = []
    t0 = time.perf_counter()
    for step in range(a.steps):
        idx = []
        for _ in range(a.batch_size):              # the next batch of a reshuffled epoch (Fisher-Yates)
            if pos == N_TRAIN:
                for k in range(N_TRAIN - 1, 0, -1):
                    j = int(rb.uniform() * (k + 1))
                    perm[k], perm[j] = perm[j], perm[k]
                pos = 0
            idx.append(perm[pos])
            pos += 1
        x0 = train_t[idx]
        t = torch.randint(0, T, (len(idx),))
        noise = torch.randn_like(x0)
        xt = sqrt_ab[t, None] * x0 + sqrt_1mab[t, None] * noise
        loss = F.mse_loss(model(xt, t), noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    t_train = time.perf_counter() - t0

    t0 = time.perf_counter()
    model.eval()
    with torch.no_grad():
        x = torch.randn(n, 2)
        for t in range(T - 1, -1, -1):
            eps = model(x, torch.full((n,), t, dtype=torch.int64))
            x = (x - betas[t] / sqrt_1mab[t] * eps) / alphas[t].sqrt()
            if t > 0:
                x = x + betas[t].sqrt() * torch.randn_like(x)
    t_sample = time.perf_counter() - t0
    gen = x.numpy()

    kf, kl = min(CHECK_FIRST, a.steps), min(CHECK_LAST, a.steps)
    print("loss_first %.4f" % (sum(losses[:kf]) / kf))
    print("loss_last %.4f" % (sum(losses[-kl:]) / kl))
    print("train_s %.1f" % t_train)
    print("sample_s %.1f" % t_sample)
    for name, xy in (("torch", gen), ("gauss", gauss), ("floor", real2)):
        print("swd_%s %.4f" % (name, swd(xy, heldout)))
        print("off_%s %.2f" % (name, off_moons(xy)))
    if a.eval_c:
        c = np.loadtxt(a.eval_c, delimiter=",", skiprows=1, dtype=np.float32).reshape(-1, 2)
        if len(c) != n:
            raise SystemExit("%s has %d points; expected %d" % (a.eval_c, len(c), n))
        print("swd_nn %.4f" % swd(c, heldout))
        print("off_nn %.2f" % off_moons(c))


if __name__ == "__main__":
    main()
