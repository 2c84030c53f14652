#!/usr/bin/env bash
# Session 31, H200: the ragged bench mode. GPU tests of the paged cache (with the ragged random
# caches); baselines in the same run (SDPA and FlashInfer FP16/FP8 on equal lengths, FlashInfer
# on ragged lengths); bench equal and ragged, contiguous and 64-token pages; then the fp16 tokens
# on `splits - 1` (vi-last) against `fp16_split` (vi) on ragged batches, interleaved rounds.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s31
R=$OUT/r; mkdir -p $R
for b in vi vi-last gpu_paged; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $R/gpu.txt
VECINFER_REQUIRE_GPU=1 timeout 150 /tmp/gpu_paged --ignored --test-threads 1 > $R/gpu_paged.log 2>&1; echo "gpu_paged rc $?"; grep -E "^test |test result" $R/gpu_paged.log
python3 -m pip install -q --no-index --no-deps --target /tmp/site $S/whl/*.whl; export PYTHONPATH=/tmp/site
T0=$(date +%s)
# $S/fp16_decode_baseline.py: a copy of ../shared/bench/fp16_decode_baseline.py (not on the GPU machine).
timeout 220 python3 $S/fp16_decode_baseline.py --shapes 1x32768,1x131072,8x32768,64x8192,128x4096 --json /tmp/base.json > $R/base.log 2>&1; echo "baseline rc $? in $(( $(date +%s) - T0 )) s"
timeout 100 python3 bench/ragged_baseline.py --shapes 8x32768,64x8192,128x4096 --json /tmp/ragged.json > $R/ragged-base.log 2>&1; echo "ragged baseline rc $? at $(( $(date +%s) - T0 )) s"
cp /tmp/base.json /tmp/ragged.json $R/ 2>/dev/null
tail -7 $R/base.log; tail -5 $R/ragged-base.log
B=""; [ -s /tmp/base.json ] && B="--baseline /tmp/base.json"
RB=""; [ -s /tmp/ragged.json ] && RB="--baseline /tmp/ragged.json"
timeout 60 /tmp/vi bench --codecs d4b8/d4b8 --layouts contiguous,paged64 --shapes 1x32768,1x131072,8x32768,64x8192,128x4096 $B --json $R/equal.json > $R/equal.txt 2>&1; echo "bench equal rc $?"
for round in 1 2; do
  for v in vi vi-last; do
    timeout 60 /tmp/$v bench --codecs d4b8/d4b8 --layouts contiguous,paged64 --ragged --shapes 8x32768,64x8192,128x4096 $RB --json $R/ragged-$v-$round.json > $R/ragged-$v-$round.txt 2>&1; echo "bench ragged $v $round rc $?"
  done
done
grep -hE "^ +[0-9]+ +~?[0-9]+ |verified|rror" $R/equal.txt $R/ragged-vi-1.txt | cut -c1-215
python3 - <<'PY'
import json,glob,statistics,os
R=os.environ["OUT"]+"/r"
t={}
for f in sorted(glob.glob(R+"/ragged-*-*.json")):
    v=f.split("/")[-1].rsplit("-",1)[0][7:]
    for r in json.load(open(f))["rows"]:
        t.setdefault((r["variant"],r["batch"],r["seq"]),{}).setdefault(v,[]).append(r["ms"])
for k,d in sorted(t.items()):
    a=statistics.median(d["vi"]); b=statistics.median(d["vi-last"])
    print(k, f"fp16_split {a:.4f} splits-1 {b:.4f} {100*(b/a-1):+.1f}%")
PY
cd $OUT && tar czf r.tgz r && rm -r r
