#!/usr/bin/env bash
# Session 35, H200: paired values (groups of up to 4 heads: the value mma's rows are dim pairs,
# its k-slots (token, parity), its columns (head, parity); no byte permutes, half the output
# registers). GPU tests and gpu-check of the new build (vi), then `bench` of main (vold, 2e6a31b)
# and vi, interleaved, two rounds, Llama and SmolLM2 shapes; then issue 14's status with SDPA and
# FlashInfer FP16/FP8 in the same run.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s35
R=$OUT/r; mkdir -p $R
for b in vi vold gpu_attention gpu_paged; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $R/gpu.txt
T0=$(date +%s)
VECINFER_REQUIRE_GPU=1 timeout 200 /tmp/gpu_attention --ignored --test-threads 1 > $R/gpu_attention.log 2>&1; echo "gpu_attention rc $? at $(( $(date +%s) - T0 )) s"
grep -E "test result|FAILED|panicked" $R/gpu_attention.log | head -5
VECINFER_REQUIRE_GPU=1 timeout 80 /tmp/gpu_paged --ignored --test-threads 1 > $R/gpu_paged.log 2>&1; echo "gpu_paged rc $? at $(( $(date +%s) - T0 )) s"
grep -E "test result|FAILED|panicked" $R/gpu_paged.log | head -5
timeout 80 /tmp/vi gpu-check > $R/gpu-check.log 2>&1; echo "gpu-check rc $? PASS $(grep -cE '^PASS' $R/gpu-check.log) FAIL $(grep -cE '^FAIL' $R/gpu-check.log) at $(( $(date +%s) - T0 )) s"
C="--codecs d4b8/d4b8 --runs 50"
SMOL="--heads 9 --kv-heads 3 --head-dim 64"
for round in 1 2; do
  for v in vold vi; do
    timeout 40 /tmp/$v bench $C --shapes 1x32768,8x32768,32x8192,64x8192,128x4096 > $R/llama-$v-$round.txt 2>&1 || echo "llama $v rc $?"
    timeout 40 /tmp/$v bench $C $SMOL --layouts paged64 --shapes 1x32768,8x32768,32x8192,64x8192,256x2048 > $R/smol-$v-$round.txt 2>&1 || echo "smol $v rc $?"
  done
done
echo "bench at $(( $(date +%s) - T0 )) s"
for s in llama smol; do for round in 1 2; do paste <(grep -E "verified|^ +[0-9]+x[0-9]+:" $R/$s-vold-$round.txt | sed 's/_layer.*(worst/ (worst/') <(grep -E "verified|^ +[0-9]+x[0-9]+:" $R/$s-vi-$round.txt | sed 's/_layer.*(worst/ (worst/'); done; done
# Status with the baselines.
python3 -m pip install -q --no-index --no-deps --target /tmp/site $S/whl/*.whl; export PYTHONPATH=/tmp/site
EQ=1x32768,1x131072,8x32768,32x8192,64x8192,128x4096
SM=1x32768,8x32768,32x8192,64x8192,256x2048
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
