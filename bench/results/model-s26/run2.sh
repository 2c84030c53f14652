#!/usr/bin/env bash
# Session 26, H200 (carry .carry/s26b; the model from up.sh/run.sh kept on the warm machine,
# else re-uploaded): calibrate --budget with the ranking on the GPU, then the plan evaluated by
# the GPU kernels over all of eval.txt. $1: 2 (the 2-bit plan's budget, against session 25's
# top:N plan at the same bits) or 1.5 (the 1.5-bit target's budget).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
R=/root/s26; M=$R/model.gguf; cp .carry/s26b/* $R/; xz -dc $R/vi.xz > $R/vi; chmod +x $R/vi
[ -f $M ] || { cp .carry/m3/gg-part-02 $R/ && cat $R/gg-part-00 $R/gg-part-01 $R/gg-part-02 > $M; }
sha256sum $M | cut -c1-16
case $1 in
  2) base=(--k d4b8 --v d8b8); choices=d4b12/d4b10,d4b12/d4b8; budget=1.733; residual=74;;
  1.5) base=(--k d8b10 --v d8b8); choices=d8b8/d8b8,d4b8/d8b8,d4b12/d8b8; budget=1.242; residual=65;;
esac
start=$(date +%s)
timeout 500 $R/vi calibrate --model $M --text $R/calib.txt --ctx 2048 --max-tokens 16384 --methods vecinfer \
  "${base[@]}" --budget $budget --choices $choices --probe-device cuda \
  --out $R/budget-$1.safetensors > $OUT/calibrate-budget-$1.txt 2>&1
echo "calibrate rc $? in $(( $(date +%s) - start )) s"; grep -E "trained|bits [0-9.]+: layers|^chosen|^wrote" $OUT/calibrate-budget-$1.txt | cut -c1-300
[ -f $R/budget-$1.safetensors ] && timeout 80 $R/vi eval --model $M --device cuda --text $R/eval.txt --ctx 2048 \
  --sinks 4 --window int8 --no-attention-error --residual $residual --methods fp16,vecinfer \
  --codebooks $R/budget-$1.safetensors --json $OUT/eval-budget-$1.json > $OUT/eval-budget-$1.txt 2>&1
echo "eval rc $?"; grep -E "^(vecinfer|fp16) " $OUT/eval-budget-$1.txt | cut -c1-200; tail -4 $OUT/eval-budget-$1.txt
cd $OUT && tar czf run2-$1.tgz *.txt $(ls *.json 2>/dev/null) && rm -f *.json *.txt
