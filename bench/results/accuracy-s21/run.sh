#!/usr/bin/env bash
# Session 21 (issue 15): the residual window at lower precision, CPU eval, 4 windows of eval.txt
# at ctx 2048, 4 sinks, vecinfer (balanced λ, Hadamard, attention-weighted k-means), codebooks
# calibrated at ctx 2048 on calib.txt. Landed rows: `--window int8`. The prototype rows (fp8,
# int4) came from proto-window.patch / proto-int4.patch applied to commit 503ec8e (env-gated).
set -eu
B=target/release/vecinfer; D=../shared/data/wikitext2; O=bench/results/accuracy-s21
cargo build --release -p vecinfer
# d4b8 / d4b8: session 16's file (out/rot/cb2048-d4b8-d4b8-hadamard.safetensors), remade by:
$B calibrate --text $D/calib.txt --k d4b8 --v d4b8 --ctx 2048 --max-tokens 16384 --methods vecinfer --smooth balanced --out out/win/cb2048-d4b8-d4b8.safetensors
$B calibrate --text $D/calib.txt --k d4b9 --v d8b10 --ctx 2048 --max-tokens 16384 --methods vecinfer --smooth balanced --out out/win/cb2048-d4b9-d8b10.safetensors
$B calibrate --text $D/calib.txt --k d4b12 --v d4b8 --ctx 2048 --max-tokens 16384 --methods vecinfer --smooth balanced --out out/win/cb2048-d4b12-d4b8.safetensors
ev() { $B eval --text $D/eval.txt --max-windows 4 --sinks 4 --no-attention-error --methods vecinfer "$@"; }
for r in 32 64 128; do ev --codebooks out/win/cb2048-d4b8-d4b8.safetensors --residual $r --json $O/r$r-fp16.json; done
for r in 64 256; do ev --codebooks out/win/cb2048-d4b8-d4b8.safetensors --residual $r --window int8 --json $O/d4b8-r$r-int8.json; done
ev --codebooks out/win/cb2048-d4b9-d8b10.safetensors --residual 32 --json $O/mix-r32-fp16.json
for r in 64 128; do ev --codebooks out/win/cb2048-d4b9-d8b10.safetensors --residual $r --window int8 --json $O/mix-r$r-int8.json; done
ev --codebooks out/win/cb2048-d4b12-d4b8.safetensors --residual 64 --json $O/k12-r64-fp16.json
ev --codebooks out/win/cb2048-d4b12-d4b8.safetensors --residual 128 --window int8 --json $O/k12-r128-int8.json
