#!/usr/bin/env bash
# Session 36, H200: the 12-bit keys of the H200 file tuned again on the build whose 12-bit code
# spans are read as words (codegen c7eb6b1585b46ebf), guided from the default with both key mma
# forms, at most 60 s a key, --retune: the Llama shape's bench grid with K d4b12 / V d4b8,
# d8b12/d8b8 and d8b12/d8b12, and SmolLM2's contiguous keys with K d4b12 / V d4b8 (two of them
# were left from session 35). Every candidate is verified against the CPU reference first.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s36
R=$OUT/r; mkdir -p $R
xz -dc $S/vi.xz > /tmp/vi && chmod +x /tmp/vi
F=$R/nvidia-h200.json
zcat $S/nvidia-h200.json.gz > $F
SMOL="--heads 9 --kv-heads 3 --head-dim 64"
T0=$(date +%s)
timed() { local name=$1 limit=$2; shift 2; local start=$(date +%s); timeout $limit "$@" > $R/$name.log 2>&1; echo "$name rc $? in $(( $(date +%s) - start )) s"; }
G="--strategy guided --budget 60s --retune --file $F"
timed tune-llama-12bit 200 /tmp/vi tune $G --codecs d4b12/d4b8,d8b12/d8b8,d8b12/d8b12 --table $R/table-llama-12bit.md
timed tune-smol-3bit 90 /tmp/vi tune $G $SMOL --shapes 1x32768,1x131072,8x32768,64x8192,256x2048 --codecs d4b12/d4b8 --table $R/table-smol-3bit.md
echo "all at $(( $(date +%s) - T0 )) s"
cat $R/*.log | cut -c1-250
grep -hE "error|Error|FAIL" $R/*.log | head -5
gzip $F; rm -f $R/*.lock
cd $OUT && tar czf r.tgz r && rm -r r
