#!/usr/bin/env bash
# Session 8, H100: where a batch-1 decode step at 1 x 128k goes, kernel by kernel (ncu, no
# clock lock, no cache flush: each kernel's own duration, serialized), and why the fused
# kernel takes ~20 us at SmolLM2's 1 x 128k for 12.6 MB of codes (ncu full set, one launch).
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
C=$PWD/.carry/s8; B=/tmp/s8; mkdir -p $B
xz -d -c $C/vecinfer.xz > $B/vecinfer && chmod +x $B/vecinfer
nvidia-smi --query-gpu=name,driver_version --format=csv > $OUT/gpu.txt
# 1. one eager step (warmup 0, steps 1) of each cache at 1 x 131072, every kernel's duration
for c in d4b8/d4b8 fp16; do n=$(echo $c | tr / _)
  timeout 200 ncu --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv \
    $B/vecinfer decode-bench --random-weights --caches $c --batches 1 --contexts 131072 --largest-at '' --warmup 0 --steps 1 \
    > $OUT/step-$n.csv 2> $OUT/step-$n.err; echo "step $c rc $?"
done
# 2. the fused kernel alone, SmolLM2 shape, engine's config (t512 w8), full set, one launch
timeout 200 ncu --clock-control none --set full -k regex:vq_attention --launch-skip 6 --launch-count 1 -o $OUT/attn-smollm2 \
  $B/vecinfer bench --heads 9 --kv-heads 3 --head-dim 64 --shapes 1x131072 --codecs d4b8/d4b8 --tile 512 --warps 8 --residual 4 --runs 3 \
  > $OUT/attn-smollm2.log 2>&1; echo "ncu attn rc $?"
ncu --import $OUT/attn-smollm2.ncu-rep --page details --csv > $OUT/attn-smollm2-details.csv 2>/dev/null
ncu --import $OUT/attn-smollm2.ncu-rep --page raw --csv > $OUT/attn-smollm2-raw.csv 2>/dev/null
cd $OUT && tar czf profile.tgz *.csv *.err *.log *.ncu-rep && rm -f *.csv *.err *.log *.ncu-rep
