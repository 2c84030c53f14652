#!/usr/bin/env bash
# Session 6, kernel A/B on one H100, all in one command: SDPA FP16 and FlashInfer FP16/FP8
# (fp16_decode_baseline.py), then `vecinfer bench` (default configs, verified against the CPU
# reference before timing) for three builds of the same tree:
#   base: main before this session's kernel changes
#   v1:   centroid addresses by byte permute + shift-add, masks only on a split's last share,
#         warp outputs over the codebooks (3 blocks per SM fit the 2-bit kernel's shared memory)
#   v2:   v1 + __launch_bounds__(THREADS, MIN_BLOCKS) (register budget for those 3 blocks)
# Carried: .carry/k6 (xz'd stripped binaries, the FlashInfer wheels, the baseline script).
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
C=.carry/k6
for v in base v1 v2; do xz -d -c $C/vecinfer-$v.xz > /tmp/vecinfer-$v && chmod +x /tmp/vecinfer-$v; done
python3 -m pip install -q --no-index --no-deps --target /tmp/site $C/fi/*.whl && export PYTHONPATH=/tmp/site
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
LL=1x32768,1x131072,8x32768,32x8192,64x8192,128x4096
SM=1x32768,1x131072,8x32768,64x8192,256x2048
(time timeout 300 python3 $C/fp16_decode_baseline.py --shapes $LL --json $OUT/baseline-llama.json) > $OUT/baseline-llama.txt 2>&1
(time timeout 150 python3 $C/fp16_decode_baseline.py --heads 9 --kv-heads 3 --head-dim 64 --shapes $SM --json $OUT/baseline-smollm2.json) > $OUT/baseline-smollm2.txt 2>&1
tail -12 $OUT/baseline-llama.txt; tail -9 $OUT/baseline-smollm2.txt
for v in base v1 v2; do
  timeout 120 /tmp/vecinfer-$v bench --shapes $LL --codecs d4b8/d4b8,d2b8/d2b8,d8b12/d8b8 --runs 30 \
    --baseline $OUT/baseline-llama.json --json $OUT/bench-llama-$v.json > $OUT/bench-llama-$v.txt 2> $OUT/bench-llama-$v.log
  timeout 60 /tmp/vecinfer-$v bench --heads 9 --kv-heads 3 --head-dim 64 --shapes $SM --codecs d4b8/d4b8 --runs 30 \
    --baseline $OUT/baseline-smollm2.json --json $OUT/bench-smollm2-$v.json > $OUT/bench-smollm2-$v.txt 2> $OUT/bench-smollm2-$v.log
  echo "== $v"; grep -h "verif\|FAIL\|rror" $OUT/bench-*-$v.log | cut -c1-160; cut -c1-140 $OUT/bench-llama-$v.txt $OUT/bench-smollm2-$v.txt
done
