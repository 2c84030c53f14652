#!/usr/bin/env bash
# Session 33, H200: the attention and merge kernels by themselves (Nsight Compute's
# gpu__time_duration, clocks locked), main (vih) against one-piece plans without a merge (vi): without the host's
# share of `bench`'s event-to-event time. d4b8, default config.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
S=$PWD/.carry/s33
R=$OUT/r; mkdir -p $R
for b in vi vih; do [ -x /tmp/$b ] || { xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; }; done
SMOL="--heads 9 --kv-heads 3 --head-dim 64 --layouts paged64"
while read name args; do
  for v in vih vi; do
    timeout 100 ncu -k regex:vq_ --launch-skip 10 --launch-count 6 --metrics gpu__time_duration.sum,launch__grid_size \
      /tmp/$v bench --codecs d4b8/d4b8 --runs 5 $args > $R/ncu-$name-$v.txt 2>&1 || echo "ncu $name $v rc $?"
    python3 - "$R/ncu-$name-$v.txt" "$name $v" <<'PY'
import re,sys,statistics
txt=open(sys.argv[1]).read()
d={"attention":[],"merge":[]}
for block in re.split(r"\n  vq_", txt)[1:]:
    kind="attention" if block.startswith("attention") else "merge"
    m=re.search(r"gpu__time_duration.sum\s+(\S+)\s+([\d.,]+)", block)
    if m:
        v=float(m.group(2).replace(",","")); v = v/1000 if m.group(1)=="ns" else v
        d[kind].append(v)
print(sys.argv[2], " ".join(f"{k} {statistics.median(x):.2f} us" for k,x in d.items() if x))
PY
  done
done <<'SHAPES'
llama-1x32k --shapes 1x32768
llama-8x32k --shapes 8x32768
llama-32x8k --shapes 32x8192
llama-64x8k --shapes 64x8192
llama-128x4k --shapes 128x4096
llama-rg-32x8k --ragged --shapes 32x8192
llama-pg-8x32k --shapes 8x32768 --layouts paged64
llama-pg-128x4k --shapes 128x4096 --layouts paged64
smol-1x32k --shapes 1x32768 --heads 9 --kv-heads 3 --head-dim 64 --layouts paged64
smol-8x32k --shapes 8x32768 --heads 9 --kv-heads 3 --head-dim 64 --layouts paged64
smol-32x32k --shapes 32x32768 --heads 9 --kv-heads 3 --head-dim 64 --layouts paged64
SHAPES
