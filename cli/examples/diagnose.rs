use vecinfer::calibrate::record_kv;
use vecinfer::text::{read_tokens, windows};
use vecinfer_model::{GgufTokenizer, Llama, fetch};
use vecinfer_quant::{CodebookSet, KeyTransform};
fn main() {
    let path = fetch::resolve_model(None).unwrap();
    let llama = Llama::load(&path).unwrap();
    let tok = GgufTokenizer::load(&path).unwrap();
    let tokens = read_tokens(
        std::path::Path::new("../shared/data/wikitext2/eval.txt"),
        &tok,
    )
    .unwrap();
    let wins = windows(&tokens, 2048, Some(1)).unwrap();
    let rec = record_kv(&llama, &wins, &indicatif::ProgressBar::hidden()).unwrap();
    let set = CodebookSet::load(std::path::Path::new(&std::env::args().nth(1).unwrap())).unwrap();
    let d = rec.head_dim;
    for layer in [0usize, 1, 5, 15, 29] {
        let mut line = format!("layer {layer:2}");
        for t in KeyTransform::ALL {
            let p = set.layer(layer, t).unwrap();
            let mut num = 0f64;
            let mut den = 0f64;
            for h in 0..rec.kv_heads {
                let orig = &rec.keys[layer][h];
                let mut k = orig.clone();
                for row in k.chunks_exact_mut(d) {
                    t.apply_to_key(row, p.smooth_for_head(h)).unwrap();
                }
                p.keys.for_head(h).round_trip_rows(&mut k, d).unwrap();
                for row in k.chunks_exact_mut(d) {
                    t.invert_on_key(row, p.smooth_for_head(h)).unwrap();
                }
                for (a, b) in orig.iter().zip(&k) {
                    num += ((a - b) as f64).powi(2);
                    den += (*a as f64).powi(2);
                }
            }
            line += &format!("  K {}: {:.3}", t.name(), (num / den).sqrt());
        }
        let p = set.layer(layer, KeyTransform::NONE).unwrap();
        let mut num = 0f64;
        let mut den = 0f64;
        for h in 0..rec.kv_heads {
            let orig = &rec.values[layer][h];
            let mut v = orig.clone();
            p.values.for_head(h).round_trip_rows(&mut v, d).unwrap();
            for (a, b) in orig.iter().zip(&v) {
                num += ((a - b) as f64).powi(2);
                den += (*a as f64).powi(2);
            }
        }
        line += &format!("  V: {:.3}", (num / den).sqrt());
        // key norms of first token vs median
        let k0: f32 = rec.keys[layer][0][..d]
            .iter()
            .map(|x| x * x)
            .sum::<f32>()
            .sqrt();
        let k5: f32 = rec.keys[layer][0][5 * d..6 * d]
            .iter()
            .map(|x| x * x)
            .sum::<f32>()
            .sqrt();
        let maxc = rec.keys[layer][0]
            .chunks_exact(d)
            .fold(vec![0f32; d], |mut m, r| {
                for (a, b) in m.iter_mut().zip(r) {
                    *a = a.max(b.abs());
                }
                m
            });
        line += &format!(
            "  |k0| {k0:.1} |k5| {k5:.1} maxch {:?}",
            maxc.iter().map(|x| *x as i32).collect::<Vec<_>>()
        );
        println!("{line}");
    }
}
