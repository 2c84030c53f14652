#!/usr/bin/env bash
# Session 12, experiment: do whole decode steps rank the engine's 1 x 128k attention configs as
# the kernel-alone tuner did? The shipped H100 file's b1_s131072 key (SmolLM2 d4b8, paged64):
# its 12 fastest timed candidates (kernel alone), each made the key's winner in a copy of the
# file; decode steps at 1 x 131072 with each copy, three interleaved rounds; the FP16 cache in
# every round. Same binary as l2-prefetch.sh (no switch set: the shipped kernels).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s12/vi.xz > /tmp/vi && chmod +x /tmp/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
C=/tmp/cands; mkdir -p $C
python3 - <<PY
import json, copy
d = json.load(open('tuned-configs/nvidia-h100-80gb-hbm3.json'))
key = 'd64_g3_kd4b8_vd4b8_layer_smooth_hadamard_f16_paged64_b1_s131072'
e = d['entries'][key]
# one result per config: the first, as the file's validator reads it (re-measurements follow)
firsts = []
for c in e['candidates']:
    if c['status'] == 'timed' and not any(f['config'] == c['config'] for f in firsts):
        if next(x for x in e['candidates'] if x['config'] == c['config']) is c: firsts.append(c)
ms = lambda c: c.get('remeasured_ms') or c['stats']['median_ms']  # what the tuner ranks by
timed = sorted(firsts, key=ms)
for i, c in enumerate(timed[:12]):
    v = copy.deepcopy(d)
    # the file's validator wants the winner to be the fastest of the candidates: keep it alone
    v['entries'][key]['winner'] = {'config': c['config'], 'median_ms': ms(c)}
    v['entries'][key]['default'] = v['entries'][key]['winner']
    v['entries'][key]['candidates'] = [c]
    v['entries'][key]['evaluations'] = 1
    json.dump(v, open(f'$C/c{i:02d}.json', 'w'))
    k = c['config']
    print(f"c{i:02d} alone {ms(c)*1e3:.1f} us: t{k['tile_tokens']} w{k['warps']} s{k['stages']} r{k['codebook_replicas']} direct={k['direct_codes']}")
PY
R=/tmp/r; mkdir -p $R
G="--random-weights --largest-at= --steps 30 --batches 1 --contexts 131072"
for round in 1 2 3; do
  VECINFER_TUNED_CONFIGS=off timeout 100 /tmp/vi decode-bench $G --caches fp16 --json $R/fp16-$round.json > $R/fp16-$round.txt 2>&1 || echo "fp16 $round failed"
  VECINFER_TUNED_CONFIGS=off timeout 100 /tmp/vi decode-bench $G --caches d4b8/d4b8 --json $R/heuristic-$round.json > $R/heuristic-$round.txt 2>&1 || echo "heuristic $round failed"
  for f in $C/c*.json; do
    c=$(basename $f .json)
    VECINFER_TUNED_CONFIGS=$f timeout 100 /tmp/vi decode-bench $G --caches d4b8/d4b8 --json $R/$c-$round.json > $R/$c-$round.txt 2>&1 || echo "$c $round failed"
  done
done
grep -h "tuned\|config" $R/c*-1.txt | sort | uniq -c | head -5
python3 - <<PY > $OUT/summary.txt
import json, glob, collections, statistics
t = collections.defaultdict(list)
for f in sorted(glob.glob('$R/*.json')):
    c = f.split('/')[-1].rsplit('-', 1)[0]
    d = json.load(open(f)); rows = d['rows'] if isinstance(d, dict) else d
    for r in rows: t[c].append(r['graph_ms'])
print('candidate graph_ms per round, mean')
for c in sorted(t, key=lambda c: statistics.mean(t[c])): print(c, ' '.join(f'{x:.4f}' for x in t[c]), f'{statistics.mean(t[c]):.4f}')
PY
cat $OUT/summary.txt
cd $R && tar czf $OUT/runs.tgz .
