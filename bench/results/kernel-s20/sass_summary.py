# Per-opcode instruction and stall-sample shares from ncu source-page CSVs (ncu.sh):
#   python3 sass_summary.py sass-default.csv.gz [...]
import csv, gzip, sys, collections
def load(path):
    rows = list(csv.reader(gzip.open(path, 'rt')))
    hdr = rows[1]; data = rows[2:]
    return hdr, data
for path in sys.argv[1:]:
    hdr, data = load(path)
    ix = {h: i for i, h in enumerate(hdr)}
    stalls = [h for h in hdr if h.startswith('stall_') and 'Not Issued' not in h]
    by_op = collections.defaultdict(lambda: [0, 0, collections.Counter()])
    tot_s = collections.Counter(); tot_exec = 0; tot_samples = 0
    for r in data:
        src = r[ix['Source']].strip()
        op = src.split()[0] if src else '?'
        if op.startswith('@'): op = src.split()[1]
        op = op.split('.')[0]
        ex = int(r[ix['Instructions Executed']] or 0)
        sm = int(r[ix['Warp Stall Sampling (All Samples)']] or 0)
        by_op[op][0] += ex; by_op[op][1] += sm; tot_exec += ex; tot_samples += sm
        for s in stalls:
            v = int(r[ix[s]] or 0); by_op[op][2][s] += v; tot_s[s] += v
    print(path, 'executed', tot_exec, 'samples', tot_samples)
    print(' stalls:', ', '.join(f'{k[6:]} {v/tot_samples:.1%}' for k, v in tot_s.most_common(9)))
    for op, (ex, sm, st) in sorted(by_op.items(), key=lambda x: -x[1][0])[:18]:
        print(f'  {op:8s} exec {ex/tot_exec:6.1%} samples {sm/tot_samples:6.1%}  top: ' + ', '.join(f'{k[6:]} {v/max(sm,1):.0%}' for k, v in st.most_common(3)))
