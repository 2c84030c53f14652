#!/usr/bin/env bash
# Session 33, H200: one-piece plans write the output from the attention, no merge (vi), against main
# before it (vih, 06fb7e7).
# Usage: ab.sh TESTS ROUNDS [ncu]; with ncu, ncu.sh after the rounds. TESTS=1: first the GPU tests of the new build (gpu_attention,
# gpu_paged, gpu-check); TESTS=2: whole decode steps of both builds (decode-bench, equal and ragged). Then ROUNDS interleaved rounds of `bench` on both builds: the Llama-3.1-8B
# shape equal and ragged (contiguous and 64-token pages), SmolLM2's (9/3 heads, dim 64, pages of
# 64) equal and ragged; d4b8/d4b8, default config.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s33
R=$OUT/r; mkdir -p $R
for b in vi vih gpu_attention gpu_paged; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $R/gpu.txt
T0=$(date +%s)
if [ "$1" = 1 ]; then
  VECINFER_REQUIRE_GPU=1 timeout 200 /tmp/gpu_attention --ignored --test-threads 1 > $R/gpu_attention.log 2>&1; echo "gpu_attention rc $? at $(( $(date +%s) - T0 )) s"
  grep -E "^test |test result" $R/gpu_attention.log
  VECINFER_REQUIRE_GPU=1 timeout 120 /tmp/gpu_paged --ignored --test-threads 1 > $R/gpu_paged.log 2>&1; echo "gpu_paged rc $? at $(( $(date +%s) - T0 )) s"
  grep -E "^test |test result" $R/gpu_paged.log
  timeout 150 /tmp/vi gpu-check > $R/gpu-check.log 2>&1; echo "gpu-check rc $? PASS $(grep -cE '^PASS' $R/gpu-check.log) FAIL $(grep -cE '^FAIL' $R/gpu-check.log) at $(( $(date +%s) - T0 )) s"
fi
if [ "$1" = 2 ]; then
  # Whole decode steps (CUDA graphs: the plan uploaded before capture), SmolLM2's shape.
  DB="decode-bench --random-weights --caches d4b8/d4b8 --batches 8,32 --contexts 8192,32768 --tune-fp16 off --largest-at="
  for v in vih vi; do
    for mode in "" "--ragged"; do
      timeout 110 /tmp/$v $DB $mode > $R/db$mode-$v.txt 2>&1; echo "decode-bench $v $mode rc $?"
      grep -A6 -E '^cache ' $R/db$mode-$v.txt | cut -c1-150
    done
  done
  echo "decode-bench at $(( $(date +%s) - T0 )) s"
fi
C="--codecs d4b8/d4b8 --runs 50"
SMOL="--heads 9 --kv-heads 3 --head-dim 64 --layouts paged64"
for round in $(seq 1 $2); do
  for v in vih vi; do
    timeout 60 /tmp/$v bench $C --layouts contiguous,paged64 --shapes 1x32768,1x131072,8x32768,64x8192,128x4096 --json $R/eq-$v-$round.json > $R/eq-$v-$round.txt 2>&1 || echo "eq $v rc $?"
    timeout 60 /tmp/$v bench $C --layouts contiguous,paged64 --ragged --shapes 8x32768,16x16384,32x8192,64x8192,128x4096 --json $R/rg-$v-$round.json > $R/rg-$v-$round.txt 2>&1 || echo "rg $v rc $?"
    timeout 60 /tmp/$v bench $C $SMOL --shapes 1x32768,8x32768,32x8192,64x8192 --json $R/se-$v-$round.json > $R/se-$v-$round.txt 2>&1 || echo "se $v rc $?"
    timeout 60 /tmp/$v bench $C $SMOL --ragged --shapes 8x8192,8x32768,32x8192,32x32768 --json $R/sr-$v-$round.json > $R/sr-$v-$round.txt 2>&1 || echo "sr $v rc $?"
  done
  echo "round $round at $(( $(date +%s) - T0 )) s"
done
grep -hE "verified|rror" $R/*-vi-1.txt | sort | uniq -c | head
python3 - <<'PY'
import json,glob,statistics,os
R=os.environ["OUT"]+"/r"
t={}
for f in sorted(glob.glob(R+"/*-vi*-*.json")):
    set_,v,_=f.split("/")[-1][:-5].split("-")
    for r in json.load(open(f))["rows"]:
        t.setdefault((set_,r["config"].split("_mma_")[-1],r["batch"],r["seq"]),{}).setdefault(v,[]).append(r["ms"])
for k,d in sorted(t.items()):
    if "vi" not in d or "vih" not in d: continue
    a=statistics.median(d["vih"]); b=statistics.median(d["vi"])
    print(*k, f"main {a:.4f} new {b:.4f} {100*(b/a-1):+.1f}%")
PY
[ "${3:-}" = ncu ] && bash bench/results/kernel-s33/ncu.sh
cd $OUT && tar czf r.tgz r && rm -r r
