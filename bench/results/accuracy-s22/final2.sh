#!/usr/bin/env bash
# Session 22, H200, call 7: the final binaries (the slab's int8 scales loaded up front): the
# GPU tests, the fp16-window kernels against main before the session (vi-old) once more, whole
# steps (fp16 window by projection, fp16 window appended, int8 window; 2 rounds) and ncu's
# attention/append kernel times at 1 x 8192.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
R=/root/s22; mkdir -p $R; for b in vi vi-old gpu_attention gpu_append gpu_paged gpu_model; do xz -dc .carry/s22/$b.xz > $R/$b; done; chmod +x $R/*
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for t in gpu_attention gpu_append gpu_paged; do
  VECINFER_REQUIRE_GPU=1 timeout 240 $R/$t --include-ignored --test-threads 1 > $OUT/$t.log 2>&1; echo "$t rc $?: $(grep -E '^test result' $OUT/$t.log)"
done
VECINFER_REQUIRE_GPU=1 timeout 200 $R/gpu_model --ignored tiny --test-threads 1 > $OUT/gpu_model.log 2>&1; echo "gpu_model tiny rc $?: $(grep -E '^test result' $OUT/gpu_model.log)"
SMOL="--heads 9 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8 --runs 50"
for v in old new; do b=$R/vi; [ $v = old ] && b=$R/vi-old
  timeout 90 $b bench $SMOL --shapes 1x32768,8x32768,64x8192,256x2048 > $OUT/smol-$v.txt 2>&1
  timeout 90 $b bench --codecs d4b8/d4b8 --shapes 1x131072,8x32768,64x8192 --runs 50 > $OUT/llama-$v.txt 2>&1
  echo "$v:"; for f in smol llama; do echo "$f $(grep -hE "FAIL|rror" $OUT/$f-$v.txt | head -2) $(grep -hoE "rel err [0-9.e-]+" $OUT/$f-$v.txt | head -1) $(grep -hE "^  [0-9]+x[0-9]+: " $OUT/$f-$v.txt | awk '{printf "%s %s  ", $1, $2}')"; done
done
db() { local name=$1; shift; timeout 120 $R/vi decode-bench --random-weights --caches d4b8/d4b8 --batches 1,16,64 --contexts 8192 --largest-at "" --sinks 4 --residual 64 --json $OUT/$name.json "$@" > $OUT/$name.txt 2>&1; echo "$name rc $?: $(grep -E "^vecinfer d4b8/d4b8.* x " $OUT/$name.txt | grep -oE "[0-9]+ x +[0-9]+: eager [0-9.]+ ms, graph [0-9.]+ ms" | sed 's/ms, graph/\//' | tr '\n' ' ')"; }
for round in 1 2; do
  db steps-fp16-projection-$round
  db steps-fp16-append-$round --token-writes append
  db steps-int8-$round --window int8
done
for w in "fp16 --token-writes append" "int8 --window int8"; do set -- $w; name=$1; shift
  timeout 200 ncu --metrics gpu__time_duration.sum -k regex:"vq_(attention|append|merge)" --launch-skip 300 --launch-count 90 --csv \
    $R/vi decode-bench --random-weights --caches d4b8/d4b8 --batches 1 --contexts 8192 --largest-at "" --sinks 4 --residual 64 --steps 3 --warmup 1 "$@" > $OUT/ncu-$name.csv 2> $OUT/ncu-$name.err
  echo "ncu $name rc $?"; python3 - $OUT/ncu-$name.csv <<'PY'
import csv, sys, collections, re
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
head = rows[0]; k = head.index("Kernel Name"); v = head.index("Metric Value")
acc = collections.defaultdict(list)
for r in rows[1:]:
    acc[re.sub(r"_d64.*", "", r[k])].append(float(r[v].replace(",", "")))
for name, xs in acc.items(): print(f"  {name:<16} n {len(xs):3d} mean {sum(xs)/len(xs)/1000:.2f} us  min {min(xs)/1000:.2f}")
PY
done
tar czf $OUT/final2.tgz -C $OUT $(cd $OUT && ls *.txt *.log *.json *.csv *.err) && (cd $OUT && rm -f *.txt *.log *.json *.csv *.err)
