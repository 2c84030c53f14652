#!/usr/bin/env python3
"""Session 29: the budget plan from probe logs of `vecinfer plan --budget` (lines "layer L alone
at K/V[ per head]: +x%"), several logs merged (a later log's probe of the same pair and layer
must agree with an earlier one). Minimises the summed loss of the layers alone under a mean
code-bit budget, as `plan --budget` does, and prints the choice as `vecinfer plan` arguments.
Usage: knapsack.py BUDGET LOG... [--only PAIR,...]"""
import re, sys
from fractions import Fraction

BITS = {"d8b8": 1, "d8b10": Fraction(5, 4), "d8b12": Fraction(3, 2), "d4b8": 2, "d4b10": Fraction(5, 2),
        "d4b12": 3, "d2b8": 4, "d16b8": Fraction(1, 2)}
args = sys.argv[1:]
only = None
if "--only" in args:
    i = args.index("--only"); only = set(args[i + 1].split(",")); del args[i:i + 2]
budget = Fraction(args[0]); logs = args[1:]
loss = {}  # (layer, pair) -> %
for log in logs:
    for m in re.finditer(r"^layer (\d+) alone at (d\d+b\d+)/(d\d+b\d+)[^:]*: ([+-][\d.]+)%", open(log).read(), re.M):
        key = (int(m[1]), f"{m[2]}-{m[3]}")
        v = float(m[4])
        if key in loss and abs(loss[key] - v) > 1e-9:
            print(f"note: {key} {loss[key]} then {v} (keeping the first)")
        loss.setdefault(key, v)
layers = sorted({l for l, _ in loss})
pairs = sorted({p for _, p in loss if only is None or p in only})
bits = lambda p: (Fraction(BITS[p.split("-")[0]]) + Fraction(BITS[p.split("-")[1]])) / 2
unit = 8  # bits in eighths
for p in pairs:
    assert (bits(p) * unit).denominator == 1, f"{p}: not a whole number of eighths"

cap = int(budget * len(layers) * unit)
best = {0: (0.0, [])}  # used eighths -> (loss, choices)
for l in layers:
    nxt = {}
    for used, (tot, ch) in best.items():
        for p in pairs:
            if (l, p) not in loss:
                continue
            u = used + int(bits(p) * unit)
            if u > cap:
                continue
            cand = (tot + loss[(l, p)], ch + [p])
            if u not in nxt or cand[0] < nxt[u][0]:
                nxt[u] = cand
    best = nxt
used, (tot, ch) = min(best.items(), key=lambda kv: kv[1][0])
print(f"mean code bits {used / unit / len(layers):.3f}, summed loss {tot:+.3f}%")
groups = {}
for l, p in zip(layers, ch):
    groups.setdefault(p, []).append(l)
for p, ls in groups.items():
    print(f"{p}: {','.join(map(str, ls))}")
print("args: " + " ".join(f"{p}={','.join(map(str, ls))}" for p, ls in groups.items()))
