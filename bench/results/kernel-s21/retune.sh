#!/usr/bin/env bash
# Session 21, H200: the full re-tune owed since session 18, with the hinted sub-word loads
# (commit after d52809e, codegen 8cdbab5311efcc6d). Three commands, STEP=1..3; the file and the
# baselines are carried between them in .carry/s21 (the machine may be given back between calls).
#  1: SDPA FP16 + FlashInfer FP16/FP8 baselines (Llama-3.1-8B and SmolLM2 attention shapes), the
#     bench grid's 24 keys exhaustive, K d4b12 / V d4b8 on the Llama shape exhaustive.
#  2: SmolLM2's contiguous shape guided (2-bit and K d4b12 / V d4b8), the engine's 15 paged64
#     keys exhaustive, then those ranked by whole decode steps (tune-steps).
#  3: the rest of 2, the default config against the baselines (bench, 2 rounds; the tuned ratios are
#     in the tune tables), gpu_tuner on the new file.
# Every candidate is verified against the CPU reference before it is timed (the tuner does that).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
S=$PWD/.carry/s21; R=/tmp/r; mkdir -p $R
for b in vi gpu_tuner; do [ -f $S/$b.xz ] && [ ! -x $R/$b ] && { xz -dc $S/$b.xz > $R/$b && chmod +x $R/$b; }; done
GPU=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1); echo "$GPU"
case "$GPU" in *H200*) ;; *) echo "not an H200: nothing run"; exit 0;; esac
F=$R/nvidia-h200.json
[ -f $F ] || [ ! -f $S/nvidia-h200.json.part.gz ] || { zcat $S/nvidia-h200.json.part.gz > $F; echo "resumed $(basename $F)"; }
for b in base-llama base-smol; do [ -f $R/$b.json ] || [ ! -f $S/$b.json ] || cp $S/$b.json $R/; done
SMOL_SHAPES=1x32768,1x131072,8x32768,64x8192,256x2048
ENGINE_SHAPES=1x2048,1x8192,1x32768,1x131072,4x2048,4x8192,4x32768,4x131072,16x8192,16x32768,16x131072,64x8192,64x32768,64x131072,256x8192
timed() { local name=$1 limit=$2; shift 2; local start=$(date +%s); timeout $limit "$@" > $OUT/$name.log 2>&1; echo "$name rc $? in $(( $(date +%s) - start )) s"; }
case ${STEP:-1} in
1)
  mkdir -p /tmp/site && xz -dc $S/fi-site.tar.xz | tar xf - -C /tmp/site; export PYTHONPATH=/tmp/site
  timed base-llama 280 python3 $S/fp16_decode_baseline.py --json $R/base-llama.json
  timed base-smol 150 python3 $S/fp16_decode_baseline.py --heads 9 --kv-heads 3 --head-dim 64 --shapes $SMOL_SHAPES --json $R/base-smol.json
  cp $R/base-*.json $OUT/
  timed tune-llama 250 $R/vi tune --strategy exhaustive --file $F --baseline $R/base-llama.json --table $OUT/table-llama.md
  timed tune-llama-3bit 120 $R/vi tune --strategy exhaustive --codecs d4b12/d4b8 --file $F --baseline $R/base-llama.json --table $OUT/table-llama-3bit.md
  ;;
2)
  timed tune-llama-rest 200 $R/vi tune --strategy exhaustive --file $F
  timed tune-llama-3bit-rest 150 $R/vi tune --strategy exhaustive --codecs d4b12/d4b8 --file $F
  timed tune-smol 120 $R/vi tune --strategy guided --heads 9 --kv-heads 3 --head-dim 64 --shapes $SMOL_SHAPES --codecs d4b8/d4b8,d4b12/d4b8 --file $F --baseline $R/base-smol.json --table $OUT/table-smol.md
  timed tune-engine 330 $R/vi tune --shapes $ENGINE_SHAPES --codecs d4b8/d4b8 --heads 9 --kv-heads 3 --head-dim 64 --layouts paged64 --strategy exhaustive --runs 40 --file $F --table $OUT/table-engine.md
  ;;
3)
  timed tune-engine-rest 150 $R/vi tune --shapes $ENGINE_SHAPES --codecs d4b8/d4b8 --heads 9 --kv-heads 3 --head-dim 64 --layouts paged64 --strategy exhaustive --runs 40 --file $F
  start=$(date +%s); timeout 200 $R/vi tune-steps --file $F --top 12 --rounds 3 > $OUT/tune-steps.txt 2> $OUT/tune-steps.err; echo "tune-steps rc $? in $(( $(date +%s) - start )) s"
  for round in 1 2; do
    timed bench-llama-$round 120 $R/vi bench --codecs d4b8/d4b8 --baseline $R/base-llama.json --json $OUT/bench-llama-$round.json
    timed bench-smol-$round 90 $R/vi bench --heads 9 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8 --shapes $SMOL_SHAPES --baseline $R/base-smol.json --json $OUT/bench-smol-$round.json
  done
  cp $F tuned-configs/nvidia-h200.json
  VECINFER_REQUIRE_GPU=1 timed gpu_tuner 200 $R/gpu_tuner --include-ignored --test-threads 1; grep -E '^test result' $OUT/gpu_tuner.log
  ;;
esac
for t in $OUT/table-*.md; do [ -f $t ] && { echo "== $(basename $t)"; tail -n 32 $t | cut -c1-230; }; done
for f in $OUT/*.log; do grep -hE "error|Error|FAIL" $f | head -3; done
[ -f $F ] && gzip -c $F > $OUT/nvidia-h200.json.part.gz
tar czf $OUT/step${STEP:-1}.tgz -C $OUT $(cd $OUT && ls *.md *.log *.txt *.err *.json 2>/dev/null) && (cd $OUT && rm -f *.md *.log *.txt *.err)
