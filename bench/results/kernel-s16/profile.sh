#!/usr/bin/env bash
# Session 16, H100: where a batch-1 step's time goes at 1 x 131072 (SmolLM2 shape, random
# weights, shipped tuned file). Per-kernel durations of one eager step at the GPU's own clocks
# and warm caches (ncu --clock-control none --cache-control none), and the full ncu sections of
# one VQ attention and one merge launch.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s16; R=/tmp/r; mkdir -p $R
for b in vi; do xz -dc $S/$b.xz > $R/$b && chmod +x $R/$b; done
DB="$R/vi decode-bench --random-weights --batches 1 --contexts 131072 --largest-at= --tune-fp16 off"
$DB --caches fp16,d4b8/d4b8 --steps 30 > $OUT/steps.txt 2>&1; grep -E "^(fp16|vecinfer).* x " $OUT/steps.txt
for c in fp16 d4b8/d4b8; do
  n=$(echo $c | tr / _)
  timeout 200 ncu --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv $DB --caches $c --steps 1 --warmup 0 > /tmp/ncu-$n.csv 2>&1
  gzip -c /tmp/ncu-$n.csv > $OUT/durations-$n.csv.gz
done
timeout 200 ncu --clock-control none --set full -k regex:"vq_attention|vq_merge" --launch-skip 40 --launch-count 2 -o /tmp/full -f $DB --caches d4b8/d4b8 --steps 1 --warmup 0 > $OUT/ncu-full.txt 2>&1
cp /tmp/full.ncu-rep $OUT/ 2>/dev/null
ncu --import /tmp/full.ncu-rep --print-details all > $OUT/full.txt 2>&1; gzip $OUT/full.txt
