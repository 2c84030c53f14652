export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
export VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
cd .carry/gpu
VECINFER_REQUIRE_GPU=1 ./gpu_attention every_mma_axis --nocapture 2>&1 | grep -E "bf16|qsplit|test result"
python3 fp16_decode_baseline.py --shapes 8x32768,64x8192 --json /tmp/sdpa.json 2>&1 | tail -3
./vecinfer bench --shapes 8x32768,64x8192 --codecs d4b8/d4b8 --scoring mma --replicas 2,4,8,16 --tile 128,256 --warps 4,8 --split auto,8 --runs 20 --baseline /tmp/sdpa.json --json $OUT/sweep-a.json 2>&1 | grep -E "^ +[0-9]+ +[0-9]+ " | sort -k1,1n -k6,6n
./vecinfer bench --shapes 8x32768,64x8192 --codecs d4b8/d4b8 --scoring mma --replicas 4,8 --split-query true --split 8 --baseline /tmp/sdpa.json 2>&1 | grep -E "^ +[0-9]+ +[0-9]+ "
ncu -k regex:vq_attention --launch-skip 3 --launch-count 1 --section MemoryWorkloadAnalysis_Tables --section SourceCounters ./vecinfer bench --shapes 64x8192 --codecs d4b8/d4b8 --scoring mma --replicas 4 --runs 3 > $OUT/ncu-mma-tables.txt 2>&1
