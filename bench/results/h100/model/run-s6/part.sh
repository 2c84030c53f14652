#!/usr/bin/env bash
# Session 6, model calls 1-2 of 3 (one warm H100): carry one part of the xz-compressed GGUF
# (the 98 MB model is over one call's 64 MiB) and the files beside it into /root/vi.
mkdir -p /root/vi && cp .carry/m6/$1/mpart-* /root/vi/ && cp .carry/m6/$1/x/* /root/vi/ && ls /root/vi
