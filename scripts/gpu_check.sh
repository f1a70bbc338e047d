#!/usr/bin/env bash
# Every GPU check and measurement of ms2d in one run, for a lent GPU machine with torch installed
# (run from the repository root; no install: PYTHONPATH=src). Results go to $OUT (default
# /tmp/gpu-check): 8 files at most, as the lent machines return (log.txt is the eighth). Each step has its own time limit, so a slow step costs
# only its own results. Dry run on a CPU: DEV=cpu QUICK=1 bash scripts/gpu_check.sh
set -u
OUT=${OUT:-/tmp/gpu-check}
DEV=${DEV:-cuda}
Q=${QUICK:+--quick}
[ "$DEV" = cuda ] && XDIST="-n 4"
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
step 90 selfcheck python3 scripts/gpu_selfcheck.py "$DEV"
# full benchmark, fp32 (TF32 off): peaks, training vs the dense baseline, latency, maps, data
step 200 bench-fp32 python3 benchmarks/run.py --device "$DEV" $Q --silent --json "$OUT/bench-fp32.json"
if [ "$DEV" = cuda ]; then
  step 100 bench-tf32 python3 benchmarks/run.py --device cuda $Q --silent --precision tf32 \
    --sections peaks,training --json "$OUT/bench-tf32.json"
  step 120 bench-bf16 python3 benchmarks/run.py --device cuda $Q --silent --precision bf16 \
    --sections peaks,training,profile --json "$OUT/bench-bf16.json"
  for p in fp32 tf32 bf16; do
    step 60 "conv-$p" python3 benchmarks/conv_impls.py --device cuda --precision $p \
      --cases 64:9:512:16,64:5:512:32,64:5:512:128,24:5:512:32 --json "$OUT/conv-$p.json"
  done
fi
# DDP: two processes sharing the one GPU (gloo; NCCL refuses two ranks on one device) train to
# the weights of one process; then the training, resume and bad-input tests with the GPU visible
step 150 tests env MS2D_DIST_BACKEND=gloo python3 -m pytest -q -p no:cacheprovider \
  tests/test_distributed.py tests/test_train.py tests/test_resume.py
if [ "$DEV" = cuda ]; then
  step 150 bench-compile python3 benchmarks/run.py --device cuda $Q --silent --precision tf32 \
    --compile --sections training --configs synthetic-cpu,paper --json "$OUT/bench-compile.json"
fi
grep "^===\|^ok\|^FAIL\|passed\|failed" "$LOG"
