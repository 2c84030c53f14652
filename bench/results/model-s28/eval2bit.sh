#!/usr/bin/env bash
# Session 28: session 26's 2-bit plan (the layers `calibrate --budget 1.733` chose) with every part
# per head. The plan is made locally (no model needed) from head-d4b8-d8b8 (local, session 27) and
# the two files head2bit.sh calibrated on the device, then carried in .carry/s28e with the binary
# and evaluated over all of eval.txt at the plan's --residual 74:
#   bash bench/results/model-s28/evals.sh .carry/s28e 74 head-2bit     (carry .carry/m3 .carry/s28e)
# The first try ran `plan` on the device with the binary of feb2571, which refused the files: they
# were calibrated from the model saved as model.gguf, so their model name was "model". Plans now
# take parts of the same shape under other names and print a note (this session's change).
set -eu
cd out/s28
vecinfer plan --codebooks ../s27/head-d4b8-d8b8.safetensors \
  --layer-codebooks 18,20,23=head-d4b12-d4b10.safetensors \
  --layer-codebooks 7,17,24=head-d4b12-d4b8.safetensors --out head-2bit.safetensors
mkdir -p ../../.carry/s28e && cp head-2bit.safetensors ../../.carry/s28e/
