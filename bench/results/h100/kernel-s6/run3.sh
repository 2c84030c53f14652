#!/usr/bin/env bash
# Session 6: the parallel split merge (v4 = v3 + merge by all 256 threads of a block), timed
# against main at batch 1 (where the merge took as long as the attention), and Nsight Compute's
# stall reasons for the append kernel (one launch, 64 x 8k Llama shape) and the attention at 1 x 32k.
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
C=.carry/k6c
for v in base v4; do xz -d -c $C/vecinfer-$v.xz > /tmp/vecinfer-$v && chmod +x /tmp/vecinfer-$v; done
python3 $C/fp16_decode_baseline.py --shapes 1x32768,1x131072,8x32768,64x8192,128x4096 --json $OUT/sdpa-llama.json > /dev/null 2>&1
python3 $C/fp16_decode_baseline.py --heads 9 --kv-heads 3 --head-dim 64 --shapes 1x32768,1x131072,64x8192 --json $OUT/sdpa-smollm2.json > /dev/null 2>&1
for v in base v4; do
  /tmp/vecinfer-$v bench --shapes 1x32768,1x131072,8x32768,64x8192,128x4096 --codecs d4b8/d4b8,d8b12/d8b8 --baseline $OUT/sdpa-llama.json > $OUT/bench-llama-$v.txt 2> $OUT/bench-llama-$v.log
  /tmp/vecinfer-$v bench --heads 9 --kv-heads 3 --head-dim 64 --shapes 1x32768,1x131072,64x8192 --codecs d4b8/d4b8 --baseline $OUT/sdpa-smollm2.json > $OUT/bench-smollm2-$v.txt 2> $OUT/bench-smollm2-$v.log
  echo "== $v"; grep -h "FAIL" $OUT/bench-*-$v.log; cut -c1-150 $OUT/bench-llama-$v.txt $OUT/bench-smollm2-$v.txt | grep -v "^copy"
done
timeout 120 ncu -k regex:vq_append -s 30 -c 1 --section WarpStateStats --section SchedulerStats --section LaunchStats --section Occupancy --section SpeedOfLight /tmp/vecinfer-v4 bench --shapes 64x8192 --codecs d4b8/d4b8 --runs 5 > $OUT/ncu-append.txt 2>&1
timeout 120 ncu -k regex:vq_attention -s 12 -c 1 --section WarpStateStats --section SchedulerStats --section LaunchStats --section Occupancy --section SpeedOfLight /tmp/vecinfer-v4 bench --shapes 1x32768 --codecs d4b8/d4b8 --runs 5 > $OUT/ncu-attention-1x32k.txt 2>&1
grep -E "Duration|Stall|Warp Cycles|Issued|Eligible|Active Warps|Achieved Occ|Registers|Block Limit|Grid Size|Threads|Throughput" $OUT/ncu-append.txt | head -40
grep -E "Duration|Warp Cycles|Eligible|Achieved Occ|Grid Size|Throughput" $OUT/ncu-attention-1x32k.txt | head -20
cd $OUT && tar czf all.tgz *.txt *.log *.json && rm -f *.txt *.log *.json
