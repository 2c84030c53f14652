#!/usr/bin/env bash
# Session 18, H100: issue 14's table again with the new set-up. In one command: SDPA FP16 and
# FlashInfer 0.6.18 FP16 and FP8 (e4m3) paged KV (the wheels unpacked, xz-packed to fit the
# carry), Llama-3.1-8B and SmolLM2 attention shapes; then `bench` (default config, verified
# against the CPU reference first) against them, old binary (.carry/s17, 7ca54e4) and new.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s18b
xz -dc $S/vi.xz > /tmp/vi-new; xz -dc $S/vi-old.xz > /tmp/vi-old; chmod +x /tmp/vi-*
mkdir -p /tmp/site && xz -dc $S/fi-site.tar.xz | tar xf - -C /tmp/site; export PYTHONPATH=/tmp/site
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 280 python3 $S/fp16_decode_baseline.py --json /tmp/base-llama.json > $OUT/base-llama.log 2>&1; echo "baseline llama rc $?"
timeout 150 python3 $S/fp16_decode_baseline.py --heads 9 --kv-heads 3 --head-dim 64 --shapes 1x32768,1x131072,8x32768,64x8192,256x2048 --json /tmp/base-smol.json > $OUT/base-smol.log 2>&1; echo "baseline smol rc $?"
cp /tmp/base-*.json $OUT/
tail -8 $OUT/base-llama.log; tail -6 $OUT/base-smol.log
for v in old new; do
  timeout 60 /tmp/vi-$v bench --codecs d4b8/d4b8,d8b12/d8b8 --baseline /tmp/base-llama.json --json $OUT/bench-llama-$v.json > $OUT/bench-llama-$v.txt 2>&1; echo "bench llama $v rc $?"
  timeout 40 /tmp/vi-$v bench --heads 9 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8 --shapes 1x32768,1x131072,8x32768,64x8192,256x2048 --baseline /tmp/base-smol.json --json $OUT/bench-smol-$v.json > $OUT/bench-smol-$v.txt 2>&1; echo "bench smol $v rc $?"
  grep -hE "^ +[0-9]+ +[0-9]+ |verified|error" $OUT/bench-*-$v.txt | cut -c1-175
done
tar czf $OUT/logs.tgz -C $OUT $(cd $OUT && ls *.txt *.log) && (cd $OUT && rm -f *.txt *.log)
