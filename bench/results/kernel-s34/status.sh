#!/usr/bin/env bash
# Session 34, H200: issue 14's status in one run on f8b8af9 (keys with the tokens as the mma's
# rows): SDPA and FlashInfer FP16/FP8 beside the default config, main's build before it (vold,
# 1ff1010), the H200 file's t512 w4 winner shape and t256 w8 with two blocks per SM (128
# registers without spills since the change), on the Llama-3.1-8B shape; SmolLM2's shape (9/3
# heads, head dim 64, 64-token pages) with its own baselines.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s34
R=$OUT/r; mkdir -p $R
for b in vi vold; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $R/gpu.txt
python3 -m pip install -q --no-index --no-deps --target /tmp/site $S/whl/*.whl; export PYTHONPATH=/tmp/site
T0=$(date +%s)
EQ=1x32768,1x131072,8x32768,32x8192,64x8192,128x4096
SM=1x32768,8x32768,32x8192,64x8192,256x2048
SMOL="--heads 9 --kv-heads 3 --head-dim 64"
timeout 150 python3 $S/fp16_decode_baseline.py --shapes $EQ --json $R/base.json > $R/base.log 2>&1; echo "baseline rc $? at $(( $(date +%s) - T0 )) s"
timeout 120 python3 $S/fp16_decode_baseline.py $SMOL --shapes $SM --json $R/base-smol.json > $R/base-smol.log 2>&1; echo "smol baseline rc $? at $(( $(date +%s) - T0 )) s"
B=""; [ -s $R/base.json ] && B="--baseline $R/base.json"
BS=""; [ -s $R/base-smol.json ] && BS="--baseline $R/base-smol.json"
C="--codecs d4b8/d4b8"
timeout 60 /tmp/vi bench $C --shapes $EQ $B --json $R/default.json > $R/default.txt 2>&1; echo "default rc $?"
timeout 60 /tmp/vold bench $C --shapes $EQ $B --json $R/default-main.json > $R/default-main.txt 2>&1; echo "main default rc $?"
timeout 60 /tmp/vi bench $C --tile 512 --warps 4 --min-blocks 0 --shapes $EQ $B --json $R/t512w4.json > $R/t512w4.txt 2>&1; echo "t512 w4 rc $?"
timeout 60 /tmp/vi bench $C --tile 256 --warps 8 --min-blocks 2 --shapes $EQ $B --json $R/t256w8.json > $R/t256w8.txt 2>&1; echo "t256 w8 mb2 rc $?"
timeout 60 /tmp/vi bench $C $SMOL --layouts paged64 --shapes $SM $BS --json $R/smol.json > $R/smol.txt 2>&1; echo "smol rc $?"
timeout 60 /tmp/vold bench $C $SMOL --layouts paged64 --shapes $SM $BS --json $R/smol-main.json > $R/smol-main.txt 2>&1; echo "smol main rc $?"
echo "bench at $(( $(date +%s) - T0 )) s"
tail -8 $R/base.log; tail -6 $R/base-smol.log
for f in default default-main t512w4 t256w8 smol smol-main; do echo "== $f"; grep -hE "^ +[0-9]+ +[0-9]+ |rror|FAILED|verified" $R/$f.txt | cut -c1-175; done
cd $OUT && tar czf r.tgz r && rm -r r
