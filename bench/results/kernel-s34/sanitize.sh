#!/usr/bin/env bash
# Session 34, H200: memcheck and racecheck over `vecinfer bench` (verify, then time) of both key
# mma forms, with and without the split query, on the Llama and SmolLM2 shapes (racecheck of the
# gpu_attention test binary did not finish in knob.sh, so as earlier sessions did, over bench).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s34
R=$OUT/r; mkdir -p $R
xz -dc $S/vi.xz > /tmp/vi && chmod +x /tmp/vi
T0=$(date +%s)
A="--codecs d4b8/d4b8 --runs 2 --key-token-rows false,true --split-query false,true"
for tool in memcheck racecheck; do
  timeout 150 compute-sanitizer --tool $tool --print-limit 20 --error-exitcode 9 /tmp/vi bench $A --shapes 2x2048,1x5000 > $R/$tool-llama.txt 2>&1
  echo "$tool llama rc $? at $(( $(date +%s) - T0 )) s: $(grep -c verified $R/$tool-llama.txt) verified; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $R/$tool-llama.txt)"
  timeout 120 compute-sanitizer --tool $tool --print-limit 20 --error-exitcode 9 /tmp/vi bench $A --heads 9 --kv-heads 3 --head-dim 64 --layouts paged64 --shapes 2x2048,1x5000 > $R/$tool-smol.txt 2>&1
  echo "$tool smol rc $? at $(( $(date +%s) - T0 )) s: $(grep -c verified $R/$tool-smol.txt) verified; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $R/$tool-smol.txt)"
done
cd $OUT && tar czf r.tgz r && rm -r r
