#!/usr/bin/env bash
# Session 29, CPU (4 windows of eval.txt): int8 anchors on the 1.5-bit per-head plan, at the
# same int8 rows as the plain plan: window 65 alone, window 65 + 1% anchors, window 45 + 1%.
# $1: the binary; $2: the plan file; $3: output folder.
set -u
M=/root/.cache/vecinfer/models/SmolLM2-135M-Instruct.Q4_1.gguf
V=$1; P=$2; O=$3; mkdir -p $O
run() { # name residual [anchor args...]
  local n=$1 r=$2; shift 2; local s=$(date +%s)
  $V eval --model $M --text ../shared/data/wikitext2/eval.txt --ctx 2048 --max-windows 4 --sinks 4 --window int8 \
    --residual $r --no-attention-error --methods vecinfer --codebooks $P "$@" \
    --json $O/eval-$n.json > $O/eval-$n.txt 2>&1
  echo "$n rc $? $(( $(date +%s) - s )) s"; grep -E "^vecinfer " $O/eval-$n.txt | tail -1
}
run r65 65
run r45-a1 45 --anchors 1% --anchor-rule attention
run r65-a1 65 --anchors 1% --anchor-rule attention
