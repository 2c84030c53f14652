#!/usr/bin/env bash
# Session 25, H200, calls 1 and 2 of 3: the model in two 34 MB parts (carry .carry/m1, then
# .carry/m2), kept on the warm machine for run.sh.
set -eu
R=/root/s25; mkdir -p $R
cp .carry/m1/gg-part-00 .carry/m1/eval.txt $R/ 2>/dev/null || cp .carry/m2/gg-part-01 $R/
ls -la $R
