#!/usr/bin/env bash
# Session 24, H200, call 3 of a second 4-call upload (calls 1-2 copy model parts into
# /root/s24): the layer ranking from the calibration text (eval --only-layers L on calib.txt,
# CPU on the host's 16 cores, as the first ranking was made on eval.txt's first 4 windows),
# then the plans g3 and h3d with that ranking on all of eval.txt (GPU), and g3's plan from files
# calibrated on 2048 + 8192 at ctx 2048 and 8192.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc
R=/root/s24; mkdir -p $R; cp .carry/s24n3/* $R/; ls $R | tr "\n" " "; echo
cat $R/gg-part-00 $R/gg-part-01 $R/gg-part-02 > $R/model.gguf; M=$R/model.gguf; sha256sum $M | cut -c1-16
xz -dc $R/vi.xz > $R/vi; chmod +x $R/vi; xz -dc $R/gpu_model.xz > $R/gpu_model; chmod +x $R/gpu_model
# The final binaries' tiny-model checks (layer-wise plans now on a 4-layer model, parts {0,2} and {1,3}).
VECINFER_REQUIRE_GPU=1 $R/gpu_model --ignored --test-threads 1 --nocapture tiny_random_model > $OUT/gpu_model.txt 2>&1
echo "gpu_model: $(grep -E "^test result" $OUT/gpu_model.txt)"; grep -E "plan|FAIL" $OUT/gpu_model.txt | cut -c1-200 | head -8
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
echo "$RANK" > $R/rank.txt
cd $OUT && tar czf grid2a.tgz *.json *.txt && rm -f *.json *.txt
