#!/usr/bin/env bash
# Session 15, H100: compute-sanitizer memcheck and racecheck on the changed direct-load kernels
# (code addresses once per page): bench verifies each config against the CPU reference, then
# times it, over contiguous rows and 16- and 64-token pages (1 to 4 pages per warp share),
# 4 and 8 warps, 256 and 512 tiles, with and without a bound; and the paged GPU tests.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
S=$PWD/.carry/s15f; R=/tmp/r; mkdir -p $R
for b in vi gpu_paged; do xz -dc $S/$b.xz > $R/$b && chmod +x $R/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
B="--layouts contiguous,paged16,paged64 --codecs d4b8/d4b8 --shapes 3x3000,2x700 --runs 2"
timeout 240 compute-sanitizer --tool memcheck --print-limit 20 $R/vi bench $B --warps 4,8 --tile 256,512 --min-blocks 0,2 > $OUT/memcheck-bench.txt 2>&1; echo "memcheck bench rc $?: $(grep -c verified $OUT/memcheck-bench.txt) verified; $(grep 'ERROR SUMMARY' $OUT/memcheck-bench.txt)"
timeout 150 compute-sanitizer --tool racecheck --print-limit 20 $R/vi bench $B --warps 4,8 --tile 512 > $OUT/racecheck-bench.txt 2>&1; echo "racecheck bench rc $?: $(grep -c verified $OUT/racecheck-bench.txt) verified; $(grep 'RACECHECK SUMMARY\|ERROR SUMMARY' $OUT/racecheck-bench.txt)"
VECINFER_REQUIRE_GPU=1 timeout 150 compute-sanitizer --tool memcheck --print-limit 20 $R/gpu_paged --include-ignored --test-threads 1 > $OUT/memcheck-paged.txt 2>&1; echo "memcheck gpu_paged rc $?: $(grep -E '^test result' $OUT/memcheck-paged.txt); $(grep 'ERROR SUMMARY' $OUT/memcheck-paged.txt)"
