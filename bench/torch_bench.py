#!/usr/bin/env python3
"""The PyTorch half of `make bench` (bench/bench.sh): the same models and the same work as
bench/train.c, on synthetic data.

Usage: python3 bench/torch_bench.py {train|infer} {mlp|cnn28|cnn48} THREADS SECONDS [cpu|cuda]
       python3 bench/torch_bench.py info
       python3 bench/torch_bench.py cuda-info
  train: batch 64 of random inputs and labels, Adam(lr=1e-3), cross-entropy, train mode
         (dropout on); warm-up (at least one step, about a tenth of SECONDS), then steps until
         about SECONDS have passed. Prints: train torch <model> <threads> <threads used> <img/s>
  infer: one image per call, model.eval(), torch.no_grad(); prints the median call time:
         infer torch <model> <threads> <threads used> <microseconds>
  info:  the torch version, its CPU capability and the BLAS library it loaded (read from
         /proc/self/maps after a matmul), one "info KEY VALUE" line each.
  cuda (train only, bench/gpu.sh): the model and the batch moved with .to("cuda") once; each
         step's loss.item() waits for the GPU, and torch.cuda.synchronize() runs before each
         reading of the clock. Prints: train torch_cuda <model> <threads> <threads used> <img/s>.
  cuda-info: "info torch_version", "info torch_cuda" (the CUDA PyTorch was built with),
         "info cuda_device" (torch.cuda.get_device_name(0)) and "info tf32" (whether matmuls and
         cuDNN's convolutions may use TF32: PyTorch's defaults, left as they are).
  Without a usable CUDA device (a CPU-only PyTorch, no GPU, no driver), cuda and cuda-info
  print why on stderr and exit 3.
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


def require_cuda():
    """exit 3, saying why, unless PyTorch can use a CUDA device"""
    if torch.version.cuda is None:
        why = "PyTorch %s was built without CUDA" % torch.__version__
    elif not torch.cuda.is_available():
        why = "PyTorch %s (CUDA %s) sees no CUDA device (torch.cuda.is_available() is False)" % (
            torch.__version__, torch.version.cuda)
    else:
        return
    print("torch_bench: " + why, file=sys.stderr)
    sys.exit(3)


def main():
    if sys.argv[1:] == ["info"]:
        info()
        return
    if sys.argv[1:] == ["cuda-info"]:
        require_cuda()
        print("info torch_version %s" % torch.__version__)
        print("info torch_cuda %s" % torch.version.cuda)
        print("info cuda_device %s" % torch.cuda.get_device_name(0))
        print("info tf32 matmul %s, cudnn %s" % (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32))
        return
    if len(sys.argv) not in (5, 6):
        sys.exit(__doc__)
    mode, name, threads, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    device = sys.argv[5] if len(sys.argv) == 6 else "cpu"
    if device not in ("cpu", "cuda") or (device == "cuda" and mode != "train"):
        print("torch_bench: the device is cpu or cuda, and cuda is for train only (not %s %s)" % (mode, device),
              file=sys.stderr)
        sys.exit(2)
    if device == "cuda":
        require_cuda()
    cuda = device == "cuda"
    impl = "torch_cuda" if cuda else "torch"

    def sync():                                         # the GPU's queued work done before a clock reading
        if cuda:
            torch.cuda.synchronize()

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
    model, x, y = model.to(device), x.to(device), y.to(device)   # once: the same batch every step

    if mode == "train":
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        model.train()

        def step():                                     # zero_grad, forward, loss, backward, step
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss.item()

        sync()
        t0 = time.perf_counter()
        warm = 0
        while warm < 1 or time.perf_counter() - t0 < 0.1 * seconds:
            step()
            warm += 1
        sync()
        t0, steps, elapsed = time.perf_counter(), 0, 0.0
        while steps < 1 or elapsed < seconds:
            step()                                      # loss.item(): waits for this step on a GPU
            steps += 1
            sync()
            elapsed = time.perf_counter() - t0
        rate = steps * batch / elapsed
        print("train %s %s %d %d %.1f" % (impl, name, threads, torch.get_num_threads(), rate))
        print("train %s %-6s threads %d: %d steps in %.2f s, %.1f img/s" % (impl, name, threads, steps, elapsed, rate),
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
