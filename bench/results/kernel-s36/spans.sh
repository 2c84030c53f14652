#!/usr/bin/env bash
# Session 36, H200: code spans of other widths than 8 bits on the GPU. gpu_attention's mma axes
# (now with d4b12/d4b12 and d2b10/d4b10 at head dim 128), then the review's direct test: the
# landed read_codes (f56785f's fragments.cuh, compiled by nvcc for sm_90 and sm_80) against
# read_code for the 18 (bits, codes a span, spans a row) cases that take the new branch, on 200
# random tiles each (spans.cu).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s36
R=$OUT/r; mkdir -p $R
xz -dc $S/gpu_attention.xz > /tmp/gpu_attention && chmod +x /tmp/gpu_attention
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $R/gpu.txt
VECINFER_REQUIRE_GPU=1 timeout 200 /tmp/gpu_attention --ignored --test-threads 1 every > $R/gpu_attention.log 2>&1; echo "gpu_attention rc $?"
grep -E "test result|FAILED|panicked" $R/gpu_attention.log | head -5
D=/tmp/t; mkdir -p $D
# t.cu is spans.cu
cp $S/t.cu $D/t.cu; sed -n 57,63p $S/common.cuh > $D/c.cuh; sed -n 1,144p $S/fragments.cuh > $D/f.cuh
cd $D && nvcc -O3 -arch=sm_90 -std=c++17 t.cu -o t > $R/spans.txt 2>&1 && ./t >> $R/spans.txt 2>&1 && nvcc -O3 -arch=sm_80 -std=c++17 -cubin t.cu -o t80.cubin >> $R/spans.txt 2>&1 && echo "sm_80 compiles" >> $R/spans.txt
echo "spans rc $?"; cat $R/spans.txt | tail -20
cd $OUT && tar czf r.tgz r && rm -r r
