export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
export VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
cd .carry/gpu
VECINFER_REQUIRE_GPU=1 timeout 200 ./gpu_append --test-threads 1 --nocapture 2>&1 | grep -E "identical|panicked|left|right|test result" | tail -30
python3 fp16_decode_baseline.py --json /tmp/sdpa.json > $OUT/sdpa-baseline.log 2>&1
cp /tmp/sdpa.json $OUT/sdpa-baseline.json
timeout 200 ./vecinfer bench --shapes 8x32768,64x8192,1x131072,128x4096 --codecs d4b8/d4b8 --stages 1,2 --direct-codes false,true --split auto,8,16 --runs 20 --baseline /tmp/sdpa.json --json $OUT/sweep-direct.json > $OUT/sweep-direct.log 2>&1
grep -E "^ +[0-9]+ +[0-9]+ " $OUT/sweep-direct.log | sort -k1,1n -k2,2n -k6,6n
grep -iE "fail|error" $OUT/sweep-direct.log | head
