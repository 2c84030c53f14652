#!/usr/bin/env python3
"""Session 13: a learned rotation (OPQ: alternate k-means and orthogonal Procrustes) in place of
the Hadamard after the balanced smooth λ, against balanced λ + Hadamard; d4b8 layer-style
codebook (256 centroids of 4-dim sub-vectors shared by the 16 positions), trained on tokens
4..603, held-out 604..1023; score MSE and softmax total variation (proxy.py's protocol, the
session-9 proxies' shared code in ../accuracy-s9). Usage: python3 opq.py smollm2-kv.safetensors
(`.carry/s7/smollm2-kv.safetensors.xz` decompressed). Needs numpy."""
import sys, os
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'accuracy-s9'))
import numpy as np
from proxy import open_dump, heads, hadamard, balanced, kmeans, quant, score_errors

H = hadamard(64)

def code(Z, C):
    return quant(Z.reshape(-1, 4), C).reshape(Z.shape)

def opq(ks, iters):
    R = H.copy()
    C = kmeans((ks @ R.T).reshape(-1, 4))
    for _ in range(iters):
        Y = code(ks @ R.T, C)
        U, _, Vt = np.linalg.svd(ks.T @ Y)
        R = (U @ Vt).T
        C = kmeans((ks @ R.T).reshape(-1, 4), iters=10)
    return R, C

tot = {}
get = open_dump()
for layer, kh, ktr, kte, qtr, qte in heads(get):
    lam = balanced(ktr, qtr)
    out = []
    for name, iters in [('hadamard', 0), ('opq4', 4), ('opq10', 10)]:
        R, C = opq(ktr * lam, iters) if iters else (H, kmeans((ktr * lam @ H.T).reshape(-1, 4)))
        khat = (code(kte * lam @ R.T, C) @ R) / lam
        mse, tv = score_errors(qte, kte, khat)
        out.append((name, mse, tv)); tot.setdefault(name, []).append((mse, tv))
    print(f'layer {layer:2d} head {kh}: ' + '  '.join(f'{n} mse {m:.4f} tv {t:.4f}' for n, m, t in out), flush=True)
for n, v in tot.items():
    v = np.array(v); print(f'{n}: mean mse {v[:,0].mean():.4f} mean tv {v[:,1].mean():.4f}')
