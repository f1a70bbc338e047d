#!/usr/bin/env bash
# The robustness benchmark (scripts/robustness.py) on a lent GPU machine: one GPU, 16 cores,
# torch preinstalled, nothing to install. Every training run is a process of its own on the
# GPU (--jobs at a time); runs that finish before LIMIT seconds are kept, the rest can be
# finished anywhere else with the same command (results are cached per run).
#
#   OUT=/tmp/out LIMIT=480 bash scripts/gpu_robustness.sh [robustness.py options]
#
# Writes $OUT/robustness.log and $OUT/robust-results.tgz (every result.json, baselines.json and
# history.json; no checkpoints, no data).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src" PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
OUT="${OUT:-/tmp/out}"
RB="${RB:-/tmp/robust}"
mkdir -p "$OUT" "$RB"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
timeout "${LIMIT:-480}" python3 scripts/robustness.py --out "$RB" --jobs "${JOBS:-16}" "$@" \
    2>&1 | tee "$OUT/robustness.log"
sleep 2
(cd "$RB" && find runs -name result.json -o -name baselines.json -o -name history.json \
    -o -name '*.log' | tar czf "$OUT/robust-results.tgz" -T -)
ls -la "$OUT"
