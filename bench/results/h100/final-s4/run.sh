#!/usr/bin/env bash
# Session 4, final source on the H100 (one device command, run from the repository root with
# the binaries built here and carried in .carry/gpu): every GPU test after the runtime and tuner
# refactors, the sanitizer on the tensor-core kernels, the example engine, and one key tuned
# exhaustively end to end through the CLI (its winner against the shipped file's).
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
R=$PWD; C=$PWD/.carry/gpu
cd $C
VECINFER_REQUIRE_GPU=1 VECINFER_REAL_KV=smollm2-kv.safetensors VECINFER_REAL_CODEBOOKS=cb-d4b8-d4b8-layer.safetensors timeout 200 ./gpu_attention --test-threads 1 > $OUT/gpu-attention-tests.log 2>&1; echo "gpu_attention rc $?"
VECINFER_REQUIRE_GPU=1 timeout 100 ./gpu_append --test-threads 1 > $OUT/gpu-append-tests.log 2>&1; echo "gpu_append rc $?"
VECINFER_REQUIRE_GPU=1 timeout 100 ./gpu_tuner > $OUT/gpu-tuner-test.log 2>&1; echo "gpu_tuner rc $?"
timeout 60 ./engine > $OUT/engine.log 2>&1; echo "engine rc $?"
VECINFER_REQUIRE_GPU=1 timeout 120 compute-sanitizer --tool memcheck ./gpu_attention every_mma_axis --test-threads 1 > $OUT/sanitizer-memcheck-mma.log 2>&1; echo "memcheck rc $?"
timeout 120 ./vecinfer tune --shapes 8x32768 --codecs d4b8/d4b8 --strategy exhaustive --file $OUT/one-key.json --table $OUT/one-key.md > $OUT/one-key.log 2>&1; echo "tune rc $?"
grep -h "test result" $OUT/gpu-*.log; grep -h "ERROR SUMMARY" $OUT/sanitizer-*.log; cat $OUT/engine.log; tail -n 3 $OUT/one-key.md
python3 - "$OUT/one-key.json" "$R/tuned-configs/nvidia-h100-80gb-hbm3.json" <<'PY' | tee $OUT/one-key-vs-shipped.txt
import json, sys
new, old = (json.load(open(p)) for p in sys.argv[1:3])
for k, e in new["entries"].items():
    w, s = e["winner"], old["entries"][k]["winner"]
    print(k, "now", round(w["median_ms"], 4), "shipped", round(s["median_ms"], 4), "same config" if w["config"] == s["config"] else "other config")
PY
cd $OUT && rm -f one-key.json *.lock && tar czf logs.tgz *.log && rm -f *.log
