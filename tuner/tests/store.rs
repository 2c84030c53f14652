//! The tuned-configs store: round trip, atomic writes, the lock, every corrupt-file path, the
//! device checks, and bucket lookup.

use std::path::Path;
use vecinfer_codegen::KernelConfig;
use vecinfer_tuner::store::StoreError;
use vecinfer_tuner::*;

fn device(name: &str) -> DeviceFingerprint {
    DeviceFingerprint {
        name: name.into(),
        compute_capability: "9.0".into(),
        sm_count: 132,
        driver: "13.0".into(),
        nvrtc: "13.0".into(),
        crate_version: "0.1.0".into(),
        codegen: codegen_fingerprint(),
    }
}

fn shape(k: &str) -> KernelShape {
    KernelShape::new(128, 4, k.parse().unwrap(), k.parse().unwrap())
}

/// A tuned entry whose winner is a measured, non-default config.
fn entry(key: TuneKey, ms: f64) -> TunedEntry {
    let default = key.shape.default_config();
    let winner = KernelConfig {
        tile_tokens: 128,
        ..default
    };
    let timed = |config: KernelConfig, median_ms: f64| CandidateResult {
        config,
        status: CandidateStatus::Timed,
        stats: Some(Stats {
            median_ms,
            min_ms: median_ms * 0.99,
            max_ms: median_ms * 1.02,
            runs: 20,
        }),
        resources: None,
        worst_error: Some(1e-4),
        remeasured_ms: None,
    };
    TunedEntry {
        key,
        kv_heads: 8,
        strategy: Strategy::Exhaustive,
        budget: Budget::Unlimited,
        complete: true,
        winner: Some(Measured {
            config: winner,
            median_ms: ms,
        }),
        default: Some(Measured {
            config: default,
            median_ms: ms * 1.1,
        }),
        evaluations: 3,
        space_size: 3,
        rejected: 0,
        seconds: 1.0,
        candidates: vec![
            timed(winner, ms),
            timed(default, ms * 1.1),
            CandidateResult {
                config: KernelConfig {
                    tile_tokens: 512,
                    warps: 8,
                    ..default
                },
                status: CandidateStatus::Wrong {
                    relative_error: 0.3,
                    tolerance: 2e-3,
                },
                stats: None,
                resources: None,
                worst_error: Some(0.3),
                remeasured_ms: None,
            },
        ],
        steps: None,
    }
}

fn sample() -> TunedConfigs {
    let mut s = TunedConfigs::new(device("NVIDIA H100 80GB HBM3"));
    for (b, t) in [(8, 32768), (64, 8192), (1, 131072)] {
        s.merge(entry(
            TuneKey::for_shape(shape("d4b8"), b, t),
            0.1 * b as f64,
        ));
    }
    s
}

#[test]
fn a_store_round_trips_through_its_file_with_every_candidate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h100.json");
    let s = sample();
    s.save(&path).unwrap();
    let back = TunedConfigs::load(&path).unwrap();
    assert_eq!(back, s);
    let e = back.entries.values().next().unwrap();
    assert_eq!(e.candidates.len(), 3);
    assert!(matches!(
        e.candidates[2].status,
        CandidateStatus::Wrong { .. }
    ));
    // Nothing but the file is left behind (no temp files).
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("h100.json")]);
}

#[test]
fn readers_never_see_a_half_written_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gpu.json");
    // A large store, so a non-atomic write would be caught part-way.
    let mut big = sample();
    for b in [2, 4, 16, 32, 128, 256, 512] {
        for t in [1024, 2048, 4096, 16384, 65536] {
            big.merge(entry(TuneKey::for_shape(shape("d2b8"), b, t), 0.2));
        }
    }
    big.save(&path).unwrap();
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            for _ in 0..40 {
                big.save(&path).unwrap();
            }
        });
        for _ in 0..200 {
            let loaded = TunedConfigs::load(&path).expect("always a whole file");
            assert_eq!(loaded.entries.len(), big.entries.len());
        }
        writer.join().unwrap();
    });
}

#[test]
fn two_tuners_at_once_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gpu.json");
    let dev = device("NVIDIA H100 80GB HBM3");
    let batches = [1, 2, 4, 8, 16, 32, 64, 128];
    std::thread::scope(|scope| {
        for &b in &batches {
            let (path, dev) = (&path, &dev);
            scope.spawn(move || {
                for t in [4096, 8192, 32768] {
                    update(path, dev, |s| {
                        // Widen the window between read and write.
                        std::thread::sleep(std::time::Duration::from_millis(2));
                        s.merge(entry(TuneKey::for_shape(shape("d4b8"), b, t), 0.1));
                    })
                    .unwrap();
                }
            });
        }
    });
    let s = TunedConfigs::load(&path).unwrap();
    assert_eq!(s.entries.len(), batches.len() * 3);
}

#[test]
fn a_checkpoint_never_overwrites_a_complete_result() {
    let key = TuneKey::for_shape(shape("d4b8"), 8, 32768);
    let mut s = TunedConfigs::new(device("gpu"));
    s.merge(entry(key, 0.1));
    let mut partial = entry(key, 0.5);
    partial.complete = false;
    s.merge(partial.clone());
    assert_eq!(s.entries[&key.id()].winner.unwrap().median_ms, 0.1);
    partial.complete = true;
    s.merge(partial);
    assert_eq!(s.entries[&key.id()].winner.unwrap().median_ms, 0.5);
}

fn corrupt_error(text: &str) -> String {
    let err = TunedConfigs::parse(text, Path::new("t.json")).unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt { .. } | StoreError::Version { .. }),
        "{err:?}"
    );
    err.to_string()
}

/// The sample as JSON, edited by `edit`.
fn edited(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut v = serde_json::to_value(sample()).unwrap();
    edit(&mut v);
    v.to_string()
}

fn first_entry(v: &mut serde_json::Value) -> &mut serde_json::Value {
    v["entries"]
        .as_object_mut()
        .unwrap()
        .values_mut()
        .next()
        .unwrap()
}

#[test]
fn every_corrupt_file_is_reported_with_what_is_wrong() {
    let good = serde_json::to_string(&sample()).unwrap();
    let cases: Vec<(String, &str)> = vec![
        ("{ not json".into(), "not JSON"),
        (good[..good.len() / 2].into(), "not JSON"),
        ("{}".into(), "no schema_version"),
        ("[]".into(), "the top level is an array"),
        (
            edited(|v| v["schema_version"] = "1".into()),
            "schema_version is \"1\", a string",
        ),
        (
            edited(|v| v["schema_version"] = (-1).into()),
            "schema_version is -1",
        ),
        (
            edited(|v| first_entry(v)["winner"]["median_ms"] = 0.123.into()),
            "listed at 0.123 ms but its timed candidate took",
        ),
        (
            edited(|v| first_entry(v)["default"]["median_ms"] = 5.0.into()),
            "the default",
        ),
        (
            edited(|v| {
                let e = first_entry(v);
                let mut faster = e["candidates"][0].clone();
                faster["config"] = e["candidates"][2]["config"].clone();
                faster["stats"]["median_ms"] = 1e-6.into();
                faster["stats"]["min_ms"] = 1e-6.into();
                e["candidates"][2] = faster;
            }),
            "the winner must be the fastest",
        ),
        (
            edited(|v| first_entry(v)["evaluations"] = u64::MAX.into()),
            "evaluations 18446744073709551615 is more than space_size",
        ),
        (
            edited(|v| {
                first_entry(v)["evaluations"] = 1000.into();
                first_entry(v)["space_size"] = 1000.into();
            }),
            "more than the 3 candidates recorded",
        ),
        (
            edited(|v| first_entry(v)["evaluations"] = 1.into()),
            "2 candidates are timed but evaluations is 1",
        ),
        (
            edited(|v| first_entry(v)["candidates"][0]["stats"]["min_ms"] = (-1.0).into()),
            "min ≤ median ≤ max",
        ),
        (
            edited(|v| first_entry(v)["kv_heads"] = 0.into()),
            "kv_heads is 0",
        ),
        (
            edited(|v| v["schema_version"] = 0.into()),
            "schema version 0",
        ),
        (
            edited(|v| v["schema_version"] = 2.into()),
            "reads version 1",
        ),
        (
            edited(|v| {
                v["device"].as_object_mut().unwrap().remove("nvrtc");
            }),
            "missing field `nvrtc`",
        ),
        (
            edited(|v| first_entry(v)["winner"]["config"]["head_dim"] = 96.into()),
            "another kernel shape",
        ),
        (
            edited(|v| first_entry(v)["winner"]["config"]["tile_tokens"] = 100.into()),
            "not a valid config",
        ),
        (
            edited(|v| first_entry(v)["winner"]["median_ms"] = (-1.0).into()),
            "must be positive",
        ),
        (
            edited(|v| first_entry(v)["winner"]["config"]["warps"] = 2.into()),
            "not among its verified, timed candidates",
        ),
        (
            edited(|v| {
                let entries = v["entries"].as_object_mut().unwrap();
                let (k, e) = entries
                    .iter()
                    .next()
                    .map(|(k, e)| (k.clone(), e.clone()))
                    .unwrap();
                entries.remove(&k);
                entries.insert("renamed".into(), e);
            }),
            "entry \"renamed\" holds key",
        ),
        (
            edited(|v| first_entry(v)["key"]["batch"] = 6.into()),
            "power-of-two buckets",
        ),
        (
            edited(|v| first_entry(v)["candidates"][0]["status"] = "fast".into()),
            "unknown variant `fast`",
        ),
        (
            edited(|v| first_entry(v)["key"]["shape"]["key_codec"] = "d3b8".into()),
            "d3b8",
        ),
    ];
    for (text, want) in cases {
        let msg = corrupt_error(&text);
        assert!(msg.contains(want), "want {want:?} in: {msg}");
        assert!(msg.contains("t.json"), "the path is named: {msg}");
    }
}

#[test]
fn a_file_from_another_gpu_driver_nvrtc_or_code_generator_is_reported() {
    let s = sample();
    let here = s.device.clone();
    let p = Path::new("h100.json");
    s.check_device(&here, p).unwrap();
    let cases = [
        (
            DeviceFingerprint {
                name: "NVIDIA A100-SXM4-80GB".into(),
                ..here.clone()
            },
            "GPU",
        ),
        (
            DeviceFingerprint {
                compute_capability: "8.0".into(),
                ..here.clone()
            },
            "compute capability",
        ),
        (
            DeviceFingerprint {
                driver: "12.8".into(),
                ..here.clone()
            },
            "driver",
        ),
        (
            DeviceFingerprint {
                nvrtc: "12.4".into(),
                ..here.clone()
            },
            "NVRTC",
        ),
        (
            DeviceFingerprint {
                codegen: "0000".into(),
                ..here.clone()
            },
            "code generator",
        ),
    ];
    for (other, field) in cases {
        let err = s.check_device(&other, p).unwrap_err();
        assert!(
            matches!(err, StoreError::Mismatch { field: f, .. } if f == field),
            "{err:?}"
        );
        assert!(err.to_string().contains("tune again"), "{err}");
    }
    // And `update` refuses to write into another GPU's file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.json");
    s.save(&path).unwrap();
    let err = update(&path, &device("NVIDIA A100-SXM4-80GB"), |_| ()).unwrap_err();
    assert!(
        matches!(err, StoreError::Mismatch { field: "GPU", .. }),
        "{err:?}"
    );
    assert_eq!(TunedConfigs::load(&path).unwrap(), s, "left unchanged");
}

#[test]
fn lookup_picks_the_nearest_bucket_of_the_same_kernel_shape() {
    let s = sample(); // d4b8 at 8×32k, 64×8k, 1×128k
    let pick = |b, t| choose(Some(&s), &shape("d4b8"), b, t);
    let c = pick(8, 32768);
    assert_eq!(
        c.source,
        Source::Tuned {
            key: TuneKey::for_shape(shape("d4b8"), 8, 32768),
            distance: 0
        }
    );
    assert_eq!(c.config.tile_tokens, 128, "the winner, not the default");
    // 6 × 30000 rounds into the 8 × 32k bucket.
    assert!(matches!(
        pick(6, 30000).source,
        Source::Tuned { distance: 0, .. }
    ));
    // 48 × 8192: 64 × 8k is one power of two away, the others farther.
    match pick(32, 8192).source {
        Source::Tuned { key, distance } => {
            assert_eq!((key.batch, key.seq, distance), (64, 8192, 1))
        }
        other => panic!("{other:?}"),
    }
    // Another codec has nothing tuned: the default heuristic, saying why.
    let c = choose(Some(&s), &shape("d2b8"), 8, 32768);
    assert_eq!(c.config, shape("d2b8").default_config());
    assert!(matches!(&c.source, Source::Default { why } if why.contains("nothing tuned")));
    let c = choose(None, &shape("d4b8"), 8, 32768);
    assert!(
        c.to_string()
            .contains("default heuristic: no tuned-configs file")
    );
    // Entries without a winner (an untuned GPU's keys) are never picked.
    let mut untuned = TunedConfigs::new(device("NVIDIA A100-SXM4-80GB"));
    untuned.merge(TunedEntry::untuned(
        TuneKey::for_shape(shape("d4b8"), 8, 32768),
        8,
    ));
    assert!(matches!(
        choose(Some(&untuned), &shape("d4b8"), 8, 32768).source,
        Source::Default { .. }
    ));
}

#[test]
fn nearest_keys_rank_same_shape_first_and_file_names_follow_the_gpu() {
    let s = sample();
    let want = TuneKey::for_shape(shape("d4b8"), 16, 16384);
    let near = s.nearest_keys(&want, 2);
    assert_eq!(near.len(), 2);
    assert!(near.iter().all(|k| k.shape == want.shape));
    assert_eq!(
        file_name_for("NVIDIA H100 80GB HBM3"),
        "nvidia-h100-80gb-hbm3.json"
    );
    assert_eq!(
        file_name_for(" NVIDIA A100-SXM4-80GB "),
        "nvidia-a100-sxm4-80gb.json"
    );
    assert_eq!(device("NVIDIA H200").arch(), "sm_90");
}

/// The sample's first entry re-ranked by decode steps: the kernel-alone default wins the steps.
fn step_ranked() -> TunedConfigs {
    let mut s = sample();
    let e = s.entries.values_mut().next().unwrap();
    let ranked: Vec<StepResult> = e
        .fastest_timed(8)
        .into_iter()
        .enumerate()
        .map(|(i, (config, kernel_ms))| StepResult {
            config,
            kernel_ms,
            // the kernel-alone fastest is the slower step
            step_ms: vec![1.0 - 0.1 * i as f64, 1.01 - 0.1 * i as f64],
        })
        .collect();
    assert_eq!(
        ranked.len(),
        2,
        "the winner and the default are timed, the third is wrong"
    );
    e.rank_by_steps("test steps".into(), 8, ranked, Vec::new())
        .unwrap();
    s
}

#[test]
fn a_step_ranking_makes_its_fastest_the_winner_and_round_trips() {
    let s = step_ranked();
    let e = s.entries.values().next().unwrap();
    let default = e.default.unwrap();
    assert_eq!(
        e.winner.unwrap(),
        default,
        "the default was the faster step"
    );
    let steps = e.steps.as_ref().unwrap();
    assert!(steps.candidates[0].mean_ms() < steps.candidates[1].mean_ms());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h100.json");
    s.save(&path).unwrap();
    assert_eq!(TunedConfigs::load(&path).unwrap(), s);
    // Without the ranking the same winner is refused: it is not the kernel-alone fastest.
    assert!(
        e.clone()
            .rank_by_steps("none".into(), 8, Vec::new(), Vec::new())
            .is_err(),
        "an empty ranking is refused"
    );
    assert_eq!(
        e.fastest_alone().unwrap().config,
        steps.candidates[1].config
    );
    let mut plain = s.clone();
    plain.entries.values_mut().next().unwrap().steps = None;
    let text = serde_json::to_string(&plain).unwrap();
    assert!(corrupt_error(&text).contains("the winner must be the fastest"));
}

#[test]
fn a_tampered_step_ranking_is_reported() {
    let ranked = || serde_json::to_value(step_ranked()).unwrap();
    let with = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = ranked();
        edit(first_entry(&mut v));
        corrupt_error(&v.to_string())
    };
    let cases: Vec<(String, &str)> = vec![
        (
            with(&|e| e["steps"]["candidates"][0]["kernel_ms"] = 0.5.into()),
            "alone but its timed candidate took",
        ),
        (
            with(&|e| e["steps"]["candidates"][1]["config"] = e["candidates"][2]["config"].clone()),
            "that are not its 8 fastest timed candidates",
        ),
        (
            with(&|e| e["steps"]["candidates"][0]["step_ms"] = serde_json::json!([0.9])),
            "one a round",
        ),
        (
            with(&|e| e["steps"]["candidates"][0]["step_ms"] = serde_json::json!([0.9, -1.0])),
            "one a round",
        ),
        (
            with(&|e| e["steps"]["candidates"][0]["step_ms"] = serde_json::json!([5.0, 5.0])),
            "step ranking out of order",
        ),
        (
            with(&|e| e["steps"]["rounds"] = 0.into()),
            "both must be positive",
        ),
        (
            // one candidate left: it could crown any timed config
            with(&|e| {
                let first = e["steps"]["candidates"][0].clone();
                e["steps"]["candidates"] = serde_json::json!([first]);
            }),
            "that are not its 8 fastest timed candidates",
        ),
        (
            with(&|e| e["steps"]["candidates"][1] = e["steps"]["candidates"][0].clone()),
            "each once",
        ),
        (
            with(&|e| e["steps"]["left_out"] = serde_json::json!([e["candidates"][1]["config"]])),
            "each once",
        ),
    ];
    for (error, expected) in cases {
        assert!(
            error.contains(expected),
            "{error:?} should say {expected:?}"
        );
    }
    // The winner moved back to the kernel-alone fastest, the ranking kept: refused.
    let mut v = ranked();
    let e = first_entry(&mut v);
    let alone = e["steps"]["candidates"][1].clone();
    e["winner"] = serde_json::json!({"config": alone["config"], "median_ms": alone["kernel_ms"]});
    assert!(corrupt_error(&v.to_string()).contains("is not its step ranking's fastest"));
}
