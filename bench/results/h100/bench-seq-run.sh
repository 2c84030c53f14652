export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
export VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
cd .carry/gpu
python3 fp16_decode_baseline.py --json $OUT/sdpa-baseline.json > $OUT/sdpa-baseline.log 2>&1
timeout 280 ./vecinfer bench --baseline $OUT/sdpa-baseline.json --json $OUT/bench.json > $OUT/bench.log 2>&1; echo "bench rc $?"
S=1x4096,1x16384,1x32768,1x65536,1x131072,8x4096,8x8192,8x16384,8x32768
python3 fp16_decode_baseline.py --shapes $S --json $OUT/sdpa-baseline-seq.json > $OUT/sdpa-baseline-seq.log 2>&1
timeout 200 ./vecinfer bench --shapes $S --codecs d4b8/d4b8,d2b8/d2b8 --baseline $OUT/sdpa-baseline-seq.json --json $OUT/bench-seq.json --plot $OUT/latency-vs-seq.svg > $OUT/bench-seq.log 2>&1; echo "bench-seq rc $?"
grep -E "^ +[0-9]+ +[0-9]+ " $OUT/bench.log
