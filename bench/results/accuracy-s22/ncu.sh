#!/usr/bin/env bash
# Session 22, H200, call 6: where the int8 window's step time goes at 1 x 8192: ncu kernel
# durations of the attention and append kernels, fp16 window appended against int8 window.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
R=/root/s22; [ -x $R/vi ] || { mkdir -p $R; xz -dc .carry/s22/vi.xz > $R/vi; chmod +x $R/vi; }
for w in "fp16 --token-writes append" "int8 --window int8"; do set -- $w; name=$1; shift
  timeout 200 ncu --metrics gpu__time_duration.sum -k regex:"vq_(attention|append|merge)" --launch-skip 300 --launch-count 90 --csv \
    $R/vi decode-bench --random-weights --caches d4b8/d4b8 --batches 1 --contexts 8192 --largest-at "" --sinks 4 --residual 64 --steps 3 --warmup 1 "$@" > $OUT/ncu-$name.csv 2> $OUT/ncu-$name.err
  echo "$name rc $?"; python3 - $OUT/ncu-$name.csv <<'PY'
import csv, sys, collections, re
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
head = rows[0]; k = head.index("Kernel Name"); v = head.index("Metric Value")
acc = collections.defaultdict(list)
for r in rows[1:]:
    acc[re.sub(r"_d64.*", "", r[k])].append(float(r[v].replace(",", "")))
for name, xs in acc.items(): print(f"  {name:<16} n {len(xs):3d} mean {sum(xs)/len(xs)/1000:.2f} us  min {min(xs)/1000:.2f}")
PY
done
