#!/usr/bin/env bash
# The test suite, with its set-up: fetches the model the end-to-end tests need (once; cached),
# then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p vecinfer
target/release/vecinfer fetch-model
VECINFER_REQUIRE_MODEL=1 cargo test --release --workspace
