#!/usr/bin/env bash
# The tuner on the H100 (one device command; run from the repository root with the carried
# binaries in .carry/gpu): the tuner's GPU test, the SDPA baseline, then the bench grid tuned
# guided and exhaustive. A carried exhaustive.json is resumed (the run is split over device calls).
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
C=.carry/gpu
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > $OUT/gpu.txt
VECINFER_REQUIRE_GPU=1 timeout 120 $C/gpu_tuner --nocapture > $OUT/gpu-tuner-test.log 2>&1; echo "gpu_tuner rc $?"
python3 $C/fp16_decode_baseline.py --json $OUT/sdpa-baseline.json > $OUT/sdpa-baseline.log 2>&1; echo "sdpa rc $?"
[ -f $C/guided.json ] && cp $C/guided.json $OUT/
timeout ${GUIDED_S:-200} $C/vecinfer tune --strategy guided --file $OUT/guided.json --baseline $OUT/sdpa-baseline.json --table $OUT/table-guided.md > $OUT/tune-guided.log 2>&1; echo "guided rc $?"
[ -f $C/exhaustive.json ] && cp $C/exhaustive.json $OUT/
timeout ${EXHAUSTIVE_S:-200} $C/vecinfer tune --strategy exhaustive --file $OUT/exhaustive.json --baseline $OUT/sdpa-baseline.json --table $OUT/table-exhaustive.md > $OUT/tune-exhaustive.log 2>&1; echo "exhaustive rc $?"
$C/vecinfer compare-tuning --exhaustive $OUT/exhaustive.json --other $OUT/guided.json --table $OUT/guided-vs-exhaustive.md 2>&1 | tail -4
tail -3 $OUT/gpu-tuner-test.log; grep -v "^GPU" $OUT/tune-guided.log | tail -30
