#!/usr/bin/env bash
# Learning-rate sweep, chosen on a split separate from the reported one: for each seed the FP
# model is pretrained once (the demo's default regime), then every variant, FP fine-tuning
# (fp_ft) included, is fine-tuned at each learning rate with --split halves: the first half of
# each validation split chooses the learning rate, the second half is reported (lr_select.py).
# Writes OUT/fp-<seed>.ckpt, OUT/lr-<lr>/<seed>-<ft steps>.json (the demo's JSON line) and .log,
# OUT/table.md.
#   usage: examples/experiments/lr_sweep.sh DEMO OUT
#   env:   SEEDS="1 2 3"  LRS="5e-4 1.5e-3 5e-3 1.5e-2"  FT_STEPS=75  JOBS=2 (seeds at a time)
#          THREADS=1 (per job)  EXTRA="" (more demo flags)
set -euo pipefail
if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
if [ $# -lt 2 ]; then sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; fi
demo=$1 out=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out"
run_seed() {  # seed: every learning rate, the FP model trained by the first run and loaded by the rest
  local seed=$1 lr json fp_flag
  for lr in ${LRS:-5e-4 1.5e-3 5e-3 1.5e-2}; do
    mkdir -p "$out/lr-$lr"
    json="$out/lr-$lr/$seed-${FT_STEPS:-75}.json"
    [ -s "$json" ] && { echo "lr_sweep.sh: $json exists, skipped" >&2; continue; }
    if [ -s "$out/fp-$seed.ckpt" ]; then fp_flag=(--load-fp "$out/fp-$seed.ckpt"); else fp_flag=(--save-fp "$out/fp-$seed.ckpt"); fi
    echo "lr_sweep.sh: seed $seed, ft lr $lr" >&2
    "$demo" --seed "$seed" --ft-lr "$lr" --ft-steps "${FT_STEPS:-75}" --split halves --threads "${THREADS:-1}" \
      --variants ptq,qat_abrupt,qat_norm,paper,kd,fp_ft --sample-bytes 0 --save-model "$out/lr-$lr/m-$seed.tern" \
      "${fp_flag[@]}" ${EXTRA:-} 2> "${json%.json}.log" | grep '^{"tern_demo"' > "$json.tmp"
    mv "$json.tmp" "$json"
  done
}
export -f run_seed
export demo out LRS FT_STEPS THREADS EXTRA
for seed in ${SEEDS:-1 2 3}; do echo "$seed"; done | xargs -P "${JOBS:-2}" -I{} bash -c 'run_seed {}'
python3 "$root/examples/experiments/lr_select.py" "$out"/lr-*/*.json > "$out/table.md"
cat "$out/table.md"
