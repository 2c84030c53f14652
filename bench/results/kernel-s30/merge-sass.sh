#!/usr/bin/env bash
# Session 30, no GPU: where ptxas puts the merge kernel's loads relative to its first exp
# (NVRTC 13.0, sm_90, the default Llama config's module). A batch of the merge issues its 8
# maxes, then waits on them at the first MUFU.EX2; the values' LDG.E.128 come after it, so a
# batch takes two L2 round trips. Needs .deps/nvrtc and .deps/nvdisasm (see ../kernel-s29/registers.sh).
# Usage: bash bench/results/kernel-s30/merge-sass.sh (from the repository root).
set -eu
root=$PWD
cargo build -q --release -p vecinfer-runtime --example compile_config
cfg=$(sed -n 2p codegen/tests/snapshots/d128_g4_d4b8_d4b8_mma.cu | sed 's/^\/\/ config: //')
cache=/tmp/merge-sass-cache; rm -rf $cache; mkdir -p $cache
VECINFER_CACHE_DIR=$cache VECINFER_NVRTC_DIR=$root/.deps/nvrtc/nvidia/cu13/lib target/release/examples/compile_config "$cfg" sm_90 $cache/out.cu 2>&1 | grep "vq_merge" | sed 's/^attention: //'
sass=$(for f in $cache/kernels/*.cubin; do $root/.deps/nvdisasm/nvidia/cu13/bin/nvdisasm -c $f; done | awk '/text.vq_merge/{on=1} on')
first_exp=$(echo "$sass" | grep -n "MUFU.EX2" | head -1 | cut -d: -f1)
echo "first MUFU.EX2 at SASS line $first_exp"
echo "loads before it: $(echo "$sass" | head -n $first_exp | grep -c 'LDG') ($(echo "$sass" | head -n $first_exp | grep -c 'LDG.E.128') of 16-byte values)"
echo "loads after it, before the barrier: $(echo "$sass" | tail -n +$first_exp | awk '/BAR.SYNC/{exit} {print}' | grep -c 'LDG') ($(echo "$sass" | tail -n +$first_exp | awk '/BAR.SYNC/{exit} {print}' | grep -c 'LDG.E.128') of 16-byte values)"
