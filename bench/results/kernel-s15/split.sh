#!/usr/bin/env bash
# Session 15, H100: batch 1 splits 131072 tokens of 3 KV heads into 88 blocks each (auto: two
# waves of 132 SMs x 2 blocks), and every block copies its codebooks (up to 64 KB from L2) for
# about 1,500 tokens (48 KB of codes). Fixed splits searched at the engine's two long batch-1
# keys, on a copy of the shipped file, then ranked by whole steps, then the steps of the
# shipped file against the copy (same binary, interleaved).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s15f; R=/tmp/r; mkdir -p $R
xz -dc $S/vi.xz > $R/vi && chmod +x $R/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
cp tuned-configs/nvidia-h100-80gb-hbm3.json /tmp/split.json
K="--shapes 1x32768,1x131072 --codecs d4b8/d4b8 --heads 9 --kv-heads 3 --head-dim 64 --layouts paged64"
start=$(date +%s)
timeout 200 $R/vi tune $K --strategy exhaustive --runs 40 --retune --scoring mma --tile 256,512 --warps 4,8 --stages 1 \
  --replicas 4,8,16 --min-blocks 0,2 --split ${SPLITS:-auto,22,33,44,66,132} --file /tmp/split.json --table $OUT/table-split.md > $OUT/tune-split.log 2>&1
echo "tune rc $? in $(( $(date +%s) - start )) s"; tail -n 3 $OUT/table-split.md | cut -d'|' -f2,3,4,11
start=$(date +%s)
timeout 150 $R/vi tune-steps --file /tmp/split.json --batches 1 --contexts 32768,131072 --top 12 --rounds 3 > $OUT/tune-steps.txt 2> $OUT/tune-steps.err
echo "tune-steps rc $? in $(( $(date +%s) - start )) s"; grep -E "winner|skip" $OUT/tune-steps.txt | cut -c1-200
G="--random-weights --caches d4b8/d4b8 --batches 1 --contexts 32768,131072 --largest-at= --steps 30"
for round in 1 2 3; do
  for v in shipped split; do
    case $v in shipped) f=$PWD/tuned-configs/nvidia-h100-80gb-hbm3.json;; *) f=/tmp/split.json;; esac
    VECINFER_TUNED_CONFIGS=$f timeout 60 $R/vi decode-bench $G > $OUT/decode-$v-r$round.txt 2>&1
    echo "round $round $v rc $?: $(grep -E '^vecinfer .* x ' $OUT/decode-$v-r$round.txt | sed -E 's/^vecinfer.* ([0-9]+) x +([0-9]+): eager ([0-9.]+) ms, graph ([0-9.]+) ms.*/\1x\2:\4/' | tr '\n' ' ')"
  done
done
gzip -c /tmp/split.json > $OUT/split.json.gz
cd $OUT && tar czf decode.tgz decode-*.txt && rm -f decode-*.txt
