#!/usr/bin/env bash
# Session 29, no GPU: registers, spills, and where the first code loads sit in the SASS of the
# attention kernel (NVRTC 13.0, sm_90) for the default Llama config, the t512 w4 winner and
# SmolLM2's paged default, for the working tree (or REV). Needs .deps/nvrtc and .deps/nvdisasm
# (pip: nvidia-cuda-nvrtc==13.0.*, nvidia-cuda-nvdisasm==13.2.*).
# Usage: bash bench/results/kernel-s29/registers.sh [REV] (from the repository root).
set -eu
root=$PWD; rev=${1:-}
src=$root
if [ -n "$rev" ]; then src=/tmp/registers-$rev; rm -rf $src; git worktree add -q --detach $src $rev; fi
(cd $src && CARGO_TARGET_DIR=$root/target cargo build -q --release -p vecinfer-runtime --example compile_config)
base=$(sed -n 2p $src/codegen/tests/snapshots/d128_g4_d4b8_d4b8_mma.cu | sed 's/^\/\/ config: //')
t512=$(echo "$base" | sed 's/"tile_tokens":256/"tile_tokens":512/; s/,"min_blocks_per_sm":3//')
smol=$(sed -n 2p $src/codegen/tests/snapshots/d64_g3_d4b8_d4b8_mma_paged64_win8.cu | sed 's/^\/\/ config: //')
for name in base t512 smol; do
  cfg=${!name}; cache=/tmp/registers-cache-${rev:-tree}-$name; rm -rf $cache; mkdir -p $cache
  line=$(VECINFER_CACHE_DIR=$cache VECINFER_NVRTC_DIR=$root/.deps/nvrtc/nvidia/cu13/lib $root/target/release/examples/compile_config "$cfg" sm_90 $cache/out.cu 2>&1 | grep "attention: vq_att" | sed 's/.*_f16 //')
  sass=$(for f in $cache/kernels/*.cubin; do $root/.deps/nvdisasm/nvidia/cu13/bin/nvdisasm -c $f; done | awk '/text.vq_attention/{on=1} /text.vq_merge/{on=0} on')
  # The line of the first BAR.SYNC and of the first no_allocate code load (LDG.E.NA).
  bar=$(echo "$sass" | grep -n "BAR.SYNC" | head -1 | cut -d: -f1)
  ldg=$(echo "$sass" | grep -n "LDG.E.NA" | head -1 | cut -d: -f1)
  echo "${rev:-tree} $name: $line; first LDG.E.NA at SASS line $ldg, first BAR.SYNC at $bar, $(echo "$sass" | grep -c BAR.SYNC) BAR.SYNC"
done
if [ -n "$rev" ]; then git worktree remove --force $src; fi
