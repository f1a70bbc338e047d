#!/usr/bin/env bash
# Every GPU check and measurement of ms2d in one run, for a lent GPU machine with torch installed
# (run from the repository root; no install: PYTHONPATH=src). Results go to $OUT (default
# /tmp/gpu-check): 8 files at most, as the lent machines return (log.txt is one). Each step has
# its own time limit, so a slow step costs only its own results; the steps run in order of
# priority (~6 minutes on an H100; the limits add up to 12).
# Dry run on a CPU: DEV=cpu QUICK=1 bash scripts/gpu_check.sh
set -u
OUT=${OUT:-/tmp/gpu-check}
DEV=${DEV:-cuda}
Q=${QUICK:+--quick}
CONFIGS=${QUICK:+ref-n64-k9}  # the quick run has no paper config
mkdir -p "$OUT"
export PYTHONPATH=src PYTHONUNBUFFERED=1
LOG=$OUT/log.txt
step() {  # step SECONDS NAME COMMAND...: run with a limit, log, note the exit status
  local limit=$1 name=$2; shift 2
  local t0=$SECONDS
  echo "=== $name (limit ${limit}s)" | tee -a "$LOG"
  timeout "$limit" "$@" >>"$LOG" 2>&1
  echo "=== $name: rc $? in $((SECONDS - t0)) s" | tee -a "$LOG"
}
{ nvidia-smi -L; nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())"
} >>"$LOG" 2>&1
step 80 selfcheck python3 scripts/gpu_selfcheck.py "$DEV"
if [ "$DEV" = cuda ]; then
  # one masked layer, forward + backward: dense (cuDNN) / banded / diagonal; the diagonal one
  # multiplies bf16 operands into float32 sums under bf16 autocast where torch can
  for p in bf16 tf32; do
    step 50 "conv-$p" python3 benchmarks/conv_impls.py --device cuda --precision $p \
      --cases 64:9:512:16,64:5:512:32,64:5:512:128,24:5:512:32 --json "$OUT/conv-$p.json"
  done
  step 110 bench-bf16-diagonal python3 benchmarks/run.py --device cuda --silent --precision bf16 \
    --conv-impl diagonal --sections peaks,training,profile --configs paper,ref-n64-k9 \
    --json "$OUT/bench-bf16-diagonal.json"
  step 80 bench-tf32 python3 benchmarks/run.py --device cuda --silent --precision tf32 \
    --sections peaks,training --configs paper,ref-n64-k9 --json "$OUT/bench-tf32.json"
fi
# fp32 (TF32 off): training against the dense baseline, inference latency, map building
step 100 bench-fp32 python3 benchmarks/run.py --device "$DEV" $Q --silent \
  --sections peaks,training,latency,maps --configs "${CONFIGS:-paper,ref-n64-k9}" --json "$OUT/bench-fp32.json"
# DDP: two processes sharing the one GPU (gloo; NCCL refuses two ranks on one device) train to
# the weights of one process; resume after a kill gives the uninterrupted run's weights
step 200 tests env MS2D_DIST_BACKEND=gloo python3 -m pytest -q -p no:cacheprovider \
  tests/test_distributed.py tests/test_resume.py
if [ "$DEV" = cuda ]; then  # what `auto` runs under bf16 now (5x5 kernels dense)
  step 60 bench-bf16-auto python3 benchmarks/run.py --device cuda --silent --precision bf16 \
    --sections peaks,training --configs paper --json "$OUT/bench-bf16-auto.json"
fi
grep "^===\|^ok\|^FAIL\|passed\|failed" "$LOG"
