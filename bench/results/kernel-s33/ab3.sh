#!/usr/bin/env bash
# Session 33, H200: which form of the one-piece output keeps SmolLM2's attention as fast as main
# (vih, 06fb7e7). v1: the epilogue writes the output at its partial row (stale tables keep
# entry 0 as their stand-in); v2: the same, and a stride-1 launch takes its item from blockIdx
# (no table). Nsight Compute (two reps) and `bench` (ROUNDS interleaved rounds).
# Usage: ab3.sh ROUNDS
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s33
R=$OUT/r; mkdir -p $R
B="vih v1 v2"
for b in $B; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
T0=$(date +%s)
for rep in 1 2; do
while read name args; do
  for v in $B; do
    timeout 100 ncu -k regex:vq_ --launch-skip 10 --launch-count 6 --metrics gpu__time_duration.sum \
      /tmp/$v bench --codecs d4b8/d4b8 --runs 5 $args > $R/ncu-$name-$v-$rep.txt 2>&1 || echo "ncu $name $v rc $?"
    python3 - "$R/ncu-$name-$v-$rep.txt" "$name $v $rep" <<'PY'
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
smol-8x32k --shapes 8x32768 --heads 9 --kv-heads 3 --head-dim 64 --layouts paged64
smol-32x32k --shapes 32x32768 --heads 9 --kv-heads 3 --head-dim 64 --layouts paged64
smol-64x8k --shapes 64x8192 --heads 9 --kv-heads 3 --head-dim 64 --layouts paged64
llama-8x32k --shapes 8x32768
llama-128x4k --shapes 128x4096
SHAPES
done
echo "ncu at $(( $(date +%s) - T0 )) s"
C="--codecs d4b8/d4b8 --runs 50"
SMOL="--heads 9 --kv-heads 3 --head-dim 64 --layouts paged64"
for round in $(seq 1 $1); do
  for v in $B; do
    timeout 60 /tmp/$v bench $C $SMOL --shapes 1x32768,8x32768,32x8192,64x8192,256x2048 --json $R/se-$v-$round.json > $R/se-$v-$round.txt 2>&1 || echo "se $v rc $?"
    timeout 60 /tmp/$v bench $C $SMOL --ragged --shapes 8x32768,32x32768 --json $R/sr-$v-$round.json > $R/sr-$v-$round.txt 2>&1 || echo "sr $v rc $?"
  done
  echo "round $round at $(( $(date +%s) - T0 )) s"
done
python3 - <<'PY'
import json,glob,statistics,os
R=os.environ["OUT"]+"/r"
t={}
for f in sorted(glob.glob(R+"/s*-*-*.json")):
    set_,v,_=f.split("/")[-1][:-5].split("-")
    for r in json.load(open(f))["rows"]:
        t.setdefault((set_,r["batch"],r["seq"]),{}).setdefault(v,[]).append(r["ms"])
for k,d in sorted(t.items()):
    a=statistics.median(d["vih"])
    print(*k, f"main {a:.4f}", " ".join(f"{v} {statistics.median(d[v]):.4f} ({100*(statistics.median(d[v])/a-1):+.1f}%)" for v in ("v1","v2") if v in d))
PY
cd $OUT && tar czf r.tgz r && rm -r r
