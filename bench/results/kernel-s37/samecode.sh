#!/usr/bin/env bash
# Session 37, no GPU: the SASS (NVRTC 13.0, sm_90) of kernels the tuned files name, at a base
# commit and in the working tree, compared op by op (addresses dropped, kernels by name). Used to
# show that per-book copies leave every shipped entry's machine code alone.
# Needs .deps/nvrtc (pip: nvidia-cuda-nvrtc==13.0.*) and nvdisasm (pip: nvidia-cuda-nvdisasm),
# NVDISASM=path; BASE=commit (default HEAD).
# Usage: bash bench/results/kernel-s37/samecode.sh (from the repository root).
set -eu
BASE=${BASE:-HEAD}
export NVDISASM=${NVDISASM:-nvdisasm}
root=$PWD; wt=$(mktemp -d)/base
git worktree add -f "$wt" "$BASE" -q
(cd "$wt" && ln -sfn "$root/.deps" .deps && cargo build -q --release -p vecinfer-runtime --example compile_config)
cargo build -q --release -p vecinfer-runtime --example compile_config
base=$(git show "$BASE":codegen/tests/snapshots/d128_g4_d4b8_d4b8_mma.cu | sed -n 2p | sed 's/^\/\/ config: //')
smol=$(git show "$BASE":codegen/tests/snapshots/d64_g3_d4b8_d4b8_mma_paged64_win8.cu | sed -n 2p | sed 's/^\/\/ config: //')
mk() { echo "$base" | sed "s/\"key_codec\":\"d4b8\"/\"key_codec\":\"$1\"/; s/\"value_codec\":\"d4b8\"/\"value_codec\":\"$2\"/; s/\"direct_codes\":true/\"direct_codes\":$3/; s/\"codebook_replicas\":16/\"codebook_replicas\":$4/; s/\"stages\":1/\"stages\":$5/; s/,\"min_blocks_per_sm\":3//"; }
declare -A C
C[base]=$base; C[smol]=$smol
C[d2b8]=$(mk d2b8 d2b8 true 16 1); C[d8b8r8]=$(mk d8b8 d8b8 false 8 2)
C[k8r1]=$(mk d8b12 d8b8 false 1 2); C[k4r1]=$(mk d4b12 d4b8 false 1 2); C[k12r1]=$(mk d8b12 d8b12 false 1 2)
out=$(mktemp -d)
for name in "${!C[@]}"; do
  for side in base new; do
    bin=target/release/examples/compile_config; [ $side = base ] && bin=$wt/$bin
    d=$out/$side-$name; mkdir -p $d
    VECINFER_CACHE_DIR=$d VECINFER_NVRTC_DIR=$root/.deps/nvrtc/nvidia/cu13/lib $bin "${C[$name]}" sm_90 $d/out.cu > /dev/null 2>&1
    python3 bench/results/kernel-s37/sasskey.py $d/kernels > $out/$side-$name.sass
  done
  echo "$name: base $(wc -l < $out/base-$name.sass) new $(wc -l < $out/new-$name.sass) lines; differing $(diff $out/base-$name.sass $out/new-$name.sass | grep -c '^[<>]' || true)"
done
git worktree remove --force "$wt"
