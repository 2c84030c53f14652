#!/usr/bin/env bash
# Session 15, part 1 of the re-tune after the address change and the launch-bound knob (either GPU): GPU tests,
# gpu-check, the SDPA baselines, then the bench grid's 24 contiguous keys, exhaustive.
source bench/results/kernel-s15/common.sh
# The GPU tests on the first GPU only (SKIP_TESTS=1 on the second: the same binary and sm_90).
[ "${SKIP_TESTS:-0}" = 1 ] || for t in gpu_attention gpu_paged gpu_append gpu_tuner; do
  VECINFER_REQUIRE_GPU=1 timeout 150 $R/$t --include-ignored --test-threads 1 > $OUT/$t.log 2>&1; echo "$t rc $?: $(grep -E '^test result' $OUT/$t.log)"
done
timeout 100 $R/vi gpu-check > $OUT/check.txt 2>&1; echo "gpu-check rc $?: $(grep -cE '^PASS' $OUT/check.txt) PASS"; grep -E "^FAIL" $OUT/check.txt | cut -c1-200
python3 $S/fp16_decode_baseline.py --json $R/sdpa-baseline.json > /dev/null 2>&1; echo "baseline rc $?"
python3 $S/fp16_decode_baseline.py --heads 9 --kv-heads 3 --head-dim 64 --shapes 1x32768,1x131072,8x32768,64x8192,256x2048 --json $R/sdpa-smollm2.json > /dev/null 2>&1; echo "baseline smollm2 rc $?"
cp $R/sdpa-*.json $OUT/
start=$(date +%s)
timeout ${EXH_LIMIT:-330} $R/vi tune --strategy exhaustive --file $F --baseline $R/sdpa-baseline.json --table $OUT/table-exhaustive.md > $OUT/tune-exhaustive.log 2>&1
echo "exhaustive rc $? in $(( $(date +%s) - start )) s: $(grep -c 'evaluations' $OUT/tune-exhaustive.log) keys"
tail -n 26 $OUT/table-exhaustive.md 2>/dev/null | cut -c1-200
gzip -c $F > $OUT/part1.json.gz
