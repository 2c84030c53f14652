import re, sys
# Offline knapsack from a `plan --budget` log's "layer L alone at K/V: +x%" lines.
log = open(sys.argv[1]).read()
pairs = ["d8b10/d8b8", "d8b8/d8b8", "d4b8/d8b8", "d4b12/d8b8"]
cost = {"d8b10/d8b8": 18, "d8b8/d8b8": 16, "d4b8/d8b8": 24, "d4b12/d8b8": 32}
loss = {}
for m in re.finditer(r"layer (\d+) alone at (\S+): ([+-][0-9.]+)%", log):
    loss[(int(m.group(1)), m.group(2))] = float(m.group(3))
L = 30
def solve(budget_bits):
    B = int(budget_bits * 16 * L + 1e-6)
    best = {0: (0.0, [])}
    for l in range(L):
        nxt = {}
        for u, (lo, ch) in best.items():
            for p in pairs:
                v = u + cost[p]
                if v > B: continue
                x = lo + loss[(l, p)]
                if v not in nxt or x < nxt[v][0]:
                    nxt[v] = (x, ch + [p])
        best = nxt
    u = min(best, key=lambda u: (best[u][0], u))
    return best[u][0], u / (16 * L), best[u][1]
def lists(ch):
    out = {}
    for l, p in enumerate(ch):
        out.setdefault(p, []).append(str(l))
    return out
for w in sys.argv[2:]:
    n = int(w) + 4
    code = (1.478 * 2048 - n * 8) / (2048 - n)
    pred, spent, ch = solve(code)
    ls = lists(ch)
    args = " ".join(f"--layer-codebooks {','.join(v)}=cb-{p.replace('/', '-')}.safetensors" for p, v in ls.items() if p != "d8b10/d8b8")
    print(f"{w} {code:.3f} {spent:.3f} {pred:+.2f} {args}")
