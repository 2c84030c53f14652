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
import sys
import json, struct, numpy as np
f=open(sys.argv[1] if len(sys.argv) > 1 else 'smollm2-kv.safetensors','rb'); n=struct.unpack('<Q', f.read(8))[0]; h=json.loads(f.read(n)); base=8+n
def get(name):
    m=h[name]; a,b=m['data_offsets']; f.seek(base+a); return np.frombuffer(f.read(b-a),dtype=np.float32).reshape(m['shape']).astype(np.float64)
def sqrtm(S):
    w,V=np.linalg.eigh(S); w=np.clip(w,0,None); return (V*np.sqrt(w))@V.T
print('part 1: predicted score error, ratios')
for layer in [0,15,29]:
    K=get(f'layer{layer}.k'); Q=get(f'layer{layer}.q')
    for kh in range(3):
        k=K[kh,4:]; q=Q[3*kh:3*kh+3,4:].reshape(-1,64)
        Sk=k.T@k/len(k); Sq=q.T@q/len(q)*3
        none=np.trace(Sk)*np.trace(Sq)
        kmax=np.sqrt(np.abs(k).max(0)); lam=kmax
        mx=np.sum(np.diag(Sk)/lam**2)*np.sum(np.diag(Sq)*lam**2)
        diag=np.sum(np.sqrt(np.diag(Sk)*np.diag(Sq)))**2
        R=sqrtm(Sk); full=np.trace(sqrtm(R@Sq@R))**2
        print(f'layer {layer:2} head {kh}: max/none {mx/none:.3f} balanced/none {diag/none:.3f} full/none {full/none:.3f}  full/balanced {full/diag:.3f}')
def hadamard(n):
    H=np.array([[1.0]])
    while H.shape[0]<n: H=np.block([[H,H],[H,-H]])
    return H/np.sqrt(n)
Hd=hadamard(64)
rng=np.random.default_rng(0)
def kmeans(X, k=256, iters=25):
    C=X[rng.choice(len(X),k,replace=False)].copy()
    for _ in range(iters):
        d=((X[:,None,:]-C[None])**2).sum(-1); a=d.argmin(1)
        for j in range(k):
            m=a==j
            if m.any(): C[j]=X[m].mean(0)
    return C
def quant(X,C):
    d=((X[:,None,:]-C[None])**2).sum(-1); return C[d.argmin(1)]
def vq(kt_train, kt_test):
    C=kmeans(kt_train.reshape(-1,4))
    return quant(kt_test.reshape(-1,4),C).reshape(kt_test.shape)
print('part 2: measured on held-out tokens')
for layer in [0,15,29]:
    K=get(f'layer{layer}.k'); Q=get(f'layer{layer}.q')
    for kh in range(3):
        k=K[kh,4:]; q=Q[3*kh:3*kh+3,4:]
        ktr,kte=k[:600],k[600:]; qte=q[:,600:].reshape(-1,64); qtr=q[:,:600].reshape(-1,64)
        Sk=ktr.T@ktr/len(ktr); Sq=qtr.T@qtr/len(qtr)*3
        lam_max=np.sqrt(np.abs(ktr).max(0)); lam_bal=(np.diag(Sk)/np.diag(Sq))**0.25
        R=sqrtm(Sk); Ri=np.linalg.inv(R); G=sqrtm(R@Sq@R); M=Ri@G@Ri  # M = A^T A
        A=sqrtm(M)   # symmetric A
        out=[]
        for name,Amat in [('none',np.eye(64)),('max',np.diag(1/lam_max)),('balanced',np.diag(1/lam_bal)),('full',A)]:
            T=Hd@Amat; Ti=np.linalg.inv(T)
            kt_tr=ktr@T.T; kt_te=kte@T.T
            kh_te=vq(kt_tr,kt_te)@Ti.T   # back to the original space
            s=qte@kte.T/8; sh=qte@kh_te.T/8
            mse=((s-sh)**2).mean()
            p=np.exp(s-s.max(1,keepdims=True)); p/=p.sum(1,keepdims=True)
            ph=np.exp(sh-sh.max(1,keepdims=True)); ph/=ph.sum(1,keepdims=True)
            tv=np.abs(p-ph).sum(1).mean()/2
            out.append(f'{name} mse {mse:.4f} tv {tv:.4f}')
        print(f'layer {layer} head {kh}:', ' | '.join(out), flush=True)
