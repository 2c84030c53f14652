#!/usr/bin/env python3
"""Session 9: does the full form of issue 15's query-aware key transform (k' = A k, q' = A^-T q,
A from both second-moment matrices) beat the diagonal `balanced` smooth rule? Real SmolLM2 Q/K
(`vecinfer dump-kv --tokens 1024 --layers 0,15,29`, post-RoPE f32; the file is
`.carry/s7/smollm2-kv.safetensors.xz` decompressed, path as argv[1]), 3 layers x 3 KV heads.

Part 1, the isotropic-error model of bench/results/accuracy.md ("Smooth rules"): after the
Hadamard rotation the k-means error is about isotropic with power tr(A Sk A^T), so the score
error goes as tr(A Sk A^T) tr(A^-T Sq A^-1). Diagonal optimum (sum_i sqrt(Sk_ii Sq_ii))^2 (the
balanced rule); full optimum (tr((Sk^1/2 Sq Sk^1/2)^1/2))^2, at A^T A = the geometric mean of
Sk^-1 and Sq.
Part 2, measured: d4b8 layer-style codebook (256 centroids over 4-dim sub-vectors shared by
the 16 positions) trained by k-means on tokens 4..603 after each transform + Hadamard, applied
to tokens 604..1023; score MSE (q.k/8) and softmax total variation for the held-out queries.
Needs numpy.
"""
import numpy as np
from proxy import open_dump, heads, hadamard, kmeans, quant, score_errors


def sqrtm(S):
    w, V = np.linalg.eigh(S); w = np.clip(w, 0, None); return (V * np.sqrt(w)) @ V.T


get = open_dump()
print('part 1: predicted score error, ratios')
for layer in [0, 15, 29]:
    K = get(f'layer{layer}.k'); Q = get(f'layer{layer}.q')
    for kh in range(3):
        k = K[kh, 4:]; q = Q[3 * kh:3 * kh + 3, 4:].reshape(-1, 64)
        Sk = k.T @ k / len(k); Sq = q.T @ q / len(q) * 3
        none = np.trace(Sk) * np.trace(Sq)
        lam = np.sqrt(np.abs(k).max(0))
        mx = np.sum(np.diag(Sk) / lam ** 2) * np.sum(np.diag(Sq) * lam ** 2)
        diag = np.sum(np.sqrt(np.diag(Sk) * np.diag(Sq))) ** 2
        R = sqrtm(Sk); full = np.trace(sqrtm(R @ Sq @ R)) ** 2
        print(f'layer {layer:2} head {kh}: max/none {mx/none:.3f} balanced/none {diag/none:.3f} full/none {full/none:.3f}  full/balanced {full/diag:.3f}')
Hd = hadamard(64)
print('part 2: measured on held-out tokens')
for layer, kh, ktr, kte, qtr, qte in heads(get):
    Sk = ktr.T @ ktr / len(ktr); Sq = qtr.T @ qtr / len(qtr) * 3
    lam_max = np.sqrt(np.abs(ktr).max(0)); lam_bal = (np.diag(Sk) / np.diag(Sq)) ** 0.25
    R = sqrtm(Sk); Ri = np.linalg.inv(R); M = Ri @ sqrtm(R @ Sq @ R) @ Ri  # M = A^T A
    out = []
    for name, A in [('none', np.eye(64)), ('max', np.diag(1 / lam_max)), ('balanced', np.diag(1 / lam_bal)), ('full', sqrtm(M))]:
        T = Hd @ A; Ti = np.linalg.inv(T)
        C = kmeans((ktr @ T.T).reshape(-1, 4))
        kt_te = kte @ T.T
        khat = quant(kt_te.reshape(-1, 4), C).reshape(kt_te.shape) @ Ti.T
        mse, tv = score_errors(qte, kte, khat)
        out.append(f'{name} mse {mse:.4f} tv {tv:.4f}')
    print(f'layer {layer} head {kh}:', ' | '.join(out), flush=True)
