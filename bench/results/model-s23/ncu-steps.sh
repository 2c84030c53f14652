#!/usr/bin/env bash
# Session 23, H200: where the int8 window's extra step time goes at 64 x 8192 (cuBLAS path)
# and 1 x 8192 (skinny path): per-kernel time (ncu, gpu__time_duration.sum) over the first
# 600 launches of our kernels, fp16 against int8 window (d4b8/d4b8, 4 + 128), summed by name.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
B=/tmp/s23; mkdir -p $B; xz -dc .carry/s23/vi.xz > $B/vi; chmod +x $B/vi
for b in 64 1; do for w in fp16 int8; do
  timeout 140 ncu --kernel-name regex:"rope|flush|vq_|skinny|append" --launch-count 600 --metrics gpu__time_duration.sum --csv \
    $B/vi decode-bench --random-weights --caches d4b8/d4b8 --batches $b --contexts 8192 --largest-at "" --sinks 4 --residual 128 \
    --window $w --warmup 1 --steps 1 --tune-fp16 off > $OUT/ncu-b$b-$w.csv 2> $OUT/ncu-b$b-$w.err
  python3 - $OUT/ncu-b$b-$w.csv $b $w <<'PY'
import csv, sys, collections, re
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
head = rows[0]; k = head.index("Kernel Name"); v = head.index("Metric Value"); u = head.index("Metric Unit")
tot = collections.defaultdict(float); n = collections.Counter()
for r in rows[1:]:
    name = re.sub(r"_d64.*", "", r[k].split("(")[0]); val = float(r[v].replace(",", ""))
    val *= {"nsecond": 1e-3, "usecond": 1, "msecond": 1e3}.get(r[u], 1)
    tot[name] += val; n[name] += 1
print(f"batch {sys.argv[2]} {sys.argv[3]}: " + "; ".join(f"{a} {tot[a]/n[a]:.2f} us x{n[a]}" for a in sorted(tot)))
PY
done; done
