#!/usr/bin/env bash
# Session 13, H200, the landed binary: `tune-steps` over the 15 engine keys of a copy of the
# shipped H200 file (its rankings were made with the old skinny projections), then decode-bench
# with the re-ranked file, the FP16 cache at its fastest step per point (--tune-fp16 steps).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s13/vi.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
F=$(ls tuned-configs | grep -i "$(nvidia-smi --query-gpu=name --format=csv,noheader | awk '{print tolower($2)}')" | grep json$ | head -1)
echo "file $F"; cp tuned-configs/$F /tmp/ranked.json
start=$(date +%s)
timeout 300 /tmp/vi tune-steps --file /tmp/ranked.json --top 12 --rounds 3 > $OUT/tune-steps.txt 2> $OUT/tune-steps.err; echo "tune-steps rc $? in $(( $(date +%s) - start )) s"
grep -E "winner|skip" $OUT/tune-steps.txt $OUT/tune-steps.err | sed 's/d64_g3_kd4b8_vd4b8_layer_smooth_hadamard_//g' | cut -c1-200
gzip -c /tmp/ranked.json > $OUT/ranked.json.gz
export VECINFER_TUNED_CONFIGS=/tmp/ranked.json
timeout 300 /tmp/vi decode-bench --random-weights --caches fp16,d4b8/d4b8 --batches 1,4 --contexts 8192,131072 --largest-at= --steps 30 \
  --tune-fp16 steps --json $OUT/decode-bench.json > $OUT/decode-bench.txt 2>&1; echo "decode-bench rc $?"
grep -E "^(fp16|vecinfer).* x |^  " $OUT/decode-bench.txt | cut -c1-170
grep -E "^fp16 step with" $OUT/decode-bench.txt > $OUT/fp16-steps.txt
cd $OUT && tar czf logs.tgz tune-steps.txt tune-steps.err decode-bench.txt fp16-steps.txt && rm -f tune-steps.txt tune-steps.err decode-bench.txt fp16-steps.txt
