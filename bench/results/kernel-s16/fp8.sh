#!/usr/bin/env bash
# Session 16, H100 (and H200), part 1 of 2: the baselines of issue 14 in one run with the kernel: SDPA FP16,
# FlashInfer 0.6.18 FP16 and FP8 (e4m3) paged KV, Llama-3.1-8B and SmolLM2 attention shapes;
# then `bench` (default config, verified against the CPU reference first) against them.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s16b
xz -dc $S/vi.xz > /tmp/vi && chmod +x /tmp/vi
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl; export PYTHONPATH=/tmp/site
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 280 python3 $S/fp16_decode_baseline.py --json /tmp/base-llama.json > $OUT/base-llama.log 2>&1; echo "baseline llama rc $?"
timeout 150 python3 $S/fp16_decode_baseline.py --heads 9 --kv-heads 3 --head-dim 64 --shapes 1x32768,1x131072,8x32768,64x8192,256x2048 --json /tmp/base-smol.json > $OUT/base-smol.log 2>&1; echo "baseline smol rc $?"
cp /tmp/base-*.json $OUT/
tail -8 $OUT/base-llama.log; tail -6 $OUT/base-smol.log
timeout 60 /tmp/vi bench --codecs d4b8/d4b8,d8b12/d8b8 --baseline /tmp/base-llama.json --json $OUT/bench-llama.json > $OUT/bench-llama.txt 2>&1; echo "bench llama rc $?"
timeout 40 /tmp/vi bench --heads 9 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8 --shapes 1x32768,1x131072,8x32768,64x8192,256x2048 --baseline /tmp/base-smol.json --json $OUT/bench-smol.json > $OUT/bench-smol.txt 2>&1; echo "bench smol rc $?"
grep -hE "^ +[0-9]+ +[0-9]+ |verified|error" $OUT/bench-*.txt | cut -c1-175
