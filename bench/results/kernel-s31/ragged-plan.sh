#!/usr/bin/env bash
# Session 31, H200: the ragged split plan (vi-ragged) against the plan from the longest (vi, main).
# GPU tests on the ragged-plan build; FlashInfer on more ragged shapes; 3 interleaved rounds of
# ragged bench rows, contiguous and 64-token pages; fixed splits on the batches the plan leaves.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s31
R=$OUT/r; mkdir -p $R
for b in vi vi-ragged gpu_paged gpu_attention; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $R/gpu.txt
for t in gpu_attention gpu_paged; do
  VECINFER_REQUIRE_GPU=1 timeout 200 /tmp/$t --ignored --test-threads 1 > $R/$t.log 2>&1; echo "$t rc $?"; grep -E "^test |test result" $R/$t.log
done
VECINFER_REQUIRE_GPU=1 timeout 120 /tmp/vi-ragged gpu-check > $R/gpu-check.log 2>&1; echo "gpu-check rc $?: $(grep -cE "^PASS" $R/gpu-check.log) PASS"; grep -E "^FAIL" $R/gpu-check.log | cut -c1-200
python3 -m pip install -q --no-index --no-deps --target /tmp/site $S/whl/*.whl; export PYTHONPATH=/tmp/site
SH=4x32768,8x32768,16x16384,32x8192,64x8192,128x4096
timeout 150 python3 bench/ragged_baseline.py --shapes $SH --json /tmp/ragged.json > $R/ragged-base.log 2>&1; echo "ragged baseline rc $?"; tail -7 $R/ragged-base.log
RB=""; [ -s /tmp/ragged.json ] && RB="--baseline /tmp/ragged.json" && cp /tmp/ragged.json $R/
for round in 1 2 3; do
  for v in vi vi-ragged; do
    timeout 60 /tmp/$v bench --codecs d4b8/d4b8 --layouts contiguous,paged64 --ragged --shapes $SH $RB --json $R/ragged-$v-$round.json > $R/ragged-$v-$round.txt 2>&1; echo "bench $v $round rc $?"
  done
done
grep -hE "^ +[0-9]+ +~?[0-9]+ |verified|rror" $R/ragged-vi-ragged-1.txt | cut -c1-215
timeout 60 /tmp/vi-ragged bench --codecs d4b8/d4b8 --ragged --split auto,1,2,3,4,6 --shapes 64x8192,128x4096 $RB --json $R/fixed.json > $R/fixed.txt 2>&1; echo "fixed splits rc $?"
grep -hE "^ +[0-9]+ +~?[0-9]+ " $R/fixed.txt | cut -c1-215
python3 - <<'PY'
import json,glob,statistics,os
R=os.environ["OUT"]+"/r"
t={}
for f in sorted(glob.glob(R+"/ragged-vi*-*.json")):
    v=f.split("/")[-1][7:].rsplit("-",1)[0]
    for r in json.load(open(f))["rows"]:
        t.setdefault((r["variant"][-12:],r["batch"],r["seq"]),{}).setdefault(v,[]).append((r["ms"],r["splits"]))
for k,d in sorted(t.items()):
    a=statistics.median(x[0] for x in d["vi"]); b=statistics.median(x[0] for x in d["vi-ragged"])
    print(k, f"longest {a:.4f} ({d['vi'][0][1]} splits) ragged {b:.4f} ({d['vi-ragged'][0][1]} splits) {100*(b/a-1):+.1f}%")
PY
cd $OUT && tar czf r.tgz r && rm -r r
