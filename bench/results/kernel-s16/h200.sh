set -u
bash bench/results/kernel-s16/fp8.sh
cp /tmp/base-llama.json /tmp/base-smol.json .carry/s16b/ 2>/dev/null
bash bench/results/kernel-s16/fp8-tuned.sh
