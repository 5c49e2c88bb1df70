#!/usr/bin/env bash
# Draws the training curves that `tern_demo --log-dir DIR` writes (DIR/<variant>.csv) as one PNG:
# top, each variant's training loss (exponential moving average over ~7 steps, so the spike
# where quantization starts and the bump as lambda reaches 1 stand out from batch noise; kd's
# loss is its KL to the teacher, not a cross-entropy);
# bottom, each variant's mean lambda over the layers.
#   usage: examples/plot_curves.sh DIR [OUT.png] [TITLE]      (needs gnuplot: apt install gnuplot-nox)
# The FP teacher's curve (fp.csv) is left out: it runs over a different number of steps.
set -euo pipefail
if [ $# -lt 1 ] || [ "$1" = "--help" ] || [ "$1" = "-h" ]; then
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
  [ $# -lt 1 ] && exit 2 || exit 0
fi
dir=$1
out=${2:-$dir/curves.png}
title=${3:-tern_demo fine-tuning curves}
command -v gnuplot >/dev/null || { echo "plot_curves.sh: gnuplot is not installed (apt install gnuplot-nox)" >&2; exit 1; }
[ -d "$dir" ] || { echo "plot_curves.sh: '$dir' is not a directory" >&2; exit 1; }
variants=()
for v in qat_abrupt qat_norm paper kd; do
  [ -s "$dir/$v.csv" ] && variants+=("$v")
done
[ ${#variants[@]} -gt 0 ] || { echo "plot_curves.sh: no <variant>.csv in '$dir' (run tern_demo --log-dir '$dir')" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for v in "${variants[@]}"; do
  # columns of the CSV: step, loss, lr, grad_norm, tokens_per_s, skipped, lambda_mean, lambda_0, ...
  awk -F, 'NR == 1 { next } { e = (NR == 2) ? $2 : 0.85 * e + 0.15 * $2; print $1, e, $7 }' "$dir/$v.csv" > "$tmp/$v.dat"
done
loss_plot="" lambda_plot=""
for v in "${variants[@]}"; do
  label=$v
  [ "$v" = kd ] && label="kd (KL to the teacher)"
  loss_plot+="${loss_plot:+, }'$tmp/$v.dat' using 1:2 with lines lw 2 title '$label'"
  lambda_plot+="${lambda_plot:+, }'$tmp/$v.dat' using 1:3 with lines lw 2 title '$v'"
done
gnuplot <<GP
set terminal pngcairo size 1000,800 font ",11" noenhanced
set output '$out'
set multiplot layout 2,1 title "$title"
set grid
set key top right
set ylabel 'training loss (nats/byte, EMA)'
plot $loss_plot
set ylabel 'mean lambda'
set xlabel 'fine-tuning step'
set yrange [-0.05:1.05]
set key bottom right
plot $lambda_plot
unset multiplot
GP
echo "wrote $out"
