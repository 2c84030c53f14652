//! Property tests ("fuzzing") of the tuned-configs file reader: a small real file (two keys
//! of the shipped H100 file, a dozen candidates each) with any JSON value replaced by an
//! arbitrary one, cut short, or arbitrary text, never panics. It is read (and then passes
//! the lookup and a save/read round trip) or refused with an error naming the file. Bounded
//! for CI; failing inputs are kept in `proptest-regressions/` and replayed first.

use proptest::prelude::*;
use serde_json::Value;
use std::path::Path;
use std::sync::OnceLock;
use vecinfer_tuner::{CandidateStatus, TunedConfigs, choose};

/// Two entries of the shipped H100 file and a step-ranked one, cut to their winner, default,
/// ranked configs and ten others.
fn valid() -> &'static Value {
    static VALID: OnceLock<Value> = OnceLock::new();
    VALID.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tuned-configs/nvidia-h100-80gb-hbm3.json");
        let mut store = TunedConfigs::load(&path).unwrap();
        let mut keep: Vec<String> = store.entries.keys().take(2).cloned().collect();
        let ranked = store.entries.iter().find(|(_, e)| e.steps.is_some());
        keep.push(ranked.expect("the file has step-ranked keys").0.clone());
        store.entries.retain(|k, _| keep.contains(k));
        for e in store.entries.values_mut() {
            let (w, d) = (e.winner.unwrap().config, e.default.unwrap().config);
            let ranked: Vec<_> = e
                .steps
                .iter()
                .flat_map(|s| {
                    s.candidates
                        .iter()
                        .map(|c| c.config)
                        .chain(s.left_out.iter().copied())
                })
                .collect();
            let mut others = 0;
            e.candidates.retain(|c| {
                let needed = c.config == w || c.config == d || ranked.contains(&c.config);
                let keep = needed || others < 10;
                if keep && !needed {
                    others += 1;
                }
                keep
            });
            let timed = e
                .candidates
                .iter()
                .filter(|c| c.status == CandidateStatus::Timed)
                .count();
            e.evaluations = timed;
        }
        let value = serde_json::to_value(&store).unwrap();
        TunedConfigs::parse(&value.to_string(), Path::new("t.json")).expect("the sample is valid");
        value
    })
}

/// Every value of the tree, by path, so one can be replaced.
fn paths(v: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                at.push(k.clone());
                paths(child, at, out);
                at.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                at.push(i.to_string());
                paths(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn all_paths() -> &'static Vec<Vec<String>> {
    static PATHS: OnceLock<Vec<Vec<String>>> = OnceLock::new();
    PATHS.get_or_init(|| {
        let mut out = Vec::new();
        paths(valid(), &mut Vec::new(), &mut out);
        out
    })
}

fn at_path<'a>(v: &'a mut Value, path: &[String]) -> &'a mut Value {
    path.iter().fold(v, |v, k| match v {
        Value::Array(a) => &mut a[k.parse::<usize>().unwrap()],
        other => &mut other[k.as_str()],
    })
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        Just(Value::from(1e308)),
        (0u64..600).prop_map(Value::from),
        ".{0,8}".prop_map(Value::from),
        prop_oneof![
            Just("d4b8"),
            Just("timed"),
            Just("exhaustive"),
            Just("unlimited"),
            Just("9.0"),
            Just("")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,6}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Reads `text`; what is read must be usable.
fn check(text: &str) {
    match TunedConfigs::parse(text, Path::new("t.json")) {
        Ok(store) => {
            for e in store.entries.values() {
                let _ = choose(Some(&store), &e.key.shape, e.key.batch, e.key.seq);
                let _ = store.nearest_keys(&e.key, 3);
            }
            let again = serde_json::to_string(&store).unwrap();
            TunedConfigs::parse(&again, Path::new("t.json")).expect("what was read writes back");
        }
        Err(e) => assert!(e.to_string().contains("t.json"), "{e}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn any_value_replaced_never_panics(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any_json()), 1..3),
    ) {
        let mut v = valid().clone();
        for (at, value) in edits {
            let paths = all_paths();
            let path = &paths[at.index(paths.len())];
            // Earlier edits may have removed the path's parents.
            let mut probe = &v;
            let mut exists = true;
            for k in path {
                let next = match probe {
                    Value::Array(a) => k.parse::<usize>().ok().and_then(|i| a.get(i)),
                    Value::Object(m) => m.get(k),
                    _ => None,
                };
                match next {
                    Some(n) => probe = n,
                    None => {
                        exists = false;
                        break;
                    }
                }
            }
            if exists {
                *at_path(&mut v, path) = value;
            }
        }
        check(&v.to_string());
    }

    #[test]
    fn files_cut_short_never_panic(at in any::<prop::sample::Index>()) {
        let text = valid().to_string();
        let mut cut = at.index(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        check(&text[..cut]);
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,64}") {
        check(&text);
    }
}

#[test]
fn a_string_schema_version_is_reported_as_the_wrong_type() {
    let mut v = valid().clone();
    v["schema_version"] = "1".into();
    let err = TunedConfigs::parse(&v.to_string(), Path::new("t.json"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("schema_version is \"1\", a string") && !err.contains("no schema_version"),
        "{err}"
    );
}
