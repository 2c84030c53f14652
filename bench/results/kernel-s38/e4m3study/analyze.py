#!/usr/bin/env python3
"""Table from evals/*.json: PPL, ΔPPL vs fp16 cache and vs f16 key book, paired per-window Δ NLL (mean ± s.e.), attention error."""
import json, math, os, sys
os.chdir(os.environ.get('STUDY', '/tmp/e4m3study'))
fp16 = None
rows = []
for p in ['kd8b12-vd8b8', 'kd8b12-vd8b12']:
    ref = None
    for v in ['f16', 'e4m3', 'e4m3-p2max']:
        f = f'evals/{p}-{v}.json'
        if not os.path.exists(f):
            continue
        d = json.load(open(f))
        for r in d['results']:
            if r['method'] == 'fp16':
                fp16 = r
        r = [r for r in d['results'] if r['method'] == 'vecinfer'][0]
        if v == 'f16':
            ref = r
        rows.append((p, v, r, ref, r['seconds']))
print('| K / V | key centroids | PPL | ΔPPL vs fp16 cache | ΔPPL vs f16 key book | paired Δ NLL / window | attn err | eval s |')
print('|---|---|---:|---:|---:|---:|---:|---:|')
if fp16:
    print(f"| fp16 cache | | {fp16['perplexity']:.3f} | 0 | | | 0 | {fp16['seconds']:.0f} |")
for p, v, r, ref, s in rows:
    ppl = r['perplexity']
    vs16 = f"{100*(ppl/fp16['perplexity']-1):+.2f}%" if fp16 else ''
    if v == 'f16':
        dref, pd = '0', '0'
    else:
        dref = f"{100*(ppl/ref['perplexity']-1):+.2f}%"
        d = [a - b for a, b in zip(r['window_nll'], ref['window_nll'])]
        n = len(d); m = sum(d)/n; sd = math.sqrt(sum((x-m)**2 for x in d)/(n-1)); se = sd/math.sqrt(n)
        pd = f"{m:+.1f} ± {se:.1f}"
    name = p.replace('kd', 'd').replace('-vd', ' / d')
    b = f"**" if v == 'f16' else ''
    print(f"| {name} | {b}{v}{b} | {ppl:.3f} | {vs16} | {dref} | {pd} | {r['attention_relative_error']:.5f} | {s:.0f} |")
