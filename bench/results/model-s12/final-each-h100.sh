#!/usr/bin/env bash
# Session 12, H100, the last binary: as final-h100.sh, but the FP16 cache at every point with
# the decode tiling fastest at that point (decode-bench --tune-fp16 each): the FP16 cache at
# its best per shape beside the VQ cache with the shipped step-ranked keys, HF transformers in
# the same command.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s12/vi.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 200 python3 .carry/t8/hf_decode_baseline.py --shapes 1x8192,64x8192 --steps 16 --json $OUT/hf.json > $OUT/hf.txt 2>&1; echo "hf rc $?"; tail -2 $OUT/hf.txt
timeout 360 /tmp/vi decode-bench --random-weights --caches fp16,d4b8/d4b8 --batches 1,4,64 --contexts 8192,131072 --largest-at 8192 --steps 30 \
  --tune-fp16 each --baseline $OUT/hf.json --json $OUT/decode-bench.json --plot $OUT/decode-throughput.svg > $OUT/decode-bench.txt 2>&1; echo "decode-bench rc $?"
grep -E "^(fp16|vecinfer).* x |^  " $OUT/decode-bench.txt | cut -c1-170
python3 - <<PY
import json
d = json.load(open('$OUT/decode-bench.json'))
for r in d['rows']:
    if r['cache'].startswith('fp16'): print(r['batch'], r['context'], r['cache_kernel'])
PY
