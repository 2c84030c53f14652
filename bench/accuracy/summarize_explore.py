#!/usr/bin/env python3
"""One Markdown table from the JSON files of bench/accuracy/explore.sh (and any eval JSON).

  python3 bench/accuracy/summarize_explore.py RESULTS_DIR [FP16_PPL] > table.md

Bits: "code" is the codec's bits of a coded token (K / V); "@ctx" is per element of K and V at
the window's full context with every fp16 token (sinks, residual window, anchors) counted,
(fp16 · 16 + coded · code) / ctx, the mean of K and V; "cb" is what the codebooks add for a
single sequence of ctx tokens (shared by all sequences, so not in @ctx).
"""
import glob, json, os, sys


def main():
    d = sys.argv[1]
    fp16 = float(sys.argv[2]) if len(sys.argv) > 2 else None
    rows = []
    for path in sorted(glob.glob(os.path.join(d, "*.json"))):
        meta = json.load(open(path))
        cb = meta.get("codebooks") or {}
        for r in meta["results"]:
            if r["method"] == "fp16":
                fp16 = fp16 or r["perplexity"]
            rows.append((os.path.basename(path)[:-5], meta, cb, r))
    print("| run | K / V | smooth | weight | method | residual | anchors | code bits K / V | bits @ctx (K / V) | cb | PPL | vs FP16 |")
    print("| --- | --- | --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for name, meta, cb, r in rows:
        e = r.get("effective")
        if e is None:  # older JSON: recompute (no anchors then)
            ctx, sinks, res = meta["ctx"], meta["sinks"], meta["residual"]
            coded = r["coded_tokens"] // meta["windows"]
            fp = ctx - coded
            e = {"key_bits": (fp * 16 + coded * r["key_bits"]) / ctx,
                 "value_bits": (fp * 16 + coded * r["value_bits"]) / ctx,
                 "codebook_bits_batch1": float("nan")}
            e["bits"] = (e["key_bits"] + e["value_bits"]) / 2
        a = r.get("anchors")
        anchors = f"{a['budget']['fraction'] * 100:g}% {a['rule']}" if a else "-"
        delta = f"{100 * (r['perplexity'] / fp16 - 1):+.1f}%" if fp16 else "-"
        kv = f"{cb.get('k_codec', '-')} / {cb.get('v_codec', '-')}" if cb else "-"
        print(f"| {name} | {kv} | {cb.get('smooth_rule', 'max') if cb else '-'} | {cb.get('weight_rule', 'none') if cb else '-'} | {r['method']} | {meta['residual']} | {anchors} "
              f"| {r['key_bits']:g} / {r['value_bits']:g} | **{e['bits']:.2f}** ({e['key_bits']:.2f} / {e['value_bits']:.2f}) "
              f"| {e['codebook_bits_batch1']:.2f} | {r['perplexity']:.2f} | {delta} |")


if __name__ == "__main__":
    main()
