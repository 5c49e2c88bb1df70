#!/usr/bin/env python3
"""Markdown table of docs/benchmarks.md from bench_kernels JSON output.

usage: python3 bench/kernels/json_to_table.py kernels.json
Takes the median aggregate when the run used --benchmark_repetitions, else the single run.
Rows: every benchmark of the run; GEMV rows get their share of the same-run read / read_dram
roof, tern rows their share of the same-run vpdpbusd peak (peak/i8/vpdpbusd/zmm).
"""
import json
import re
import sys


def main(path):
    d = json.load(open(path))
    rows = {}
    for b in d["benchmarks"]:
        if b.get("aggregate_name", "median") != "median":
            continue
        n = b["name"].replace("/real_time", "").replace("_median", "")
        m = re.match(r"(.*)/threads:(\d)", n)
        rows.setdefault(m.group(1), {})[int(m.group(2))] = b

    def v(key, t, c):
        b = rows.get(key, {}).get(t)
        return b.get(c) if b else None

    # Rows in a fixed order whatever the run's order (--benchmark_enable_random_interleaving):
    # tern tq2 then tq1 by path, then the baselines; per path GEMV, GEMV from DRAM, GEMM by N.
    paths = ["xsimd", "avx2", "avx512bw", "avx512vnni", "amx", "neon", "neon-dotprod"]
    fmts = ["tq2", "tq1", "i8", "u8", "f32"]
    ops = ["peak", "gemv", "gemv_dram", "read", "read_dram", "gemm"]

    def order(key):
        op, fmt, path, shape = key.split("/")
        base, _, variant = path.partition(".")
        n = int(shape.split("x")[2]) if shape.count("x") == 2 else 1
        rank = lambda lst, x: lst.index(x) if x in lst else len(lst)
        return (fmt in ("i8", "u8", "f32"), rank(fmts, fmt), rank(paths, base), variant, n, rank(ops, op))

    def r(a, b):
        return f"{a / b:.1f}" if a and b else "-"

    def pct(a, b):
        return f"{100 * a / b:.0f}%" if a and b else "-"

    def f0(a):
        return f"{a:.0f}" if a is not None else "-"

    def f1(a):
        return f"{a:.1f}" if a is not None else "-"

    def ratio(a, b):
        return f"{a / b:.2f}" if a and b else "-"

    print("| benchmark | 1T mean | 1T best | 2T mean | 2T best | 2T/1T (best) | weight GB/s best 1T / 2T "
          "| x Eigen f32 1T / 2T | x int8 naive 1T / 2T | % of read roof, mean 1T / 2T | % of vpdpbusd peak, mean 1T / 2T |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    peak = "peak/i8/vpdpbusd/zmm"
    for k in sorted(rows, key=order):
        op, fmt, _, shape = k.split("/")
        base = op.replace("_dram", "")
        e, i8 = f"{base}/f32/eigen/{shape}", f"{base}/i8/naive/{shape}"
        m1, b1, m2, b2 = v(k, 1, "gflops"), v(k, 1, "gflops_best"), v(k, 2, "gflops"), v(k, 2, "gflops_best")
        w1, w2 = v(k, 1, "weight_gbps_best"), v(k, 2, "weight_gbps_best")
        isb = fmt in ("f32", "i8", "u8")
        if op == "peak":
            print(f"| `{k}` | {f0(m1)} | {f0(b1)} | {f0(m2)} | {f0(b2)} | {ratio(b2, b1)} | - | - | - | - | - |")
            continue
        er = "-" if isb else f"{r(b1, v(e, 1, 'gflops_best'))} / {r(b2, v(e, 2, 'gflops_best'))}"
        ir = "-" if isb else f"{r(b1, v(i8, 1, 'gflops_best'))} / {r(b2, v(i8, 2, 'gflops_best'))}"
        # GEMV rows: weight bytes/s (run mean) over the read baseline's bytes/s (run mean) on the
        # same bytes and threads: read/u8/stream (hot) or read_dram/u8/stream (dram).
        roof = "-"
        if op in ("gemv", "gemv_dram") and not isb:
            rk = ("read_dram" if op == "gemv_dram" else "read") + f"/u8/stream/{shape}"
            roof = f"{pct(v(k, 1, 'weight_gbps'), v(rk, 1, 'weight_gbps'))} / {pct(v(k, 2, 'weight_gbps'), v(rk, 2, 'weight_gbps'))}"
        pk = "-" if isb else f"{pct(m1, v(peak, 1, 'gflops'))} / {pct(m2, v(peak, 2, 'gflops'))}"
        print(f"| `{k}` | {f0(m1)} | {f0(b1)} | {f0(m2)} | {f0(b2)} | {ratio(b2, b1)} | {f1(w1)} / {f1(w2)} | {er} | {ir} | {roof} | {pk} |")
    print()
    print("load_avg at start:", d["context"].get("load_avg"), "date", d["context"].get("date"))


if __name__ == "__main__":
    main(sys.argv[1])
