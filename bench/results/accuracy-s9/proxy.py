"""Shared by the session-9 proxies (whiten.py, rvq.py, positions.py): the dumped real SmolLM2
Q/K (`vecinfer dump-kv --tokens 1024 --layers 0,15,29`, post-RoPE f32 safetensors), the
Hadamard matrix, seeded k-means, and the score errors on held-out tokens. Needs numpy.
"""
import json, struct, sys
import numpy as np

TRAIN = 600  # tokens 4..603 train the codebooks; 604..1023 are held out
rng = np.random.default_rng(0)


def open_dump(path=None):
    """A reader `get(name)` of the safetensors dump at argv[1] (or `path`)."""
    f = open(path or (sys.argv[1] if len(sys.argv) > 1 else 'smollm2-kv.safetensors'), 'rb')
    n = struct.unpack('<Q', f.read(8))[0]; h = json.loads(f.read(n)); base = 8 + n
    def get(name):
        m = h[name]; a, b = m['data_offsets']; f.seek(base + a)
        return np.frombuffer(f.read(b - a), dtype=np.float32).reshape(m['shape']).astype(np.float64)
    return get


def heads(get):
    """(layer, KV head, train keys, held-out keys, train queries, held-out queries), the first 4
    tokens (sinks) left out, queries of the head's GQA group stacked."""
    for layer in [0, 15, 29]:
        K = get(f'layer{layer}.k'); Q = get(f'layer{layer}.q')
        for kh in range(3):
            k = K[kh, 4:]; q = Q[3 * kh:3 * kh + 3, 4:]
            yield (layer, kh, k[:TRAIN], k[TRAIN:],
                   q[:, :TRAIN].reshape(-1, 64), q[:, TRAIN:].reshape(-1, 64))


def hadamard(n):
    H = np.array([[1.0]])
    while H.shape[0] < n: H = np.block([[H, H], [H, -H]])
    return H / np.sqrt(n)


def balanced(ktr, qtr):
    """The balanced smooth λ, (E[k²]/E[q²])^1/4 (queries summed over the group of 3)."""
    return (np.mean(ktr ** 2, 0) / (np.mean(qtr ** 2, 0) * 3)) ** 0.25


def kmeans(X, k=256, iters=25):
    C = X[rng.choice(len(X), k, replace=False)].copy()
    for _ in range(iters):
        a = ((X[:, None, :] - C[None]) ** 2).sum(-1).argmin(1)
        for j in range(k):
            m = a == j
            if m.any(): C[j] = X[m].mean(0)
    return C


def quant(X, C):
    return C[((X[:, None, :] - C[None]) ** 2).sum(-1).argmin(1)]


def score_errors(qte, kte, khat):
    """Score MSE (q·k/8) and mean softmax total variation of quantized keys `khat`."""
    s = qte @ kte.T / 8; sh = qte @ khat.T / 8
    p = np.exp(s - s.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
    ph = np.exp(sh - sh.max(1, keepdims=True)); ph /= ph.sum(1, keepdims=True)
    return ((s - sh) ** 2).mean(), np.abs(p - ph).sum(1).mean() / 2
