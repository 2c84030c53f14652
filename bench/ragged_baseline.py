#!/usr/bin/env python3
"""Ragged-batch decode baselines for `vecinfer bench --ragged`: FlashInfer with an FP16 and
with an FP8 (e4m3) paged KV cache, on batches whose sequence lengths are spread as the bench
spreads them (`spread_lengths` in runtime/src/one_layer.rs: the i-th shortest of B is
SEQ * (2i + 1) / B, rounded, in the same shuffled order). SDPA takes equal lengths only, so
its column stays empty; ../shared/bench/fp16_decode_baseline.py times equal lengths.

Needs FlashInfer (../shared/bench/fetch_flashinfer.sh). Run it in the same device command as
the bench, then `vecinfer bench --ragged --baseline out.json`.

  python3 ragged_baseline.py --heads 32 --kv-heads 8 --head-dim 128 \
      --shapes 8x32768,64x8192 --json out.json
"""
import argparse, json, statistics, sys

PAGE = 16
MASK = (1 << 64) - 1


def spread_lengths(batch, seq):
    """The lengths of runtime/src/one_layer.rs's spread_lengths, in its order."""
    lengths = [((2 * i + 1) * seq + batch // 2) // batch for i in range(batch)]
    state = 0x2545F4914F6CDD1D
    for i in range(batch - 1, 0, -1):
        state = (state * 6364136223846793005 + 1442695040888963407) & MASK
        j = (state >> 33) % (i + 1)
        lengths[i], lengths[j] = lengths[j], lengths[i]
    return lengths


def bench(fn, iters, warm=5):
    import torch
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--heads", type=int, default=32)
    p.add_argument("--kv-heads", type=int, default=8)
    p.add_argument("--head-dim", type=int, default=128)
    p.add_argument("--shapes", default="8x32768,32x8192,64x8192,128x4096",
                   help="comma-separated BATCHxSEQ, SEQ the mean length")
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--json", help="write the rows as JSON here")
    p.add_argument("--print-lengths", action="store_true",
                   help="print each shape's lengths and exit (no GPU needed)")
    a = p.parse_args()
    shapes = [tuple(int(v) for v in s.lower().split("x")) for s in a.shapes.split(",")]
    if a.print_lengths:
        for B, S in shapes:
            print(f"{B}x{S}: {spread_lengths(B, S)}")
        return
    import torch
    import flashinfer as fi

    HQ, HK, D = a.heads, a.kv_heads, a.head_dim
    dt, dev = torch.float16, "cuda"
    torch.manual_seed(0)
    print(f"device: {torch.cuda.get_device_name()}")
    print(f"heads {HQ} / kv heads {HK} / head dim {D}, ragged lengths")
    print(f"{'batch':>5} {'mean seq':>8} {'longest':>8} {'flashinfer_ms':>13} {'fi_fp8_ms':>9}")
    rows = []
    ws = torch.empty(256 * 1024 * 1024, dtype=torch.uint8, device=dev)
    for B, S in shapes:
        lengths = spread_lengths(B, S)
        if min(lengths) == 0:
            print(f"{B}x{S}: a sequence of 0 tokens (SEQ below the batch); skipped", file=sys.stderr)
            continue
        pages = [max(1, -(-n // PAGE)) for n in lengths]
        indptr = torch.tensor([0] + list(torch.tensor(pages).cumsum(0)), dtype=torch.int32, device=dev)
        indices = torch.arange(0, sum(pages), dtype=torch.int32, device=dev)
        last = torch.tensor([n - PAGE * (p - 1) for n, p in zip(lengths, pages)], dtype=torch.int32, device=dev)
        q = torch.randn(B, HQ, D, dtype=dt, device=dev)
        kv = torch.randn(sum(pages), 2, PAGE, HK, D, dtype=dt, device=dev)
        # One sequence, or equal lengths, is not ragged: such a row stands beside equal ones.
        row = {"batch": B, "seq": S, "ragged": len(set(lengths)) > 1, "lengths": lengths, "heads": HQ,
               "kv_heads": HK, "head_dim": D, "kv_bytes": 2 * sum(lengths) * HK * D * 2}
        w = fi.BatchDecodeWithPagedKVCacheWrapper(ws, "NHD", use_tensor_cores=True)
        w.plan(indptr, indices, last, HQ, HK, D, PAGE, q_data_type=dt)
        row["flashinfer_ms"] = bench(lambda: w.run(q, kv), a.iters)
        try:
            kv8 = kv.to(torch.float8_e4m3fn)
            del kv
            w8 = fi.BatchDecodeWithPagedKVCacheWrapper(ws, "NHD", use_tensor_cores=True)
            w8.plan(indptr, indices, last, HQ, HK, D, PAGE, q_data_type=dt,
                    kv_data_type=torch.float8_e4m3fn)
            row["flashinfer_fp8_ms"] = bench(lambda: w8.run(q, kv8, k_scale=1.0, v_scale=1.0), a.iters)
            del kv8
        except Exception as e:  # reported, not fatal
            print(f"flashinfer fp8 {B}x{S}: {str(e)[:120]}", file=sys.stderr)
        fp8 = row.get("flashinfer_fp8_ms")
        fp8_txt = f"{fp8:9.3f}" if fp8 else f"{'-':>9}"
        print(f"{B:5d} {S:8d} {max(lengths):8d} {row['flashinfer_ms']:13.3f} {fp8_txt}", flush=True)
        rows.append(row)
        torch.cuda.empty_cache()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
