#!/usr/bin/env bash
# `make bench`: nn.h next to the alternative on the same work and the same thread count.
#   1. GEMM GFLOP/s: nn.h's nn_matmul (built with README's -O2 line and with -O3 -march=native)
#      against OpenBLAS's cblas_sgemm (bench/gemm.c), square and the models' shapes.
#   2. Training img/s, batch 64, Adam, cross-entropy, synthetic data: MLP 784-128-10, MY_NET
#      28x28x1, the seed's MY_NET 48x48x3; nn.h (bench/train.c) against PyTorch
#      (bench/torch_bench.py).
#   3. Single-image inference latency (median us per call), MLP and MY_NET 28x28x1.
#   4. Peak RSS of each training process (/usr/bin/time -v).
# Each at 1 and 2 threads. Progress goes to stderr; the markdown table to stdout and to
# build/bench.md. Timings are for comparison on one machine, never assertions.
#
# Environment: BENCH_THREADS (default "1 2"), BENCH_SECONDS (time box of each training and
# latency measurement, default 2), BENCH_GEMM_SECONDS (of each GEMM shape, default 1),
# CC (default cc), OPENBLAS_CORETYPE (see below), PYTHON (default /usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/.."

T0=$(date +%s)
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)   # other jobs on the machine make the figures noisy
B=build/bench
OUT=build/bench.md
RES=$B/results.txt
THREADS=${BENCH_THREADS:-1 2}
SECS=${BENCH_SECONDS:-2}
GEMM_SECS=${BENCH_GEMM_SECONDS:-1}
CC=${CC:-cc}
PYTHON=${PYTHON:-/usr/bin/python3}
mkdir -p $B
: > $RES

log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }

# ---- 0. prerequisites ---------------------------------------------------------------------
# OpenBLAS is the GEMM alternative, and Debian's PyTorch takes its BLAS from the system's
# libblas.so.3: without libopenblas-dev that is the slow reference BLAS, not a fair PyTorch.
# GNU time gives the peak RSS. As root, install what is missing.
find_cblas() { find /usr/include -path '*openblas-pthread*' -name cblas.h 2>/dev/null | head -1; }
missing=""
[ -n "$(find_cblas)" ] || missing="$missing libopenblas-dev"
[ -x /usr/bin/time ] || missing="$missing time"
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing$missing"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null; } ||
      log "installing$missing failed: the parts that need them are skipped"
  else
    log "missing$missing (not root): the parts that need them are skipped"
  fi
fi
CBLAS_H=$(find_cblas)
CBLAS_DIR=${CBLAS_H:+$(dirname "$CBLAS_H")}
TIME=""; [ -x /usr/bin/time ] && TIME=/usr/bin/time
HAVE_TORCH=0; $PYTHON -c 'import torch' 2>/dev/null && HAVE_TORCH=1

# ---- 1. builds ----------------------------------------------------------------------------
WARN="-Wall -Wextra"              # diagnostics only: the code generated is README's line's
O2="-std=c99 -O2"                 # README's build line
NATIVE="-std=c99 -O3 -march=native"
build() { log "$*"; "$@"; }
build $CC $O2 $WARN bench/gemm.c -o $B/gemm_nn -lm
build $CC $NATIVE $WARN bench/gemm.c -o $B/gemm_nn_native -lm
build $CC $O2 $WARN bench/train.c -o $B/train_nn -lm
if [ -n "$CBLAS_DIR" ]; then
  build $CC $O2 $WARN -DBENCH_OPENBLAS -I"$CBLAS_DIR" bench/gemm.c -o $B/gemm_blas -lopenblas -lm
fi

# ---- 2. which code each side runs ---------------------------------------------------------
CAP=$($B/gemm_nn 1 0.01 8x8x8 2>/dev/null | awk '$1 == "info" { print $3 }')
BLAS_NOTE=""
if [ -n "$CBLAS_DIR" ]; then
  core() { OPENBLAS_NUM_THREADS=1 $B/gemm_blas 1 0.01 8x8x8 2>/dev/null | awk '$1 == "info" { print $3 }'; }
  CORE=$(core)
  # Debian's OpenBLAS 0.3.21 (DYNAMIC_ARCH) does not know newer CPUs and falls back to its
  # SSE3 "Prescott" kernels, 4-5x slower here. Unless OPENBLAS_CORETYPE is already set, pick
  # the kernels this CPU can run, for OpenBLAS and for PyTorch's BLAS alike.
  if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ "$CORE" = Prescott ]; then
    flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
    want=""
    if [[ $flags == *avx512f* && $flags == *avx512bw* && $flags == *avx512vl* && $flags == *avx512dq* ]]; then want=SkylakeX
    elif [[ $flags == *avx2* && $flags == *fma* ]]; then want=Haswell; fi
    if [ -n "$want" ]; then
      export OPENBLAS_CORETYPE=$want
      BLAS_NOTE=" (OPENBLAS_CORETYPE=$want set by bench.sh: this OpenBLAS detects the CPU as $CORE)"
      CORE=$(core)
    fi
  elif [ -n "${OPENBLAS_CORETYPE:-}" ]; then
    BLAS_NOTE=" (OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE from the environment)"
  fi
  BLAS_VER=$(dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null || echo "?")
fi
TORCH_NOTE="not installed: PyTorch columns skipped"
if [ $HAVE_TORCH = 1 ]; then
  tinfo=$(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $PYTHON bench/torch_bench.py info || true)
  tv=$(awk '$2 == "torch_version" { print $3 }' <<< "$tinfo")
  tc=$(awk '$2 == "torch_capability" { print $3 }' <<< "$tinfo")
  tl=$(awk '$2 == "torch_libs" { $1 = $2 = ""; print }' <<< "$tinfo")
  # the BLAS libraries mapped into the process, e.g. openblas-pthread/libblas.so.3
  tblas=$(awk '{ for (i = 1; i <= NF; i++) { n = split($i, p, "/"); if (p[n] ~ /blas/) printf "%s%s/%s", (k++ ? ", " : ""), p[n - 1], p[n] } }' <<< "$tl")
  TORCH_NOTE="$tv (capability $tc); BLAS loaded: ${tblas:-none}"
  [[ $tl == *dnnl* ]] && TORCH_NOTE="$TORCH_NOTE, oneDNN for convolutions"
  if [[ $tl != *openblas* ]]; then
    TORCH_NOTE="$TORCH_NOTE -- WARNING: not OpenBLAS (reference BLAS?), PyTorch's figures are not fair"
    log "WARNING: PyTorch did not load OpenBLAS: $tl"
  fi
fi
log "nn.h capability: $CAP; OpenBLAS core: ${CORE:-none}$BLAS_NOTE; PyTorch: $TORCH_NOTE"

# ---- 3. measurements ----------------------------------------------------------------------
# env for a run at $1 threads: every thread pool sized alike
with_threads() { local t=$1; shift; OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t "$@"; }
# Debian's PyTorch runs its own ops on OpenMP threads and its matmuls on OpenBLAS's pthreads.
# With OpenMP's default wait policy its idle workers spin and fight OpenBLAS's threads for 2
# cores: MLP training at 2 threads measured 1,000-16,000 img/s here, against 57,000 with
# PASSIVE. PASSIVE is PyTorch's better setting here (nn.h does not use OpenMP).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

# A training run under /usr/bin/time -v: its result line, then "rss <impl> <model> <t> <t> MB"
train_run() {  # impl model threads cmd...
  local impl=$1 model=$2 t=$3; shift 3
  local tv=$B/time_${impl}_${model}_$t.txt line
  if [ -n "$TIME" ]; then
    line=$(with_threads $t $TIME -v -o $tv "$@") || { log "FAILED: $*"; return 0; }
    echo "$line"
    awk -v i=$impl -v m=$model -v t=$t '/Maximum resident set size/ { printf "rss %s %s %s %s %.1f\n", i, m, t, t, $NF / 1024 }' $tv
  else
    with_threads $t "$@" || log "FAILED: $*"
  fi
}

# GEMM: shape by shape, the three builds one after the other, so that a burst of other work
# on the machine hits all three alike
SHAPES=$($B/gemm_nn list)
for t in $THREADS; do
  log "GEMM, $t thread(s): nn.h -O2, nn.h -O3 -march=native${CBLAS_DIR:+, OpenBLAS}"
  for s in $SHAPES; do
    with_threads $t $B/gemm_nn $t $GEMM_SECS $s > $B/gemm.out || log "FAILED: gemm_nn $s"
    grep '^gemm' $B/gemm.out >> $RES || true
    with_threads $t $B/gemm_nn_native $t $GEMM_SECS $s > $B/gemm.out || log "FAILED: gemm_nn_native $s"
    sed -n 's/^gemm nn /gemm nn_native /p' $B/gemm.out >> $RES
    if [ -n "$CBLAS_DIR" ]; then
      with_threads $t $B/gemm_blas $t $GEMM_SECS $s > $B/gemm.out || log "FAILED: gemm_blas $s"
      grep '^gemm' $B/gemm.out >> $RES || true
    fi
  done
done

for t in $THREADS; do
  for m in mlp cnn28 cnn48; do
    log "training $m, $t thread(s): nn.h"
    train_run nn $m $t $B/train_nn train $m $t $SECS >> $RES
    if [ $HAVE_TORCH = 1 ]; then
      log "training $m, $t thread(s): PyTorch"
      train_run torch $m $t $PYTHON bench/torch_bench.py train $m $t $SECS >> $RES
    fi
  done
  for m in mlp cnn28; do
    log "inference latency $m, $t thread(s): nn.h"
    with_threads $t $B/train_nn infer $m $t $SECS >> $RES || log "FAILED: nn.h infer $m"
    if [ $HAVE_TORCH = 1 ]; then
      log "inference latency $m, $t thread(s): PyTorch"
      with_threads $t $PYTHON bench/torch_bench.py infer $m $t $SECS >> $RES || log "FAILED: torch infer $m"
    fi
  done
done

# ---- 4. the table -------------------------------------------------------------------------
WALL=$(( $(date +%s) - T0 ))
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
REV=$(git rev-parse --short HEAD 2>/dev/null || echo "?")
git diff --quiet HEAD -- nn.h 2>/dev/null || REV="$REV + uncommitted nn.h"
{
  echo "## make bench ($(date +%Y-%m-%d), nn.h $REV)"
  echo
  echo "- Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores; threads under test: $THREADS; load average at the start $LOAD, at the end $LOAD_END (this bench keeps one core busy at 1 thread, two at 2; more means other jobs shared the machine and the 2-thread rows are not reliable)"
  echo "- nn.h: CPU capability ${CAP:-?}; GEMM built with \`$CC $O2\` and \`$CC $NATIVE\`; training and latency with \`$CC $O2\`"
  echo "- OpenBLAS ${BLAS_VER:-not installed}: core ${CORE:-n/a}$BLAS_NOTE"
  echo "- PyTorch: $TORCH_NOTE"
  echo "- Same thread count on both sides: nn_set_num_threads / openblas_set_num_threads / torch.set_num_threads, and OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = threads; OMP_WAIT_POLICY=$OMP_WAIT_POLICY"
  echo "- Every ratio is > 1 where nn.h is better. Time box: ${GEMM_SECS} s per GEMM shape, ${SECS} s per training or latency run, after warm-up. Total wall time ${WALL} s."
  echo
  awk -v nthreads="$THREADS" '
    function fmt(v) { return v == "" ? "n/a" : v }
    function ratio(a, b,   r) {
      if (a == "" || b == "" || b + 0 == 0) return "n/a"
      r = a / b
      return sprintf(r >= 100 ? "%.0f" : r >= 0.1 ? "%.2f" : "%.2g", r)
    }
    # mark an nn.h figure measured on fewer threads than asked
    function nnval(key,   v) { v = fmt(val[key]); if (val[key] != "" && used[key] != thr[key]) { v = v " \xe2\x80\xa0"; dagger = 1 } return v }
    {
      kind = $1; impl = $2
      if (kind == "gemm") { w = $5; t = $3; u = $4; v = $6 } else { w = $3; t = $4; u = $5; v = $6 }
      key = kind SUBSEP impl SUBSEP w SUBSEP t
      val[key] = v; used[key] = u; thr[key] = t
      if (!((kind, w) in seen)) { seen[kind, w] = 1; order[kind, ++n[kind]] = w }
    }
    END {
      nt = split(nthreads, T, " ")
      name["mlp"] = "MLP 784-128-10"; name["cnn28"] = "MY_NET 28x28x1"; name["cnn48"] = "MY_NET 48x48x3 (seed exact)"
      print "### GEMM, GFLOP/s (higher is better; ratio = nn.h / OpenBLAS)"
      print ""
      print "| C = A @ B, M x K @ K x N | threads | nn.h -O2 | nn.h -O3 -march=native | OpenBLAS | ratio -O2 | ratio native |"
      print "|---|---|---|---|---|---|---|"
      for (i = 1; i <= n["gemm"]; i++) for (j = 1; j <= nt; j++) {
        w = order["gemm", i]; t = T[j]; split(w, d, "x")
        a = val["gemm", "nn", w, t]; b = val["gemm", "nn_native", w, t]; c = val["gemm", "openblas", w, t]
        printf "| %s x %s @ %s x %s | %s | %s | %s | %s | %s | %s |\n", d[1], d[2], d[2], d[3], t,
               nnval("gemm" SUBSEP "nn" SUBSEP w SUBSEP t), nnval("gemm" SUBSEP "nn_native" SUBSEP w SUBSEP t), fmt(c), ratio(a, c), ratio(b, c)
      }
      print ""
      print "### Training, images/s, batch 64, Adam, cross-entropy (higher is better; ratio = nn.h / PyTorch)"
      print ""
      print "| workload | threads | nn.h | PyTorch | ratio |"
      print "|---|---|---|---|---|"
      for (i = 1; i <= n["train"]; i++) for (j = 1; j <= nt; j++) {
        w = order["train", i]; t = T[j]; a = val["train", "nn", w, t]; b = val["train", "torch", w, t]
        printf "| %s | %s | %s | %s | %s |\n", name[w], t, nnval("train" SUBSEP "nn" SUBSEP w SUBSEP t), fmt(b), ratio(a, b)
      }
      print ""
      print "### Single-image inference, median us per call, eval mode, grad off (lower is better; ratio = PyTorch / nn.h)"
      print ""
      print "| workload | threads | nn.h us | PyTorch us | ratio |"
      print "|---|---|---|---|---|"
      for (i = 1; i <= n["infer"]; i++) for (j = 1; j <= nt; j++) {
        w = order["infer", i]; t = T[j]; a = val["infer", "nn", w, t]; b = val["infer", "torch", w, t]
        printf "| %s | %s | %s | %s | %s |\n", name[w], t, nnval("infer" SUBSEP "nn" SUBSEP w SUBSEP t), fmt(b), ratio(b, a)
      }
      print ""
      print "### Peak RSS of the training process, MB (lower is better; ratio = PyTorch / nn.h)"
      print ""
      print "| workload | threads | nn.h MB | PyTorch MB | ratio |"
      print "|---|---|---|---|---|"
      for (i = 1; i <= n["rss"]; i++) for (j = 1; j <= nt; j++) {
        w = order["rss", i]; t = T[j]; a = val["rss", "nn", w, t]; b = val["rss", "torch", w, t]
        printf "| %s | %s | %s | %s | %s |\n", name[w], t, fmt(a), fmt(b), ratio(b, a)
      }
      print ""
      print "PyTorch RSS includes the Python interpreter and libtorch (a few hundred MB before any tensor)."
      if (dagger) print "\xe2\x80\xa0 nn.h ran on fewer threads than asked (nn_set_num_threads returned less: a build without threads?)."
    }' $RES
} > $OUT
cat $OUT
log "done in $(( $(date +%s) - T0 )) s; table in $OUT, raw lines in $RES"
