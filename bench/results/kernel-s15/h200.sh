#!/usr/bin/env bash
# Session 15, H200, two commands (STEP=1, then STEP=2 with STEP=1's part1.json.gz carried in as
# .carry/s15/nvidia-h200.json.part.gz in case the machine was given back between them). No GPU
# tests: they ran on the H100 with the same binary and sm_90.
export WANT=H200 SKIP_TESTS=1
case ${STEP:-1} in
  1) EXH_LIMIT=400 bash bench/results/kernel-s15/part1.sh ;;
  2) bash bench/results/kernel-s15/part2.sh && ENGINE_REST_LIMIT=150 SKIP_DECODE=1 bash bench/results/kernel-s15/part3.sh ;;
esac
