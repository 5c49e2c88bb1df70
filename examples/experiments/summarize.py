#!/usr/bin/env python3
"""Markdown tables of tern_demo JSON lines (files named <seed>-<ft steps>.json): per fine-tuning
budget, each variant's validation loss (nats/byte) on the pretraining corpus and, when the runs
had --ft-corpus, on the fine-tuning corpus, as mean +- standard deviation over the seeds, with
the best ternary variant of each column marked and the number of seeds it won.
usage: summarize.py FILE.json...
"""
import json
import os
import re
import statistics
import sys
from collections import defaultdict

VARIANTS = ["fp", "ptq", "qat_abrupt", "qat_norm", "paper", "kd"]
TERNARY = ["qat_abrupt", "qat_norm", "paper", "kd"]


def fmt(xs):
    if not xs:
        return "-"
    if len(xs) == 1:
        return f"{xs[0]:.3f}"
    return f"{statistics.mean(xs):.3f} ± {statistics.stdev(xs):.3f}"


def main(paths):
    runs = defaultdict(dict)  # steps -> seed -> record
    for p in paths:
        m = re.match(r"(\d+)-(\d+)\.json$", os.path.basename(p))
        if not m:
            continue
        with open(p) as f:
            line = f.read().strip()
        if not line:
            continue
        runs[int(m.group(2))][int(m.group(1))] = json.loads(line)["tern_demo"]
    for steps in sorted(runs):
        seeds = sorted(runs[steps])
        recs = [runs[steps][s] for s in seeds]
        fp_steps = recs[0]["fp"]["steps"]
        has_ft = "ft_val_loss" in recs[0]["fp"]
        print(f"\n### {steps} fine-tuning steps ({100.0 * steps / fp_steps:.0f}% of the FP tokens), seeds {seeds}\n")
        cols = [("val_loss", "pretraining corpus")] + ([("ft_val_loss", "fine-tuning corpus")] if has_ft else [])
        wins = {}
        for key, _ in cols:
            w = defaultdict(int)
            for r in recs:  # a diverged run has a null loss: it cannot win
                ran = [v for v in TERNARY if r.get(v) and r[v].get(key) is not None]
                if ran:
                    w[min(ran, key=lambda v: r[v][key])] += 1
            wins[key] = w
        print("| variant | " + " | ".join(f"{name} (nats/byte)" for _, name in cols) + " |")
        print("|---|" + "---:|" * len(cols))
        for v in VARIANTS:
            vals = {key: [r[v][key] for r in recs if r.get(v) and r[v].get(key) is not None] for key, _ in cols}
            diverged = {key: sum(1 for r in recs if r.get(v) and r[v].get(key) is None) for key, _ in cols}
            cells = []
            for key, _ in cols:
                c = fmt(vals[key])
                if diverged[key]:
                    c += f" ({diverged[key]} diverged)"
                n = wins[key].get(v, 0)
                if n:
                    c = f"**{c}** (best in {n}/{len(recs)})"
                cells.append(c)
            print(f"| {v} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0 if len(sys.argv) > 1 else 2)
    main(sys.argv[1:])
