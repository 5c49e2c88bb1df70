#!/usr/bin/env python3
"""Markdown table of a bench_infer JSON run (--benchmark_out=FILE --benchmark_out_format=json).

For every model and weights: decode tokens/s and its % of the same-run read_dram roof at 1 and 2
threads, prefill tokens/s, and both as multiples of the same model's f32 row at the same thread
count. With repetitions, the median of the runs is used (aggregate rows are ignored).
usage: json_to_table.py FILE.json
"""
import json
import re
import statistics
import sys
from collections import defaultdict


def main(path):
    runs = json.load(open(path))["benchmarks"]
    vals = defaultdict(list)  # (op, model, weights, threads, counter) -> values
    for b in runs:
        if b.get("run_type") == "aggregate":
            continue
        m = re.match(r"(decode|prefill|read_dram)/([^/]+)/(?:([^/]+)/)?threads:(\d)", b["name"])
        if not m:
            continue
        op, model, weights, t = m.group(1), m.group(2), m.group(3), int(m.group(4))
        if op == "read_dram":
            vals[(op, "", "", t, "gbps")].append(b["gbps"])
            continue
        for c in ("tokens_per_s", "roof_pct", "bytes_per_token"):
            if c in b:
                vals[(op, model, weights, t, c)].append(b[c])
    med = {k: statistics.median(v) for k, v in vals.items()}

    def get(*k):
        return med.get(k)

    def fmt(x, digits=1):
        return "-" if x is None else f"{x:,.{digits}f}"

    for t in (1, 2):
        if get("read_dram", "", "", t, "gbps"):
            print(f"read_dram, {t} thread(s): {get('read_dram', '', '', t, 'gbps'):.1f} GB/s")
    print()
    print("| model / weights | MB read per token | decode 1T tok/s | % of roof 1T | decode 2T tok/s | % of roof 2T "
          "| decode x f32 1T / 2T | prefill 1T tok/s | prefill 2T tok/s | prefill x f32 1T / 2T |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    keys = sorted({(k[1], k[2]) for k in med if k[0] in ("decode", "prefill")},
                  key=lambda mw: (mw[0] != "demo", mw[1] != "tq2", mw[1] != "tq1", mw[1]))
    for model, w in keys:
        row = [f"`{model}/{w}`", fmt((get("decode", model, w, 1, "bytes_per_token") or 0) / 1e6, 1)]
        for t in (1, 2):
            row += [fmt(get("decode", model, w, t, "tokens_per_s")), fmt(get("decode", model, w, t, "roof_pct"))]
        ratios = []
        for op in ("decode", "prefill"):
            r = []
            for t in (1, 2):
                a, b = get(op, model, w, t, "tokens_per_s"), get(op, model, "f32", t, "tokens_per_s")
                r.append("-" if not a or not b else f"{a / b:.1f}")
            ratios.append(" / ".join(r))
        row += [ratios[0], fmt(get("prefill", model, w, 1, "tokens_per_s")), fmt(get("prefill", model, w, 2, "tokens_per_s")),
                ratios[1]]
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0 if len(sys.argv) == 2 else 2)
    main(sys.argv[1])
