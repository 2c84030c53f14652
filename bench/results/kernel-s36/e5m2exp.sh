#!/usr/bin/env bash
# Session 36, H200: after e4m3 lost (fp8exp.sh), e5m2: an experimental build (vi) stores the
# d4b8 books as e5m2 (32 copies of 4 bytes per 256-byte entry, one LDS.32 and two byte
# permutes per code: an e5m2 byte is an f16's high byte) when asked for 32 replicas; the base (vold, 0c9b279) reads 16
# copies of 8 bytes. Verification is skipped for the experiment (its books are not rounded),
# the worst relative error is printed to show the layout is right up to e5m2 rounding.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} PATH=/usr/local/cuda/bin:$PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s36
R=$OUT/r; mkdir -p $R
for b in vi vold; do xz -dc $S/$b.xz > /tmp/$b && chmod +x /tmp/$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $R/gpu.txt
T0=$(date +%s)
C="--codecs d4b8/d4b8 --runs 50"
SMOL="--heads 9 --kv-heads 3 --head-dim 64 --layouts paged64"
LL=1x32768,1x131072,8x32768,32x8192,64x8192,128x4096
SS=1x32768,8x32768,32x8192,64x8192,256x2048
export VI_EXPERIMENT_SKIP_VERIFY=1
for round in 1 2; do
  for kr in true false; do
    timeout 60 /tmp/vold bench $C --key-token-rows $kr --shapes $LL > $R/llama-base-$kr-$round.txt 2>&1 || echo "base $kr rc $?"
    timeout 60 /tmp/vi bench $C --key-token-rows $kr --replicas 32 --shapes $LL > $R/llama-fp8-$kr-$round.txt 2>&1 || echo "fp8 $kr rc $?"
    timeout 60 /tmp/vold bench $C $SMOL --key-token-rows $kr --shapes $SS > $R/smol-base-$kr-$round.txt 2>&1 || echo "sbase $kr rc $?"
    timeout 60 /tmp/vi bench $C $SMOL --key-token-rows $kr --replicas 32 --shapes $SS > $R/smol-fp8-$kr-$round.txt 2>&1 || echo "sfp8 $kr rc $?"
  done
done
echo "bench at $(( $(date +%s) - T0 )) s"
for f in $R/*-base-*.txt; do g=${f/-base-/-fp8-}; echo "== $(basename $f) vs fp8"; paste <(grep -E "verified|^ +[0-9]+x[0-9]+:" $f | sed 's/_layer.*(worst/ (worst/') <(grep -E "verified|^ +[0-9]+x[0-9]+:|FAILED" $g | sed 's/_layer.*(worst/ (worst/'); done
for cfg in "t512w4:--tile 512 --warps 4 --min-blocks 0" "t256w8mb2:--tile 256 --warps 8 --min-blocks 2" "t128w4mb4:--tile 128 --warps 4 --min-blocks 4"; do
  n=${cfg%%:*}; a=${cfg#*:}
  for v in vold vi; do
    x=""; [ $v = vi ] && x="--replicas 32"
    timeout 60 /tmp/$v bench $C $a $x --shapes $LL > $R/cfg-$n-$v.txt 2>&1 || echo "$n $v rc $?"
    echo "== $n $v"; grep -E "verified|^ +[0-9]+x[0-9]+:|rror|FAILED" $R/cfg-$n-$v.txt | sed 's/_layer.*(worst/ (worst/' | tr '\n' ' '; echo
  done
done
echo "all at $(( $(date +%s) - T0 )) s"
cd $OUT && tar czf r.tgz r && rm -r r
