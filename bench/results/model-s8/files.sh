#!/usr/bin/env bash
# Session 8, real-model call 3 of 4 (after real-part.sh a and b of session 7, one warm GPU):
# this session's binary and the codebook files of the 60-window evals into /root/vi.
mkdir -p /root/vi && cp .carry/s8q/* /root/vi/ && ls /root/vi
