#!/usr/bin/env bash
# Session 5, the paged cache on the H100 (one device command from the repository root, with
# scripts/gpu-carry.sh's binaries in .carry/gpu): every GPU test, contiguous and paged, then
# compute-sanitizer memcheck and racecheck on the paged kernels (the engine workload of
# tests/gpu_paged.rs: mma direct and staged, CUDA-core LUT, 16- to 128-token pages).
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
cd .carry/gpu
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
export VECINFER_REQUIRE_GPU=1
(VECINFER_REAL_KV=smollm2-kv.safetensors VECINFER_REAL_CODEBOOKS=cb-d4b8-d4b8-layer.safetensors timeout 330 ./gpu_attention --include-ignored --test-threads 1 --nocapture > $OUT/gpu-attention.log 2>&1; echo "gpu_attention rc $?") &
(timeout 200 ./gpu_paged --include-ignored --test-threads 1 --nocapture > $OUT/gpu-paged.log 2>&1; echo "gpu_paged rc $?"
 timeout 150 ./gpu_append --include-ignored --test-threads 1 --nocapture > $OUT/gpu-append.log 2>&1; echo "gpu_append rc $?"
 timeout 100 ./gpu_tuner --include-ignored --nocapture > $OUT/gpu-tuner.log 2>&1; echo "gpu_tuner rc $?"
 timeout 200 compute-sanitizer --tool memcheck ./gpu_paged --include-ignored --test-threads 1 > $OUT/memcheck-paged.log 2>&1; echo "memcheck rc $?"
 timeout 250 compute-sanitizer --tool racecheck ./gpu_paged --include-ignored --test-threads 1 > $OUT/racecheck-paged.log 2>&1; echo "racecheck rc $?") &
wait
grep -hE "^test |^test result|panicked|FAILED" $OUT/gpu-*.log | grep -v " ok$" ; grep -h "test result" $OUT/gpu-*.log
grep -hE "ERROR SUMMARY|RACECHECK SUMMARY" $OUT/*check-*.log
