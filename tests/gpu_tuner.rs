//! The tuner on a GPU: every candidate of a small space is compiled, pruned or verified and
//! timed, the winner is a verified candidate, a resumed run reuses what was measured, and the
//! result goes through the store and lookup. Skips without a GPU.

use vecinfer_codegen::{KernelConfig, KeyScoring};
use vecinfer_tests::gpu_or_skip;
use vecinfer_tuner::measure::{TuneOptions, Tuner};
use vecinfer_tuner::*;

fn small_space() -> SearchSpace {
    SearchSpace {
        scoring: vec![KeyScoring::Mma, KeyScoring::Dequantize],
        tile_tokens: vec![128, 256],
        warps: vec![4],
        stages: vec![1, 2],
        codebook_replicas: vec![1, 16],
        direct_codes: vec![false, true],
        dims_per_lane: vec![8],
        split: vec![vecinfer_codegen::SplitPolicy::Auto],
        page_tokens: vec![16, 64],
        min_blocks_per_sm: vec![0, 3],
        key_token_rows: vec![false, true],
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release -- --ignored with VECINFER_REQUIRE_GPU=1"]
fn tuning_verifies_times_and_stores_a_winner_and_resumes() {
    let Some(gpu) = gpu_or_skip() else { return };
    let shape = KernelShape::new(128, 4, "d4b8".parse().unwrap(), "d4b8".parse().unwrap());
    let key = TuneKey::for_shape(shape, 8, 4096);
    let options = TuneOptions {
        space: small_space(),
        strategy: Strategy::Exhaustive,
        runs: 10,
        ..TuneOptions::default()
    };
    let mut tuner = Tuner::new(&gpu).unwrap();
    let mut seen = 0;
    let mut checkpoints = 0;
    let entry = tuner
        .tune(key, &options, None, &[], &mut |_| seen += 1, &mut |e| {
            assert!(!e.complete);
            checkpoints += 1;
        })
        .unwrap();
    assert!(entry.complete);
    let (valid, rejected) = options.space.candidates(&shape, gpu.arch);
    // Every valid candidate recorded, the invalid ones counted (with launch bounds, every
    // compiled config's unbounded twin is compiled too, and recorded where it is in the space).
    assert_eq!(
        entry.candidates.len(),
        valid.len(),
        "every candidate recorded"
    );
    assert_eq!(entry.rejected, rejected.len());
    assert!(!rejected.is_empty());
    let timed: Vec<&CandidateResult> = entry
        .candidates
        .iter()
        .filter(|c| c.status == CandidateStatus::Timed)
        .collect();
    assert!(timed.len() >= 8, "{} timed", timed.len());
    for c in &timed {
        assert!(c.worst_error.unwrap() <= options.tolerance, "{}", c.config);
        let s = c.stats.unwrap();
        assert!(s.min_ms <= s.median_ms && s.median_ms <= s.max_ms && s.median_ms > 0.0);
        assert!(c.resources.is_some());
    }
    let winner = entry.winner.unwrap();
    let best = timed
        .iter()
        .filter_map(|c| c.ms())
        .min_by(f64::total_cmp)
        .unwrap();
    assert_eq!(winner.median_ms, best);
    assert!(entry.default.is_some(), "the default is always measured");
    // A launch bound is timed only where it changed the compiled kernel (the default, which
    // asks for three blocks here, is always timed).
    let (mut bounds_timed, mut bounds_pruned) = (0, 0);
    for c in entry.candidates.iter().filter(|c| {
        c.config.min_blocks_per_sm > 0
            && c.resources.is_some()
            && c.config != shape.default_config()
    }) {
        let twin = KernelConfig {
            min_blocks_per_sm: 0,
            ..c.config
        };
        let twin = entry.result_of(&twin).unwrap().resources.unwrap();
        let r = c.resources.unwrap();
        let same = (r.registers, r.spilled_bytes) == (twin.registers, twin.spilled_bytes);
        match &c.status {
            CandidateStatus::Timed => {
                assert!(!same, "{} timed with its twin's registers", c.config);
                bounds_timed += 1;
            }
            CandidateStatus::Pruned { reason } if reason.contains("changes nothing") => {
                assert!(same, "{}", c.config);
                bounds_pruned += 1;
            }
            _ => {}
        }
    }
    // On the H100 every bound here changes the kernel (even a bound of 1 changes ptxas'
    // registers: bench/results/kernel-s15), so only the timed side is sure to be seen.
    assert!(
        bounds_timed > 0,
        "{bounds_timed} bounds timed, {bounds_pruned} pruned as changing nothing"
    );
    assert_eq!(entry.evaluations, timed.len());
    assert!(checkpoints >= 1 && seen > timed.len());
    // Close calls (within 3% of the best at first timing) were re-measured.
    let first_best = timed
        .iter()
        .map(|c| c.stats.unwrap().median_ms)
        .min_by(f64::total_cmp)
        .unwrap();
    let close = timed
        .iter()
        .filter(|c| c.stats.unwrap().median_ms <= first_best * (1.0 + options.close_call))
        .count();
    let remeasured = timed.iter().filter(|c| c.remeasured_ms.is_some()).count();
    assert_eq!(remeasured, if close >= 2 { close.min(6) } else { 0 });

    // A run interrupted after its checkpoint resumes: the stored results are reused, not timed.
    let mut partial = entry.clone();
    partial.complete = false;
    let resumed = tuner
        .tune(key, &options, Some(&partial), &[], &mut |_| {}, &mut |_| {})
        .unwrap();
    for c in resumed
        .candidates
        .iter()
        .filter(|c| c.status == CandidateStatus::Timed)
    {
        let before = entry.result_of(&c.config).unwrap();
        assert_eq!(c.stats, before.stats, "{} was timed again", c.config);
    }

    // Guided: the same space, fewer evaluations, a verified winner.
    let guided = tuner
        .tune(
            key,
            &TuneOptions {
                strategy: Strategy::Guided,
                ..options.clone()
            },
            None,
            &[],
            &mut |_| {},
            &mut |_| {},
        )
        .unwrap();
    assert!(guided.evaluations < entry.evaluations);
    assert!(guided.winner.is_some());

    // Into the store and back out through lookup.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(tuner.fingerprint.file_name());
    update(&path, &tuner.fingerprint, |s| s.merge(entry.clone())).unwrap();
    let store = TunedConfigs::load(&path).unwrap();
    store.check_device(&tuner.fingerprint, &path).unwrap();
    let choice = choose(Some(&store), &shape, 8, 4096);
    assert_eq!(choice.config, winner.config);
    assert_eq!(choice.source, Source::Tuned { key, distance: 0 });
    let _: KernelConfig = choice.config;
}

#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release -- --ignored with VECINFER_REQUIRE_GPU=1"]
fn tune_steps_ranks_an_engine_key_and_leaves_the_rest_of_the_file() {
    let Some(gpu) = gpu_or_skip() else { return };
    let device = vecinfer_tuner::measure::fingerprint(&gpu).unwrap();
    drop(gpu);
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tuned-configs")
        .join(device.file_name());
    assert!(
        shipped.exists(),
        "no shipped file for {} (the test ranks one of its engine keys)",
        device.name
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gpu.json");
    std::fs::copy(&shipped, &path).unwrap();
    let before = TunedConfigs::load(&path).unwrap();
    vecinfer::tune_steps::run(vecinfer::tune_steps::TuneStepsArgs {
        out: dir.path().into(),
        file: Some(path.clone()),
        model: None,
        cache: "d4b8/d4b8".into(),
        batches: Some("1".into()),
        contexts: Some("2048".into()),
        top: 3,
        rounds: 2,
        warmup: 1,
        steps: 3,
        residual: 128,
        sinks: 0,
        reserve_gb: 1.0,
    })
    .unwrap();
    let after = TunedConfigs::load(&path).expect("the ranked file passes the checks");
    let ranked: Vec<&TunedEntry> = after
        .entries
        .values()
        .filter(|e| before.entries[&e.key.id()] != **e)
        .collect();
    assert_eq!(ranked.len(), 1, "exactly the one key asked for changed");
    let e = ranked[0];
    assert_eq!((e.key.batch, e.key.seq), (1, 2048));
    let steps = e.steps.as_ref().unwrap();
    assert_eq!((steps.top, steps.rounds), (3, 2));
    assert_eq!(steps.candidates.len() + steps.left_out.len(), 3);
    assert!(
        steps.left_out.is_empty(),
        "every candidate ran: {:?}",
        steps.left_out
    );
    assert_eq!(e.winner.unwrap().config, steps.candidates[0].config);
    assert!(
        steps
            .candidates
            .iter()
            .all(|c| c.step_ms.iter().all(|&ms| ms > 0.1))
    );
}
