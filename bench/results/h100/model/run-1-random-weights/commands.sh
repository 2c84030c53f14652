#!/bin/bash
# Call A of 3 (model part 1 of 3 + binaries): the engine on a small random model against the
# CPU, HF transformers' decode baseline, the decode benchmark (random weights).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
C=$PWD/.carry/model/a; V=/root/vi; mkdir -p $V/cache
export VECINFER_CACHE_DIR=$V/cache PYTHONUNBUFFERED=1
L=$OUT/a.log
unxz() { python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" "$1" "$2"; }
cp $C/part-aa $V/ && echo "part-aa copied" >> $L
unxz $C/vecinfer.xz $V/vecinfer && unxz $C/gpu_model.xz $V/gpu_model && chmod +x $V/vecinfer $V/gpu_model
B=$V/vecinfer
t0=$(date +%s); stamp() { echo "== $(( $(date +%s) - t0 ))s: $*" >> $L; }
nvidia-smi >> $L 2>&1; $B info >> $L 2>&1
stamp gpu-check tiny
timeout 150 $B gpu-check --json $OUT/check-tiny.json >> $L 2>&1; stamp "gpu-check rc $?"
timeout 120 python3 $C/hf_decode_baseline.py --shapes 64x8192,1x8192,1x131072 --steps 24 --json $OUT/hf.json >> $L 2>&1; stamp "hf rc $?"
timeout 200 $B decode-bench --random-weights --caches fp16,d4b8/d4b8 --batches 1,16,64,256 \
  --contexts 1024,8192,32768,131072 --largest-at 8192 --tune-fp16 64x8192 --baseline $OUT/hf.json \
  --json $OUT/decode-bench.json --plot $OUT/decode-bench.svg > $OUT/decode-bench.txt 2>> $L; stamp "decode-bench rc $?"
timeout 90 $B decode-bench --random-weights --caches d2b8/d2b8,d8b12/d8b8 --batches 1,16,64,256 \
  --contexts 1024,8192,32768,131072 --largest-at 8192 --baseline $OUT/hf.json \
  --json $OUT/decode-bench-2.json >> $OUT/decode-bench.txt 2>> $L; stamp "decode-bench 2 rc $?"
ls -la $V >> $L
