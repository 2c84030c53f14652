#!/usr/bin/env bash
# Session 14, H100: addr.sh's decode steps confounded two things (the bound of 2 blocks reached
# the 4-warp kernels too, and the tuned file was not taken). Here the address change alone, no
# bound, at the batches whose shipped winners are 4-warp kernels, the file's fingerprint swapped
# to this binary's (checked: the kernel line names the tuned key).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s14
for b in old addr; do xz -dc $S/vi-$b.xz > /tmp/vi-$b && chmod +x /tmp/vi-$b; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
rm -f /tmp/p.json; /tmp/vi-addr tune --plan-only "x" --file /tmp/p.json; python3 -c "import json; print(json.load(open('/tmp/p.json'))['device']['codegen'])"
python3 - <<'PY'
import json
d = json.load(open("tuned-configs/nvidia-h100-80gb-hbm3.json"))
d["device"]["codegen"] = json.load(open("/tmp/p.json"))["device"]["codegen"]
json.dump(d, open("/tmp/h100-addr.json", "w"))
PY
G="--random-weights --caches d4b8/d4b8 --batches 16,64 --contexts 8192,131072 --largest-at= --steps 20"
for round in 1 2; do
  timeout 150 /tmp/vi-old decode-bench $G --json $OUT/decode-old-r$round.json > $OUT/decode-old-r$round.txt 2>&1
  echo "decode old r$round: $(grep -E '^vecinfer .* x ' $OUT/decode-old-r$round.txt | sed -E 's/^vecinfer.* ([0-9]+) x +([0-9]+): eager ([0-9.]+) ms, graph ([0-9.]+) ms.*/\1x\2:\4/' | tr '\n' ' ')"
  VECINFER_TUNED_CONFIGS=/tmp/h100-addr.json timeout 150 /tmp/vi-addr decode-bench $G --json $OUT/decode-addr-r$round.json > $OUT/decode-addr-r$round.txt 2>&1
  echo "decode addr r$round: $(grep -E '^vecinfer .* x ' $OUT/decode-addr-r$round.txt | sed -E 's/^vecinfer.* ([0-9]+) x +([0-9]+): eager ([0-9.]+) ms, graph ([0-9.]+) ms.*/\1x\2:\4/' | tr '\n' ' ')"
done
python3 - <<'PY'
import json, glob
for f in sorted(glob.glob("/root/out/decode-*-r1.json")) or sorted(glob.glob("$OUT/decode-*-r1.json")):
    pass
PY
for f in $OUT/decode-*-r1.json; do python3 -c "
import json,sys
d=json.load(open('$f'))
print('$f'.split('/')[-1], [(r['batch'], r['context'], r['cache_kernel'].split('(')[-1][:60]) for r in d['rows']])"; done
cd $OUT && tar czf addr2.tgz *.txt *.json && rm -f *.txt *.json
