#!/usr/bin/env python3
"""Prints the tables of bench/compare/run from its TSV of runs: per case and
server, the median of the runs, and ratios to parley (a peer's figure divided
by parley's: above 1 the peer has more msgs/s, or spends more CPU).

    table.py RESULTS.tsv NAME=LABEL...
"""
import csv
import statistics
import sys

CASES = [
    ("100x1x16", "100 connections x 1 in flight x 16 B"),
    ("100x32x16", "100 connections x 32 in flight x 16 B"),
    ("10x4x64K", "10 connections x 4 in flight x 64 KiB"),
    ("4x1x4M", "4 connections x 1 in flight x 4 MiB"),
]


def median(rows, key):
    values = [float(r[key]) for r in rows if r.get(key) not in (None, "")]
    return statistics.median(values) if values else None


def fmt(v, digits=0):
    if v is None:
        return "—"
    return f"{v:,.{digits}f}"


def ratio(v, base):
    if v is None or not base:
        return "—"
    return f"{v / base:.2f}×"


def load_range(rows):
    loads = [float(r["load1"]) for r in rows if r.get("load1")]
    return f" (1-minute load average at the runs' start: {min(loads):.2f}–{max(loads):.2f})" if loads else ""


def main():
    path, *pairs = sys.argv[1:]
    labels = dict(p.split("=", 1) for p in pairs)
    rows = list(csv.DictReader(open(path), delimiter="\t"))
    servers = list(labels) or sorted({r["server"] for r in rows})
    by = {}
    for r in rows:
        by.setdefault((r["server"], r["case"]), []).append(r)

    for case, title in CASES:
        if not any(r["case"] == case for r in rows):
            continue
        print(f"### {title}{load_range([r for r in rows if r['case'] == case])}")
        print()
        print("| server | msgs/s | ÷ parley | MB/s | p50 µs | p99 µs | server CPU µs/msg | ÷ parley | generator CPU share | errors | runs |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        base = by.get(("parley", case), [])
        base_rate, base_cpu = median(base, "msgs_per_sec"), median(base, "server_us_per_msg")
        for s in servers:
            rs = [r for r in by.get((s, case), []) if r["msgs_per_sec"]]
            rate, cpu = median(rs, "msgs_per_sec"), median(rs, "server_us_per_msg")
            share = median(rs, "gen_share")
            errors = sum(int(float(r["errors"] or 0)) for r in rs)
            print(f"| {labels.get(s, s)} | {fmt(rate)} | {ratio(rate, base_rate)} | {fmt(median(rs, 'mb_per_sec'), 1)} "
                  f"| {fmt(median(rs, 'p50_us'), 1)} | {fmt(median(rs, 'p99_us'), 1)} | {fmt(cpu, 3)} | {ratio(cpu, base_cpu)} "
                  f"| {fmt(share * 100 if share is not None else None)} % | {errors} | {len(rs)} |")
        print()

    idle = [r for r in rows if r["case"] == "idle"]
    print(f"### RSS growth of the server per idle connection{load_range(idle)}")
    print()
    print("| server | bytes per idle connection | ÷ parley | runs |")
    print("|---|---:|---:|---:|")
    base = median(by.get(("parley", "idle"), []), "rss_per_conn_b")
    for s in servers:
        rs = by.get((s, "idle"), [])
        v = median(rs, "rss_per_conn_b")
        print(f"| {labels.get(s, s)} | {fmt(v)} | {ratio(v, base)} | {len(rs)} |")
    print()
    print("Medians of the runs. ÷ parley: the server's figure divided by parley's. Server CPU: utime+stime of the")
    print("server process over the whole bench run (warmup included) divided by every echo it sent. Generator CPU share:")
    print("`parley bench`'s own user+sys time over the measurement window, as a share of its one core (above 90 %:")
    print("the generator, not the server, is the limit).")


if __name__ == "__main__":
    main()
