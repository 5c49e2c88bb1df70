#!/usr/bin/env bash
# Knowledge retention: pretrain FP on one corpus, fine-tune every ternary variant on a distinct,
# smaller one at several budgets, evaluate on both (tern_demo --ft-corpus). Seeds x budgets;
# one FP model per seed (saved, then loaded for every budget). Writes OUT/<seed>-<steps>.json
# (the demo's JSON line), OUT/logs-<seed>-<steps>/ (per-step metrics) and OUT/table.md.
#   usage: examples/experiments/retention.sh DEMO OUT [PRETRAIN_FILE] [FT_FILE]
#   env:   SEEDS="1 2 3"  BUDGETS="15 75 300" (fine-tuning steps; the FP run is 1500 steps of the
#          same batch, so these are 1%, 5% and 20% of its tokens)  THREADS=1  EXTRA="" (more demo flags)
#          FT_COMMIT=<rev>: take the headers of that commit (docs/results.md: FT_COMMIT=ce90879)
# Defaults: pretraining on tinyshakespeare (../shared/data), fine-tuning on tern's own headers
# (include/tern/**/*.hpp, sorted, concatenated: C++, a distribution Shakespeare does not teach),
# built once into OUT/ft_corpus.txt (its size and SHA-256 are printed) and reused by later runs.
set -euo pipefail
if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
if [ $# -lt 2 ]; then sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; fi
demo=$1 out=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
pretrain=${3:-$root/../shared/data/tinyshakespeare.txt}
mkdir -p "$out"
ft=${4:-$out/ft_corpus.txt}
if [ -z "${4:-}" ] && [ ! -s "$ft" ]; then
  if [ -n "${FT_COMMIT:-}" ]; then
    git -C "$root" ls-tree -r --name-only "$FT_COMMIT" include/tern | grep '\.hpp$' | LC_ALL=C sort |
      while read -r f; do git -C "$root" show "$FT_COMMIT:$f"; done > "$ft"
  else
    find "$root/include/tern" -name '*.hpp' | LC_ALL=C sort | xargs cat > "$ft"
  fi
fi
for f in "$pretrain" "$ft"; do [ -s "$f" ] || { echo "retention.sh: '$f' is missing or empty" >&2; exit 1; }; done
echo "retention.sh: fine-tuning corpus $ft: $(wc -c < "$ft") bytes, sha256 $(sha256sum "$ft" | cut -c1-16)" >&2
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
