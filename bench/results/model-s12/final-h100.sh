#!/usr/bin/env bash
# Session 12, H100, one command, the session's binary (.carry/s12/vi.xz, commit e80b947: the
# skinny projections' early operands; the step-ranked H100 file in tuned-configs/):
# 1. tune-steps once more at 1 x 131072 over the 40 fastest alone (was 12), into a copy;
# 2. HF transformers' decode beside the engine at 1 x 8192 and 64 x 8192, each cache at the
#    largest batch that fits at 8192, 1 x 131072 (speed only), with the plot (the copy's keys);
# 3. the FP16 cache at 1 x 131072 with its decode attention's tiling tuned at that point
#    (--tune-fp16), so that the 2x target is read against the FP16 cache's best.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s12/vi.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
cp tuned-configs/nvidia-h100-80gb-hbm3.json /tmp/h100.json
timeout 150 /tmp/vi tune-steps --file /tmp/h100.json --batches 1 --contexts 131072 --top 40 --rounds 3 > $OUT/tune-steps-b1-128k.txt 2>&1; echo "tune-steps rc $?"
grep -E "winner" $OUT/tune-steps-b1-128k.txt
head -8 $OUT/tune-steps-b1-128k.txt | cut -c1-160
gzip -c /tmp/h100.json > $OUT/h100-top40.json.gz
export VECINFER_TUNED_CONFIGS=/tmp/h100.json
timeout 200 python3 .carry/t8/hf_decode_baseline.py --shapes 1x8192,64x8192 --steps 16 --json $OUT/hf.json > $OUT/hf.txt 2>&1; echo "hf rc $?"; tail -3 $OUT/hf.txt
timeout 300 /tmp/vi decode-bench --random-weights --caches fp16,d4b8/d4b8 --batches 1,64 --contexts 8192,131072 --largest-at 8192 --steps 30 \
  --baseline $OUT/hf.json --json $OUT/decode-bench.json --plot $OUT/decode-throughput.svg > $OUT/decode-bench.txt 2>&1; echo "decode-bench rc $?"
grep -E "^(fp16|vecinfer).* x |^  " $OUT/decode-bench.txt | cut -c1-170
timeout 100 /tmp/vi decode-bench --random-weights --caches fp16 --batches 1 --contexts 131072 --largest-at= --steps 30 --tune-fp16 1x131072 \
  --json $OUT/fp16-tuned.json > $OUT/fp16-tuned.txt 2>&1; echo "fp16 tuned rc $?"
grep -E "using|^fp16.* x " $OUT/fp16-tuned.txt | cut -c1-170
