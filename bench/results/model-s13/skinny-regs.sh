#!/usr/bin/env bash
# Session 13: the skinny projections at 77-80 registers (3 blocks per SM, 768-value chunks)
# against 125-128 (2 blocks per SM, 2048-value chunks), same binary otherwise. gpu-check with
# the new one (GPU pass against the CPU pass), then graph ms per step, interleaved rounds.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
for b in vi-skip vi-c768-lb3; do xz -dc .carry/s13/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 80 /tmp/vi-c768-lb3 gpu-check > $OUT/check-c768.txt 2>&1; echo "gpu-check rc $?: $(grep -cE '^PASS' $OUT/check-c768.txt) PASS"; grep -E "^FAIL" $OUT/check-c768.txt | cut -c1-200
for round in 1 2 3; do
for b in vi-skip vi-c768-lb3; do
  timeout 90 /tmp/$b decode-bench --random-weights --caches fp16,d4b8/d4b8 --batches 1,4 --contexts 2048,8192,131072 \
    --largest-at= --steps 30 --json $OUT/$b-r$round.json > $OUT/$b-r$round.txt 2>&1
  echo "round $round $b rc $?: $(grep -E '^(fp16|vecinfer) .* x ' $OUT/$b-r$round.txt | sed -E 's/^(fp16|vecinfer).* ([0-9]+) x +([0-9]+): eager ([0-9.]+) ms, graph ([0-9.]+) ms.*/\1 \2x\3:\5/' | tr '\n' ' ')"
done
done
cd $OUT && tar czf regs.tgz vi-* check-* && rm -f vi-* check-*
