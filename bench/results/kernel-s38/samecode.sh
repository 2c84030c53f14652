#!/usr/bin/env bash
# Session 38, no GPU: the SASS (NVRTC 13.0, sm_90) of kernel configs at a base commit and in the
# working tree, compared op by op (addresses dropped; kernel-s37/sasskey.py). CONFIGS: a JSON
# list of KernelConfig (default: every tuned winner and default with a codec other than 8 bits,
# the only kernels read_code's change can reach), plus the CUDA-core configs of 12-bit keys;
# SNAPSHOTS=1 adds the codegen snapshots' configs (2-bit kernels); EIGHT=1 takes the winners and
# defaults with 8-bit codecs only instead. A config that does not compile shows 0 lines.
# Needs .deps/nvrtc (pip: nvidia-cuda-nvrtc==13.0.*) and nvdisasm (pip: nvidia-cuda-nvdisasm),
# NVDISASM=path; BASE=commit (default HEAD).
# Usage: bash bench/results/kernel-s38/samecode.sh (from the repository root).
set -eu
BASE=${BASE:-HEAD}
export NVDISASM=${NVDISASM:-nvdisasm}
root=$PWD; wt=$(mktemp -d)/base; out=$(mktemp -d)
python3 - "$out/configs.json" <<'PY'
import glob, json, os, sys
seen = {}
for f in sorted(glob.glob("tuned-configs/*.json")):
    for e in json.load(open(f))["entries"].values():
        for side in ("winner", "default"):
            c = (e.get(side) or {}).get("config")
            eight = c and c["key_codec"].endswith("b8") and c["value_codec"].endswith("b8")
            if c and eight == bool(os.environ.get("EIGHT")):
                seen[json.dumps(c, sort_keys=True)] = c
snapshot = lambda name: json.loads(open(f"codegen/tests/snapshots/{name}.cu").readlines()[1][len("// config: "):])
if os.environ.get("SNAPSHOTS"):  # the four codegen snapshots too (2-bit kernels of both shapes)
    for name in ("d128_g4_d4b8_d4b8_mma", "d128_g4_d4b8_d4b8_mma_paged64", "d64_g3_d4b8_d4b8_mma_paged64_win8", "d128_g4_d4b8_d4b8_lut"):
        c = snapshot(name)
        seen[json.dumps(c, sort_keys=True)] = c
base = snapshot("d128_g4_d4b8_d4b8_lut")
for k, v in () if os.environ.get("EIGHT") else (("d8b12", "d8b12"), ("d8b12", "d8b8"), ("d4b12", "d4b8")):
    for scoring in ("dequantize", "lut"):
        c = dict(base, key_codec=k, value_codec=v, key_scoring=scoring)
        seen[json.dumps(c, sort_keys=True)] = c
json.dump(list(seen.values()), open(sys.argv[1], "w"))
print(len(seen), "configs")
PY
git worktree add -f "$wt" "$BASE" -q
(cd "$wt" && ln -sfn "$root/.deps" .deps && cargo build -q --release -p vecinfer-runtime --example compile_config)
cargo build -q --release -p vecinfer-runtime --example compile_config
n=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" $out/configs.json)
for i in $(seq 0 $((n - 1))); do
  cfg=$(python3 -c "import json,sys; print(json.dumps(json.load(open(sys.argv[1]))[int(sys.argv[2])]))" $out/configs.json $i)
  for side in base new; do
    bin=target/release/examples/compile_config; [ $side = base ] && bin=$wt/$bin
    d=$out/$side-$i; mkdir -p $d
    # A config that does not validate (e.g. a LUT of 4096-entry books) compiles on neither side.
    VECINFER_CACHE_DIR=$d VECINFER_NVRTC_DIR=$root/.deps/nvrtc/nvidia/cu13/lib $bin "$cfg" sm_90 $d/out.cu > /dev/null 2>&1 || true
    python3 bench/results/kernel-s37/sasskey.py $d/kernels > $out/$side-$i.sass
  done
  # A cubin is named by its first kernel: the attention's holds the merge kernel first.
  name=$(sed -n 's/^## vq_merge_//p' $out/new-$i.sass | head -1)
  echo "$name: base $(wc -l < $out/base-$i.sass) new $(wc -l < $out/new-$i.sass) lines; differing $(diff $out/base-$i.sass $out/new-$i.sass | grep -c '^[<>]' || true)"
done
git worktree remove --force "$wt"
