#!/usr/bin/env bash
# Session 27, H200, calls 1 and 2 of 3: the model in two parts (carry .carry/m1, then
# .carry/m2), kept on the warm machine for run.sh.
set -eu
R=/root/s27; mkdir -p $R
if [ -d .carry/m1 ]; then cp .carry/m1/gg-part-00 .carry/m1/eval.txt $R/; else cp .carry/m2/gg-part-01 $R/; fi
ls -la $R
