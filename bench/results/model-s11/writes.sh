#!/usr/bin/env bash
# Session 11: the QKV projection writes each step's new K/V into the cache's fp16 slots, and
# the VQ cache flushes the tokens leaving its windows for all layers in one launch (no append
# launch per layer). Checks first (gpu-check on the small model: the token-write checks, both
# projections, graph and eager, perplexity through the new path; gpu_paged, gpu_append;
# memcheck over the small model's checks), then whole-model decode steps, random weights of
# SmolLM2's shape, each point with the projection's writes (default) and with
# VECINFER_TOKEN_WRITES=append (an append launch per layer, as before), in one command.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s11
for b in vi gpu_paged gpu_append; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 200 /tmp/vi gpu-check --json $OUT/check-tiny.json > $OUT/check-tiny.txt 2>&1; echo "gpu-check rc $?"
grep -E "PASS|FAIL" $OUT/check-tiny.txt | cut -c1-220
for b in gpu_paged gpu_append; do
  VECINFER_REQUIRE_GPU=1 timeout 90 /tmp/$b --include-ignored --test-threads 1 > $OUT/$b.log 2>&1; echo "$b rc $?"
done
grep -hE "^test result|panicked" $OUT/gpu_*.log
CS=$(ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || which compute-sanitizer)
timeout 240 $CS --tool memcheck --print-limit 20 /tmp/vi gpu-check > $OUT/memcheck.txt 2>&1; echo "memcheck rc $?"
grep -E "ERROR SUMMARY|PASS|FAIL" $OUT/memcheck.txt | tail -4
G="--random-weights --caches fp16,d4b8/d4b8 --largest-at= --steps 20"
for w in projection append; do
  if [ $w = append ]; then export VECINFER_TOKEN_WRITES=append; fi
  timeout 200 /tmp/vi decode-bench $G --batches 1,4 --contexts 8192,131072 --json $OUT/decode-small-$w.json > $OUT/decode-small-$w.txt 2>&1; echo "small $w rc $?"
  timeout 150 /tmp/vi decode-bench $G --batches 64 --contexts 8192 --json $OUT/decode-64-$w.json > $OUT/decode-64-$w.txt 2>&1; echo "64 $w rc $?"
done
unset VECINFER_TOKEN_WRITES
python3 - <<PY
import json
for part in ['small','64']:
    for w in ['projection','append']:
        d=json.load(open(f'$OUT/decode-{part}-{w}.json'))
        rows=d['rows'] if isinstance(d,dict) else d
        for r in rows:
            print(w, r['cache'], r['batch'], r['context'], r.get('graph_ms'), r.get('eager_ms'))
PY
cd $OUT && tar czf logs.tgz *.txt *.log *.json 2>/dev/null; ls
