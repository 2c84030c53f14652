#!/usr/bin/env bash
# Session 35, H200, after tune.sh (same build, the file it wrote): the rest of the H200 file's
# keys tuned again, guided from the default with both key mma forms, at most 60 s per key,
# --retune, in order of use: SmolLM2's 15 engine keys on 64-token pages, then re-ranked by whole
# decode steps (tune-steps); K d4b12 / V d4b8 on the Llama shape; SmolLM2's contiguous shape;
# the bench grid's other codecs. Every candidate is verified against the CPU reference first.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s35
R=$OUT/r; mkdir -p $R
xz -dc $S/vi.xz > /tmp/vi && chmod +x /tmp/vi
F=$R/nvidia-h200.json
zcat $S/nvidia-h200.json.gz > $F
SMOL="--heads 9 --kv-heads 3 --head-dim 64"
ENGINE_SHAPES=1x2048,1x8192,1x32768,1x131072,4x2048,4x8192,4x32768,4x131072,16x8192,16x32768,16x131072,64x8192,64x32768,64x131072,256x8192
T0=$(date +%s)
timed() { local name=$1 limit=$2; shift 2; local start=$(date +%s); timeout $limit "$@" > $R/$name.log 2>&1; echo "$name rc $? in $(( $(date +%s) - start )) s"; }
G="--strategy guided --budget 60s --retune --file $F"
timed tune-engine 150 /tmp/vi tune $G --shapes $ENGINE_SHAPES --codecs d4b8/d4b8 $SMOL --layouts paged64 --runs 40 --table $R/table-engine.md
timed tune-steps 90 /tmp/vi tune-steps --file $F --top 12 --rounds 3
timed tune-llama-3bit 60 /tmp/vi tune $G --codecs d4b12/d4b8 --table $R/table-llama-3bit.md
timed tune-smol 70 /tmp/vi tune $G $SMOL --shapes 1x32768,1x131072,8x32768,64x8192,256x2048 --codecs d4b8/d4b8,d4b12/d4b8 --table $R/table-smol.md
timed tune-llama-other 100 /tmp/vi tune $G --codecs d2b8/d2b8,d8b12/d8b12,d8b12/d8b8 --table $R/table-llama-other.md
echo "all at $(( $(date +%s) - T0 )) s"
for t in $R/table-*.md; do [ -f $t ] && { echo "== $(basename $t)"; tail -n 20 $t | cut -c1-60,100-130,170-240; }; done
grep -hE "error|Error|FAIL" $R/*.log | head -5
gzip $F; rm -f $R/*.lock
cd $OUT && tar czf r.tgz r && rm -r r
