#!/usr/bin/env bash
# Session 24, H200, call 3 of a third 3-call upload: the plans g3 and h3d with the layers ranked
# on the calibration text (calib-sweep.log: eval --only-layers L on calib.txt, 4 windows, CPU;
# RANK below), on all of eval.txt, from the 2048-only files and (g3) the 2048 + 8192 files at
# ctx 2048 and 8192. FP16: 22.453 (2048), 19.622 (8192), from grid.sh and grid2b.sh.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
R=/root/s24; mkdir -p $R; cp .carry/s24n3/* $R/
cat $R/gg-part-00 $R/gg-part-01 $R/gg-part-02 > $R/model.gguf; M=$R/model.gguf; sha256sum $M | cut -c1-16
xz -dc $R/vi.xz > $R/vi; chmod +x $R/vi
RANK="18 23 20 7 17 28 14 21 22 1 24 15"; echo "calib ranking: $RANK"; set -- $RANK
T4=$1,$2,$3,$4; N2=$5,$6; T6=$T4,$N2; N6=$7,$8,$9,${10},${11},${12}
echo "T4 $T4 next $N2 then $N6"
ev() { local name=$1 ctx=$2; shift 2; timeout 200 $R/vi eval --model $M --device cuda --text $R/eval.txt --ctx $ctx --sinks 4 --window int8 --no-attention-error --json $OUT/$name.json "$@" > $OUT/$name.txt 2>&1; echo "$name rc $?: $(grep -E "^(vecinfer|fp16) " $OUT/$name.txt | tail -1 | cut -c1-120)"; }
cb() { echo $R/cb2048-$1.safetensors; }; mx() { echo $R/cbmix-$1.safetensors; }
ev g3k 2048 --methods vecinfer --residual 74 --codebooks $(cb d4b8-d8b8) --layer-codebooks $T4=$(cb d4b12-d4b10) --layer-codebooks $N2=$(cb d4b12-d4b8)
ev h3dk-r170 2048 --methods vecinfer --residual 170 --codebooks $(cb d4b12-d8b8) --layer-codebooks $T6=$(cb d2b8-d4b8) --layer-codebooks $N6=$(cb d4b12-d4b8)
ev g3km 2048 --methods vecinfer --residual 74 --codebooks $(mx d4b8-d8b8) --layer-codebooks $T4=$(mx d4b12-d4b10) --layer-codebooks $N2=$(mx d4b12-d4b8)
ev g3km-8192-r311 8192 --methods vecinfer --residual 311 --codebooks $(mx d4b8-d8b8) --layer-codebooks $T4=$(mx d4b12-d4b10) --layer-codebooks $N2=$(mx d4b12-d4b8)
cd $OUT && tar czf grid3.tgz *.json *.txt && rm -f *.json *.txt
