#!/usr/bin/env bash
# Session 7: the skinny projections as programmatic dependent launches (sm_90). The engine's
# checks on the small random model (logits vs the CPU pass; PDL is the default on sm_90),
# memcheck and racecheck over them, then the decode benchmark with and without PDL in one run
# (--dependent-launches both; random weights of SmolLM2's shape).
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s7/vecinfer.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 120 /tmp/vi gpu-check --json $OUT/check-tiny.json > $OUT/check-tiny.txt 2>&1; echo "gpu-check rc $?"
grep -E "PASS|FAIL|passed" $OUT/check-tiny.txt | cut -c1-220
timeout 150 compute-sanitizer --tool memcheck --print-limit 20 /tmp/vi gpu-check --no-eval > $OUT/memcheck.txt 2>&1; echo "memcheck rc $?"; tail -2 $OUT/memcheck.txt
timeout 120 compute-sanitizer --tool racecheck --print-limit 20 /tmp/vi gpu-check --no-eval > $OUT/racecheck.txt 2>&1; echo "racecheck rc $?"; tail -2 $OUT/racecheck.txt
timeout 280 /tmp/vi decode-bench --random-weights --caches fp16,d4b8/d4b8 --batches 1,4 --contexts 8192,131072 \
  --largest-at "" --dependent-launches both --json $OUT/decode-bench.json > $OUT/decode-bench.txt 2>&1; echo "decode-bench rc $?"
grep -vE "^\s*$" $OUT/decode-bench.txt | grep -E "x limit|graph step|lower|^(fp16|vecinfer)" | cut -c1-170
