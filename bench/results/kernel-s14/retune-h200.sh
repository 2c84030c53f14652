#!/usr/bin/env bash
# Session 14: the three parts in one command on the H200 (its file has no paged or SmolLM2
# contiguous keys; part 1 without the GPU tests, which ran on the H100 with the same binary).
export WANT=H200 SKIP_TESTS=1
bash bench/results/kernel-s14/retune-1.sh && bash bench/results/kernel-s14/retune-2.sh && bash bench/results/kernel-s14/retune-3.sh
