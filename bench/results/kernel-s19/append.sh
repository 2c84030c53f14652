#!/usr/bin/env bash
# Session 19: the append kernel with a team of 8, 4, 2 or 1 warps per row (the launch picks the
# most whose blocks fit one wave), and the key transform by shuffles in the append and the flush.
# GPU tests and gpu-check on the new binaries; then VERSIONS of the binary (old: .carry/s18,
# commit 70ca6da; mid: commit 2ae50bf, teams with a shuffle tree for the warp's nearest centroid;
# teams: commit 6d18caf, with two redux.sync minima instead; new: the append launched as the
# advance's dependent on sm_90, commit below)
# bench append column, interleaved; each team size forced; whole decode steps (the
# flush changed too); compute-sanitizer over the append of every team size.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
R=/tmp/r; mkdir -p $R; C=.carry/s19
VERSIONS=${VERSIONS:-old new}
for v in $VERSIONS; do if [ $v = new ]; then xz -dc $C/vi.xz > $R/vi-new; else xz -dc $C/vi-$v.xz > $R/vi-$v; fi; done
for b in gpu_append gpu_paged gpu_tuner; do xz -dc $C/$b.xz > $R/$b; done; chmod +x $R/*
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
if [ "${SKIP_TESTS:-0}" = 0 ]; then
for t in gpu_append gpu_paged gpu_tuner; do
  VECINFER_REQUIRE_GPU=1 timeout 240 $R/$t --include-ignored --test-threads 1 > $OUT/$t.log 2>&1; echo "$t rc $?: $(grep -E '^test result' $OUT/$t.log)"
  grep -E "FAILED|panicked" $OUT/$t.log | head -5 | cut -c1-300
done
timeout 120 $R/vi-new gpu-check > $OUT/check.txt 2>&1; echo "gpu-check rc $?: $(grep -cE '^PASS' $OUT/check.txt) PASS"; grep -E "^FAIL" $OUT/check.txt | cut -c1-200
fi
LL="--codecs d4b8/d4b8,d2b8/d2b8,d8b12/d8b8 --shapes 1x32768,8x32768,32x8192,64x8192,128x4096 --runs 30"
SM="--heads 9 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8,d2b8/d2b8 --shapes 1x32768,64x8192,256x2048 --layouts paged64 --runs 30"
if [ "${SKIP_BENCH:-0}" = 0 ]; then
for round in $(seq ${ROUNDS:-2}); do for v in $VERSIONS; do
  timeout 150 $R/vi-$v bench $LL --json $OUT/ll-$v-$round.json > $OUT/ll-$v-$round.txt 2>&1; echo "ll $v $round rc $?"
  timeout 150 $R/vi-$v bench $SM --json $OUT/sm-$v-$round.json > $OUT/sm-$v-$round.txt 2>&1; echo "sm $v $round rc $?"
  grep -hE "FAIL|rror" $OUT/ll-$v-$round.txt $OUT/sm-$v-$round.txt | head -3
done; done
for w in ${FORCED:-8 4 2 1}; do
  timeout 150 $R/vi-new bench --codecs d4b8/d4b8,d2b8/d2b8 --shapes 1x32768,8x32768,32x8192,64x8192,128x4096 --runs 30 --append-warps $w \
    --json $OUT/ll-w$w.json > $OUT/ll-w$w.txt 2>&1; echo "ll w$w rc $?"
  timeout 150 $R/vi-new bench $SM --append-warps $w --json $OUT/sm-w$w.json > $OUT/sm-w$w.txt 2>&1; echo "sm w$w rc $?"
done
python3 - "$OUT" <<'PY'
import json, sys, glob, os, collections
out = sys.argv[1]
rows = collections.defaultdict(dict)
for f in sorted(glob.glob(os.path.join(out, "*.json"))):
    tag = os.path.basename(f)[:-5]
    if tag.startswith("steps"): continue
    family, run = tag.split("-", 1)
    for r in json.load(open(f))["rows"]:
        key = (family, r["key_codec"] + "/" + r["value_codec"], r["batch"], r["seq"])
        rows[key][run] = (r["ms"], r["append_ms"], r["append_share"], r.get("append_warps_per_row"))
runs = sorted({t for v in rows.values() for t in v})
print("family codecs batch x seq | attention ms (new-1) | append: " + " | ".join(runs))
for k in sorted(rows):
    cells = []
    for t in runs:
        v = rows[k].get(t)
        cells.append("-" if v is None else f"{1e3*v[1]:.1f}us {100*v[2]:.1f}%" + (f" w{v[3]}" if v[3] else ""))
    ms = rows[k].get("new-1", (0,))[0]
    print(f"{k[0]} {k[1]} {k[2]}x{k[3]} | {ms:.4f} | " + " | ".join(cells))
PY
fi
if [ "${SKIP_STEPS:-0}" = 0 ]; then
F=tuned-configs/nvidia-h100-80gb-hbm3.json; nvidia-smi -L | grep -q H200 && F=tuned-configs/nvidia-h200.json
fp_new=$(grep -o '"codegen": "[0-9a-f]*"' $F | head -1 | cut -d'"' -f4)
sed "s/\"codegen\": \"$fp_new\"/\"codegen\": \"f3cf3e21629f5a77\"/" $F > $R/fp-old.json; cp $F $R/fp-new.json
for round in 1 2; do for v in old new; do
  VECINFER_TUNED_CONFIGS=$R/fp-$v.json timeout 150 $R/vi-$v decode-bench --random-weights --caches d4b8/d4b8 --batches 1,64 --contexts 8192 --largest-at= --steps 30 \
    --json $OUT/steps-$v-$round.json > $OUT/steps-$v-$round.txt 2>&1; echo "steps $v $round rc $?"
  grep -E "^vecinfer.* x " $OUT/steps-$v-$round.txt | cut -c1-150
done; done
fi
if [ "${SKIP_SANITIZE:-0}" = 0 ]; then
for tool in memcheck racecheck; do for w in 8 4 2 1; do
  timeout 200 compute-sanitizer --tool $tool --print-limit 20 $R/vi-new bench --codecs d4b8/d4b8,d2b8/d2b8 --shapes 3x2048 --runs 2 --append-warps $w > $OUT/$tool-w$w.txt 2>&1
  echo "$tool w$w rc $?: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $OUT/$tool-w$w.txt | tr '\n' ' ')"
done
timeout 200 compute-sanitizer --tool $tool --print-limit 20 $R/vi-new bench --heads 9 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8,d8b12/d8b8 --layouts paged64 --shapes 3x2048 --runs 2 > $OUT/$tool-smol.txt 2>&1
echo "$tool smol rc $?: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $OUT/$tool-smol.txt | tr '\n' ' ')"
done
VECINFER_REQUIRE_GPU=1 timeout 240 compute-sanitizer --tool memcheck --print-limit 20 $R/gpu_append --include-ignored --test-threads 1 > $OUT/memcheck-gpu_append.txt 2>&1
echo "memcheck gpu_append rc $?: $(grep -E 'ERROR SUMMARY|^test result' $OUT/memcheck-gpu_append.txt | tr '\n' ' ')"
fi
tar czf $OUT/logs.tgz -C $OUT $(cd $OUT && ls *.log *.txt *.json) && (cd $OUT && rm -f *.log *.txt *.json)
