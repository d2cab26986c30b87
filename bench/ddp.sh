#!/usr/bin/env bash
# `make bench-ddp` (also the last part of `make bench`): data parallel training on this machine,
# 1 and 2 ranks of one thread each, batch 64 per rank, synthetic data: nn.h's DDP over Open MPI
# (bench/train.c built with mpicc -DNN_MPI) next to PyTorch's DistributedDataParallel over gloo
# (bench/torch_ddp.py). Prints the throughput of all ranks together, the scaling efficiency
# (2-rank throughput / twice the 1-rank one) and nn.h's time per step in nn_ddp_sync_grads
# (the all-reduce, and any wait for the slower rank). Markdown to stdout and build/bench_ddp.md.
# Environment: BENCH_SECONDS (default 2), PYTHON (default /usr/bin/python3).
# Timings are for comparison on one machine, never assertions.
set -euo pipefail
cd "$(dirname "$0")/.."
B=build/bench
OUT=build/bench_ddp.md
SECS=${BENCH_SECONDS:-2}
PYTHON=${PYTHON:-/usr/bin/python3}
mkdir -p $B
log() { echo "[bench-ddp $(date +%H:%M:%S)] $*" >&2; }
if ! command -v mpicc >/dev/null || ! command -v mpirun >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing libopenmpi-dev openmpi-bin"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenmpi-dev openmpi-bin >/dev/null
  else
    log "Open MPI is not installed (libopenmpi-dev openmpi-bin): skipped"; exit 0
  fi
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1   # CI runs as root
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
# as bench.sh: Debian's OpenBLAS takes this CPU for an old one unless told (PyTorch's BLAS)
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -q avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; fi
HAVE_TORCH=0; $PYTHON -c 'import torch.distributed as d; assert d.is_gloo_available()' 2>/dev/null && HAVE_TORCH=1

log "mpicc -std=c99 -O2 -DNN_MPI bench/train.c"
mpicc -std=c99 -O2 -DNN_MPI bench/train.c -o $B/train_mpi -lm
RES=$B/ddp.txt
: > $RES
for m in mlp cnn28; do
  for r in 1 2; do
    log "$m, $r rank(s): nn.h"
    timeout 600 mpirun --oversubscribe --bind-to core -np $r $B/train_mpi train $m 1 $SECS >> $RES 2>/dev/null || log "FAILED: nn.h $m $r"
    if [ $HAVE_TORCH = 1 ]; then
      log "$m, $r rank(s): PyTorch"
      timeout 600 $PYTHON bench/torch_ddp.py $m $r $SECS >> $RES 2>/dev/null || log "FAILED: torch $m $r"
    fi
  done
done
{
  echo "### Data parallel, 1 thread per rank, batch 64 per rank (images/s of all ranks; higher is better)"
  echo
  echo "nn.h: nn_ddp over Open MPI $(mpirun --version 2>/dev/null | head -1 | awk '{ print $NF }'); PyTorch: DistributedDataParallel over gloo$( [ $HAVE_TORCH = 1 ] || echo ' (not installed: skipped)'). Machine: $(getconf _NPROCESSORS_ONLN) cores. Time box ${SECS} s after warm-up."
  echo
  awk '
    $1 == "train" && $2 == "nn" { v["nn", $3, 1] = $6 }
    $1 == "ddp" && $2 == "nn" { v["nn", $3, $4] = $5; sync[$3] = $6 }
    $1 == "ddp" && $2 == "torch" { v["torch", $3, $4] = $5 }
    function f(x) { return x == "" ? "n/a" : x }
    function eff(a, b) { return (a == "" || b == "" || a + 0 == 0) ? "n/a" : sprintf("%.2f", b / (2 * a)) }
    function r(a, b) { return (a == "" || b == "" || b + 0 == 0) ? "n/a" : sprintf("%.2f", a / b) }
    END {
      name["mlp"] = "MLP 784-128-10 (0.1 M parameters)"; name["cnn28"] = "MY_NET 28x28x1 (3.3 M parameters)"
      print "| workload | nn.h 1 rank | nn.h 2 ranks | nn.h efficiency | nn.h sync ms/step | PyTorch 1 rank | PyTorch 2 ranks | PyTorch efficiency | nn.h / PyTorch, 2 ranks |"
      print "|---|---|---|---|---|---|---|---|---|"
      split("mlp cnn28", M, " ")
      for (i = 1; i <= 2; i++) { m = M[i]
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name[m], f(v["nn", m, 1]), f(v["nn", m, 2]), eff(v["nn", m, 1], v["nn", m, 2]),
               f(sync[m]), f(v["torch", m, 1]), f(v["torch", m, 2]), eff(v["torch", m, 1], v["torch", m, 2]), r(v["nn", m, 2], v["torch", m, 2])
      }
    }' $RES
} > $OUT
cat $OUT
