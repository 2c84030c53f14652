#!/usr/bin/env python3
"""Session 29: summarise stamps.sh's per-block stage timestamps. Launches are told apart by gaps
in the blocks' start times; per launch: the spread of block starts, each stage's median duration
(ns, thread 0 of each block), and the last block's end after the first block's start.
Usage: stamps.py FILE.txt.gz GRID_BLOCKS"""
import gzip, statistics as st, sys

rows = []
for line in gzip.open(sys.argv[1], "rt"):
    if line.startswith("STAMP"):
        f = line.split()
        rows.append(list(map(int, f[1:])))
per_launch = int(sys.argv[2])
rows.sort(key=lambda r: r[4])
launches = [rows[i:i + per_launch] for i in range(0, len(rows) - per_launch + 1, per_launch)]
names = ["codebooks", "lengths", "query", "fp16", "coded loop", "partials"]
skip = 2  # the first launches: verification and warm-up with a cold code cache
keep = launches[skip:]
print(f"{len(rows)} stamps, {len(launches)} launches of {per_launch} blocks; medians over {len(keep)} launches")
spread = [max(r[4] for r in l) - min(r[4] for r in l) for l in keep]
span = [max(r[4] + r[10] for r in l) - min(r[4] for r in l) for l in keep]
print(f"block starts spread {st.median(spread)/1e3:.2f} us; first start to last end {st.median(span)/1e3:.2f} us")
for i, n in enumerate(names):
    d = [r[5 + i] - (r[4 + i] if i else 0) for l in keep for r in l]
    print(f"  {n:>10}: median {st.median(d)/1e3:.2f} us, p90 {sorted(d)[int(0.9*len(d))]/1e3:.2f} us")
split0 = [r[8] - r[7] for l in keep for r in l if r[0] == 0]
print(f"  fp16 stage in split 0 blocks: median {st.median(split0)/1e3:.2f} us")
