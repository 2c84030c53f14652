#!/usr/bin/env bash
# Session 24, H200, call 3 of a second 3-call upload (calls 1-2 copy model parts into
# /root/s24): the layer ranking from the calibration text (eval --only-layers L on calib.txt,
# CPU on the host's 16 cores, as the first ranking was made on eval.txt's first 4 windows),
# then the plans g3 and h3d with that ranking on all of eval.txt (GPU), and g3's plan from files
# calibrated on 2048 + 8192 at ctx 2048 and 8192.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
R=/root/s24; mkdir -p $R; cp .carry/s24n3/* $R/; ls $R | tr "\n" " "; echo
cat $R/gg-part-00 $R/gg-part-01 $R/gg-part-02 > $R/model.gguf; M=$R/model.gguf; sha256sum $M | cut -c1-16
xz -dc $R/vi.xz > $R/vi; chmod +x $R/vi
cpu() { local name=$1; shift; timeout 120 $R/vi eval --model $M --ctx 2048 --max-windows 4 --sinks 4 --window int8 --residual 74 --no-attention-error --json $OUT/$name.json "$@" > $OUT/$name.txt 2>&1; }
# The probe's flag against the patch that made cpu-only-layer-sweep.log (eval.txt, layer 20: 25.093).
cpu probe-eval-20 --text $R/eval.txt --methods vecinfer --codebooks $R/cbmix-d4b9-d8b10.safetensors --only-layers 20
echo "eval.txt layer 20 alone: $(grep -E '^vecinfer +int8' $OUT/probe-eval-20.txt | awk '{print $8}') (the patch: 25.093)"
cpu calib-fp16 --text $R/calib.txt --methods fp16
F=$(grep -E '^fp16 ' $OUT/calib-fp16.txt | tail -1 | awk '{print $8}'); echo "calib fp16 $F"
for L in $(seq 0 29); do
  cpu calib-only-$L --text $R/calib.txt --methods vecinfer --codebooks $R/cbmix-d4b9-d8b10.safetensors --only-layers $L
  echo "$L $(grep -E '^vecinfer +int8' $OUT/calib-only-$L.txt | awk '{print $8}')" >> $OUT/calib-sweep.txt
done
RANK=$(awk -v f=$F '{printf "%s %.4f\n", $1, 100*log($2/f)}' $OUT/calib-sweep.txt | sort -k2 -g -r | awk '{print $1}' | tr "\n" " ")
echo "calib ranking: $RANK"; awk -v f=$F '{printf "%s(%.2f) ", $1, 100*log($2/f)}' $OUT/calib-sweep.txt; echo
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
cd $OUT && tar czf grid2.tgz *.json *.txt && rm -f *.json *.txt
