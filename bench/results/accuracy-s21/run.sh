#!/usr/bin/env bash
# Session 21 (issue 15): the residual window at lower precision, CPU eval, 4 windows of eval.txt
# at ctx 2048, 4 sinks, vecinfer (balanced λ, Hadamard, attention-weighted k-means), codebooks
# calibrated at ctx 2048 on calib.txt. Landed rows: `--window int8` (commit f23837f; the int8
# scale was rounded to nearest there, up since bd0ea0a). The fp16 rows (r*-fp16, mix-r32-fp16)
# and the prototype rows came from a prototype binary: proto-window.patch on 503ec8e
# (VECINFER_PROTO_WINDOW=fp8|fp8raw|int8|int4, unset for fp16: the fp16 path is unchanged), and
# proto-int4.patch on f23837f (VECINFER_PROTO_INT4=32|64: int4 with keys in the code space);
# their JSON's `effective` bits assume an fp16 window, so the README computes them by hand.
# The prototype commands: the `ev` lines below with the variable set and without --window.
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
# 16 windows (the same files; the fp16 reference once):
$B eval --text $D/eval.txt --max-windows 16 --methods fp16 --no-attention-error --json $O/w16-fp16.json
$B eval --text $D/eval.txt --max-windows 16 --sinks 4 --no-attention-error --methods vecinfer --codebooks out/win/cb2048-d4b9-d8b10.safetensors --residual 32 --json $O/w16-mix-r32-fp16.json
$B eval --text $D/eval.txt --max-windows 16 --sinks 4 --no-attention-error --methods vecinfer --codebooks out/win/cb2048-d4b9-d8b10.safetensors --residual 64 --window int8 --json $O/w16-mix-r64-int8.json
$B eval --text $D/eval.txt --max-windows 16 --sinks 4 --no-attention-error --methods vecinfer --codebooks out/win/cb2048-d4b12-d4b8.safetensors --residual 64 --json $O/w16-k12-r64-fp16.json
$B eval --text $D/eval.txt --max-windows 16 --sinks 4 --no-attention-error --methods vecinfer --codebooks out/win/cb2048-d4b12-d4b8.safetensors --residual 128 --window int8 --json $O/w16-k12-r128-int8.json
