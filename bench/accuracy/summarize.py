#!/usr/bin/env python3
"""Markdown tables from the JSON files of bench/accuracy/grid.sh.

  python3 bench/accuracy/summarize.py RESULTS_DIR > table.md
"""
import glob, json, os, sys

ORDER = ["vq", "vq+smooth", "vq+hadamard", "vecinfer"]
CODECS = [("d2b8", "d2b8"), ("d4b12", "d4b12"), ("d4b8", "d4b8"), ("d8b12", "d8b12"), ("d8b12", "d8b8"),
          ("d2b8", "d8b8"), ("d4b12", "d4b8"), ("d4b12", "d8b8"), ("d4b10", "d8b8"), ("d4b8", "d8b8")]


def at_ctx(meta, r):
    """Bits per element of K and V at the full context, every fp16 token counted (older JSON
    has no "effective" field: recomputed from the coded tokens or the layout, exact for VQ without
    anchors)."""
    e = r.get("effective")
    if e is not None:
        return e["bits"]
    ctx = meta["ctx"]
    if "coded_tokens" in r:
        coded = r["coded_tokens"] // meta["windows"]
    else:
        coded = ctx - meta["sinks"] - meta["residual"]
        if r["method"] == "kivi2":  # keys are flushed in whole groups of 32
            coded = coded // 32 * 32
    return ((ctx - coded) * 16 + coded * (r["key_bits"] + r["value_bits"]) / 2) / ctx


def load(path):
    with open(path) as f:
        return json.load(f)


def main():
    d = sys.argv[1]
    for sinks in (0, 4):
        base_path = os.path.join(d, f"eval-baselines-s{sinks}.json")
        if not os.path.exists(base_path):
            continue
        base = {r["method"]: r for r in load(base_path)["results"]}
        fp16 = base["fp16"]["perplexity"]
        meta = load(base_path)
        print(f"\n### sinks = {sinks} (residual {meta['residual']}, {meta['windows']} windows of {meta['ctx']}, "
              f"{base['fp16']['tokens_scored']} tokens scored)\n")
        print(f"FP16 perplexity {fp16:.3f}; KIVI-2 {base['kivi2']['perplexity']:.3f} "
              f"({100 * (base['kivi2']['perplexity'] / fp16 - 1):+.1f}%, attention error "
              f"{base['kivi2']['attention_relative_error']:.3f}, 3.0 code bits with its fp16 scale and zero, "
              f"{at_ctx(meta, base['kivi2']):.2f} bits @ctx)\n")
        print("| K / V | code bits | bits @ctx | granularity | " + " | ".join(ORDER) + " |")
        print("| --- | ---: | ---: | --- | " + " | ".join("---:" for _ in ORDER) + " |")
        for gran in ("layer", "head"):
            for k, v in CODECS:
                path = os.path.join(d, f"eval-{k}-{v}-{gran}-s{sinks}.json")
                if not os.path.exists(path):
                    continue
                rows = {r["method"]: r for r in load(path)["results"]}
                first = next(rows[m] for m in ORDER if m in rows)
                bits = (first["key_bits"] + first["value_bits"]) / 2
                honest = at_ctx(load(path), first)
                cells = []
                best = min(rows[m]["perplexity"] for m in ORDER if m in rows)
                for m in ORDER:
                    if m not in rows:
                        cells.append("-")
                        continue
                    r = rows[m]
                    cell = f"{r['perplexity']:.2f} ({100 * (r['perplexity'] / fp16 - 1):+.1f}%, {r['attention_relative_error']:.3f})"
                    cells.append(f"**{cell}**" if r["perplexity"] == best else cell)
                print(f"| {k} / {v} | {bits:.2f} | {honest:.2f} | {gran} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
