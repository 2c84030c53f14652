//! The command-line tool on bad input: a non-zero exit and a message that says what is wrong
//! and what would be valid. None of these needs the model.

use std::process::Command;

fn vecinfer(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vecinfer"))
        .args(args)
        .output()
        .expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_codec_lists_the_valid_forms() {
    let (ok, err) = vecinfer(&[
        "calibrate",
        "--text",
        "x.txt",
        "--k",
        "d3b8",
        "--out",
        "cb.safetensors",
    ]);
    assert!(!ok);
    assert!(
        err.contains("d3b8") && err.contains("d{d}b{b}") && err.contains("8..=12"),
        "{err}"
    );
}

#[test]
fn a_bad_method_lists_the_valid_ones() {
    let (ok, err) = vecinfer(&["eval", "--text", "x.txt", "--methods", "fp16,vq+foo"]);
    assert!(!ok);
    assert!(
        err.contains("vq+foo") && err.contains("vecinfer") && err.contains("kivi2"),
        "{err}"
    );
}

#[test]
fn vq_methods_without_codebooks_are_refused() {
    let (ok, err) = vecinfer(&["eval", "--text", "x.txt", "--methods", "vecinfer"]);
    assert!(!ok);
    assert!(err.contains("--codebooks"), "{err}");
}

#[test]
fn a_corrupt_codebook_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cb.safetensors");
    std::fs::write(&path, b"definitely not safetensors").unwrap();
    let (ok, err) = vecinfer(&[
        "eval",
        "--text",
        "x.txt",
        "--codebooks",
        path.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        err.contains("cb.safetensors") && err.contains("truncated or corrupt"),
        "{err}"
    );
}

#[test]
fn a_missing_model_says_how_to_get_one() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("t.txt");
    std::fs::write(&text, "some text").unwrap();
    let (ok, err) = vecinfer(&[
        "eval",
        "--text",
        text.to_str().unwrap(),
        "--methods",
        "fp16",
        "--model",
        "/nonexistent/m.gguf",
    ]);
    assert!(!ok);
    assert!(
        err.contains("/nonexistent/m.gguf") && err.contains("fetch-model"),
        "{err}"
    );
}

#[test]
fn a_bad_bench_shape_says_what_is_valid() {
    let (ok, err) = vecinfer(&["bench", "--shapes", "8by32768"]);
    assert!(!ok);
    assert!(err.contains("BATCHxSEQ"), "{err}");
}

#[test]
fn dump_kv_rejects_a_layer_the_model_lacks() {
    let (ok, err) = vecinfer(&[
        "dump-kv",
        "--text",
        "x.txt",
        "--layers",
        "99",
        "--out",
        "kv.safetensors",
        "--model",
        "/nonexistent/m.gguf",
    ]);
    assert!(!ok);
    // The model is checked first; either way the user is told what is wrong.
    assert!(
        err.contains("fetch-model") || err.contains("--layers"),
        "{err}"
    );
}

fn fails_with(args: &[&str], want: &[&str]) {
    let (ok, err) = vecinfer(args);
    assert!(!ok, "{args:?} succeeded");
    for w in want {
        assert!(err.contains(w), "{args:?}: want {w:?} in: {err}");
    }
}

#[test]
fn zero_counts_are_refused_before_the_model_loads() {
    let model = ["--model", "/nonexistent/m.gguf"];
    let run = |args: &[&str], want: &[&str]| {
        fails_with(&[args, &model].concat(), want);
    };
    run(
        &[
            "calibrate",
            "--text",
            "x.txt",
            "--ctx",
            "0",
            "--out",
            "cb.st",
        ],
        &["--ctx 0", "at least 2"],
    );
    run(
        &[
            "calibrate",
            "--text",
            "x.txt",
            "--max-tokens",
            "0",
            "--out",
            "cb.st",
        ],
        &["--max-tokens 0"],
    );
    run(
        &[
            "eval",
            "--text",
            "x.txt",
            "--methods",
            "fp16",
            "--max-windows",
            "0",
        ],
        &["--max-windows 0", "at least 1 window"],
    );
    run(
        &[
            "dump-kv", "--text", "x.txt", "--tokens", "0", "--out", "kv.st",
        ],
        &["--tokens 0"],
    );
    run(&["eval", "--text", "x.txt", "--methods", ","], &["kivi2"]);
    // --granularity: each once; both only for files or a budget, named apart in a template.
    let calibrate = ["calibrate", "--text", "x.txt", "--granularity"];
    for (extra, want) in [
        (vec!["layer,layer", "--out", "cb.st"], "once each"),
        (
            vec![
                "layer,head",
                "--layer-codecs",
                "1=d4b12/d4b8",
                "--out",
                "cb.st",
            ],
            "one with --layer-codecs",
        ),
        (
            vec![
                "head,layer",
                "--out",
                "cb-{k}-{v}.st",
                "--also",
                "d8b8/d8b8",
            ],
            "names {granularity} so",
        ),
        (vec!["row", "--out", "cb.st"], "row"),
    ] {
        run(&[&calibrate[..], &extra].concat(), &["--granularity", want]);
    }
}

/// The shipped H100 file, copied into a fresh folder under its GPU's file name.
fn measured_copy() -> (tempfile::TempDir, std::path::PathBuf, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tuned-configs/nvidia-h100-80gb-hbm3.json");
    let bytes = std::fs::read(&shipped).unwrap();
    let path = dir.path().join("nvidia-h100-80gb-hbm3.json");
    std::fs::write(&path, &bytes).unwrap();
    (dir, path, bytes)
}

#[test]
fn plan_only_never_replaces_a_measured_file_unless_forced() {
    let (dir, path, bytes) = measured_copy();
    let out = dir.path().to_str().unwrap();
    let plan = ["tune", "--plan-only", "NVIDIA H100 80GB HBM3", "--out", out];
    fails_with(&plan, &["measured entries", "--force"]);
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "left as it was");
    let (ok, err) = vecinfer(&[&plan[..], &["--force"]].concat());
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"not tuned\"") && !text.contains("\"timed\""));
    // An untuned file gains the keys of a second plan.
    let (ok, err) = vecinfer(&[&plan[..], &["--shapes", "2x1024"]].concat());
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("_b2_s1024") && text.contains("_b8_s32768"));
}

#[test]
fn compare_tuning_refuses_a_guided_reference() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let guided = root.join("bench/results/h100/tune/run-guided/guided.json");
    let exhaustive = root.join("tuned-configs/nvidia-h100-80gb-hbm3.json");
    let (g, e) = (guided.to_str().unwrap(), exhaustive.to_str().unwrap());
    fails_with(
        &["compare-tuning", "--exhaustive", g, "--other", e],
        &["cannot be the exhaustive reference", "guided search"],
    );
    let (ok, err) = vecinfer(&["compare-tuning", "--exhaustive", e, "--other", g]);
    assert!(ok, "{err}");
}

#[test]
fn a_tuned_configs_file_with_an_overflowing_count_is_refused() {
    let (dir, path, bytes) = measured_copy();
    let text = String::from_utf8(bytes).unwrap();
    // The first entry's evaluation count, whatever it is, made 2^64 - 1.
    let at = text.find("\"evaluations\": ").unwrap() + "\"evaluations\": ".len();
    let end = at + text[at..].find(|c: char| !c.is_ascii_digit()).unwrap();
    let mut edited = text.clone();
    edited.replace_range(at..end, "18446744073709551615");
    assert_ne!(edited, text);
    std::fs::write(&path, edited).unwrap();
    let exhaustive = root_file("tuned-configs/nvidia-h100-80gb-hbm3.json");
    fails_with(
        &[
            "compare-tuning",
            "--exhaustive",
            &exhaustive,
            "--other",
            path.to_str().unwrap(),
        ],
        &[
            "evaluations 18446744073709551615",
            "nvidia-h100-80gb-hbm3.json",
        ],
    );
    drop(dir);
}

fn root_file(rel: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_bad_projections_choice_lists_the_valid_ones() {
    let (ok, err) = vecinfer(&[
        "eval",
        "--text",
        "x.txt",
        "--methods",
        "fp16",
        "--device",
        "cuda",
        "--projections",
        "wide",
    ]);
    assert!(!ok);
    assert!(
        err.contains("wide") && err.contains("cublas or skinny"),
        "{err}"
    );
    let (ok, err) = vecinfer(&[
        "eval",
        "--text",
        "x.txt",
        "--methods",
        "fp16",
        "--projections",
        "skinny",
    ]);
    assert!(!ok);
    assert!(err.contains("--device cuda"), "{err}");
    let (ok, err) = vecinfer(&[
        "eval",
        "--text",
        "x.txt",
        "--methods",
        "fp16",
        "--device",
        "cuda",
        "--projections",
        "skinny",
        "--batch",
        "16",
    ]);
    assert!(!ok);
    assert!(err.contains("1 to 8") && err.contains("cublas"), "{err}");
}

/// `tune --merge` runs without a GPU: files of another GPU (or code generator) are refused with
/// both named, `--plan-only` beside it is refused, and a good merge keeps the target's entries
/// and adds the source's.
#[test]
fn tune_merge_takes_files_of_one_gpu_only() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tuned-configs/nvidia-a100-sxm4-80gb.json");
    let text = std::fs::read_to_string(&shipped).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let entries = value["entries"].as_object().unwrap().clone();
    let (first, rest): (Vec<_>, Vec<_>) =
        entries.into_iter().enumerate().partition(|(i, _)| *i == 0);
    let write =
        |name: &str, entries: Vec<(usize, (String, serde_json::Value))>, device: Option<&str>| {
            let mut v = value.clone();
            v["entries"] = serde_json::Value::Object(entries.into_iter().map(|(_, e)| e).collect());
            if let Some(name) = device {
                v["device"]["name"] = name.into();
            }
            let path = dir.path().join(name);
            std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
            path
        };
    let target = write("target.json", first, None);
    let source = write("source.json", rest.clone(), None);
    let other = write("other.json", rest, Some("NVIDIA H100 80GB HBM3"));
    let path = |p: &std::path::Path| p.display().to_string();
    let entries_in = |p: &std::path::Path| {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        v["entries"].as_object().unwrap().len()
    };

    let (ok, err) = vecinfer(&[
        "tune",
        "--merge",
        &format!("{},{}", path(&source), path(&other)),
        "--file",
        &path(&target),
    ]);
    assert!(!ok);
    assert!(
        err.contains("other.json") && err.contains("one GPU"),
        "{err}"
    );
    assert_eq!(entries_in(&target), 1, "a refused merge writes nothing");
    let (ok, err) = vecinfer(&[
        "tune",
        "--merge",
        &path(&source),
        "--plan-only",
        "X",
        "--file",
        &path(&target),
    ]);
    assert!(!ok);
    assert!(err.contains("--plan-only"), "{err}");
    assert_eq!(entries_in(&target), 1, "a refused merge writes nothing");

    let (ok, err) = vecinfer(&["tune", "--merge", &path(&source), "--file", &path(&target)]);
    assert!(ok, "{err}");
    value = serde_json::from_str(&std::fs::read_to_string(&target).unwrap()).unwrap();
    let merged = value["entries"].as_object().unwrap().len();
    let shipped_count = serde_json::from_str::<serde_json::Value>(&text).unwrap()["entries"]
        .as_object()
        .unwrap()
        .len();
    assert_eq!(merged, shipped_count, "the target's entry and the source's");
}

#[test]
fn a_bad_fp16_tiling_choice_lists_the_valid_ones_before_any_gpu() {
    for bad in ["bogus", "0x8192", "1x", "stepz"] {
        let (ok, err) = vecinfer(&["decode-bench", "--random-weights", "--tune-fp16", bad]);
        assert!(!ok, "{bad}");
        assert!(
            err.contains(bad) && err.contains("each, steps, off or BATCHxCONTEXT"),
            "{bad}: {err}"
        );
    }
}

/// A replotted row whose tokens/s overflows the padded log axis is refused at once (plotters
/// looped forever on it).
#[test]
fn a_replot_with_an_unplottable_value_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../bench/results/kernel-s14/retune-h100/decode-bench.json");
    let mut report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(source).unwrap()).unwrap();
    report["rows"][0]["tokens_per_s"] = serde_json::json!(1e308);
    let json = dir.path().join("huge.json");
    std::fs::write(&json, report.to_string()).unwrap();
    let plot = dir.path().join("plot.svg");
    let (ok, err) = vecinfer(&[
        "decode-bench",
        "--replot",
        json.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        err.contains("cannot be plotted") && err.contains("positive"),
        "{err}"
    );
}

/// gpu-check with nothing to check is an error, and its --json file is kept.
#[test]
fn gpu_check_with_no_check_to_run_keeps_the_json_file() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("keep.json");
    std::fs::write(&json, "{\"kept\": true}").unwrap();
    let (ok, err) = vecinfer(&["gpu-check", "--skip-tiny", "--json", json.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("--skip-tiny") && err.contains("--model"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&json).unwrap(), "{\"kept\": true}");
    let (ok, err) = vecinfer(&["gpu-check", "--model", "/nonexistent/model.gguf"]);
    assert!(!ok);
    assert!(err.contains("no such file"), "{err}");
}

/// bench's list options and counts are checked before the GPU opens: the error names the
/// option, not a missing driver.
#[test]
fn bench_options_are_checked_before_the_gpu() {
    let (ok, err) = vecinfer(&["bench", "--replicas", "3"]);
    assert!(!ok);
    assert!(
        err.contains("replicas 3") && err.contains("valid values are 1, 2, 4, 8, 16 and 32"),
        "{err}"
    );
    let (ok, err) = vecinfer(&["bench", "--runs", "0"]);
    assert!(!ok);
    assert!(
        err.contains("--runs") && err.contains("at least 1"),
        "{err}"
    );
    let (ok, err) = vecinfer(&["bench", "--heads", "0"]);
    assert!(!ok);
    assert!(err.contains("--heads 0"), "{err}");
}

/// tune and decode-bench refuse bad counts and files before any GPU work, and say so (a tune's
/// baseline was read only after tuning; zero steps or runs were raised to 1 without a word).
#[test]
fn tune_and_decode_bench_counts_are_checked_first() {
    let (ok, err) = vecinfer(&["tune", "--runs", "0"]);
    assert!(!ok);
    assert!(
        err.contains("--runs") && err.contains("at least 1"),
        "{err}"
    );
    let (ok, err) = vecinfer(&["tune", "--baseline", "/nonexistent/baseline.json"]);
    assert!(!ok);
    assert!(err.contains("/nonexistent/baseline.json"), "{err}");
    let (ok, err) = vecinfer(&["decode-bench", "--random-weights", "--steps", "0"]);
    assert!(!ok);
    assert!(
        err.contains("--steps") && err.contains("at least 1"),
        "{err}"
    );
    let (ok, err) = vecinfer(&["decode-bench", "--random-weights", "--reserve-gb", "NaN"]);
    assert!(!ok);
    assert!(
        err.contains("--reserve-gb") && err.contains("non-negative"),
        "{err}"
    );
}

/// generate's cache options are refused where they would be ignored, and eval refuses an
/// empty GPU batch (it was raised to 1).
#[test]
fn ignored_cache_options_and_an_empty_batch_are_refused() {
    let (ok, err) = vecinfer(&["generate", "--prompt", "Hi", "--cache", "vq"]);
    assert!(!ok);
    assert!(err.contains("--device cuda"), "{err}");
    let (ok, err) = vecinfer(&[
        "generate",
        "--prompt",
        "Hi",
        "--codebooks",
        "cb.safetensors",
    ]);
    assert!(!ok);
    assert!(err.contains("--device cuda"), "{err}");
    let (ok, err) = vecinfer(&[
        "generate", "--prompt", "Hi", "--device", "cuda", "--cache", "vq", "--method", "fp16",
    ]);
    assert!(!ok);
    assert!(
        err.contains("--method fp16") && err.contains("vecinfer"),
        "{err}"
    );
    let (ok, err) = vecinfer(&[
        "generate",
        "--prompt",
        "Hi",
        "--device",
        "cuda",
        "--codebooks",
        "cb.safetensors",
    ]);
    assert!(!ok);
    assert!(err.contains("--cache vq"), "{err}");
    let (ok, err) = vecinfer(&["eval", "--text", "x.txt", "--batch", "0"]);
    assert!(!ok);
    assert!(
        err.contains("--batch") && err.contains("at least 1"),
        "{err}"
    );
}

/// --replot merges one GPU's files only, each once, and keeps an existing --json when the plot
/// fails.
#[test]
fn replot_refuses_two_gpus_a_file_twice_and_keeps_its_json_on_failure() {
    let results =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/results/kernel-s14");
    let h100 = results.join("retune-h100/decode-bench.json");
    let h200 = results.join("retune-h200/decode-bench.json");
    let (h100, h200) = (h100.to_str().unwrap(), h200.to_str().unwrap());
    let (ok, err) = vecinfer(&["decode-bench", "--replot", &format!("{h100},{h200}")]);
    assert!(!ok);
    assert!(err.contains("one GPU's files"), "{err}");
    let (ok, err) = vecinfer(&["decode-bench", "--replot", &format!("{h100},{h100}")]);
    assert!(!ok);
    assert!(err.contains("named twice"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("keep.json");
    std::fs::write(&json, "kept").unwrap();
    let missing_dir = dir.path().join("no/such/dir/plot.svg");
    let (ok, _) = vecinfer(&[
        "decode-bench",
        "--replot",
        h100,
        "--json",
        json.to_str().unwrap(),
        "--plot",
        missing_dir.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert_eq!(std::fs::read_to_string(&json).unwrap(), "kept");
}

#[test]
fn bad_layer_codebooks_say_what_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let save = |name: &str, layers: usize| {
        let codec = "d4b8".parse().unwrap();
        let set = vecinfer_quant::synthetic::random_codebook_set(
            1,
            codec,
            codec,
            vecinfer_quant::Granularity::Layer,
            layers,
            2,
            16,
        );
        let path = dir.path().join(name);
        set.save(&path).unwrap();
        path.display().to_string()
    };
    let (base, other, short) = (
        save("a.safetensors", 4),
        save("b.safetensors", 4),
        save("c.safetensors", 3),
    );
    let eval = |layer_codebooks: &str, with_base: bool| {
        let mut args = vec![
            "eval",
            "--text",
            "x.txt",
            "--layer-codebooks",
            layer_codebooks,
        ];
        if with_base {
            args.extend(["--codebooks", &base]);
        }
        vecinfer(&args)
    };
    for (given, with_base, expected) in [
        (
            format!("1={other}"),
            false,
            "with --codebooks FILE".to_string(),
        ),
        (other.clone(), true, "LAYERS=FILE".into()),
        (format!("x={other}"), true, "e.g. 17,18,20".into()),
        (
            format!("4={other}"),
            true,
            "layer 4 out of range: the model has layers 0 to 3".into(),
        ),
        (format!("1-2,2={other}"), true, "name layer 2 twice".into()),
        (format!("1={short}"), true, "same model".into()),
    ] {
        let (ok, err) = eval(&given, with_base);
        assert!(!ok && err.contains(&expected), "{given}: {err}");
    }
}

#[test]
fn layer_lists_past_any_model_and_plans_without_a_vq_cache_are_refused_before_work() {
    let (ok, err) = vecinfer(&["eval", "--text", "x.txt", "--only-layers", "0-99999999999"]);
    assert!(!ok && err.contains("past any model's depth"), "{err}");
    let bench = |extra: &[&str]| {
        let mut args = vec![
            "decode-bench",
            "--random-weights",
            "--layer-codecs",
            "17=d4b12/d4b8",
        ];
        args.extend(extra);
        vecinfer(&args)
    };
    let (ok, err) = bench(&["--caches", "fp16"]);
    assert!(!ok && err.contains("a VQ cache in --caches"), "{err}");
    let (ok, err) = bench(&["--caches", "d4b8/d8b8", "--codebooks", "cb.safetensors"]);
    assert!(!ok && err.contains("drop --codebooks"), "{err}");
    let (ok, err) = vecinfer(&["decode-bench", "--random-weights", "--layer-codecs", "17"]);
    assert!(!ok && err.contains("LAYERS=K/V"), "{err}");
}

/// A plan file goes where --codebooks takes plans (eval, generate) and is refused, with what
/// it is, where one set is needed; `calibrate --layer-codecs` refuses what one plan file
/// cannot hold before the model loads.
#[test]
fn plan_files_and_layer_codecs_say_what_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let save = |name: &str, k: &str| {
        let set = vecinfer_quant::synthetic::random_codebook_set(
            1,
            k.parse().unwrap(),
            "d4b8".parse().unwrap(),
            vecinfer_quant::Granularity::Layer,
            4,
            2,
            16,
        );
        let path = dir.path().join(name);
        set.save(&path).unwrap();
        path.display().to_string()
    };
    let (base, high) = (
        save("a.safetensors", "d4b8"),
        save("b.safetensors", "d4b12"),
    );
    let plan = dir.path().join("plan.safetensors").display().to_string();
    let layers = format!("1,3={high}");
    let made = Command::new(env!("CARGO_BIN_EXE_vecinfer"))
        .args(["plan", "--codebooks", &base, "--layer-codebooks", &layers])
        .args(["--out", &plan])
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let read = vecinfer_quant::CodebookPlan::load(std::path::Path::new(&plan)).unwrap();
    assert_eq!(
        read.label(),
        "d4b8/d4b8 (layers 0,2) + d4b12/d4b8 (layers 1,3)"
    );
    assert!(read.allocation().starts_with("vecinfer plan --codebooks"));
    // A set calibrated from a renamed copy of the model file: kept, and the names noted.
    let mut renamed = vecinfer_quant::CodebookSet::load(std::path::Path::new(&high)).unwrap();
    renamed.meta.model_id = "renamed-copy".into();
    let renamed_path = dir.path().join("renamed.safetensors");
    renamed.save(&renamed_path).unwrap();
    let mixed = dir.path().join("mixed.safetensors").display().to_string();
    let made = Command::new(env!("CARGO_BIN_EXE_vecinfer"))
        .args(["plan", "--codebooks", &base, "--layer-codebooks"])
        .arg(format!("1,3={}", renamed_path.display()))
        .args(["--out", &mixed])
        .output()
        .unwrap();
    let noted = String::from_utf8_lossy(&made.stderr);
    assert!(made.status.success(), "{made:?}");
    assert!(
        noted.contains("calibrated under the model names") && noted.contains("\"renamed-copy\""),
        "{noted}"
    );
    let read = vecinfer_quant::CodebookPlan::load(std::path::Path::new(&mixed)).unwrap();
    assert_eq!(read.model_ids().len(), 2);
    fails_with(
        &[
            "eval",
            "--text",
            "x.txt",
            "--codebooks",
            &plan,
            "--layer-codebooks",
            &layers,
        ],
        &[
            "--layer-codebooks with a plan file",
            "calibrate --layer-codecs",
        ],
    );
    for command in [
        vec!["gpu-check", "--codebooks", &plan],
        vec!["decode-bench", "--random-weights", "--codebooks", &plan],
    ] {
        fails_with(
            &command,
            &["layer-wise plan file", "d4b12/d4b8 (layers 1,3)"],
        );
    }
    fails_with(
        &["plan", "--codebooks", &base, "--out", &plan],
        &["--layer-codebooks"],
    );
    // The GPU probe codes its layers with one set: refused before the model loads.
    fails_with(
        &[
            "eval",
            "--text",
            "x.txt",
            "--device",
            "cuda",
            "--methods",
            "vecinfer",
            "--codebooks",
            &plan,
            "--only-layers",
            "1",
        ],
        &["--only-layers", "give a single-set --codebooks file"],
    );
    // The plan never replaces one of its inputs.
    let before = std::fs::read(&base).unwrap();
    fails_with(
        &[
            "plan",
            "--codebooks",
            &base,
            "--layer-codebooks",
            &layers,
            "--out",
            &base,
        ],
        &["a file other than the input"],
    );
    assert_eq!(std::fs::read(&base).unwrap(), before);
    // A plan given where one set is needed, inside a plan.
    let nested = format!("1={plan}");
    fails_with(
        &[
            "plan",
            "--codebooks",
            &base,
            "--layer-codebooks",
            &nested,
            "--out",
            "n.safetensors",
        ],
        &["layer-wise plan file", "one codebook set is needed here"],
    );
    let calibrate = |extra: &[&str]| {
        let mut args = vec![
            "calibrate",
            "--text",
            "x.txt",
            "--model",
            "/nonexistent/m.gguf",
            "--out",
            "p.safetensors",
        ];
        args.extend(extra);
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let top = ["--layer-codecs", "top:2=d4b12/d4b8"];
    for (extra, want) in [
        (vec!["--layer-codecs", "17"], "top:4=d4b12/d4b10"),
        (vec!["--layer-codecs", "top:0=d4b12/d4b8"], "N ≥ 1"),
        (vec!["--layer-codecs", "2=d3b8/d4b8"], "d3b8"),
        ([&top[..], &["--also", "d4b9/d8b8"]].concat(), "drop --also"),
        (
            [&top[..], &["--smooth", "max,balanced"]].concat(),
            "one plan per run",
        ),
        ([&top[..], &["--methods", "vq"]].concat(), "add vecinfer"),
        (
            [&top[..], &["--probe-windows", "0"]].concat(),
            "--probe-windows",
        ),
        (
            [&top[..], &["--probe-ctx", "100"]].concat(),
            "int8 window tokens",
        ),
        (
            vec!["--layer-codecs", "1=d4b12/d4b8", "--probe-windows", "2"],
            "without a top:N",
        ),
        (vec!["--probe-ctx", "1024"], "without a top:N"),
        (vec!["--probe-device", "cuda"], "without a top:N"),
        (vec!["--budget", "2"], "without --choices"),
        (vec!["--choices", "d4b12/d4b10"], "without --budget"),
        (
            [&top[..], &["--budget", "2", "--choices", "d4b12/d4b10"]].concat(),
            "one way to choose the layers' codecs",
        ),
        // The default pair, d4b8/d4b8, is 2 code bits.
        (
            vec!["--budget", "1.5", "--choices", "d4b12/d4b10"],
            "at least 2 (the cheapest pair's, d4b8/d4b8)",
        ),
        (
            vec!["--budget", "2", "--choices", "d4b8/d4b8"],
            "not --k/--v",
        ),
        (
            vec![
                "--budget",
                "2",
                "--choices",
                "d4b12/d4b10",
                "--probe-windows",
                "0",
            ],
            "--probe-windows",
        ),
        (
            vec![
                "--budget",
                "2",
                "--choices",
                "d4b12/d4b10",
                "--also",
                "d4b9/d8b8",
            ],
            "drop --also",
        ),
        (
            [
                &top[..],
                &["--probe-device", "cuda", "--rotation", "learned"],
            ]
            .concat(),
            "the GPU kernels apply the Hadamard only",
        ),
    ] {
        let args = calibrate(&extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        fails_with(&args, &[want]);
    }
    let mut args = calibrate(&top);
    let out = args.iter().position(|a| a == "p.safetensors").unwrap();
    args[out] = "p-{k}.safetensors".into();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    fails_with(&args, &["drop the {…} placeholders"]);
}

#[test]
fn plan_budget_options_say_what_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let save_as = |name: &str, (k, v): (&str, &str), layers, granularity| {
        let set = vecinfer_quant::synthetic::random_codebook_set(
            1,
            k.parse().unwrap(),
            v.parse().unwrap(),
            granularity,
            layers,
            2,
            16,
        );
        let path = dir.path().join(name);
        set.save(&path).unwrap();
        path.display().to_string()
    };
    let save = |name: &str, k, v, layers| {
        save_as(name, (k, v), layers, vecinfer_quant::Granularity::Layer)
    };
    let base = save("a.safetensors", "d8b8", "d8b8", 4);
    // The same pair with a codebook per (layer, KV head) is another choice.
    let head = save_as(
        "e.safetensors",
        ("d8b8", "d8b8"),
        4,
        vecinfer_quant::Granularity::Head,
    );
    let dear = save("b.safetensors", "d4b8", "d8b8", 4);
    let same = save("c.safetensors", "d8b8", "d8b8", 4);
    let other = save("d.safetensors", "d4b12", "d8b8", 6);
    // A choice calibrated from a renamed copy of the model file: same shape, another name.
    let renamed = {
        let mut set = vecinfer_quant::CodebookSet::load(std::path::Path::new(&dear)).unwrap();
        set.meta.model_id = "renamed-copy".into();
        let path = dir.path().join("f.safetensors");
        set.save(&path).unwrap();
        path.display().to_string()
    };
    let plan = dir.path().join("plan.safetensors").display().to_string();
    let made = Command::new(env!("CARGO_BIN_EXE_vecinfer"))
        .args(["plan", "--codebooks", &base, "--layer-codebooks"])
        .args([format!("1={dear}"), "--out".into(), plan.clone()])
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let model = ["--model", "/nonexistent/m.gguf"];
    let run = |extra: &[&str], want: &[&str]| {
        let mut args = vec!["plan", "--codebooks", &base, "--out", "p.safetensors"];
        args.extend(model);
        args.extend(extra);
        fails_with(&args, want);
    };
    let text = dir.path().join("calib.txt");
    std::fs::write(&text, "some calibration text").unwrap();
    let text = text.display().to_string();
    let with_text = ["--text", &text];
    for (extra, want) in [
        (vec!["--budget", "1.2"], "without --choices"),
        (
            vec!["--budget", "1.2", "--choices", &dear],
            "without --text",
        ),
        (vec!["--choices", &dear], "without --budget"),
        (vec!["--text", "x.txt"], "without --budget"),
        (vec!["--refine", "1"], "without --budget"),
        (vec!["--probe-device", "cuda"], "without --budget"),
        (
            vec![
                "--budget",
                "1.2",
                "--choices",
                &dear,
                "--layer-codebooks",
                "1=x",
            ],
            "one way to choose the layers' files",
        ),
    ] {
        run(&extra, &[want]);
    }
    run(
        &[
            "--budget",
            "1.2",
            "--choices",
            &dear,
            "--text",
            "/nonexistent/t.txt",
        ],
        &["--text /nonexistent/t.txt", "a readable"],
    );
    for (extra, want) in [
        (
            vec!["--budget", "1.2", "--choices", ""],
            vec!["at least one calibrate file"],
        ),
        (
            vec!["--budget", "1.2", "--choices", &same],
            vec![
                "each K/V pair once at each granularity",
                "d8b8/d8b8",
                "a.safetensors",
            ],
        ),
        (
            vec!["--budget", "inf", "--choices", &dear],
            vec!["a finite number"],
        ),
        (
            vec!["--budget", "1.2", "--choices", &plan],
            vec!["not the layer-wise plan", "layers 1"],
        ),
        (
            vec!["--budget", "1.2", "--choices", &other],
            vec!["the model of --codebooks", "4 layers", "6 layers"],
        ),
        (
            vec!["--budget", "0.5", "--choices", &dear],
            vec!["at least 1 (the cheapest pair's, d8b8/d8b8)"],
        ),
        (
            vec![
                "--budget",
                "1.2",
                "--choices",
                &dear,
                "--probe-windows",
                "0",
            ],
            vec!["--probe-windows"],
        ),
        (
            vec!["--budget", "1.2", "--choices", &dear, "--probe-ctx", "50"],
            vec!["int8 window tokens"],
        ),
        // Everything checks: the missing model is what stops it.
        (
            vec!["--budget", "1.2", "--choices", &head],
            vec!["/nonexistent/m.gguf"],
        ),
        (
            vec!["--budget", "1.2", "--choices", &renamed],
            vec!["/nonexistent/m.gguf"],
        ),
        (
            vec!["--budget", "1.2", "--choices", &dear],
            vec!["/nonexistent/m.gguf"],
        ),
    ] {
        run(&[&with_text[..], &extra].concat(), &want);
    }
    // The output never replaces an input: the text or a choice file (nor calibrate's text).
    for out in [&text, &dear] {
        let before = std::fs::read(out).unwrap();
        let args = [
            "plan",
            "--codebooks",
            &base,
            "--budget",
            "1.2",
            "--choices",
            &dear,
        ];
        let args = [&args[..], &["--text", &text, "--out", out]].concat();
        fails_with(&args, &["a file other than the input", out]);
        assert_eq!(std::fs::read(out).unwrap(), before);
    }
    fails_with(
        &["calibrate", "--text", &text, "--out", &text],
        &["a file other than the input"],
    );
    // Nor a file named by a tag or a template: every output is checked before the model loads.
    let tagged = dir.path().join("calib-head.txt");
    let templated = dir.path().join("calib-d4b8.txt");
    for (input, out, extra) in [
        (&tagged, "calib.txt", vec!["--granularity", "layer,head"]),
        (&templated, "calib-{k}.txt", vec![]),
    ] {
        std::fs::write(input, "some calibration text").unwrap();
        let input_name = input.display().to_string();
        let out = dir.path().join(out).display().to_string();
        let args = [
            &["calibrate", "--text", &input_name, "--out", &out][..],
            &extra,
        ]
        .concat();
        fails_with(&args, &["a file other than the input", &input_name]);
        assert_eq!(std::fs::read(input).unwrap(), b"some calibration text");
    }
    fails_with(
        &[
            "calibrate",
            "--text",
            "x.txt",
            "--out",
            "p.safetensors",
            "--refine",
            "2",
        ],
        &["--refine", "without --budget"],
    );
    assert!(!std::path::Path::new("p.safetensors").exists());
}

/// `round-books`: the key books come out as e4m3 values and the values as they were; the input
/// file is left alone, and writing over it is refused.
#[test]
fn round_books_rounds_the_keys_and_keeps_its_input() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (
        dir.path().join("cb.safetensors"),
        dir.path().join("e4m3.safetensors"),
    );
    let (k, v) = ("d8b12".parse().unwrap(), "d8b8".parse().unwrap());
    let set = vecinfer_quant::synthetic::random_codebook_set(
        4,
        k,
        v,
        vecinfer_quant::Granularity::Layer,
        2,
        2,
        64,
    );
    set.save(&input).unwrap();
    let original = std::fs::read(&input).unwrap();
    let (ok, err) = vecinfer(&[
        "round-books",
        "--codebooks",
        input.to_str().unwrap(),
        "--out",
        input.to_str().unwrap(),
    ]);
    assert!(
        !ok && err.contains("another file than --codebooks"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_vecinfer"))
        .args(["round-books", "--codebooks"])
        .arg(&input)
        .arg("--out")
        .arg(&output)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("moved to e4m3"), "{stdout}");
    assert_eq!(std::fs::read(&input).unwrap(), original);
    let rounded = vecinfer_quant::CodebookSet::load(&output).unwrap();
    assert_eq!(rounded.keys.len(), set.keys.len());
    assert!(rounded.keys.values().all(|layers| layers.len() == 2));
    assert_eq!(rounded.values.len(), 2);
    for (name, layers) in &rounded.keys {
        for (r, o) in layers.iter().zip(&set.keys[name]) {
            assert!(r.all().iter().all(|b| b.first_non_e4m3().is_none()));
            assert_ne!(r.all()[0].centroids(), o.all()[0].centroids());
        }
    }
    for (r, o) in rounded.values.iter().zip(&set.values) {
        assert_eq!(r.all()[0].centroids(), o.all()[0].centroids());
    }
}
