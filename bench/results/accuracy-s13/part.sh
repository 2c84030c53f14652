#!/usr/bin/env bash
# Session 13: one part of the xz SmolLM2 GGUF (.carry/m11b/$1/part-$1, 18 MB: the tree leaves
# room for one a call) copied to /root/vi on the device; eval.sh assembles them.
set -u
mkdir -p /root/vi && cp .carry/m11b/$1/part-$1 /root/vi/ && ls -la /root/vi | tail -n +2 | awk '{print $5, $9}'
