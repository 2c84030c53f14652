#!/usr/bin/env bash
# Session 6: where a batch-1 step's time goes. Nsight Compute's per-kernel durations of one
# `vecinfer bench` process per shape (attention, split merge, append, length advance), for the
# main-branch build and this session's (v3 = v1 + splits that fill the waves).
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
C=.carry/k6b
for v in base v3; do xz -d -c $C/vecinfer-$v.xz > /tmp/vecinfer-$v && chmod +x /tmp/vecinfer-$v; done
for v in base v3; do
  for shape in "--heads 32 --kv-heads 8 --head-dim 128 --shapes 1x32768" "--heads 32 --kv-heads 8 --head-dim 128 --shapes 1x131072" "--heads 9 --kv-heads 3 --head-dim 64 --shapes 1x131072" "--heads 32 --kv-heads 8 --head-dim 128 --shapes 64x8192"; do
    tag=$(echo "$shape" | awk '{print $2"x"$NF}')
    timeout 100 ncu --metrics gpu__time_duration.sum --csv /tmp/vecinfer-$v bench $shape --codecs d4b8/d4b8 --runs 5 > /tmp/ncu.csv 2>/dev/null
    python3 - "$v $tag" /tmp/ncu.csv <<'PY'
import csv, sys, collections, statistics
rows = [r for r in csv.reader(open(sys.argv[2])) if len(r) > 10]
head = rows[0]; k = head.index("Kernel Name"); val = head.index("Metric Value")
t = collections.defaultdict(list)
for r in rows[1:]:
    name = r[k].split("(")[0]
    short = "attention" if name.startswith("vq_attention") else "merge" if name.startswith("vq_merge") else "append" if name.startswith("vq_append") else name[:30]
    t[short].append(float(r[val].replace(",", "")) / 1000)
print(sys.argv[1], "  ".join(f"{n}: median {statistics.median(v):.1f} us (n={len(v)})" for n, v in t.items()))
PY
  done
done
