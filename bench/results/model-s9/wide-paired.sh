#!/usr/bin/env bash
# Session 9, real-model call 3 of 3 (after session 7's real-part.sh a and b): all 60
# windows of 2048 at 4 per batch, skinny projections, the 512-token tiles on and off
# (VECINFER_WIDE_TILES=off): a paired GPU-vs-GPU comparison, window by window.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
V=/root/vi; cp .carry/m6/c/mpart-* $V/; export VECINFER_CACHE_DIR=$V/cache
M=$V/cache/models/SmolLM2-135M-Instruct.Q4_1.gguf; mkdir -p $V/cache/models
[ -s $M ] || cat $V/mpart-aa $V/mpart-ab $V/mpart-ac | xz -d > $M; sha256sum $M | cut -c1-16
xz -dc .carry/s9w/vi.xz > $V/s9w && chmod +x $V/s9w
A="--model $M --codebooks $V/cb-d4b8-d4b8-layer-max.safetensors --text $V/eval.txt --ctx 2048 --sinks 4 --device cuda --methods vecinfer --batch 4 --projections skinny"
for wide in on off; do
  VECINFER_WIDE_TILES=$wide timeout 250 $V/s9w eval $A --json $OUT/wide-$wide.json > $OUT/wide-$wide.txt 2>&1; echo "wide $wide rc $?"
done
python3 - <<PY
import json, statistics as st
r={w: [x for x in json.load(open(f'$OUT/wide-{w}.json'))['results'] if x['method']=='vecinfer'][0] for w in ['on','off']}
d=[a-b for a,b in zip(r['on']['window_nll'], r['off']['window_nll'])]
print('windows', len(d), 'ppl on', round(r['on']['perplexity'],4), 'off', round(r['off']['perplexity'],4))
print(f'on - off per window: mean {st.mean(d):+.2f} sd {st.stdev(d):.2f} se {st.stdev(d)/len(d)**0.5:.2f} nats; positive {sum(x>0 for x in d)}/{len(d)}')
PY
