#!/usr/bin/env bash
# Session 13: the skinny projections' register budget, four binaries, interleaved rounds of graph
# steps at batch 1, 4 and 8: session 12's (vi-skip: 2 blocks per SM, 125-128 registers), 768-value
# chunks at 3 blocks (c768-lb3), the same with L2 prefetch of later chunks' weights (c768-pf, the
# candidate), 512-value chunks at 4 blocks (c512-lb4, QKV at 3). gpu-check and memcheck first.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
for b in vi-skip vi-c768-lb3 vi-c768-pf vi-c512-lb4; do xz -dc .carry/s13/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for b in vi-c768-pf vi-c512-lb4; do
  timeout 80 /tmp/$b gpu-check > $OUT/check-$b.txt 2>&1; echo "gpu-check $b rc $?: $(grep -cE '^PASS' $OUT/check-$b.txt) PASS"; grep -E "^FAIL" $OUT/check-$b.txt | cut -c1-200
done
CS=$(ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || which compute-sanitizer)
timeout 300 $CS --tool memcheck --print-limit 20 /tmp/vi-c768-pf gpu-check > $OUT/memcheck-c768-pf.txt 2>&1; echo "memcheck rc $?: $(grep -E 'ERROR SUMMARY' $OUT/memcheck-c768-pf.txt) $(grep -cE '^PASS' $OUT/memcheck-c768-pf.txt) PASS"
for round in 1 2; do
for b in vi-skip vi-c768-lb3 vi-c768-pf vi-c512-lb4; do
  timeout 100 /tmp/$b decode-bench --random-weights --caches fp16,d4b8/d4b8 --batches 1,4,8 --contexts 2048,8192,131072 \
    --largest-at= --steps 30 --json $OUT/$b-r$round.json > $OUT/$b-r$round.txt 2>&1
  echo "round $round $b rc $?: $(grep -E '^(fp16|vecinfer) .* x ' $OUT/$b-r$round.txt | sed -E 's/^(fp16|vecinfer).* ([0-9]+) x +([0-9]+): eager ([0-9.]+) ms, graph ([0-9.]+) ms.*/\1 \2x\3:\5/' | tr '\n' ' ')"
done
done
cd $OUT && tar czf regs2.tgz vi-* check-* memcheck-* && rm -f vi-* check-* memcheck-*
