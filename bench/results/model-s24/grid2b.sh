#!/usr/bin/env bash
# Session 24, H200, call 4 (right after grid2.sh, the machine still warm): the plans g3 and h3d
# with the calibration text's ranking (/root/s24/rank.txt) on all of eval.txt (GPU), and g3's and
# g4's plans from files calibrated on 2048 + 8192 at ctx 2048 and 8192.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
R=/root/s24; M=$R/model.gguf; RANK=$(cat $R/rank.txt); echo "calib ranking: $RANK"
set -- $RANK
T4=$1,$2,$3,$4; N2=$5,$6; T6=$T4,$N2; N6=$7,$8,$9,${10},${11},${12}
echo "T4 $T4 next $N2 then $N6"
ev() { local name=$1 ctx=$2; shift 2; timeout 200 $R/vi eval --model $M --device cuda --text $R/eval.txt --ctx $ctx --sinks 4 --window int8 --no-attention-error --json $OUT/$name.json "$@" > $OUT/$name.txt 2>&1; echo "$name rc $?: $(grep -E "^(vecinfer|fp16) " $OUT/$name.txt | tail -1 | cut -c1-120)"; }
cb() { echo $R/cb2048-$1.safetensors; }; mx() { echo $R/cbmix-$1.safetensors; }
ev fp16-2048 2048 --methods fp16
ev g3c 2048 --methods vecinfer --residual 74 --codebooks $(cb d4b8-d8b8) --layer-codebooks $T4=$(cb d4b12-d4b10) --layer-codebooks $N2=$(cb d4b12-d4b8)
ev h3dc-r170 2048 --methods vecinfer --residual 170 --codebooks $(cb d4b12-d8b8) --layer-codebooks $T6=$(cb d2b8-d4b8) --layer-codebooks $N6=$(cb d4b12-d4b8)
ev g3m 2048 --methods vecinfer --residual 74 --codebooks $(mx d4b8-d8b8) --layer-codebooks $T4=$(mx d4b12-d4b10) --layer-codebooks $N2=$(mx d4b12-d4b8)
ev g4m 2048 --methods vecinfer --residual 74 --codebooks $(mx d4b8-d8b8) --layer-codebooks $T6=$(mx d4b12-d4b8) --layer-codebooks $7,$8,$9,${10}=$(mx d4b8-d8b10)
ev fp16-8192 8192 --methods fp16
ev g3m-8192-r311 8192 --methods vecinfer --residual 311 --codebooks $(mx d4b8-d8b8) --layer-codebooks $T4=$(mx d4b12-d4b10) --layer-codebooks $N2=$(mx d4b12-d4b8)
ev g4m-8192-r311 8192 --methods vecinfer --residual 311 --codebooks $(mx d4b8-d8b8) --layer-codebooks $T6=$(mx d4b12-d4b8) --layer-codebooks $7,$8,$9,${10}=$(mx d4b8-d8b10)
ev mix-8192-r311 8192 --methods vecinfer --residual 311 --codebooks $R/cbmix-d4b9-d8b10.safetensors
cd $OUT && tar czf grid2b.tgz *.json *.txt && rm -f *.json *.txt
