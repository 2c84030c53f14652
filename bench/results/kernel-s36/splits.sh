#!/usr/bin/env bash
# Session 36, H200: the automatic split plan against fixed splits on the Llama shape's batches
# >= 8, default config (396 resident blocks: 132 SMs x 3). The plan's fill of its waves:
# 32 x 8k 1 split (256 blocks, 65% of one wave), 64 x 8k 2 (86%), 128 x 4k 1 (86%); 3 splits
# would fill 97% at all three. Two rounds, then SmolLM2's paged default the same way.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s36
R=$OUT/r; mkdir -p $R
xz -dc $S/vi.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $R/gpu.txt
T0=$(date +%s)
for round in 1 2; do
  timeout 120 /tmp/vi bench --codecs d4b8/d4b8 --runs 50 --split auto,1,2,3,4 --shapes 8x32768,32x8192,64x8192,128x4096 > $R/llama-$round.txt 2>&1 || echo "llama rc $?"
  timeout 120 /tmp/vi bench --codecs d4b8/d4b8 --runs 50 --heads 9 --kv-heads 3 --head-dim 64 --layouts paged64 --split auto,1,2,3,4 --shapes 8x32768,32x8192,64x8192,256x2048 > $R/smol-$round.txt 2>&1 || echo "smol rc $?"
  echo "round $round at $(( $(date +%s) - T0 )) s"
done
for f in $R/llama-*.txt $R/smol-*.txt; do echo "== $(basename $f)"; grep -E "^ +[0-9]+ +[0-9]+ " $f | awk '{print $1"x"$2, $6, $7, $NF, $(NF-1)}' | sed 's/ sauto//' ; grep -E "verified|FAILED" $f | sed 's/_layer.*(worst/ (worst/' | head -6; done
cd $OUT && tar czf r.tgz r && rm -r r
