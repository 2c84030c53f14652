#!/usr/bin/env bash
# Session 31, H200: the ragged plan with the empty-block rule (vi) against the plan from the
# longest (vi-nr). gpu_attention on the final build; decode-bench of the VQ cache on ragged
# batches (random SmolLM2 weights) and kernel bench on ragged batches (Llama, and SmolLM2's
# pages), 2 interleaved rounds.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s31
R=$OUT/r; mkdir -p $R
for b in vi vi-nr gpu_attention; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $R/gpu.txt
VECINFER_REQUIRE_GPU=1 timeout 200 /tmp/gpu_attention --ignored --test-threads 1 > $R/gpu_attention.log 2>&1; echo "gpu_attention rc $?"; grep -E "test result" $R/gpu_attention.log
DB="decode-bench --random-weights --caches d4b8/d4b8 --batches 8,32 --contexts 8192,32768 --tune-fp16 off --largest-at= --ragged"
for round in 1 2; do
  for v in vi vi-nr; do
    timeout 80 /tmp/$v $DB --json $R/db-$v-$round.json > $R/db-$v-$round.txt 2>&1; echo "decode-bench $v $round rc $?"
    timeout 40 /tmp/$v bench --codecs d4b8/d4b8 --ragged --shapes 4x32768,8x32768,16x16384,32x8192 --json $R/llama-$v-$round.json > $R/llama-$v-$round.txt 2>&1; echo "bench llama $v $round rc $?"
    timeout 40 /tmp/$v bench --heads 9 --kv-heads 3 --head-dim 64 --layouts paged64 --codecs d4b8/d4b8 --ragged --shapes 8x8192,32x8192,8x32768,32x32768 --json $R/smol-$v-$round.json > $R/smol-$v-$round.txt 2>&1; echo "bench smol $v $round rc $?"
  done
done
python3 - <<'PY'
import json,glob,statistics,os
R=os.environ["OUT"]+"/r"
t={}
for f in sorted(glob.glob(R+"/*-vi*-[12].json")):
    name=f.split("/")[-1][:-5]; kind,rest=name.split("-",1); v=rest.rsplit("-",1)[0]
    for r in json.load(open(f))["rows"]:
        ms=r["ms"] if "ms" in r else (r["graph_ms"] or r["eager_ms"])
        t.setdefault((kind,r["batch"],r.get("seq",r.get("context"))),{}).setdefault(v,[]).append((ms,r.get("splits","-")))
for k,d in sorted(t.items()):
    if "vi" not in d or "vi-nr" not in d: continue
    a=statistics.median(x[0] for x in d["vi-nr"]); b=statistics.median(x[0] for x in d["vi"])
    print(k, f"longest {a:.4f} ({d['vi-nr'][0][1]}) ragged {b:.4f} ({d['vi'][0][1]}) {100*(b/a-1):+.1f}%")
PY
cd $OUT && tar czf r.tgz r && rm -r r
