#!/usr/bin/env bash
# Session 11, real-model call 4 of 4 (after, on the same machine: `mkdir -p /root/vi && cp
# .carry/m6/a/mpart-aa /root/vi/`, the same for b's mpart-ab, then `cp .carry/m6/a/x/*
# .carry/s11/vi.xz /root/vi/`, each carrying only those files: the tree had grown past the
# carry limit for session 7's real-part.sh): gpu-check on SmolLM2 with this session's binary, so the projection's K/V writes
# and the one window flush a step run on the real model's K/V: logits and generation against
# the CPU, perplexity of both caches against the CPU (8 windows of 2048, 4 sinks; the VQ cache
# through the new path), the entry rotations, and the new check that the projection's writes
# give the same bits as an append per layer (4 windows of 2048, both projection paths, both
# caches).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
V=/root/vi; cp .carry/m6/c/mpart-* $V/; export VECINFER_CACHE_DIR=$V/cache
M=$V/cache/models/SmolLM2-135M-Instruct.Q4_1.gguf; mkdir -p $V/cache/models
[ -s $M ] || cat $V/mpart-aa $V/mpart-ab $V/mpart-ac | xz -d > $M; sha256sum $M | cut -c1-16
xz -dc $V/vi.xz > $V/vi && chmod +x $V/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 560 $V/vi gpu-check --model $M --codebooks $V/cb-d4b8-d4b8-layer-max.safetensors --text $V/eval.txt --ctx 2048 --windows 8 --sinks 4 --skip-tiny \
  --json $OUT/check.json > $OUT/check.txt 2>&1; echo "gpu-check rc $?"
grep -E "PASS|FAIL" $OUT/check.txt | grep -v generation | cut -c1-300
