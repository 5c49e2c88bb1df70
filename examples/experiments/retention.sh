#!/usr/bin/env bash
# Knowledge retention: pretrain FP on one corpus, fine-tune every ternary variant on a distinct,
# smaller one at several budgets, evaluate on both (tern_demo --ft-corpus). Seeds x budgets;
# one FP model per seed (saved, then loaded for every budget). Writes OUT/<seed>-<steps>.json
# (the demo's JSON line), OUT/logs-<seed>-<steps>/ (per-step metrics) and OUT/table.md.
#   usage: examples/experiments/retention.sh DEMO OUT [PRETRAIN_FILE] [FT_FILE]
#   env:   SEEDS="1 2 3"  BUDGETS="15 75 300" (fine-tuning steps; the FP run is 1500 steps of the
#          same batch, so these are 1%, 5% and 20% of its tokens)  THREADS=1  EXTRA="" (more demo flags)
# Defaults: pretraining on tinyshakespeare (../shared/data), fine-tuning on tern's own headers
# (include/tern/**/*.hpp, sorted, concatenated: C++, a distribution Shakespeare does not teach).
set -euo pipefail
if [ $# -lt 2 ] || [ "$1" = "--help" ]; then sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; [ $# -lt 2 ] && exit 2 || exit 0; fi
demo=$1 out=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
pretrain=${3:-$root/../shared/data/tinyshakespeare.txt}
mkdir -p "$out"
ft=${4:-$out/ft_corpus.txt}
if [ -z "${4:-}" ]; then
  find "$root/include/tern" -name '*.hpp' | LC_ALL=C sort | xargs cat > "$ft"
fi
for f in "$pretrain" "$ft"; do [ -s "$f" ] || { echo "retention.sh: '$f' is missing or empty" >&2; exit 1; }; done
for seed in ${SEEDS:-1 2 3}; do
  fp="$out/fp-$seed.ckpt"
  for steps in ${BUDGETS:-15 75 300}; do
    json="$out/$seed-$steps.json"
    [ -s "$json" ] && { echo "retention.sh: $json exists, skipped"; continue; }
    if [ -s "$fp" ]; then fp_flag=(--load-fp "$fp"); else fp_flag=(--save-fp "$fp"); fi
    echo "retention.sh: seed $seed, $steps fine-tuning steps" >&2
    "$demo" --corpus "$pretrain" --ft-corpus "$ft" --seed "$seed" --ft-steps "$steps" --threads "${THREADS:-1}" \
      --log-dir "$out/logs-$seed-$steps" --save-model "$out/m-$seed-$steps.tern" --sample-bytes 0 "${fp_flag[@]}" \
      ${EXTRA:-} 2> "$out/$seed-$steps.log" | grep '^{"tern_demo"' > "$json.tmp"
    mv "$json.tmp" "$json"
  done
done
python3 "$root/examples/experiments/summarize.py" "$out"/*-*.json > "$out/table.md"
cat "$out/table.md"
