#!/usr/bin/env python3
"""The PyTorch half of bench/ddp.sh: DistributedDataParallel over gloo on this machine, the
same models and work as bench/train.c built with NN_MPI.

Usage: python3 bench/torch_ddp.py {mlp|cnn28} RANKS SECONDS
  RANKS processes (torch.multiprocessing), one thread each, batch 64 on each rank, Adam(lr=1e-3),
  cross-entropy, synthetic data. Rank 0 fixes the step count from its warm-up and broadcasts it,
  so every rank runs the same. 1 rank: the plain model, no DDP. Prints
      ddp torch <model> <ranks> <img/s, all ranks>
Timings are for comparison on one machine, never assertions."""
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_bench import MLP, MY_NET  # noqa: E402  the models of bench/torch_bench.py


def run(rank, world, name, seconds, port):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(0)
    if name == "mlp":
        model, x = MLP(), torch.randn(64, 784)
    else:
        model, x = MY_NET(1, 28), torch.randn(64, 1, 28, 28)
    y = torch.arange(64) % 10
    net = DistributedDataParallel(model) if world > 1 else model
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()

    # warm-up: one step, then as many as fill a tenth of SECONDS; every rank runs rank 0's
    # counts (a DDP step holds collectives: every rank must run the same number)
    t0 = time.perf_counter()
    step()
    plan = torch.tensor([1 + int(0.1 * seconds / (time.perf_counter() - t0))])
    dist.broadcast(plan, 0)
    t0 = time.perf_counter()
    for _ in range(int(plan.item())):
        step()
    plan = torch.tensor([1 + int(seconds / ((time.perf_counter() - t0) / int(plan.item())))])
    dist.broadcast(plan, 0)
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(int(plan.item())):
        step()
    dist.barrier()
    elapsed = time.perf_counter() - t0
    if rank == 0:
        print("ddp torch %s %d %.1f" % (name, world, world * int(plan.item()) * 64 / elapsed), flush=True)
    dist.destroy_process_group()


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("mlp", "cnn28"):
        sys.exit(__doc__)
    name, world, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    port = 29500 + os.getpid() % 1000
    mp.spawn(run, args=(world, name, seconds, port), nprocs=world, join=True)


if __name__ == "__main__":
    main()
