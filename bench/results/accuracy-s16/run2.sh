set -x
B=/tmp/vi-rot2; D=/work/shared/data/wikitext2; O=/work/main/out/rot
time $B calibrate --text $D/calib.txt --k d4b8 --v d4b8 --methods vecinfer --ctx 2048 --rotation hadamard,learned:10 --out $O/cb2048-d4b8-d4b8.safetensors
for f in hadamard learned_10; do
  $B eval --text $D/eval.txt --max-windows 4 --sinks 4 --no-attention-error --residual 128 --codebooks $O/cb2048-d4b8-d4b8-$f.safetensors --methods vecinfer --json $O/eval2048-$f-r128.json > $O/eval2048-$f-r128.txt 2>&1 &
done
wait
tail -3 $O/eval2048-*.txt
