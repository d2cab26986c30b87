#!/usr/bin/env bash
# `make bench-gpt` (and the last part of `make bench`): examples/tiny_gpt.c next to
# bench/torch_tiny_gpt.py, the same GPT (4 blocks, 4 heads, n_embd 64, block_size 32, batch 32,
# AdamW, cosine lr, clip_grad_norm_) in PyTorch, started from the same weights (tiny_gpt
# --save-init, loaded by the script) and fed the same training windows, at 1 and 2 threads.
# One table: training tokens/s of each (the first 10 steps left out as warm-up; evaluation not
# timed), their ratio, and the validation loss of each after the same number of steps.
# Timings are for comparison on one machine, never assertions.
#
# Environment: BENCH_THREADS (default "1 2"), BENCH_GPT_STEPS (default 300), CC (default cc),
# PYTHON (default /usr/bin/python3), OPENBLAS_CORETYPE (see bench/bench.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

B=build/bench
OUT=build/bench_gpt.md
THREADS=${BENCH_THREADS:-1 2}
STEPS=${BENCH_GPT_STEPS:-300}
CC=${CC:-cc}
PYTHON=${PYTHON:-/usr/bin/python3}
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
mkdir -p $B
log() { echo "[bench-gpt $(date +%H:%M:%S)] $*" >&2; }

make --no-print-directory -s build/tiny_gpt
HAVE_TORCH=0; $PYTHON -c 'import torch' 2>/dev/null && HAVE_TORCH=1
[ $HAVE_TORCH = 1 ] || log "PyTorch not installed ($PYTHON): its columns are n/a"

# Debian's OpenBLAS 0.3.21 takes newer CPUs for "Prescott" and runs its SSE3 kernels, 4-5x slower;
# PyTorch's matmuls go through it. As bench/bench.sh: unless OPENBLAS_CORETYPE is set, pick the
# kernels this CPU runs when OpenBLAS reports Prescott.
CBLAS_H=$(find /usr/include -path '*openblas-pthread*' -name cblas.h 2>/dev/null | head -1)
BLAS_NOTE="OpenBLAS core: n/a"
if [ -n "$CBLAS_H" ] && [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  $CC -std=c99 -O2 -DBENCH_OPENBLAS -I"$(dirname "$CBLAS_H")" bench/gemm.c -o $B/gemm_blas -lopenblas -lm
  CORE=$(OPENBLAS_NUM_THREADS=1 $B/gemm_blas 1 0.01 8x8x8 2>/dev/null | awk '$1 == "info" { print $3 }')
  BLAS_NOTE="OpenBLAS core: $CORE"
  if [ "$CORE" = Prescott ]; then
    flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
    want=""
    if [[ $flags == *avx512f* && $flags == *avx512bw* && $flags == *avx512vl* && $flags == *avx512dq* ]]; then want=SkylakeX
    elif [[ $flags == *avx2* && $flags == *fma* ]]; then want=Haswell; fi
    [ -n "$want" ] && export OPENBLAS_CORETYPE=$want && BLAS_NOTE="OpenBLAS core: $CORE detected, OPENBLAS_CORETYPE=$want set"
  fi
elif [ -n "${OPENBLAS_CORETYPE:-}" ]; then
  BLAS_NOTE="OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE from the environment"
fi
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}   # see bench/bench.sh: spinning OpenMP workers fight OpenBLAS's

INIT=$B/tiny_gpt_init.safetensors
ARGS="--steps $STEPS --eval-every $STEPS"
: > $B/gpt_results.txt
for t in $THREADS; do
  log "tiny_gpt, $STEPS steps, $t thread(s): nn.h"
  OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t ./build/tiny_gpt $ARGS --samples 0 --threads $t --save-init $INIT \
    > $B/tiny_gpt_nn_$t.log || { cat $B/tiny_gpt_nn_$t.log; log "FAILED: nn.h at $t thread(s)"; }
  if [ $HAVE_TORCH = 1 ]; then
    log "tiny_gpt, $STEPS steps, $t thread(s): PyTorch"
    OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t $PYTHON bench/torch_tiny_gpt.py $ARGS --threads $t --init $INIT \
      > $B/tiny_gpt_torch_$t.log || { cat $B/tiny_gpt_torch_$t.log; log "FAILED: PyTorch at $t thread(s)"; }
  fi
  for impl in nn torch; do
    f=$B/tiny_gpt_${impl}_$t.log
    [ -f $f ] || continue
    awk -v i=$impl -v t=$t '/^training speed:/ { s = $3 } /^val loss after/ { v = $6 } END { print i, t, s, v }' $f >> $B/gpt_results.txt
  done
done

{
  echo "## make bench-gpt ($(date +%Y-%m-%d), nn.h $(git rev-parse --short HEAD 2>/dev/null || echo "?"))"
  echo
  echo "- Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores; load average at the start $LOAD, at the end $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- Model: $(grep -m1 '^GPT' $B/tiny_gpt_nn_${THREADS%% *}.log 2>/dev/null || echo '?')"
  echo "- nn.h: build/tiny_gpt (\`$CC -O3 -march=native\`, make's FAST), $(grep -m1 -o '[a-z0-9]* kernels' $B/tiny_gpt_nn_${THREADS%% *}.log 2>/dev/null || echo '?')"
  echo "- PyTorch: $($PYTHON -c 'import torch; print(torch.__version__)' 2>/dev/null || echo 'not installed'); $BLAS_NOTE; OMP_WAIT_POLICY=$OMP_WAIT_POLICY"
  echo "- Both start from the same weights (tiny_gpt --save-init) and read the same windows; same threads on both sides (nn_set_num_threads, torch.set_num_threads, OMP_NUM_THREADS = OPENBLAS_NUM_THREADS)"
  echo "- tokens/s: characters trained per second, steps 11 to $STEPS (forward, backward, clip, AdamW step); ratio > 1 where nn.h is faster"
  echo
  echo "| threads | tokens/s nn.h | tokens/s PyTorch | ratio | val loss nn.h | val loss PyTorch | after |"
  echo "|---|---|---|---|---|---|---|"
  awk -v steps=$STEPS -v threads="$THREADS" '
    { s[$1, $2] = $3; v[$1, $2] = $4 }
    function f(x) { return x == "" ? "n/a" : x }
    END {
      n = split(threads, T, " ")
      for (i = 1; i <= n; i++) {
        t = T[i]; a = s["nn", t]; b = s["torch", t]
        r = (a != "" && b != "" && b + 0 > 0) ? sprintf("%.2f", a / b) : "n/a"
        printf "| %s | %s | %s | %s | %s | %s | %s steps |\n", t, f(a), f(b), r, f(v["nn", t]), f(v["torch", t]), steps
      }
    }' $B/gpt_results.txt
} > $OUT
cat $OUT
