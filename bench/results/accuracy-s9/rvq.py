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
import numpy as np
from proxy import open_dump, heads, hadamard, balanced, kmeans, quant, score_errors


def single(train, test, d):
    C = kmeans(train.reshape(-1, d)); return quant(test.reshape(-1, d), C).reshape(test.shape)


def residual(train, test, d):
    X = train.reshape(-1, d); C1 = kmeans(X); R = X - quant(X, C1); C2 = kmeans(R)
    Y = test.reshape(-1, d); q1 = quant(Y, C1); q2 = quant(Y - q1, C2)
    return (q1 + q2).reshape(test.shape)


Hd = hadamard(64)
for layer, kh, ktr, kte, qtr, qte in heads(open_dump()):
    T = Hd @ np.diag(1 / balanced(ktr, qtr)); Ti = np.linalg.inv(T)
    out = []
    for name, fn in [('d4b8', lambda a, b: single(a, b, 4)), ('rvq d8b8x2', lambda a, b: residual(a, b, 8))]:
        mse, tv = score_errors(qte, kte, fn(ktr @ T.T, kte @ T.T) @ Ti.T)
        out.append(f'{name} mse {mse:.4f} tv {tv:.4f}')
    print(f'layer {layer} head {kh}:', ' | '.join(out), flush=True)
