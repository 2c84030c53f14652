#!/usr/bin/env bash
# Session 12: the FP16 cache's decode-attention tiling (warps x unroll; default w4 u4) timed
# alone at several batch x context points (decode-bench --tune-fp16), then the step with the
# fastest, for a per-shape FP16 heuristic (the 1 x 128k best was 4.4% faster than the default
# in final-h100/).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s12/vi.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for p in 1x8192 1x32768 1x131072 4x8192 4x131072 16x8192 64x8192; do
  b=${p%x*}; c=${p#*x}
  timeout 80 /tmp/vi decode-bench --random-weights --caches fp16 --batches $b --contexts $c --largest-at= --steps 20 --tune-fp16 $p \
    --json $OUT/fp16-$p.json > $OUT/fp16-$p.txt 2>&1 || echo "$p failed"
  echo "$p: $(grep -E '^using' $OUT/fp16-$p.txt) $(grep -E 'fp16 attention d64_g3_w4_u4' $OUT/fp16-$p.txt | cut -c1-90)"
  grep -E "^fp16 .* x " $OUT/fp16-$p.txt | cut -c1-120
done
cd $OUT && tar czf fp16-tilings.tgz fp16-*.txt fp16-*.json && rm fp16-*.txt fp16-*.json
