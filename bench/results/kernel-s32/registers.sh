#!/usr/bin/env bash
# Session 32, no GPU: registers and spills (NVRTC 13.0, sm_90) of the attention kernel for the
# Llama default (contiguous and 64-token pages), the t512 w4 winner and SmolLM2's paged default,
# for the working tree. Needs .deps/nvrtc (pip: nvidia-cuda-nvrtc==13.0.*).
# Usage: bash bench/results/kernel-s32/registers.sh (from the repository root).
set -eu
cargo build -q --release -p vecinfer-runtime --example compile_config
base=$(sed -n 2p codegen/tests/snapshots/d128_g4_d4b8_d4b8_mma.cu | sed 's/^\/\/ config: //')
pg=$(echo "$base" | sed 's/"layout":"contiguous"/"layout":{"paged":{"page_tokens":64}}/')
t512=$(echo "$base" | sed 's/"tile_tokens":256/"tile_tokens":512/; s/,"min_blocks_per_sm":3//')
smol=$(sed -n 2p codegen/tests/snapshots/d64_g3_d4b8_d4b8_mma_paged64_win8.cu | sed 's/^\/\/ config: //')
for name in base pg t512 smol; do
  cfg=${!name}; cache=/tmp/registers-s32-$name; rm -rf $cache; mkdir -p $cache
  echo "$name: $(VECINFER_CACHE_DIR=$cache VECINFER_NVRTC_DIR=$PWD/.deps/nvrtc/nvidia/cu13/lib target/release/examples/compile_config "$cfg" sm_90 $cache/out.cu 2>&1 | grep "attention: vq_att" | sed 's/.*_f16 //')"
done
