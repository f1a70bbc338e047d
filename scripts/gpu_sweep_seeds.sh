#!/usr/bin/env bash
# The 3-seed comparison behind docs/results.md, run side by side on one GPU machine.
# Each seed simulates its own benchmark (ms2d simulate --seed S) and trains with train.seed=S.
set -u
export PYTHONPATH=src OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
E=${EPOCHS:-15}
for s in 0 1 2; do
  python3 -m ms2d.cli simulate --out /tmp/sim$s --seed $s --quiet
done
for s in 0 1 2; do
  python3 scripts/sweep.py --data /tmp/sim$s --out /tmp/sw$s --json $OUT/seed$s.json --seeds $s --parallel 5 \
    --base train.epochs=$E \
    --config weak: --config weak_single_scale:train.model=ms2d-single-scale \
    --config full:train.supervision=full --config bow_linear:train.model=bow-linear \
    --config paper_literal:train.label_rule=paper,model.caption_input=cross,model.word_mask=0,model.explore=0 \
    > $OUT/log$s.txt 2>&1 &
done
python3 scripts/sweep.py --data /tmp/sim0 --out /tmp/swv --json $OUT/variants.json --parallel 4 \
  --config cheap_e12:train.epochs=12,model.explore=5,model.caption_hidden=64 \
  --config lr2e3_e10:train.epochs=10,train.lr=2e-3 \
  --config b16_e8:train.epochs=8,train.batch_size=16 \
  --config cheap_lr2e3_e10:train.epochs=10,train.lr=2e-3,model.explore=5,model.caption_hidden=64 \
  > $OUT/variants.txt 2>&1 &
wait
cat $OUT/*.txt
