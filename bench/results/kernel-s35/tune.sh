#!/usr/bin/env bash
# Session 35, H200: the Llama-3.1-8B shape's 2-bit keys of the bench grid (d4b8/d4b8, 6 shapes)
# tuned again on the landed build (7641a56, codegen 69636f0fad988b38), guided from the default
# over the space with both key mma forms, at most 60 s per key, into the shipped H200 file
# (--retune: its other keys stay as they are). Every candidate is verified against the CPU
# reference before it is timed (the tuner does that).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s35
R=$OUT/r; mkdir -p $R
xz -dc $S/vi.xz > /tmp/vi && chmod +x /tmp/vi
zcat $S/nvidia-h200.json.gz > $R/nvidia-h200.json
T0=$(date +%s)
timeout 450 /tmp/vi tune --strategy guided --budget 60s --retune --codecs d4b8/d4b8 --file $R/nvidia-h200.json --table $R/table-llama.md > $R/tune-llama.log 2>&1
echo "tune rc $? at $(( $(date +%s) - T0 )) s"
tail -n 20 $R/table-llama.md | cut -c1-230
grep -hE "error|Error|FAIL" $R/tune-llama.log | head -5
gzip $R/nvidia-h200.json
cd $OUT && tar czf r.tgz r && rm -r r
