#!/usr/bin/env bash
# Session 18, H100: gpu_tuner with the re-stamped files, then compute-sanitizer on the new
# set-up (codebook copy by shuffles, the query's butterflies by shuffles): memcheck and
# racecheck over `bench` (verified against the CPU reference) with books of 2-, 4- and 8-dim
# centroids, 256 to 4096 entries, 1 to 16 replicas, 4 and 8 warps, head dims 128 and 64,
# contiguous and paged; memcheck over the paged GPU tests.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
R=/tmp/r; mkdir -p $R; C=.carry/s18
xz -dc $C/vi.xz > $R/vi-new; for b in gpu_tuner gpu_paged; do xz -dc $C/$b.xz > $R/$b; done; chmod +x $R/*
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
[ "${ONLY_SANITIZE:-0}" = 1 ] || VECINFER_REQUIRE_GPU=1 timeout 200 $R/gpu_tuner --include-ignored --test-threads 1 > $OUT/gpu_tuner.log 2>&1; echo "gpu_tuner rc $?: $(grep -E '^test result' $OUT/gpu_tuner.log)"
B="--shapes 2x700 --runs 2"; ALL="--codecs d4b8/d4b8,d2b8/d2b8,d8b12/d8b8,d4b12/d4b8"
for tool in memcheck racecheck; do
  for extra in "$ALL" "$ALL --heads 9 --kv-heads 3 --head-dim 64 --layouts paged64" "--tile 512 --warps 8 --replicas 16 --direct-codes true --codecs d4b8/d4b8 --layouts paged64"; do
    timeout 240 compute-sanitizer --tool $tool --print-limit 20 $R/vi-new bench $B $extra > $OUT/$tool-bench.txt 2>&1
    echo "$tool bench [${extra:-d128 defaults}] rc $?: $(grep -c verified $OUT/$tool-bench.txt) verified; $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' $OUT/$tool-bench.txt | tr '\n' ' ')"
    cat $OUT/$tool-bench.txt >> $OUT/$tool-bench-all.txt
  done
done
VECINFER_REQUIRE_GPU=1 timeout 200 compute-sanitizer --tool memcheck --print-limit 20 $R/gpu_paged --include-ignored --test-threads 1 > $OUT/memcheck-gpu_paged.txt 2>&1
echo "memcheck gpu_paged rc $?: $(grep -E '^test result' $OUT/memcheck-gpu_paged.txt); $(grep 'ERROR SUMMARY' $OUT/memcheck-gpu_paged.txt)"
rm -f $OUT/memcheck-bench.txt $OUT/racecheck-bench.txt
tar czf $OUT/final.tgz -C $OUT $(cd $OUT && ls *.txt *.log) && (cd $OUT && rm -f *.txt *.log)
