#!/usr/bin/env bash
# Session 31, H200: issue 14's status in one run on the final build: SDPA and FlashInfer FP16/FP8
# (equal lengths) and FlashInfer (ragged lengths) beside the default config and the H200 file's
# winners for d4b8 (t512 w4 without a launch bound at batch >= 8 and 1 x 128k; t512 w8 at 1 x 32k),
# equal and ragged lengths, Llama-3.1-8B shape.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s31
R=$OUT/r; mkdir -p $R
xz -dc $S/vi.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $R/gpu.txt
python3 -m pip install -q --no-index --no-deps --target /tmp/site $S/whl/*.whl; export PYTHONPATH=/tmp/site
EQ=1x32768,1x131072,8x32768,32x8192,64x8192,128x4096
RG=8x32768,16x16384,32x8192,64x8192,128x4096
timeout 200 python3 $S/fp16_decode_baseline.py --shapes $EQ --json /tmp/base.json > $R/base.log 2>&1; echo "baseline rc $?"
timeout 60 python3 bench/ragged_baseline.py --shapes $RG --json /tmp/ragged.json > $R/ragged-base.log 2>&1; echo "ragged baseline rc $?"
cp /tmp/base.json /tmp/ragged.json $R/ 2>/dev/null
B=""; [ -s /tmp/base.json ] && B="--baseline /tmp/base.json"
RB=""; [ -s /tmp/ragged.json ] && RB="--baseline /tmp/ragged.json"
C="--codecs d4b8/d4b8"
timeout 60 /tmp/vi bench $C --shapes $EQ $B --json $R/default.json > $R/default.txt 2>&1; echo "default rc $?"
timeout 60 /tmp/vi bench $C --tile 512 --warps 4 --min-blocks 0 --shapes 1x131072,8x32768,32x8192,64x8192,128x4096 $B --json $R/t512w4.json > $R/t512w4.txt 2>&1; echo "t512 w4 rc $?"
timeout 40 /tmp/vi bench $C --tile 512 --warps 8 --min-blocks 0 --shapes 1x32768 $B --json $R/t512w8.json > $R/t512w8.txt 2>&1; echo "t512 w8 rc $?"
timeout 60 /tmp/vi bench $C --ragged --shapes $RG $RB --json $R/default-ragged.json > $R/default-ragged.txt 2>&1; echo "default ragged rc $?"
timeout 60 /tmp/vi bench $C --tile 512 --warps 4 --min-blocks 0 --ragged --shapes $RG $RB --json $R/t512w4-ragged.json > $R/t512w4-ragged.txt 2>&1; echo "t512 w4 ragged rc $?"
tail -8 $R/base.log; tail -6 $R/ragged-base.log
grep -hE "^ +[0-9]+ +~?[0-9]+ |rror|FAILED" $R/default.txt $R/t512w4.txt $R/t512w8.txt $R/default-ragged.txt $R/t512w4-ragged.txt | cut -c1-200
cd $OUT && tar czf r.tgz r && rm -r r
