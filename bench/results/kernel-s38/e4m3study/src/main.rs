//! e4m3 KEY-book study (session 38, adapted from session 35's fp8study): round only the key
//! codebooks of a codebook file to e4m3 (+scale); value books stay f16 (bit-identical).
//! Also measures key reconstruction error on dumped K.
use safetensors::SafeTensors;
use std::collections::BTreeMap;
use vecinfer_quant::{Codebook, CodebookSet, KeyTransform, LayerCodebooks};

/// Round to OCP FP8 e4m3 (FN: max 448, min normal 2^-6, subnormal step 2^-9), RNE, saturating.
fn e4m3(x: f32) -> f32 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let a = x.abs() as f64;
    let e = a.log2().floor().max(-6.0);
    let quantum = (e - 3.0).exp2();
    let r = a / quantum;
    let q = r.round_ties_even();
    let v = (q * quantum).min(448.0);
    (v as f32).copysign(x)
}

fn quant_with_scale(vals: &[f32], s: f64) -> Vec<f32> {
    vals.iter().map(|&v| {
        let y = e4m3((v as f64 / s) as f32) as f64 * s;
        half::f16::from_f64(y).to_f32()
    }).collect()
}

fn sqerr(a: &[f32], b: &[f32]) -> f64 { a.iter().zip(b).map(|(x, y)| { let d = (*x - *y) as f64; d * d }).sum() }
fn sq(a: &[f32]) -> f64 { a.iter().map(|x| (*x as f64) * (*x as f64)).sum() }

fn pow2_for_max(m: f64, target: f64) -> f64 { (m / target).log2().ceil().exp2() }

/// Variant transform of one codebook's centroids `[n, d]`.
fn variant(c: &[f32], d: usize, name: &str) -> Vec<f32> {
    let m = c.iter().fold(0f32, |a, &v| a.max(v.abs())) as f64;
    match name {
        "f16" => c.to_vec(),
        "e4m3" => quant_with_scale(c, 1.0),
        // power-of-two scale: largest |value| maps into (224, 448]
        "e4m3-p2max" => quant_with_scale(c, pow2_for_max(m, 448.0)),
        // one binade of headroom: largest into (112, 224]
        "e4m3-p2max2" => quant_with_scale(c, pow2_for_max(m, 224.0)),
        // power-of-two scale minimising the centroid MSE (search around p2max)
        "e4m3-p2mse" => {
            let base = pow2_for_max(m, 448.0);
            let mut best = (f64::INFINITY, c.to_vec());
            for k in -4..=4 {
                let q = quant_with_scale(c, base * (k as f64).exp2());
                let e = sqerr(c, &q);
                if e < best.0 { best = (e, q); }
            }
            best.1
        }
        // any (f32) scale minimising the centroid MSE (folded into q / the output in a kernel)
        "e4m3-mse" => {
            let base = m / 448.0;
            let mut best = (f64::INFINITY, c.to_vec());
            for t in -32..=16 {
                let q = quant_with_scale(c, base * (t as f64 / 16.0).exp2());
                let e = sqerr(c, &q);
                if e < best.0 { best = (e, q); }
            }
            best.1
        }
        // per-column (sub-vector dim) power-of-two scale, max into (224, 448]
        "e4m3-col" => {
            let mut out = c.to_vec();
            for j in 0..d {
                let col: Vec<f32> = c.iter().skip(j).step_by(d).copied().collect();
                let mj = col.iter().fold(0f32, |a, &v| a.max(v.abs())) as f64;
                let q = quant_with_scale(&col, pow2_for_max(mj, 448.0));
                for (i, v) in q.into_iter().enumerate() { out[i * d + j] = v; }
            }
            out
        }
        // symmetric int8, one f32 scale per book (max -> 127)
        "int8" => { let s = m / 127.0; c.iter().map(|&v| half::f16::from_f64((v as f64 / s).round() * s).to_f32()).collect() }
        "e5m2" => c.iter().map(|&v| {
            // e5m2: max 57344, min normal 2^-14, 2 mantissa bits
            if v == 0.0 { return 0.0; }
            let a = v.abs() as f64; let e = a.log2().floor().max(-14.0); let qn = (e - 2.0).exp2();
            let q = ((a / qn).round_ties_even() * qn).min(57344.0);
            half::f16::from_f64(q.copysign(v as f64)).to_f32()
        }).collect(),
        other => panic!("unknown variant {other}"),
    }
}

fn map_books(l: &LayerCodebooks, name: &str) -> LayerCodebooks {
    LayerCodebooks::new(l.all().iter().map(|b| {
        let d = b.codec().sub_dim();
        Codebook::new(b.codec(), &variant(b.centroids(), d, name)).unwrap()
    }).collect()).unwrap()
}

fn convert_set(set: &CodebookSet, name: &str) -> CodebookSet {
    let mut out = set.clone();
    out.keys = set.keys.iter().map(|(&t, ls)| (t, ls.iter().map(|l| map_books(l, name)).collect())).collect::<BTreeMap<_, _>>();
    // values untouched: the experiment stores only the key book as e4m3
    out
}

fn stats(set: &CodebookSet) {
    println!("key transforms in file: {:?}; key codec {}, value codec {}", set.keys.keys().collect::<Vec<_>>(), set.meta.key_codec, set.meta.value_codec);
    let mut groups: Vec<(String, &Vec<LayerCodebooks>)> = set.keys.iter().map(|(t, b)| (format!("K {t}"), b)).collect();
    groups.push(("V (untouched)".into(), &set.values));
    for (label, books) in groups {
        let mut all: Vec<f32> = Vec::new();
        let mut maxes = Vec::new();
        for l in books.iter() { for b in l.all() {
            all.extend_from_slice(b.centroids());
            maxes.push(b.centroids().iter().fold(0f32, |a, &v| a.max(v.abs())));
        }}
        let n = all.len() as f64;
        let zero = all.iter().filter(|v| **v == 0.0).count() as f64;
        let below = all.iter().filter(|v| v.abs() < 2f32.powi(-6)).count() as f64;
        let below9 = all.iter().filter(|v| v.abs() < 2f32.powi(-10)).count() as f64;
        let over = all.iter().filter(|v| v.abs() > 448.0).count();
        println!("{label}: per-book max|c| (book order = layer[, head]): {}", maxes.iter().map(|m| format!("{m:.3}")).collect::<Vec<_>>().join(" "));
        let mut sorted = maxes.clone();
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!("{label}: {} books, {} values; max|c| per book min {:.3} median {:.3} max {:.3}; |c|<2^-6 (e4m3 subnormal): {:.3}%, |c|<2^-10 (e4m3 flushes to 0): {:.3}% (exact zeros {:.3}%), >448: {over}",
            sorted.len(), all.len(), sorted[0], sorted[sorted.len()/2], sorted[sorted.len()-1], 100.0*below/n, 100.0*below9/n, 100.0*zero/n);
    }
}

fn read_f32(st: &SafeTensors, name: &str) -> (Vec<f32>, Vec<usize>) {
    let t = st.tensor(name).unwrap();
    (t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(), t.shape().to_vec())
}

#[derive(Default, Clone, Copy)]
struct Acc { x: f64, e16: f64, e8: f64, d8: f64, e8m: f64, d8m: f64, n16: f64 }
impl Acc {
    fn add(&mut self, o: &Acc) { self.x += o.x; self.e16 += o.e16; self.e8 += o.e8; self.d8 += o.d8; self.e8m += o.e8m; self.d8m += o.d8m; self.n16 += o.n16; }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args[1].as_str() {
        "selftest" => { for v in [1.0f32, 1.0625, 1.0625001, 1.1875, 448.0, 460.0, 470.0, 1e4, 0.015625, 0.01, 0.001953125, 0.0009765625, 0.0009766, 0.0003, -3.3] { println!("{v} -> {}", e4m3(v)); } }
        "stats" => { stats(&CodebookSet::load(args[2].as_ref()).unwrap()); }
        "convert" => {
            let set = CodebookSet::load(args[2].as_ref()).unwrap();
            let out = convert_set(&set, &args[4]);
            for (t, a) in &set.keys {
                let b = out.keys.get(t).unwrap();
                let (mut e, mut n, mut changed, mut tot) = (0.0, 0.0, 0usize, 0usize);
                for (la, lb) in a.iter().zip(b) { for (ba, bb) in la.all().iter().zip(lb.all()) {
                    e += sqerr(ba.centroids(), bb.centroids()); n += sq(ba.centroids());
                    changed += ba.centroids().iter().zip(bb.centroids()).filter(|(x, y)| x != y).count(); tot += ba.centroids().len();
                } }
                println!("{} K {t} centroid rel MSE vs f16: {:.3e} ({:.2}% of values changed)", args[4], e / n, 100.0 * changed as f64 / tot as f64);
            }
            let vsame = set.values.iter().zip(&out.values).all(|(la, lb)| la.all().iter().zip(lb.all()).all(|(a, b)| a.centroids() == b.centroids()));
            assert!(vsame, "value books changed");
            println!("{} V books identical to f16: {vsame}", args[4]);
            out.save(args[3].as_ref()).unwrap();
        }
        "recon" => {
            // recon CB KV VARIANT...
            let set = CodebookSet::load(args[2].as_ref()).unwrap();
            let bytes = std::fs::read(&args[3]).unwrap();
            let st = SafeTensors::deserialize(&bytes).unwrap();
            let hd = set.meta.head_dim;
            println!("| variant | K rel MSE vs orig (f16 → this) | K ‖k̂8−k̂16‖²/‖k̂16‖² | K same codes: vs orig, vs f16 |");
            println!("|---|---|---|---|");
            for name in &args[4..] {
                let set8 = convert_set(&set, name);
                let mut acc = [Acc::default(); 2];
                for layer in 0..set.meta.layers {
                    let p16 = set.layer(layer, KeyTransform::BOTH).unwrap();
                    let p8 = set8.layer(layer, KeyTransform::BOTH).unwrap();
                    for (side, tname) in [(0usize, "k")] {
                        let (data, shape) = read_f32(&st, &format!("layer{layer}.{tname}"));
                        let (heads, tokens) = (shape[0], shape[1]);
                        for h in 0..heads {
                            let (b16, b8) = if side == 0 { (p16.keys.for_head(h), p8.keys.for_head(h)) } else { (p16.values.for_head(h), p8.values.for_head(h)) };
                            let m = b16.codec().codes_per_vector(hd).unwrap();
                            let (mut s16, mut s8) = (b16.scratch(), b8.scratch());
                            let (mut c16, mut c8) = (vec![0u16; m], vec![0u16; m]);
                            for t in 0..tokens {
                                let x = &data[(h * tokens + t) * hd..(h * tokens + t + 1) * hd];
                                let mut y = x.to_vec();
                                if side == 0 { p16.key_to_code_space(h, &mut y).unwrap(); }
                                b16.encode_vector(&y, &mut c16, &mut s16);
                                b8.encode_vector(&y, &mut c8, &mut s8);
                                let mut r16 = vec![0f32; hd]; let mut r8 = vec![0f32; hd]; let mut r8m = vec![0f32; hd];
                                b16.decode_vector(&c16, &mut r16);
                                b8.decode_vector(&c8, &mut r8);
                                b8.decode_vector(&c16, &mut r8m);
                                if side == 0 { for r in [&mut r16, &mut r8, &mut r8m] { p16.key_from_code_space(h, r).unwrap(); } }
                                acc[side].add(&Acc { x: sq(x), e16: sqerr(x, &r16), e8: sqerr(x, &r8), d8: sqerr(&r8, &r16), e8m: sqerr(x, &r8m), d8m: sqerr(&r8m, &r16), n16: sq(&r16) });
                            }
                        }
                    }
                }
                let f = |a: &Acc| (format!("{:.5} → {:.5}", a.e16 / a.x, a.e8 / a.x), format!("{:.2e}", a.d8 / a.n16), format!("{:.5}, {:.2e}", a.e8m / a.x, a.d8m / a.n16));
                let (k1, k2, k3) = f(&acc[0]);
                println!("| {name} | {k1} | {k2} | {k3} |");
            }
        }
        _ => panic!("usage"),
    }
}
