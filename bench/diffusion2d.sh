#!/usr/bin/env bash
# `make bench-diffusion` (and part of `make bench`): examples/diffusion2d.c's DDPM on two moons
# next to the same recipe in PyTorch (bench/torch_diffusion2d.py): same data (the same float32
# points, checked by a checksum), model, schedule, T, batches, optimizer and lr schedule, sampler
# and metric. One table: the sliced Wasserstein-1 distance (SWD) of each model's samples to the
# held-out points and the share of points off the moons, next to a Gaussian with the data's mean
# and covariance and the noise floor (other real points), all scored by the Python script's metric (the C program's own figure for
# its samples is checked against it); the training loss; the time to train and to sample.
# Timings are for comparison on one machine, never assertions; the SWDs of the two models differ
# by their random draws (weights, t, noise), so compare them to the floor and the baseline.
#
# Environment: DIFFUSION_SCHEDULES (default "linear cosine"), DIFFUSION_THREADS (default 1),
# DIFFUSION_ARGS (more flags for both sides, e.g. "--steps 3000"), PYTHON (default /usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/.."

B=build/bench
OUT=build/bench_diffusion.md
SCHEDULES=${DIFFUSION_SCHEDULES:-linear cosine}
T=${DIFFUSION_THREADS:-1}
EXTRA=${DIFFUSION_ARGS:-}
PYTHON=${PYTHON:-/usr/bin/python3}
mkdir -p $B
log() { echo "[bench-diffusion $(date +%H:%M:%S)] $*" >&2; }

HAVE_TORCH=0; $PYTHON -c 'import torch' 2>/dev/null && HAVE_TORCH=1
make -s build/diffusion2d
T0=$(date +%s)
for s in $SCHEDULES; do
  log "nn.h, $s schedule, $T thread(s)"
  # exit 1 means its own check failed (SWD not below half the baseline's): still a row of the table
  OMP_NUM_THREADS=$T ./build/diffusion2d --schedule $s --threads $T $EXTRA --samples $B/diffusion2d_$s.csv \
    --png $B/diffusion2d_$s.png > $B/diffusion2d_nn_$s.log || log "diffusion2d exited $? (see $B/diffusion2d_nn_$s.log)"
  if [ $HAVE_TORCH = 1 ]; then
    log "PyTorch, $s schedule, $T thread(s)"
    OMP_NUM_THREADS=$T OPENBLAS_NUM_THREADS=$T $PYTHON bench/torch_diffusion2d.py --schedule $s --threads $T $EXTRA \
      --eval-c $B/diffusion2d_$s.csv > $B/diffusion2d_torch_$s.log
  fi
done

{
  echo "## make bench-diffusion ($(date +%Y-%m-%d), nn.h $(git rev-parse --short HEAD 2>/dev/null || echo "?"))"
  echo
  echo "- Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores; $T thread(s) each side"
  echo "- PyTorch: $([ $HAVE_TORCH = 1 ] && $PYTHON -c 'import torch; print(torch.__version__)' || echo "not installed: its rows are skipped")"
  echo "- Recipe (examples/diffusion2d.c's defaults${EXTRA:+, plus $EXTRA}): two moons, 8,000 training points; MLP([x_t, timestep_embedding(t, 32)]) 34-128-128-128-2 SiLU; T = 1000; Adam lr 3e-3 cosine-annealed, batch 256, 12,000 steps; 5,000 samples against 5,000 held-out points"
  echo "- SWD: sliced Wasserstein-1, 256 evenly spaced directions (lower is better). Off the moons: the share of points farther than 3 noise sigmas from both arcs (about 0.3% of real points). Loss: mean of the first 10 steps -> of the last 50. Total wall time $(( $(date +%s) - T0 )) s."
  echo
  echo "| schedule | points | SWD to held-out | off the moons | loss | train s | sample s |"
  echo "|---|---|---|---|---|---|---|"
  for s in $SCHEDULES; do
    nl=$B/diffusion2d_nn_$s.log; tl=$B/diffusion2d_torch_$s.log
    col() { awk -v p="$1" -v f=$2 'index($0, p) == 3 { print $(NF + f) }' $nl; }   # f 0: off the moons, -1: SWD
    n_swd=$(col "DDPM samples" -1); n_off=$(col "DDPM samples" 0)
    n_loss=$(sed -n 's/^mean loss of the first [0-9]* steps \([0-9.]*\), of the last [0-9]* \([0-9.]*\):.*/\1 -> \2/p' $nl)
    n_train=$(sed -n 's/.*training took \([0-9.]*\) s$/\1/p' $nl)
    n_sample=$(sed -n 's/^sampled .*(\([0-9.]*\) s);.*/\1/p' $nl)
    note=""
    if [ $HAVE_TORCH = 1 ]; then
      get() { awk -v k=$1 '$1 == k { print $2 }' $tl; }
      [ "$(get swd_nn)" = "$n_swd" ] || note=" (nn.h's own figure: $n_swd)"
      ck=$(sed -n 's/.*(sum of their coordinates \([-0-9.]*\)).*/\1/p' $nl)
      [ "$(get heldout_sum)" = "$ck" ] || note="$note (WARNING: the held-out sets differ: $ck vs $(get heldout_sum))"
      echo "| $s | nn.h DDPM | $(get swd_nn)$note | $(get off_nn)% | $n_loss | $n_train | $n_sample |"
      echo "| $s | PyTorch DDPM | $(get swd_torch) | $(get off_torch)% | $(get loss_first) -> $(get loss_last) | $(get train_s) | $(get sample_s) |"
      echo "| $s | Gaussian baseline | $(get swd_gauss) | $(get off_gauss)% | | | |"
      echo "| $s | real points (noise floor) | $(get swd_floor) | $(get off_floor)% | | | |"
    else
      echo "| $s | nn.h DDPM | $n_swd | $n_off | $n_loss | $n_train | $n_sample |"
      echo "| $s | Gaussian baseline | $(col Gaussian -1) | $(col Gaussian 0) | | | |"
      echo "| $s | real points (noise floor) | $(col "noise floor" -1) | $(col "noise floor" 0) | | | |"
    fi
  done
  echo
  echo "Pictures: $(for s in $SCHEDULES; do printf '%s ' $B/diffusion2d_$s.png; done)(with stb); logs in $B/diffusion2d_*.log"
} > $OUT
cat $OUT
