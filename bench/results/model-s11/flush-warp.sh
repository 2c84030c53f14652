#!/usr/bin/env bash
# Session 11, H100: the window flush with one warp per row (books held in registers) against
# one block per row. Checks first with the new binary (gpu-check on the small model: the
# token-write checks require the flush's codes to equal the per-layer append's, bit for bit;
# memcheck over it), then decode steps of both binaries (old = .carry/s11, new = .carry/s11f),
# random weights of SmolLM2's shape, 2-bit and 4-bit, two rounds alternating, with the share of
# the eager step the flush takes (`append`).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s11/vi.xz > /tmp/old && xz -dc .carry/s11f/vi.xz > /tmp/new && chmod +x /tmp/old /tmp/new
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
R=/tmp/f; mkdir -p $R
timeout 150 /tmp/new gpu-check --json $R/check-tiny.json > $R/check-tiny.txt 2>&1; echo "gpu-check rc $?"
grep -E "token writes|written by|checks passed|FAIL" $R/check-tiny.txt | cut -c1-200
CS=$(ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || which compute-sanitizer)
timeout 240 $CS --tool memcheck --print-limit 20 /tmp/new gpu-check > $R/memcheck.txt 2>&1; echo "memcheck rc $?"
grep -E "ERROR SUMMARY" $R/memcheck.txt | tail -1
G="--random-weights --caches d4b8/d4b8,d2b8/d2b8 --steps 20 --batches 1,64,256 --contexts 8192 --largest-at="
for round in 1 2; do
  for b in new old; do
    timeout 200 /tmp/$b decode-bench $G --json $R/decode-$b-$round.json > $R/decode-$b-$round.txt 2>&1 || echo "$b $round failed"
  done
done
python3 - <<PY | tee $OUT/summary.txt
import json, glob, collections
t = collections.defaultdict(list)
for f in sorted(glob.glob('$R/decode-*.json')):
    b = 'new' if 'new' in f else 'old'
    d = json.load(open(f)); rows = d['rows'] if isinstance(d, dict) else d
    for r in rows: t[(r['cache'], r['batch'], r['context'], b)].append((r['graph_ms'], r['shares'].get('append', 0), r['shares'].get('attention', 0)))
print('cache batch context binary: graph_ms (append share, attention share of the eager step) per round')
for k in sorted(t): print(*k, ' '.join(f'{g:.4f} ({a:.3f}, {at:.3f})' for g, a, at in t[k]))
PY
cd $R && tar czf $OUT/runs.tgz *.txt *.json
