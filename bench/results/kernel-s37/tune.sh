#!/usr/bin/env bash
# Session 37, H200, per-book copies (codegen f95b73437807e669): gpu_attention on the final
# build; the default K d4b12 / V d4b8 with 1 and 16 value copies (two interleaved rounds, Llama
# and SmolLM2 shapes); racecheck of the d8b12/d8b8 8-copy kernel on a short case; then the H200
# file's keys that mix a wide key book with an 8-bit value book tuned again (guided, both key
# forms, <= 60 s a key, --retune): the Llama grid of K d4b12 / V d4b8 and d8b12/d8b8, SmolLM2's
# contiguous K d4b12 / V d4b8.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc VECINFER_REQUIRE_GPU=1
S=$PWD/.carry/s37
R=$OUT/r; mkdir -p $R
for b in vi gpu_attention; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
F=$R/nvidia-h200.json
zcat $S/nvidia-h200.json.gz > $F
SMOL="--heads 9 --kv-heads 3 --head-dim 64"
T0=$(date +%s)
timed() { local name=$1 limit=$2; shift 2; local start=$(date +%s); timeout $limit "$@" > $R/$name.log 2>&1; echo "$name rc $? in $(( $(date +%s) - start )) s"; }
timed gpu_attention 200 /tmp/gpu_attention --ignored --test-threads 1
grep -E "test result" $R/gpu_attention.log
L=1x32768,8x32768,32x8192,64x8192,128x4096
for round in 1 2; do
  timed default-llama-$round 60 /tmp/vi bench --codecs d4b12/d4b8 --replicas 1,16 --shapes $L --runs 30
  timed default-smol-$round 60 /tmp/vi bench --codecs d4b12/d4b8 --replicas 1,16 $SMOL --layouts paged64 --shapes 1x32768,8x32768,64x8192,256x2048 --runs 30
done
timed racecheck-k8 100 compute-sanitizer --tool racecheck --print-limit 20 --error-exitcode 9 /tmp/vi bench --codecs d8b12/d8b8 --runs 1 --tile 256 --stages 2 --replicas 8 --key-token-rows false,true --shapes 1x700
grep -E "verified|RACECHECK SUMMARY" $R/racecheck-k8.log
G="--strategy guided --budget 60s --retune --file $F"
timed tune-llama 220 /tmp/vi tune $G --codecs d4b12/d4b8,d8b12/d8b8 --table $R/table-llama.md
timed tune-smol 80 /tmp/vi tune $G $SMOL --shapes 1x32768,1x131072,8x32768,64x8192,256x2048 --codecs d4b12/d4b8 --table $R/table-smol.md
echo "all at $(( $(date +%s) - T0 )) s"
for f in default-llama-1 default-llama-2 default-smol-1 default-smol-2; do echo "== $f"; grep -hE "^ +[0-9]+ +[0-9]+ |FAILED" $R/$f.log | sed "s/  */ /g" | cut -c1-200; done
cat $R/table-llama.md $R/table-smol.md 2>/dev/null | cut -c1-260
grep -hE "error|Error|FAIL" $R/tune-*.log | head -5
gzip $F; rm -f $R/*.lock
cd $OUT && tar czf r.tgz r && rm -r r
