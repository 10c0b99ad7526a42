#!/usr/bin/env python3
"""ncu_summary.py - where a run's GPU time went, from an Nsight Compute CSV
(ncu --csv --metrics gpu__time_duration.sum,sm__throughput...,
gpu__compute_memory_throughput... as pipelines/gpu/run.sh profile writes it):
one line per kernel name with its launches, total and mean time, share of
the whole, and the time-weighted compute (SM) and memory throughput as a
percentage of the GPU's peak.

    python3 pipelines/gpu/ncu_summary.py ncu.csv [--top 25]
"""
import argparse
import csv
import re
import sys
from collections import defaultdict

UNIT = {"nsecond": 1e-9, "ns": 1e-9, "usecond": 1e-6, "us": 1e-6, "msecond": 1e-3, "ms": 1e-3,
        "second": 1.0, "s": 1.0}


def short(name):
    """A kernel's name without its argument list and namespaces' noise."""
    name = name.strip().replace("(anonymous namespace)::", "")
    name = re.sub(r"\(.*$", "", name)
    return (name[5:] if name.startswith("void ") else name)[:90]


def read(path):
    with open(path, newline="") as f:
        lines = f.read().splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith('"ID"')), None)
    if start is None:
        raise SystemExit(f"ncu_summary: {path}: no CSV header (\"ID\",...) found")
    kern = defaultdict(dict)  # ID -> {name, metric: value}
    for row in csv.DictReader(lines[start:]):
        k = kern[row["ID"]]
        k["name"] = short(row["Kernel Name"])
        metric, unit, value = row["Metric Name"], row.get("Metric Unit", ""), row["Metric Value"]
        try:
            v = float(value.replace(",", ""))
        except ValueError:
            continue
        if metric == "gpu__time_duration.sum":
            k["t"] = v * UNIT.get(unit, 1e-9)
        elif metric.startswith("sm__throughput"):
            k["sm"] = v
        elif metric.startswith("gpu__compute_memory_throughput") or metric.startswith("dram__throughput"):
            k["mem"] = v
    return [k for k in kern.values() if "t" in k]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv")
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    ks = read(a.csv)
    if not ks:
        raise SystemExit(f"ncu_summary: {a.csv}: no kernel with a duration")
    by = defaultdict(lambda: [0, 0.0, 0.0, 0.0])
    for k in ks:
        b = by[k["name"]]
        b[0] += 1
        b[1] += k["t"]
        b[2] += k["t"] * k.get("sm", 0)
        b[3] += k["t"] * k.get("mem", 0)
    total = sum(b[1] for b in by.values())
    print(f"{len(ks)} kernels, {total * 1e3:.3f} ms of GPU time (serialised by the profiler)")
    print(f"{'kernel':<60} {'n':>6} {'total ms':>9} {'mean us':>9} {'share':>6} {'SM%':>5} {'mem%':>5}")
    for name, (n, t, sm, mem) in sorted(by.items(), key=lambda kv: -kv[1][1])[: a.top]:
        print(f"{name[:60]:<60} {n:>6} {t * 1e3:>9.3f} {t / n * 1e6:>9.1f} {t / total:>6.1%} "
              f"{sm / t if t else 0:>5.1f} {mem / t if t else 0:>5.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
