set -x
B=/work/main/target/release/vecinfer; D=/work/shared/data/wikitext2; O=/work/main/out/rot
cp $B /tmp/vi-rot; B=/tmp/vi-rot
time $B calibrate --text $D/calib.txt --k d4b8 --v d4b8 --methods vecinfer --rotation learned:10 --out $O/cb-d4b8-d4b8-learned10.safetensors
time $B calibrate --text $D/calib.txt --k d4b8 --v d4b8 --methods vecinfer --out $O/cb-d4b8-d4b8-hadamard.safetensors
for f in learned10 hadamard; do
  time $B eval --text $D/eval.txt --max-windows 4 --sinks 4 --no-attention-error --residual 128 --codebooks $O/cb-d4b8-d4b8-$f.safetensors --methods vecinfer --json $O/eval-$f-r128.json
done
