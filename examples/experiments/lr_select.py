#!/usr/bin/env python3
"""Each variant at its own best learning rate, chosen on the selection halves and reported on the
other halves, from tern_demo JSON lines of runs with --split halves (files DIR/lr-<lr>/<seed>-<steps>.json,
as examples/experiments/lr_sweep.sh writes them). Two choices are made, each on its own selection
loss: the fine-tuning corpus's (what a user fine-tuning on new data can measure) and the pretraining
corpus's. Then every learning rate's reported losses, mean +- standard deviation over the seeds.
usage: lr_select.py FILE.json...
"""
import json
import os
import re
import statistics
import sys
from collections import defaultdict

from summarize import fmt  # mean ± sd of the seeds, 3 decimals (this script's folder is on sys.path)

VARIANTS = ["fp_ft", "qat_abrupt", "qat_norm", "paper", "kd"]
PAIRS = [("paper", "qat_norm", "(d) - (c): the schedule, norm held"),
         ("paper", "qat_abrupt", "(d) - (b): the recipe against abrupt QAT"),
         ("qat_norm", "qat_abrupt", "(c) - (b): the extra norm, abrupt"),
         ("paper", "kd", "(d) - (e): the recipe against distillation")]


def fmt_diff(xs):
    if len(xs) == 1:
        return f"{xs[0]:+.3f}"
    return f"{statistics.mean(xs):+.3f} ± {statistics.stdev(xs):.3f}"


def main(paths):
    runs = defaultdict(dict)  # lr -> seed -> record
    for p in paths:
        m = re.match(r"lr-([^/]+)$", os.path.basename(os.path.dirname(p)))
        s = re.match(r"(\d+)-\d+\.json$", os.path.basename(p))
        if not m or not s:
            continue
        with open(p) as f:
            line = f.read().strip()
        if not line:
            continue
        rec = json.loads(line)["tern_demo"]
        if rec.get("split") != "halves":
            sys.exit(f"lr_select.py: {p} was not run with --split halves")
        runs[float(m.group(1))][int(s.group(1))] = rec
    if not runs:
        sys.exit("lr_select.py: no lr-<lr>/<seed>-<steps>.json files given")
    lrs = sorted(runs)
    seeds = sorted(set.intersection(*(set(runs[lr]) for lr in lrs)))
    if not seeds:
        sys.exit("lr_select.py: no seed was run at every learning rate")
    fp = [runs[lrs[0]][s]["fp"] for s in seeds]
    print(f"learning rates {', '.join(f'{lr:g}' for lr in lrs)}; seeds {seeds}; FP model: "
          f"kept {fmt([r['val_loss'] for r in fp])}, learned {fmt([r['ft_val_loss'] for r in fp])} "
          "(nats/byte, reported halves)\n")
    for sel, name in [("ft_select_loss", "fine-tuning corpus"), ("select_loss", "pretraining corpus")]:
        print(f"### Each variant at its best learning rate on the {name}'s selection half\n")
        print("| variant | chosen lr per seed | kept (pretraining corpus) | learned (fine-tuning corpus) |")
        print("|---|---|---|---|")
        best = {}  # (variant, seed) -> the record at the chosen lr
        for v in VARIANTS:
            chosen, kept, learned = [], [], []
            for s in seeds:
                cands = [(runs[lr][s][v][sel], lr) for lr in lrs
                         if runs[lr][s].get(v) and runs[lr][s][v].get(sel) is not None]
                if not cands:
                    continue
                _, lr = min(cands)
                best[v, s] = runs[lr][s][v]
                chosen.append(f"{lr:g}")
                kept.append(best[v, s]["val_loss"])
                learned.append(best[v, s]["ft_val_loss"])
            if chosen:
                print(f"| {v} | {', '.join(chosen)} | {fmt(kept)} | {fmt(learned)} |")
        print("\nPaired by seed, each at its chosen lr: mean ± sd of the difference, and in how many seeds "
              "the first is lower\n")
        print("| pair | kept | learned |")
        print("|---|---|---|")
        for a, b, name in PAIRS:
            if not any((a, s) in best and (b, s) in best for s in seeds):
                continue  # a variant that was not run
            cells = []
            for key in ["val_loss", "ft_val_loss"]:
                d = [best[a, s][key] - best[b, s][key] for s in seeds if (a, s) in best and (b, s) in best]
                cells.append(f"{fmt_diff(d)} ({sum(x < 0 for x in d)}/{len(d)})" if d else "-")
            print(f"| {name} | {cells[0]} | {cells[1]} |")
        print()
    print("### Every learning rate (reported halves: kept / learned)\n")
    print("| variant | " + " | ".join(f"lr {lr:g}" for lr in lrs) + " |")
    print("|---|" + "---|" * len(lrs))
    for v in VARIANTS:
        if not any(runs[lr][s].get(v) for lr in lrs for s in seeds):
            continue  # not run
        cells = []
        for lr in lrs:
            rs = [runs[lr][s][v] for s in seeds if runs[lr][s].get(v)]
            k = [r["val_loss"] for r in rs if r.get("val_loss") is not None]
            l = [r["ft_val_loss"] for r in rs if r.get("ft_val_loss") is not None]
            cells.append(f"{fmt(k)} / {fmt(l)}" + ("" if len(k) == len(seeds) else f" ({len(seeds) - len(k)} diverged)"))
        print(f"| {v} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
