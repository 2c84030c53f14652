//! The guided strategy replayed on exhaustive measurements: the shipped H100 tuned-configs
//! file, and the H200 file as session 21 made it (`tests/data/nvidia-h200-exhaustive-s21.json`;
//! session 35 re-tuned the shipped H200 file guided, on the kernels of that session), keys in `vecinfer tune`'s order with the same warm starts (the
//! winners guided found for other buckets of the kernel shape): at most a quarter of the
//! evaluations over the grid and every pick within 3% of the exhaustive best. The H100
//! numbers are what the strategy was designed on (the tokens-per-warp × stages
//! diagonal came from its d8b12/d8b8 keys); the H200 file was measured after, so its replay
//! (and the live run in bench/results/h200/tune) is the held-out check.
//!
//! Picks between 3% and 5% fail the test unless listed in [`KNOWN_MISSES`] (none now).

use std::path::Path;
use vecinfer_codegen::KernelConfig;
use vecinfer_tuner::*;

/// Held-out keys where guided stops 3-5% short of the exhaustive best (still within the hard
/// 5% bound), as `"{key} on {file}"`. Session 17's H200 file had one: K d4b12 / V d4b8 at
/// 64 × 8192, where guided stopped at a local optimum 3.4% above the best (two moves through
/// slower points; bench/results/kernel-s17/). On session 21's re-tuned H200 file it lands
/// 2.3% above, inside the 3%, so the list is empty.
const KNOWN_MISSES: &[&str] = &[];

#[test]
fn guided_matches_the_exhaustive_h100_run_with_a_quarter_of_the_evaluations() {
    replay("../tuned-configs/nvidia-h100-80gb-hbm3.json");
}

#[test]
fn guided_matches_the_exhaustive_h200_run_with_a_quarter_of_the_evaluations() {
    replay("tests/data/nvidia-h200-exhaustive-s21.json");
}

/// `file`: relative to the tuner crate.
fn replay(file: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let file = path.file_name().unwrap().to_string_lossy();
    let store = TunedConfigs::load(&path).unwrap();
    assert!(store.entries.len() >= 24, "the bench grid");
    let (mut guided_total, mut exhaustive_total) = (0, 0);
    let mut misses = Vec::new();
    let mut shapes: Vec<KernelShape> = Vec::new();
    // `vecinfer tune`'s default shape order.
    let buckets = [
        (1, 32768),
        (1, 131072),
        (8, 32768),
        (32, 8192),
        (64, 8192),
        (128, 4096),
    ];
    // The bench grid's exhaustive kernel shapes: those tuned at all of its buckets (paged keys
    // that choose their page size are tuned guided; the engine's own keys, e.g. SmolLM2's on
    // 64-token pages, cover other batches and contexts).
    for e in store.entries.values() {
        let whole_grid = buckets.iter().all(|&(batch, seq)| {
            store
                .entries
                .contains_key(&TuneKey::for_shape(e.key.shape, batch, seq).id())
        });
        if e.strategy == Strategy::Exhaustive && whole_grid && !shapes.contains(&e.key.shape) {
            shapes.push(e.key.shape);
        }
    }
    for shape in shapes {
        let mut found_winners: Vec<KernelConfig> = Vec::new();
        for (batch, seq) in buckets {
            let key = TuneKey::for_shape(shape, batch, seq);
            let entry = &store.entries[&key.id()];
            assert_eq!(entry.strategy, Strategy::Exhaustive, "{key}");
            // The searched list as the tuner built it: the space's order, what passed the rules.
            // The files' entries predate the key_token_rows axis (session 34): they searched
            // the heads form only, from the heads form's default.
            let space = SearchSpace {
                key_token_rows: vec![false],
                ..SearchSpace::default()
            };
            let (valid, _) = space.candidates(&shape, &store.device.arch());
            let mut searched: Vec<KernelConfig> = valid
                .into_iter()
                .filter(|c| {
                    entry.result_of(c).is_some_and(|r| {
                        matches!(
                            r.status,
                            CandidateStatus::Timed | CandidateStatus::Wrong { .. }
                        )
                    })
                })
                .collect();
            let default = KernelConfig {
                key_token_rows: false,
                ..shape.default_config()
            };
            if let Some(i) = searched.iter().position(|c| *c == default) {
                let c = searched.remove(i);
                searched.insert(0, c);
            }
            assert_eq!(searched.len(), entry.evaluations, "{key}");
            let starts = warm_starts(&searched, &found_winners);
            let cost = |i: usize| entry.result_of(&searched[i]).and_then(|r| r.ms());
            let log = search(
                Strategy::Guided,
                &searched,
                &starts,
                Budget::Unlimited,
                &mut |i| cost(i),
            );
            let (pick, found) = log.best().unwrap();
            found_winners.push(searched[pick]);
            let best = entry.fastest_alone().unwrap().median_ms;
            assert!(
                found <= best * 1.05,
                "{key}: guided {found:.4} ms, best {best:.4} ms"
            );
            if found > best * 1.03 && !KNOWN_MISSES.contains(&format!("{key} on {file}").as_str()) {
                misses.push(format!(
                    "{key}: guided {found:.4} ms, exhaustive best {best:.4} ms"
                ));
            }
            println!(
                "{key}: {} of {} evaluations, {:+.1}%",
                log.evaluated.len(),
                searched.len(),
                100.0 * (found / best - 1.0)
            );
            guided_total += log.evaluated.len();
            exhaustive_total += searched.len();
        }
    }
    println!("guided {guided_total} evaluations, exhaustive {exhaustive_total}");
    assert!(misses.is_empty(), "{misses:#?}");
    assert!(
        guided_total * 4 <= exhaustive_total,
        "{guided_total} of {exhaustive_total}"
    );
}
