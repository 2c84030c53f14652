"""Session 36: median-of-rounds change (new / base - 1) per shape, from the bench logs of
fp8exp.sh, e5m2exp.sh and immediate.sh. Usage: python3 summarize.py DIR BASE NEW"""
import re, sys, glob, statistics
d, base, new = sys.argv[1:4]
def rows(path):
    out = {}
    for line in open(path):
        m = re.match(r"\s+(\d+x\d+): ([0-9.]+) ms", line)
        if m: out[m.group(1)] = float(m.group(2))
    return out
for shape in ("llama", "smol"):
    for form in ("true", "false"):
        bs = sorted(glob.glob(f"{d}/{shape}-{base}-{form}-*.txt"))
        if not bs: continue
        b = [rows(p) for p in bs]
        n = [rows(p.replace(f"-{base}-", f"-{new}-")) for p in bs]
        keys = list(b[0])
        changes = []
        for k in keys:
            r = [nn[k] / bb[k] - 1 for bb, nn in zip(b, n) if k in nn and k in bb]
            changes.append(f"{k} {', '.join(f'{x*100:+.1f}%' for x in r)}")
        print(f"{shape} {'tokens' if form == 'true' else 'heads'} form: " + "; ".join(changes))
