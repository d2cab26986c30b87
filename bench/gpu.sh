#!/usr/bin/env bash
# `make bench-gpu` (and the last part of `make bench`): GPU training throughput of nn.h
# (nn_cuda.h: bench/train.c built by nvcc as CUDA C++, `train train MODEL 1 SECONDS cuda`) next to
# PyTorch on the same GPU (bench/torch_bench.py ... cuda): MLP 784-128-10, MY_NET 28x28x1 and the
# seed's MY_NET 48x48x3, batch 64, Adam, cross-entropy, synthetic data (one batch, moved to the GPU
# once), each step's loss read back to the host (nn_item / loss.item(), which waits for the GPU).
# Where there is no GPU (or no nvcc, or the build fails) it prints the section with "skipped: <why>"
# and exits 0; where PyTorch cannot use the GPU its column is n/a, with the reason.
# Progress goes to stderr; the markdown to stdout and to build/bench_gpu.md. Timings are for
# comparison on one machine, never assertions.
#
# Environment: BENCH_SECONDS (time box of each run, default 2), NVCC (default the Makefile's,
# /usr/local/cuda/bin/nvcc, else nvcc on the PATH), PYTHON (default: the first of /usr/bin/python3 and
# python3 on the PATH whose PyTorch sees a GPU, else one that has PyTorch), BENCH_GPU_MODELS (default
# "mlp cnn28 cnn48"), BENCH_GPU_TRAIN (an nn.h binary to run instead of building build/bench/train_cuda,
# e.g. one built with NN_CUDA_EMULATE to try this script without a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."

B=build/bench
OUT=build/bench_gpu.md
RES=$B/gpu_results.txt
SECS=${BENCH_SECONDS:-2}
MODELS=${BENCH_GPU_MODELS:-mlp cnn28 cnn48}
TITLE="### GPU training (nn_cuda.h vs PyTorch on the same GPU)"
mkdir -p $B
log() { echo "[bench-gpu $(date +%H:%M:%S)] $*" >&2; }

# the section with the reason (and PyTorch's state), to stdout and to $OUT (so no stale table stays
# there); exit 0
skip() {
  { echo "$TITLE"; echo; echo "skipped: $1"; echo; echo "PyTorch: $TORCH_NOTE"; } > $OUT
  cat $OUT
  log "skipped: $1"
  exit 0
}

# ---- PyTorch: which python, and whether its PyTorch sees a GPU ---------------------------------
has() { "$1" -c "import torch, sys; sys.exit(0 if ($2) else 1)" >/dev/null 2>&1; }
if [ -z "${PYTHON:-}" ]; then
  cands="/usr/bin/python3 $(command -v python3 || true)"
  for p in $cands; do [ -x "$p" ] && has "$p" "torch.cuda.is_available()" && { PYTHON=$p; break; }; done
  [ -n "${PYTHON:-}" ] || for p in $cands; do [ -x "$p" ] && has "$p" True && { PYTHON=$p; break; }; done
  PYTHON=${PYTHON:-/usr/bin/python3}
fi
TORCH_OK=0
if ! "$PYTHON" -c 'import torch' >/dev/null 2>&1; then
  TORCH_WHY="PyTorch is not installed ($PYTHON)"
elif tinfo=$("$PYTHON" bench/torch_bench.py cuda-info 2> $B/gpu_torch_info.err); then
  TORCH_OK=1
  TORCH_NOTE="$(awk '$2 == "torch_version" { print $3 }' <<< "$tinfo") (CUDA $(awk '$2 == "torch_cuda" { print $3 }' <<< "$tinfo"), $PYTHON)"
  TORCH_GPU=$(awk '$2 == "cuda_device" { $1 = $2 = ""; sub(/^ +/, ""); print }' <<< "$tinfo")
  TORCH_NOTE="$TORCH_NOTE; its defaults, TF32 allowed: $(awk '$2 == "tf32" { $1 = $2 = ""; sub(/^ +/, ""); print }' <<< "$tinfo")"
else
  TORCH_WHY="$(sed 's/^torch_bench: //' $B/gpu_torch_info.err | tail -1) ($PYTHON)"
fi
[ $TORCH_OK = 1 ] || TORCH_NOTE="n/a: $TORCH_WHY"

# ---- nn.h: build, then ask for a GPU ------------------------------------------------------------
if [ -n "${BENCH_GPU_TRAIN:-}" ]; then
  TRAIN=$BENCH_GPU_TRAIN
  BUILD_NOTE="$TRAIN (BENCH_GPU_TRAIN)"
else
  NVCC=${NVCC:-/usr/local/cuda/bin/nvcc}
  if ! command -v "$NVCC" >/dev/null 2>&1; then
    command -v nvcc >/dev/null 2>&1 || skip "no CUDA compiler: $NVCC is not there and nvcc is not on the PATH (the nn.h side is built by nvcc)"
    NVCC=$(command -v nvcc)
  fi
  TRAIN=$B/train_cuda
  log "building $TRAIN with $NVCC (make $TRAIN)"
  if ! make --no-print-directory NVCC="$NVCC" $TRAIN > $B/train_cuda_build.log 2>&1; then
    cat $B/train_cuda_build.log >&2
    skip "the nvcc build of bench/train.c failed (make $TRAIN; log in $B/train_cuda_build.log)"
  fi
  cat $B/train_cuda_build.log >&2      # the nvcc line, and any warning
  BUILD_NOTE="$TRAIN (\`$NVCC -O2 -x cu -DNN_CUDA\`, $("$NVCC" --version | sed -n 's/.*release \([0-9.]*\).*/CUDA \1/p'))"
fi
# a short run first: exit 3 means no GPU (nn_cuda_device_count's error on stderr)
log "is there a GPU? $TRAIN train mlp 1 0.05 cuda"
set +e
"$TRAIN" train mlp 1 0.05 cuda > /dev/null 2> $B/gpu_probe.err
rc=$?
set -e
if [ $rc = 3 ]; then
  why=$(sed -n 's/^train: //p' $B/gpu_probe.err | tail -1)
  if [ $TORCH_OK = 1 ]; then why="$why (PyTorch sees $TORCH_GPU: nn.h's build and this driver do not fit?)"
  elif ! command -v nvidia-smi >/dev/null 2>&1 && [ ! -e /proc/driver/nvidia ]; then
    why="$why; this machine shows no NVIDIA driver (no nvidia-smi, no /proc/driver/nvidia)"; fi
  skip "${why:-nn.h found no CUDA GPU}"
elif [ $rc != 0 ]; then
  cat $B/gpu_probe.err >&2
  log "FAILED: nn.h's first GPU run exited $rc (the runs below will show it again)"
fi

# ---- the GPU's name ------------------------------------------------------------------------------
GPU=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1 | sed 's/, / (driver /; s/$/)/' || true)
[ -n "$GPU" ] || GPU=${TORCH_GPU:-"? (nvidia-smi not found; PyTorch cannot tell)"}

# ---- measurements --------------------------------------------------------------------------------
: > $RES
NOTES=""
# one run: its result line into $RES, its stderr shown; a failure becomes a note under the table
gpu_run() {  # label model err-prefix cmd...
  local label=$1 m=$2 prefix=$3 err=$B/gpu_${1}_$2.err rc=0 msg; shift 3
  log "training $m on the GPU, $SECS s: $label"
  OMP_NUM_THREADS=1 "$@" >> $RES 2> $err || rc=$?
  cat $err >&2
  [ $rc = 0 ] && return 0
  log "FAILED: $label $m (exit $rc)"
  msg=$(sed -n "s/^$prefix//p" $err | tail -1)
  NOTES="$NOTES- $label $m failed (exit $rc)${msg:+: $msg}"$'\n'
}
for m in $MODELS; do
  gpu_run nn.h $m "train: " "$TRAIN" train $m 1 $SECS cuda
  if [ $TORCH_OK = 1 ]; then gpu_run PyTorch $m "" "$PYTHON" bench/torch_bench.py train $m 1 $SECS cuda; fi
done

# ---- the table -----------------------------------------------------------------------------------
REV=$(git rev-parse --short HEAD 2>/dev/null || echo "?")
git diff --quiet HEAD -- nn.h nn_cuda.h 2>/dev/null || REV="$REV + uncommitted nn.h/nn_cuda.h"
{
  echo "$TITLE"
  echo
  echo "- GPU: $GPU; $(date +%Y-%m-%d), nn.h $REV"
  echo "- nn.h: $BUILD_NOTE; FP32 throughout (cuBLAS SGEMM, no TF32)"
  echo "- PyTorch: $TORCH_NOTE"
  echo "- Training images/s, batch 64, Adam, cross-entropy, train mode, synthetic data (one batch moved to the GPU once); each step reads its loss back (nn_item / loss.item()), which waits for the GPU; one host thread each; ${SECS} s per run after warm-up. Higher is better; ratio > 1 where nn.h is faster. Timings are never assertions."
  echo
  awk -v models="$MODELS" '
    function fmt(v) { return v == "" ? "n/a" : v }
    function ratio(a, b,   r) {
      if (a == "" || b == "" || b + 0 == 0) return "n/a"
      r = a / b
      return sprintf(r >= 100 ? "%.0f" : r >= 0.1 ? "%.2f" : "%.2g", r)
    }
    $1 == "train" { val[$2, $3] = $6 }
    END {
      name["mlp"] = "MLP 784-128-10"; name["cnn28"] = "MY_NET 28x28x1"; name["cnn48"] = "MY_NET 48x48x3 (seed exact)"
      print "| workload | nn.h img/s | PyTorch img/s | ratio (nn.h/PyTorch) |"
      print "|---|---|---|---|"
      n = split(models, M, " ")
      for (i = 1; i <= n; i++) {
        m = M[i]; a = val["nn_cuda", m]; b = val["torch_cuda", m]
        printf "| %s | %s | %s | %s |\n", (m in name) ? name[m] : m, fmt(a), fmt(b), ratio(a, b)
      }
    }' $RES
  if [ -n "$NOTES" ]; then echo; printf '%s' "$NOTES"; fi
} > $OUT
cat $OUT
log "table in $OUT, raw lines in $RES"
