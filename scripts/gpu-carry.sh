#!/usr/bin/env bash
# Builds what a GPU machine without Rust needs and copies it to .carry/gpu (git-ignored): the
# vecinfer binary, the example engine and the GPU test binaries under stable names. Carry the
# folder to the GPU machine and run the tests there with VECINFER_REQUIRE_GPU=1.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.carry/gpu
mkdir -p "$out"
cargo build --release -p vecinfer -p vecinfer-example-engine
cp target/release/vecinfer "$out/"
cp target/release/vecinfer-example-engine "$out/engine"
cargo test --release -p vecinfer-tests --no-run --message-format=json 2>/dev/null |
  python3 -c '
import json, shutil, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        shutil.copy(m["executable"], sys.argv[1] + "/" + m["target"]["name"])
        print(m["target"]["name"])
' "$out"
# Only the GPU tests; stripped, they fit the device tool's 64 MiB with room to spare.
rm -f "$out"/{codebook_file,real_model,reference_attention,gpu_tests_are_ignored}
strip "$out"/{vecinfer,engine,gpu_*}
