#!/usr/bin/env bash
# Session 20, H100: the direct code loads with L1::no_allocate (commit after ea80caf). GPU tests
# and gpu-check on the new binary; then issue 14's table: SDPA FP16 and FlashInfer 0.6.18 FP16
# and FP8 (e4m3) paged KV beside `bench` (default config, verified against the CPU reference
# first), the new binary in two rounds (the old one against it: ab.sh, ab2.sh), Llama-3.1-8B and
# SmolLM2 attention shapes.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s20f; R=/tmp/r; mkdir -p $R
for b in vi-new gpu_attention gpu_paged gpu_tuner gpu_append; do xz -dc $S/$b.xz > $R/$b; done; chmod +x $R/*
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
if [ "${SKIP_TESTS:-0}" = 0 ]; then
for t in gpu_attention gpu_paged gpu_tuner gpu_append; do
  VECINFER_REQUIRE_GPU=1 timeout 200 $R/$t --include-ignored --test-threads 1 > $OUT/$t.log 2>&1; echo "$t rc $?: $(grep -E '^test result' $OUT/$t.log)"
done
timeout 120 $R/vi-new gpu-check > $OUT/check.txt 2>&1; echo "gpu-check rc $?: $(grep -cE '^PASS' $OUT/check.txt) PASS"; grep -E "^FAIL" $OUT/check.txt | cut -c1-200
fi
mkdir -p /tmp/site && xz -dc $S/fi-site.tar.xz | tar xf - -C /tmp/site; export PYTHONPATH=/tmp/site
timeout 280 python3 $S/fp16_decode_baseline.py --json /tmp/base-llama.json > $OUT/base-llama.log 2>&1; echo "baseline llama rc $?"
timeout 150 python3 $S/fp16_decode_baseline.py --heads 9 --kv-heads 3 --head-dim 64 --shapes 1x32768,1x131072,8x32768,64x8192,256x2048 --json /tmp/base-smol.json > $OUT/base-smol.log 2>&1; echo "baseline smol rc $?"
cp /tmp/base-*.json $OUT/
tail -8 $OUT/base-llama.log; tail -6 $OUT/base-smol.log
for round in 1 2; do for v in ${VERSIONS:-new}; do
  timeout 60 $R/vi-$v bench --codecs d4b8/d4b8 --baseline /tmp/base-llama.json --json $OUT/bench-llama-$v-$round.json > $OUT/bench-llama-$v-$round.txt 2>&1; echo "bench llama $v rc $?"
  timeout 40 $R/vi-$v bench --heads 9 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8 --shapes 1x32768,1x131072,8x32768,64x8192,256x2048 --baseline /tmp/base-smol.json --json $OUT/bench-smol-$v-$round.json > $OUT/bench-smol-$v-$round.txt 2>&1; echo "bench smol $v rc $?"
  grep -hE "^ +[0-9]+ +[0-9]+ |verified|error" $OUT/bench-*-$v-$round.txt | cut -c1-175
done; done
tar czf $OUT/final.tgz -C $OUT $(cd $OUT && ls *.txt *.log *.json) && (cd $OUT && rm -f *.txt *.log *.json)
