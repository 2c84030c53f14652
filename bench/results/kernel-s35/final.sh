#!/usr/bin/env bash
# Session 35, H200, the landed build (offset codes, 3e57a9e's kernels): memcheck and racecheck
# over `vecinfer bench` (verify, then time) of both key mma forms with and without the split
# query on the Llama and SmolLM2 shapes, and groups 2 and 8 (paired and unpaired values);
# then issue 14's status with SDPA and FlashInfer FP16/FP8 in the same run.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s35
R=$OUT/r; mkdir -p $R
xz -dc $S/vi.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $R/gpu.txt
T0=$(date +%s)
A="--codecs d4b8/d4b8 --runs 2 --key-token-rows false,true --split-query false,true"
for tool in memcheck racecheck; do
  timeout 100 compute-sanitizer --tool $tool --print-limit 20 --error-exitcode 9 /tmp/vi bench $A --shapes 2x2048,1x5000 > $R/$tool-llama.txt 2>&1
  echo "$tool llama rc $? at $(( $(date +%s) - T0 )) s: $(grep -c verified $R/$tool-llama.txt) verified; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $R/$tool-llama.txt)"
  timeout 80 compute-sanitizer --tool $tool --print-limit 20 --error-exitcode 9 /tmp/vi bench $A --heads 9 --kv-heads 3 --head-dim 64 --layouts paged64 --shapes 2x2048,1x5000 > $R/$tool-smol.txt 2>&1
  echo "$tool smol rc $? at $(( $(date +%s) - T0 )) s: $(grep -c verified $R/$tool-smol.txt) verified; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $R/$tool-smol.txt)"
  timeout 80 compute-sanitizer --tool $tool --print-limit 20 --error-exitcode 9 /tmp/vi bench --codecs d4b8/d4b8 --runs 2 --key-token-rows false,true --heads 16 --kv-heads 2 --shapes 2x2048 > $R/$tool-g8.txt 2>&1
  echo "$tool g8 rc $? at $(( $(date +%s) - T0 )) s: $(grep -c verified $R/$tool-g8.txt) verified; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $R/$tool-g8.txt)"
  timeout 80 compute-sanitizer --tool $tool --print-limit 20 --error-exitcode 9 /tmp/vi bench --codecs d4b8/d4b8 --runs 2 --key-token-rows false,true --heads 8 --kv-heads 4 --layouts paged64 --shapes 2x2048 > $R/$tool-g2.txt 2>&1
  echo "$tool g2 rc $? at $(( $(date +%s) - T0 )) s: $(grep -c verified $R/$tool-g2.txt) verified; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $R/$tool-g2.txt)"
done
python3 -m pip install -q --no-index --no-deps --target /tmp/site $S/whl/*.whl; export PYTHONPATH=/tmp/site
EQ=1x32768,1x131072,8x32768,32x8192,64x8192,128x4096
SM=1x32768,8x32768,32x8192,64x8192,256x2048
SMOL="--heads 9 --kv-heads 3 --head-dim 64"
timeout 150 python3 $S/fp16_decode_baseline.py --shapes $EQ --json $R/base.json > $R/base.log 2>&1; echo "baseline rc $? at $(( $(date +%s) - T0 )) s"
timeout 100 python3 $S/fp16_decode_baseline.py $SMOL --shapes $SM --json $R/base-smol.json > $R/base-smol.log 2>&1; echo "smol baseline rc $? at $(( $(date +%s) - T0 )) s"
B=""; [ -s $R/base.json ] && B="--baseline $R/base.json"
BS=""; [ -s $R/base-smol.json ] && BS="--baseline $R/base-smol.json"
C="--codecs d4b8/d4b8"
timeout 50 /tmp/vi bench $C --shapes $EQ $B --json $R/default.json > $R/default.txt 2>&1; echo "default rc $?"
timeout 50 /tmp/vi bench $C --tile 512 --warps 4 --min-blocks 0 --shapes $EQ $B --json $R/t512w4.json > $R/t512w4.txt 2>&1; echo "t512 w4 rc $?"
timeout 50 /tmp/vi bench $C $SMOL --layouts paged64 --shapes $SM $BS --json $R/smol.json > $R/smol.txt 2>&1; echo "smol rc $?"
echo "status at $(( $(date +%s) - T0 )) s"
tail -8 $R/base.log; tail -6 $R/base-smol.log
for f in default t512w4 smol; do echo "== $f"; grep -hE "^ +[0-9]+ +[0-9]+ |rror|FAILED|verified" $R/$f.txt | cut -c1-175; done
cd $OUT && tar czf r.tgz r && rm -r r
