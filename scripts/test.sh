#!/usr/bin/env bash
# The test suite, with its set-up: NVRTC from PyPI (so every generated kernel variant is
# compiled, no GPU needed) and the model the end-to-end tests need (both fetched once, cached),
# then every test of the workspace. GPU tests are #[ignore]d (counted as ignored, never as
# passed); on a GPU machine run them with
#   VECINFER_REQUIRE_GPU=1 cargo test --release -- --ignored
set -euo pipefail
cd "$(dirname "$0")/.."
nvrtc_dir=.deps/nvrtc
if [ ! -f "$nvrtc_dir/nvidia/cu13/lib/libnvrtc.so.13" ]; then
  python3 -m pip install --quiet --disable-pip-version-check --target "$nvrtc_dir" "nvidia-cuda-nvrtc==13.0.*"
fi
export VECINFER_NVRTC_DIR="$PWD/$nvrtc_dir/nvidia/cu13/lib" VECINFER_REQUIRE_NVRTC=1
cargo build --release -p vecinfer
target/release/vecinfer fetch-model
VECINFER_REQUIRE_MODEL=1 cargo test --release --workspace
