#!/usr/bin/env bash
# Session 14, H100: the CLI's GPU paths after the bad-input fixes (gpu-check's temp folder and
# atomic --json, decode-bench's --json and plot, bench's early list checks), on the landed kernels.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s14f/vi.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 100 /tmp/vi gpu-check --json $OUT/check.json > $OUT/check.txt 2>&1; echo "gpu-check rc $?: $(grep -cE '^PASS' $OUT/check.txt) PASS, json $(python3 -c "import json;print(len(json.load(open('$OUT/check.json'))))") reports; temp folders left: $(ls -d /tmp/vecinfer-gpu-check-* 2>/dev/null | wc -l)"
timeout 120 /tmp/vi decode-bench --random-weights --caches fp16,d4b8/d4b8 --batches 1,4 --contexts 8192 --largest-at= --steps 10 \
  --json $OUT/decode.json --plot $OUT/decode.svg > $OUT/decode.txt 2>&1; echo "decode-bench rc $?: $(grep -E '^(fp16|vecinfer).* x ' $OUT/decode.txt | sed -E 's/^(fp16|vecinfer).* ([0-9]+) x +([0-9]+): eager ([0-9.]+) ms, graph ([0-9.]+) ms.*/\1 \2x\3:\5/' | tr '\n' ' ')"
timeout 60 /tmp/vi decode-bench --replot $OUT/decode.json --plot $OUT/replot.svg > /dev/null 2>&1; echo "replot rc $?"
timeout 100 /tmp/vi bench --shapes 1x32768 --codecs d4b8/d4b8 --runs 10 > $OUT/bench.txt 2>&1; echo "bench rc $?: $(grep -E '^ +[0-9]+ +[0-9]+ +d4b8' $OUT/bench.txt | awk '{print $1"x"$2":"$7}')"
timeout 30 /tmp/vi bench --replicas 3 > /dev/null 2> $OUT/bad.txt; echo "bench --replicas 3 rc $?: $(head -c 120 $OUT/bad.txt)"
cd $OUT && tar czf final-cli.tgz *.txt *.json *.svg && rm -f *.txt *.json *.svg
