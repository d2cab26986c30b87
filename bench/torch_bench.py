#!/usr/bin/env python3
"""The PyTorch half of `make bench` (bench/bench.sh): the same models and the same work as
bench/train.c, on synthetic data.

Usage: python3 bench/torch_bench.py {train|infer} {mlp|cnn28|cnn48} THREADS SECONDS
       python3 bench/torch_bench.py info
  train: batch 64 of random inputs and labels, Adam(lr=1e-3), cross-entropy, train mode
         (dropout on); warm-up (at least one step, about a tenth of SECONDS), then steps until
         about SECONDS have passed. Prints: train torch <model> <threads> <threads used> <img/s>
  infer: one image per call, model.eval(), torch.no_grad(); prints the median call time:
         infer torch <model> <threads> <threads used> <microseconds>
  info:  the torch version, its CPU capability and the BLAS library it loaded (read from
         /proc/self/maps after a matmul), one "info KEY VALUE" line each.
bench.sh sets OMP_NUM_THREADS and OPENBLAS_NUM_THREADS to THREADS as well.
Timings are for comparison on one machine, never assertions."""
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):                                   # Linear(784, 128) -> ReLU -> Linear(128, 10)
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class MY_NET(nn.Module):                                # seed 002, as examples/mnist_cnn.c builds it
    def __init__(self, in_channels, size, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.pool1 = nn.MaxPool2d(2, 2)
        self.conv3 = nn.Conv2d(64, 128, 3, padding=1)
        self.pool2 = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(128 * (size // 4) * (size // 4), 512)
        self.fc2 = nn.Linear(512, num_classes)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x):
        x = self.pool1(F.relu(self.conv2(F.relu(self.conv1(x)))))
        x = self.pool2(F.relu(self.conv3(x)))
        x = self.dropout(torch.flatten(x, 1))
        x = self.dropout(F.relu(self.fc1(x)))
        return self.fc2(x)


def info():
    a = torch.randn(256, 256)
    a @ a                                               # makes sure the BLAS library is loaded
    libs = sorted({line.split()[-1] for line in open("/proc/self/maps")
                   if "blas" in line.split()[-1] or "dnnl" in line.split()[-1]})
    cap = torch.backends.cpu.get_cpu_capability() if hasattr(torch.backends, "cpu") else None
    if cap is None:                                     # torch < 2.0: read it from the build summary
        cfg = [s for s in torch.__config__.show().splitlines() if "CPU capability usage" in s]
        cap = cfg[0].split(":")[-1].strip() if cfg else "?"
    print("info torch_version %s" % torch.__version__)
    print("info torch_capability %s" % cap)
    print("info torch_libs %s" % " ".join(libs))


def main():
    if sys.argv[1:] == ["info"]:
        info()
        return
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    mode, name, threads, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    batch = 1 if mode == "infer" else 64
    if name == "mlp":
        model, x = MLP(), torch.randn(batch, 784)
    elif name in ("cnn28", "cnn48"):
        c, s = (1, 28) if name == "cnn28" else (3, 48)
        model, x = MY_NET(c, s), torch.randn(batch, c, s, s)
    else:
        sys.exit("unknown model " + name)
    y = torch.arange(batch) % 10                        # int64 labels, as nn.h's

    if mode == "train":
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        model.train()

        def step():                                     # zero_grad, forward, loss, backward, step
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss.item()

        t0 = time.perf_counter()
        warm = 0
        while warm < 1 or time.perf_counter() - t0 < 0.1 * seconds:
            step()
            warm += 1
        t0, steps, elapsed = time.perf_counter(), 0, 0.0
        while steps < 1 or elapsed < seconds:
            step()
            steps += 1
            elapsed = time.perf_counter() - t0
        rate = steps * batch / elapsed
        print("train torch %s %d %d %.1f" % (name, threads, torch.get_num_threads(), rate))
        print("train torch %-6s threads %d: %d steps in %.2f s, %.1f img/s" % (name, threads, steps, elapsed, rate),
              file=sys.stderr)
    elif mode == "infer":
        model.eval()
        times = []
        with torch.no_grad():
            t0, i = time.perf_counter(), 0
            while i < 10 or time.perf_counter() - t0 < 0.1 * seconds:
                model(x)
                i += 1
            t0 = time.perf_counter()
            while len(times) < 200000 and (len(times) < 5 or time.perf_counter() - t0 < seconds):
                a = time.perf_counter()
                model(x)
                times.append(time.perf_counter() - a)
        times.sort()
        med = times[len(times) // 2] * 1e6
        print("infer torch %s %d %d %.1f" % (name, threads, torch.get_num_threads(), med))
        print("infer torch %-6s threads %d: %d calls, median %.1f us" % (name, threads, len(times), med),
              file=sys.stderr)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
