#!/usr/bin/env python3
"""Session 9, a proxy for a next step of issue 15: one 256-entry 4-dim key codebook per
sub-vector position (16 books a head dim of 64; in shared memory they would take the place of
the 16 replicas of the one book) against the shipped single book shared by the positions, each
with and without the Hadamard rotation, balanced smooth λ. Same data and protocol as whiten.py
(real SmolLM2 Q/K, layers 0/15/29, trained on tokens 4..603, score MSE and softmax total
variation on 604..1023). Needs numpy.
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
def shared(train, test):
    C = kmeans(train.reshape(-1, 4)); return quant(test.reshape(-1, 4), C).reshape(test.shape)
def per_position(train, test):
    out = np.empty_like(test)
    for p in range(16):
        C = kmeans(train[:, 4 * p:4 * p + 4]); out[:, 4 * p:4 * p + 4] = quant(test[:, 4 * p:4 * p + 4], C)
    return out
for layer in [0, 15, 29]:
    K = get(f'layer{layer}.k'); Q = get(f'layer{layer}.q')
    for kh in range(3):
        k = K[kh, 4:]; q = Q[3 * kh:3 * kh + 3, 4:]
        ktr, kte = k[:600], k[600:]; qtr = q[:, :600].reshape(-1, 64); qte = q[:, 600:].reshape(-1, 64)
        lam = (np.mean(ktr ** 2, 0) / (np.mean(qtr ** 2, 0) * 3)) ** 0.25
        out = []
        for name, rot, fn in [('shared+H', True, shared), ('positions+H', True, per_position), ('positions', False, per_position)]:
            T = (Hd if rot else np.eye(64)) @ np.diag(1 / lam); Ti = np.linalg.inv(T)
            khat = fn(ktr @ T.T, kte @ T.T) @ Ti.T
            s = qte @ kte.T / 8; sh = qte @ khat.T / 8
            p = np.exp(s - s.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
            ph = np.exp(sh - sh.max(1, keepdims=True)); ph /= ph.sum(1, keepdims=True)
            out.append(f'{name} mse {((s - sh) ** 2).mean():.4f} tv {np.abs(p - ph).sum(1).mean() / 2:.4f}')
        print(f'layer {layer} head {kh}:', ' | '.join(out), flush=True)
