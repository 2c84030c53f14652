#!/usr/bin/env bash
# Session 20, no GPU: registers, spills and HMMA count of the attention kernel that NVRTC 13.0
# makes for sm_90, per commit, for the default Llama config (split_query false and true) and
# the H100 winner's t512 w4 (no launch bound). Needs .deps/nvrtc and .deps/nvdisasm (CI installs
# both). Usage: bash bench/results/kernel-s20/registers.sh [REV ...] (from the repository root).
set -eu
root=$PWD
revs=${*:-ea80caf 50eedf1 3ee91dd}
base=$(sed -n 2p codegen/tests/snapshots/d128_g4_d4b8_d4b8_mma.cu | sed 's/^\/\/ config: //')
split=$(echo "$base" | sed 's/"split_query":false/"split_query":true/')
t512=$(echo "$base" | sed 's/"tile_tokens":256/"tile_tokens":512/; s/,"min_blocks_per_sm":3//')
for rev in $revs; do
  wt=/tmp/registers-$rev; rm -rf $wt; git worktree add -q --detach $wt $rev
  (cd $wt && CARGO_TARGET_DIR=$root/target cargo build -q --release -p vecinfer-runtime --example compile_config)
  for name in base split t512; do
    cfg=${!name}; cache=/tmp/registers-cache-$rev-$name; rm -rf $cache; mkdir -p $cache
    line=$(VECINFER_CACHE_DIR=$cache VECINFER_NVRTC_DIR=$root/.deps/nvrtc/nvidia/cu13/lib $root/target/release/examples/compile_config "$cfg" sm_90 $cache/out.cu 2>&1 | grep "attention: vq_att" | sed 's/.*_f16 //')
    hmma=$(for f in $cache/kernels/*.cubin; do $root/.deps/nvdisasm/nvidia/cu13/bin/nvdisasm -c $f; done | awk '/text.vq_attention/{on=1} /text.vq_merge/{on=0} on' | grep -c HMMA)
    echo "$rev $name: $line, $hmma HMMA in the kernel"
  done
  git worktree remove --force $wt
done
