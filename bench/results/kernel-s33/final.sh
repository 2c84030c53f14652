#!/usr/bin/env bash
# Session 33, H200: the landed form (v3: one-piece plans write the output in the attention, no
# merge; an uncovered or stale one-piece launch poisons block x's rows after its stores) on a
# GPU: gpu_attention, gpu_paged, gpu-check, the graph test under memcheck; then Nsight Compute
# (main vih, v1 without the poisoning, v3) and `bench` rounds (vih, v3).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s33
R=$OUT/r; mkdir -p $R
for b in vih v1 v3 gpu_attention gpu_paged; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
cp /tmp/v3 /tmp/vi
T0=$(date +%s)
VECINFER_REQUIRE_GPU=1 timeout 200 /tmp/gpu_attention --ignored --test-threads 1 > $R/gpu_attention.log 2>&1; echo "gpu_attention rc $? at $(( $(date +%s) - T0 )) s"
grep -E "^test |test result" $R/gpu_attention.log
VECINFER_REQUIRE_GPU=1 timeout 120 /tmp/gpu_paged --ignored --test-threads 1 > $R/gpu_paged.log 2>&1; echo "gpu_paged rc $? at $(( $(date +%s) - T0 )) s"
grep -E "test result" $R/gpu_paged.log
timeout 150 /tmp/vi gpu-check > $R/gpu-check.log 2>&1; echo "gpu-check rc $? PASS $(grep -cE '^PASS' $R/gpu-check.log) FAIL $(grep -cE '^FAIL' $R/gpu-check.log) at $(( $(date +%s) - T0 )) s"
VECINFER_REQUIRE_GPU=1 timeout 100 compute-sanitizer --tool memcheck --error-exitcode 9 /tmp/gpu_attention --ignored --exact a_graph_replayed_after_another_plan_gives_nan --test-threads 1 > $R/graph-memcheck.log 2>&1
echo "graph test under memcheck rc $?"; grep -E "ERROR SUMMARY|test result" $R/graph-memcheck.log
while read name args; do
  for v in vih v1 v3; do
    timeout 100 ncu -k regex:vq_ --launch-skip 10 --launch-count 6 --metrics gpu__time_duration.sum \
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
smol-8x32k --shapes 8x32768 --heads 9 --kv-heads 3 --head-dim 64 --layouts paged64
smol-32x32k --shapes 32x32768 --heads 9 --kv-heads 3 --head-dim 64 --layouts paged64
smol-64x8k --shapes 64x8192 --heads 9 --kv-heads 3 --head-dim 64 --layouts paged64
llama-8x32k --shapes 8x32768
llama-128x4k --shapes 128x4096
SHAPES
echo "ncu at $(( $(date +%s) - T0 )) s"
C="--codecs d4b8/d4b8 --runs 50"
SMOL="--heads 9 --kv-heads 3 --head-dim 64 --layouts paged64"
for round in 1 2; do
  for v in vih v3; do
    timeout 60 /tmp/$v bench $C $SMOL --shapes 1x32768,8x32768,32x8192,64x8192,256x2048 --json $R/se-$v-$round.json > $R/se-$v-$round.txt 2>&1 || echo "se $v rc $?"
    timeout 60 /tmp/$v bench $C --layouts contiguous,paged64 --shapes 1x32768,8x32768,32x8192,64x8192,128x4096 --json $R/eq-$v-$round.json > $R/eq-$v-$round.txt 2>&1 || echo "eq $v rc $?"
  done
  echo "round $round at $(( $(date +%s) - T0 )) s"
done
grep -hE "verified|rror" $R/*-v3-1.txt | sort | uniq -c | head
python3 - <<'PY'
import json,glob,statistics,os
R=os.environ["OUT"]+"/r"
t={}
for f in sorted(glob.glob(R+"/[se][eq]-*-*.json")):
    set_,v,_=f.split("/")[-1][:-5].split("-")
    for r in json.load(open(f))["rows"]:
        t.setdefault((set_,r["config"].split("_direct_")[-1],r["batch"],r["seq"]),{}).setdefault(v,[]).append(r["ms"])
for k,d in sorted(t.items()):
    if "vih" not in d or "v3" not in d: continue
    a=statistics.median(d["vih"]); b=statistics.median(d["v3"])
    print(*k, "main", " ".join(f"{x:.4f}" for x in d["vih"]), "new", " ".join(f"{x:.4f}" for x in d["v3"]), f"median {100*(b/a-1):+.1f}%")
PY
cd $OUT && tar czf r.tgz r && rm -r r
