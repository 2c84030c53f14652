#!/usr/bin/env bash
# Session 7, real-model calls 1-2 of 3 (one warm GPU): one part of the xz-compressed GGUF (the
# 98 MB model is over one call's 64 MiB) and the files beside it into /root/vi.
mkdir -p /root/vi && cp .carry/m6/$1/mpart-* /root/vi/ && cp .carry/m6/$1/x/* /root/vi/ && ls /root/vi
