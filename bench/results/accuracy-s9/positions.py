#!/usr/bin/env python3
"""Session 9, a proxy for a next step of issue 15: one 256-entry 4-dim key codebook per
sub-vector position (16 books a head dim of 64; in shared memory they would take the place of
the 16 replicas of the one book) against the shipped single book shared by the positions, each
with and without the Hadamard rotation, balanced smooth λ. Same data and protocol as whiten.py
(real SmolLM2 Q/K, layers 0/15/29, trained on tokens 4..603, score MSE and softmax total
variation on 604..1023). Needs numpy.
"""
import numpy as np
from proxy import open_dump, heads, hadamard, balanced, kmeans, quant, score_errors


def shared(train, test):
    C = kmeans(train.reshape(-1, 4)); return quant(test.reshape(-1, 4), C).reshape(test.shape)


def per_position(train, test):
    out = np.empty_like(test)
    for p in range(16):
        C = kmeans(train[:, 4 * p:4 * p + 4]); out[:, 4 * p:4 * p + 4] = quant(test[:, 4 * p:4 * p + 4], C)
    return out


Hd = hadamard(64)
for layer, kh, ktr, kte, qtr, qte in heads(open_dump()):
    lam = balanced(ktr, qtr)
    out = []
    for name, rot, fn in [('shared+H', True, shared), ('positions+H', True, per_position), ('positions', False, per_position)]:
        T = (Hd if rot else np.eye(64)) @ np.diag(1 / lam); Ti = np.linalg.inv(T)
        mse, tv = score_errors(qte, kte, fn(ktr @ T.T, kte @ T.T) @ Ti.T)
        out.append(f'{name} mse {mse:.4f} tv {tv:.4f}')
    print(f'layer {layer} head {kh}:', ' | '.join(out), flush=True)
