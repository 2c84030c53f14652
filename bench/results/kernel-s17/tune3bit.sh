#!/usr/bin/env bash
# Session 17 (H100 or H200): the ~3-bit accuracy pick (K d4b12 / V d4b8, issue 15) had no tuned
# keys. SDPA baselines, then an exhaustive tune of its keys over the bench grid (Llama-3.1-8B
# attention shape) and a guided one over SmolLM2's shape, into a copy of this GPU's shipped file
# (every candidate verified against the CPU reference before it is timed).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
R=/tmp/r; mkdir -p $R; S=$PWD/.carry/s17
xz -dc $S/vi.xz > $R/vi && chmod +x $R/vi
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1); echo "$GPU"
case "$GPU" in *H200*) F=nvidia-h200.json;; *) F=nvidia-h100-80gb-hbm3.json;; esac
cp tuned-configs/$F $R/$F
python3 $S/fp16_decode_baseline.py --json $OUT/sdpa-llama.json > $OUT/sdpa-llama.log 2>&1; echo "baseline rc $?"
python3 $S/fp16_decode_baseline.py --heads 9 --kv-heads 3 --head-dim 64 --shapes 1x32768,1x131072,8x32768,64x8192,256x2048 --json $OUT/sdpa-smol.json > $OUT/sdpa-smol.log 2>&1; echo "baseline smol rc $?"
start=$(date +%s)
timeout 300 $R/vi tune --strategy exhaustive --codecs d4b12/d4b8 --file $R/$F --baseline $OUT/sdpa-llama.json --table $OUT/table-llama.md > $OUT/tune-llama.log 2>&1
echo "llama rc $? in $(( $(date +%s) - start )) s"; tail -n 8 $OUT/table-llama.md | cut -c1-220
start=$(date +%s)
timeout 200 $R/vi tune --strategy guided --heads 9 --kv-heads 3 --head-dim 64 --shapes 1x32768,1x131072,8x32768,64x8192,256x2048 --codecs d4b12/d4b8 \
  --file $R/$F --baseline $OUT/sdpa-smol.json --table $OUT/table-smol.md > $OUT/tune-smol.log 2>&1
echo "smol rc $? in $(( $(date +%s) - start )) s"; tail -n 7 $OUT/table-smol.md | cut -c1-220
gzip -c $R/$F > $OUT/$F.gz
