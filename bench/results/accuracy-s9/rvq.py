#!/usr/bin/env python3
"""Session 9, a proxy for a next step of issue 15: at the same 2 bits per key element, does a
two-stage residual codebook on 8-dimensional sub-vectors (two 256-entry books, 16 bits per 8
dims; the kernel would read two 8-dim centroids per 8 dims instead of two 4-dim ones) beat the
shipped d4b8 (one 256-entry book of 4-dim centroids)? Same data and protocol as whiten.py: real
SmolLM2 post-RoPE Q/K of layers 0, 15, 29 (argv[1], from `vecinfer dump-kv`), balanced smooth
+ Hadamard, codebooks trained by k-means on tokens 4..603 (shared by the sub-vector positions,
as the layer books are), score MSE (q.k/8) and softmax total variation on tokens 604..1023.
Needs numpy.
"""
import sys, json, struct
import numpy as np

f = open(sys.argv[1] if len(sys.argv) > 1 else 'smollm2-kv.safetensors', 'rb')
n = struct.unpack('<Q', f.read(8))[0]; h = json.loads(f.read(n)); base = 8 + n
def get(name):
    m = h[name]; a, b = m['data_offsets']; f.seek(base + a)
    return np.frombuffer(f.read(b - a), dtype=np.float32).reshape(m['shape']).astype(np.float64)
def hadamard(n):
    H = np.array([[1.0]])
    while H.shape[0] < n: H = np.block([[H, H], [H, -H]])
    return H / np.sqrt(n)
Hd = hadamard(64)
rng = np.random.default_rng(0)
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
def single(train, test, d):
    C = kmeans(train.reshape(-1, d)); return quant(test.reshape(-1, d), C).reshape(test.shape)
def residual(train, test, d):
    X = train.reshape(-1, d); C1 = kmeans(X); R = X - quant(X, C1); C2 = kmeans(R)
    Y = test.reshape(-1, d); q1 = quant(Y, C1); q2 = quant(Y - q1, C2)
    return (q1 + q2).reshape(test.shape)
for layer in [0, 15, 29]:
    K = get(f'layer{layer}.k'); Q = get(f'layer{layer}.q')
    for kh in range(3):
        k = K[kh, 4:]; q = Q[3 * kh:3 * kh + 3, 4:]
        ktr, kte = k[:600], k[600:]; qtr = q[:, :600].reshape(-1, 64); qte = q[:, 600:].reshape(-1, 64)
        lam = (np.mean(ktr ** 2, 0) / (np.mean(qtr ** 2, 0) * 3)) ** 0.25
        T = Hd @ np.diag(1 / lam); Ti = np.linalg.inv(T)
        out = []
        for name, fn in [('d4b8', lambda a, b: single(a, b, 4)), ('rvq d8b8x2', lambda a, b: residual(a, b, 8))]:
            khat = fn(ktr @ T.T, kte @ T.T) @ Ti.T
            s = qte @ kte.T / 8; sh = qte @ khat.T / 8
            p = np.exp(s - s.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
            ph = np.exp(sh - sh.max(1, keepdims=True)); ph /= ph.sum(1, keepdims=True)
            out.append(f'{name} mse {((s - sh) ** 2).mean():.4f} tv {np.abs(p - ph).sum(1).mean() / 2:.4f}')
        print(f'layer {layer} head {kh}:', ' | '.join(out), flush=True)
