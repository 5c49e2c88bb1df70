#!/usr/bin/env bash
# Model size: the demo's default regime (built-in pretraining source, FT_STEPS fine-tuning steps on
# the related source) at several model sizes, seeds x sizes, one job per (size, seed), JOBS at a time.
# Writes OUT/<dim>x<layers>/<seed>-<ft steps>.json (the demo's JSON line), .log (its progress), logs-<seed>/
# (per-step metrics), fp-<seed>.ckpt (the FP model, reloaded if the run is repeated) and
# OUT/<dim>x<layers>/table.md (summarize.py).
#   usage: examples/experiments/sizes.sh DEMO OUT
#   env:   SIZES="96x4x4 160x6x5 224x6x7" (dim x layers x heads)  SEEDS="1 2 3"  JOBS=2
#          FT_STEPS=75  THREADS=1 (per job)  EXTRA="" (more demo flags)
set -euo pipefail
if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
if [ $# -lt 2 ]; then sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; fi
demo=$1 out=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
run_one() {  # size seed
  local dim layers heads dir json fp_flag
  IFS=x read -r dim layers heads <<< "$1"
  dir="$out/${dim}x${layers}"
  json="$dir/$2-${FT_STEPS:-75}.json"
  mkdir -p "$dir"
  [ -s "$json" ] && { echo "sizes.sh: $json exists, skipped" >&2; return 0; }
  if [ -s "$dir/fp-$2.ckpt" ]; then fp_flag=(--load-fp "$dir/fp-$2.ckpt"); else fp_flag=(--save-fp "$dir/fp-$2.ckpt"); fi
  echo "sizes.sh: dim $dim, $layers layers, $heads heads, seed $2" >&2
  "$demo" --dim "$dim" --layers "$layers" --heads "$heads" --seed "$2" --ft-steps "${FT_STEPS:-75}" --threads "${THREADS:-1}" \
    --log-dir "$dir/logs-$2" --save-model "$dir/m-$2.tern" --sample-bytes 0 "${fp_flag[@]}" ${EXTRA:-} \
    2> "${json%.json}.log" | grep '^{"tern_demo"' > "$json.tmp"
  mv "$json.tmp" "$json"
}
export -f run_one
export demo out THREADS EXTRA FT_STEPS
for size in ${SIZES:-96x4x4 160x6x5 224x6x7}; do
  for seed in ${SEEDS:-1 2 3}; do echo "$size $seed"; done
done | xargs -P "${JOBS:-2}" -L 1 bash -c 'run_one "$0" "$1"'
for size in ${SIZES:-96x4x4 160x6x5 224x6x7}; do
  IFS=x read -r dim layers _ <<< "$size"
  python3 "$root/examples/experiments/summarize.py" "$out/${dim}x${layers}"/*-"${FT_STEPS:-75}".json > "$out/${dim}x${layers}/table.md"
  echo "## dim $dim, $layers layers"; cat "$out/${dim}x${layers}/table.md"
done
