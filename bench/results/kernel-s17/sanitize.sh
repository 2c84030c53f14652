#!/usr/bin/env bash
# Session 17, H100: compute-sanitizer on the streamed search of large codebooks. memcheck and
# racecheck over `bench` (which runs the append of every codec pair it times) with 4096- and
# 1024-entry books at head dims 128 and 64, and memcheck over the append and paged GPU tests
# (the codes against the CPU encoder; the paged test runs the window flush of d8b12 books).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
R=/tmp/r; mkdir -p $R
xz -dc .carry/s17/vi.xz > $R/vi-new; for b in gpu_append gpu_paged; do xz -dc .carry/s17/$b.xz > $R/$b; done; chmod +x $R/*
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
B="--codecs d8b12/d8b8,d4b12/d4b8,d8b10/d8b12 --shapes 2x700 --runs 2"
for tool in memcheck racecheck; do
  for shape in "" "--heads 9 --kv-heads 3 --head-dim 64"; do
    timeout 200 compute-sanitizer --tool $tool --print-limit 20 $R/vi-new bench $B $shape > $OUT/$tool-bench.txt 2>&1
    echo "$tool bench ${shape:-d128} rc $?: $(grep -c verified $OUT/$tool-bench.txt) verified; $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' $OUT/$tool-bench.txt | tr '\n' ' ')"
    cat $OUT/$tool-bench.txt >> $OUT/$tool-bench-all.txt
  done
done
for t in gpu_append gpu_paged; do
  VECINFER_REQUIRE_GPU=1 timeout 200 compute-sanitizer --tool memcheck --print-limit 20 $R/$t --include-ignored --test-threads 1 > $OUT/memcheck-$t.txt 2>&1
  echo "memcheck $t rc $?: $(grep -E '^test result' $OUT/memcheck-$t.txt); $(grep 'ERROR SUMMARY' $OUT/memcheck-$t.txt)"
done
rm -f $OUT/memcheck-bench.txt $OUT/racecheck-bench.txt
tar czf $OUT/sanitize.tgz -C $OUT $(cd $OUT && ls *.txt) && (cd $OUT && rm -f *.txt)
