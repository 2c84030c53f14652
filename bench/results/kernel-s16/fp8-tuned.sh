#!/usr/bin/env bash
# Session 16, H100 (and H200), part 2 of 2 (the machine of fp8.sh, still warm): the tuned kernels re-timed
# beside part 1's baselines. An exhaustive re-tune of the 2-bit keys of both attention shapes on
# a copy of the shipped file (every candidate verified first), with the final table against
# SDPA FP16 and FlashInfer FP8.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s16b
xz -dc $S/vi.xz > /tmp/vi && chmod +x /tmp/vi
# The shipped file of this GPU (H100 or H200).
case "$(nvidia-smi --query-gpu=name --format=csv,noheader)" in
  *H200*) cp tuned-configs/nvidia-h200.json /tmp/t.json ;;
  *) cp tuned-configs/nvidia-h100-80gb-hbm3.json /tmp/t.json ;;
esac
timeout 250 /tmp/vi tune --retune --strategy exhaustive --codecs d4b8/d4b8 --file /tmp/t.json --baseline $S/base-llama.json --table $OUT/tuned-llama.md > $OUT/tune-llama.log 2>&1; echo "llama rc $?"
timeout 250 /tmp/vi tune --retune --strategy exhaustive --heads 9 --kv-heads 3 --head-dim 64 --shapes 1x32768,1x131072,8x32768,64x8192,256x2048 --codecs d4b8/d4b8 --file /tmp/t.json --baseline $S/base-smol.json --table $OUT/tuned-smol.md > $OUT/tune-smol.log 2>&1; echo "smol rc $?"
tail -n 8 $OUT/tuned-llama.md | cut -c1-230; tail -n 6 $OUT/tuned-smol.md | cut -c1-230
gzip $OUT/tune-*.log
