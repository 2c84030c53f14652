#!/usr/bin/env bash
# Session 16, H100: what a batch-1 SmolLM2 attention launch spends its time on. Kernel
# durations of `bench` at 1 x 8192 and 1 x 131072 (tuned winner's geometry), full ncu sections
# at 1 x 8192, and the SASS hot spots of profile.sh's 1 x 131072 report.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
S=$PWD/.carry/s16; R=/tmp/r; mkdir -p $R
xz -dc $S/vi-pf.xz > $R/vi && chmod +x $R/vi
B="$R/vi bench --heads 9 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8 --tile 512 --warps 8 --replicas 4 --runs 5"
for s in 1x8192 1x131072; do
  timeout 120 ncu --clock-control none --metrics gpu__time_duration.sum,launch__grid_size,sm__cycles_active.avg,smsp__inst_executed.sum --csv $B --shapes $s > /tmp/d-$s.csv 2>&1
  grep '^"' /tmp/d-$s.csv | python3 -c "
import csv,sys,collections
r=list(csv.DictReader(sys.stdin)); agg=collections.OrderedDict()
for x in r:
    k=(x['Kernel Name'].split('(')[0][:60], x['Metric Name']); agg.setdefault(k,[]).append(float(x['Metric Value'].replace(',','')))
for (n,m),v in agg.items(): print('$s', n, m, 'n', len(v), 'median', sorted(v)[len(v)//2])
" | tee $OUT/durations-$s.txt
done
timeout 120 ncu --clock-control none --set full -k regex:vq_attention --launch-skip 3 --launch-count 1 -o /tmp/a8k -f $B --shapes 1x8192 > /dev/null 2>&1
ncu --import /tmp/a8k.ncu-rep --print-details all > $OUT/full-8k.txt 2>&1; gzip $OUT/full-8k.txt
ncu --import $S/full.ncu-rep --page source --csv --print-source sass -k regex:vq_attention > /tmp/sass.csv 2>&1; gzip -c /tmp/sass.csv > $OUT/sass-128k.csv.gz
ncu --import /tmp/a8k.ncu-rep --page source --csv --print-source sass > /tmp/sass8.csv 2>&1; gzip -c /tmp/sass8.csv > $OUT/sass-8k.csv.gz
ls -la $OUT
