//! From parsed arguments to a validated `KernelConfig`: defaults from the codegen's heuristic,
//! explicit knobs, or the winner of a tuned-configs file; every error spanned and saying what
//! is valid.

use crate::parse::Args;
use proc_macro2::Span;
use std::path::PathBuf;
use vecinfer_codegen::{ConfigError, KernelConfig, OutputDtype};
use vecinfer_quant::{Granularity, KeyTransform, VqCodec};
use vecinfer_tuner::{KernelShape, TuneKey, TunedConfigs, codegen_fingerprint};

/// The knobs a tuned entry chooses; giving one beside `tuned` is an error.
const TUNED_KNOBS: [&str; 11] = [
    "tile",
    "warps",
    "stages",
    "dims_per_lane",
    "split",
    "scoring",
    "replicas",
    "direct",
    "split_query",
    "key_token_rows",
    "min_blocks",
];

/// A declaration resolved: the config, the arch it was validated for, and the tuned entry it
/// came from.
pub struct Resolved {
    pub config: KernelConfig,
    pub arch: String,
    pub tuned_from: Option<String>,
    /// The tuned-configs file read (absolute), which the expansion makes Cargo track.
    pub tuned_file: Option<String>,
}

fn error(span: Span, message: impl std::fmt::Display) -> syn::Error {
    syn::Error::new(span, message)
}

pub fn resolve(args: &Args) -> syn::Result<Resolved> {
    let head_dim = args.required("head_dim")?;
    let group = args.required("group")?;
    let codec = |key: &str| -> syn::Result<VqCodec> {
        args.parsed::<VqCodec>(key)?.ok_or_else(|| {
            error(
                args.span_of(key),
                format!("missing `{key} = \"d4b8\"` (a codec d{{2,4,8}}b{{8..12}})"),
            )
        })
    };
    let (k, v) = (codec("k")?, codec("v")?);
    let arch = args.string("arch")?.unwrap_or_else(|| "sm_90".into());
    if ![
        "sm_80", "sm_86", "sm_87", "sm_89", "sm_90", "sm_100", "sm_120",
    ]
    .contains(&arch.as_str())
    {
        return Err(error(
            args.span_of("arch"),
            format!(
                "arch {arch:?}: valid archs are sm_80, sm_86, sm_87, sm_89, sm_90, sm_100, sm_120"
            ),
        ));
    }
    let mut shape_config = KernelConfig::default_for(head_dim, group, k, v);
    if let Some(g) = args.parsed::<Granularity>("granularity")? {
        shape_config.granularity = g;
    }
    if let Some(t) = args.string("transform")? {
        shape_config.transform = transform(&t).ok_or_else(|| {
            error(
                args.span_of("transform"),
                format!("transform {t:?}: valid transforms are plain, smooth, hadamard and smooth_hadamard"),
            )
        })?;
    }
    if let Some(o) = args.string("output")? {
        shape_config.output = match o.as_str() {
            "f16" => OutputDtype::F16,
            "bf16" => OutputDtype::Bf16,
            _ => {
                return Err(error(
                    args.span_of("output"),
                    format!("output {o:?}: valid outputs are f16 and bf16"),
                ));
            }
        };
    }
    if let Some(l) = args.parsed::<vecinfer_codegen::CodeLayout>("layout")? {
        shape_config.layout = l;
    }
    let shape = KernelShape::of(&shape_config);
    let (mut config, tuned_from, tuned_file) = match args.string("tuned")? {
        Some(path) => tuned(args, &path, shape)?,
        None => (shape.default_config(), None, None),
    };
    // With `tuned`, knobs were rejected above; this applies the hand-set ones.
    apply_knobs(args, &mut config)?;
    // The window's precision changes only how the sinks and window are read, not the tuned
    // geometry: a tuned entry serves both.
    if let Some(w) = args.parsed::<vecinfer_quant::WindowPrecision>("window")? {
        config.window = w;
    }
    // So does the key book's format, which the cache's books decide (BookFormat).
    if let Some(b) = args.parsed::<vecinfer_codegen::BookFormat>("key_book")? {
        config.key_book = b;
    }
    config
        .validate(&arch)
        .map_err(|e| error(args.span_of(culprit(&e, &config, args)), e))?;
    Ok(Resolved {
        config,
        arch,
        tuned_from,
        tuned_file,
    })
}

fn transform(name: &str) -> Option<KeyTransform> {
    let (smooth, hadamard) = match name {
        "plain" => (false, false),
        "smooth" => (true, false),
        "hadamard" => (false, true),
        "smooth_hadamard" => (true, true),
        _ => return None,
    };
    Some(KeyTransform { smooth, hadamard })
}

fn apply_knobs(args: &Args, c: &mut KernelConfig) -> syn::Result<()> {
    // The default's launch bound fits the default's own registers; another geometry starts
    // unbounded unless it asks for a bound.
    if TUNED_KNOBS.iter().any(|k| args.get(k).is_some()) {
        c.min_blocks_per_sm = 0;
    }
    if let Some(s) = args.parsed("scoring")? {
        // The CUDA-core kernels start from their own defaults (one codebook copy, 128 tiles).
        if s != vecinfer_codegen::KeyScoring::Mma {
            *c = KernelShape::of(c).apply(KernelConfig {
                key_scoring: s,
                ..KernelConfig::cuda_core_for(c.head_dim, c.group, c.key_codec, c.value_codec)
            });
        }
    }
    if let Some(x) = args.int("tile")? {
        c.tile_tokens = x;
    }
    if let Some(x) = args.int("warps")? {
        c.warps = x;
    }
    if let Some(x) = args.int("stages")? {
        c.stages = x;
        // Direct loads only run at one stage; asking for more means the staged pipeline.
        if x > 1 && args.get("direct").is_none() {
            c.direct_codes = false;
        }
    }
    if let Some(x) = args.int("dims_per_lane")? {
        c.dims_per_lane = x;
    }
    if let Some(x) = args.parsed("split")? {
        c.split = x;
    }
    if let Some(x) = args.int("replicas")? {
        c.codebook_replicas = x;
    }
    if let Some(x) = args.flag("direct")? {
        c.direct_codes = x;
    }
    if let Some(x) = args.flag("split_query")? {
        c.split_query = x;
    }
    if let Some(x) = args.flag("key_token_rows")? {
        c.key_token_rows = x;
    }
    if let Some(x) = args.int("min_blocks")? {
        c.min_blocks_per_sm = x;
    }
    Ok(())
}

/// The argument a validation error is about.
fn culprit(e: &ConfigError, c: &KernelConfig, args: &Args) -> &'static str {
    let first_given = |keys: &[&'static str]| {
        keys.iter()
            .copied()
            .find(|k| args.get(k).is_some())
            .unwrap_or(keys[0])
    };
    match e {
        ConfigError::HeadDim(_) => "head_dim",
        ConfigError::Group(_) => "group",
        ConfigError::Warps(_) => "warps",
        ConfigError::Tile { .. } | ConfigError::MmaTile { .. } => first_given(&["tile", "warps"]),
        ConfigError::Stages(_) => "stages",
        ConfigError::DimsPerLane { .. } | ConfigError::MmaDimsPerLane(_) => "dims_per_lane",
        ConfigError::Split(_) => "split",
        ConfigError::Replicas(_) => first_given(&["replicas", "scoring"]),
        ConfigError::ReplicasOfWideBooks { .. } => first_given(&["replicas", "k", "v"]),
        ConfigError::SplitQuery => "split_query",
        ConfigError::KeyTokenRows => "key_token_rows",
        ConfigError::DirectCodes { .. } => first_given(&["direct", "stages", "k", "v"]),
        ConfigError::Codec { codec, .. } => {
            if *codec == c.key_codec {
                "k"
            } else {
                "v"
            }
        }
        ConfigError::SharedMemory { .. } => first_given(&["tile", "stages", "replicas", "k"]),
        ConfigError::PageTokens(_) => "layout",
        ConfigError::DirectPages { .. } => first_given(&["tile", "warps", "layout", "direct"]),
        ConfigError::MinBlocks { .. } => first_given(&["min_blocks", "warps", "replicas"]),
        ConfigError::E4m3KeyBook { .. } => first_given(&["key_book", "scoring", "k", "arch"]),
    }
}

/// The winner of `path` for the declared shape at `batch` × `seq`, or (with
/// `fallback = default`) the default heuristic; and the file's absolute path.
fn tuned(
    args: &Args,
    path: &str,
    shape: KernelShape,
) -> syn::Result<(KernelConfig, Option<String>, Option<String>)> {
    let span = args.span_of("tuned");
    if let Some(k) = TUNED_KNOBS.iter().find(|k| args.get(k).is_some()) {
        return Err(error(
            args.span_of(k),
            format!("`{k}` is chosen by the tuned entry: remove it, or remove `tuned`"),
        ));
    }
    let (batch, seq) = match (args.int("batch")?, args.int("seq")?) {
        (Some(b), Some(s)) => (b, s),
        _ => {
            return Err(error(
                span,
                "`tuned` needs the shape it is for: `batch = 8, seq = 32768`",
            ));
        }
    };
    let fallback = match args.get("fallback").map(|a| &a.value) {
        None => false,
        Some(crate::parse::Value::Word(w)) if w == "default" => true,
        Some(_) => {
            return Err(error(
                args.span_of("fallback"),
                "valid: `fallback = default`",
            ));
        }
    };
    let root = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(PathBuf::new, PathBuf::from);
    let file = root.join(path);
    let store = TunedConfigs::load(&file).map_err(|e| error(span, e))?;
    // Cargo rebuilds what includes a file when it changes: the expansion includes this path.
    let absolute = std::fs::canonicalize(&file).unwrap_or(file);
    let tracked = absolute
        .to_str()
        .map(str::to_string)
        .ok_or_else(|| error(span, format!("{} is not a UTF-8 path", absolute.display())))?;
    if store.device.codegen != codegen_fingerprint() {
        return Err(error(
            span,
            format!(
                "{path} was tuned for another version of the generated kernels (code generator {}, this build {}): tune again",
                store.device.codegen,
                codegen_fingerprint()
            ),
        ));
    }
    let key = TuneKey::for_shape(shape, batch, seq);
    match store.nearest(&key) {
        Some((entry, _)) => match entry.winner {
            Some(winner) => Ok((
                winner.config,
                Some(format!("{} {}", store.device.name, entry.key.id())),
                Some(tracked),
            )),
            None => Err(error(span, "nearest returned an untuned entry")),
        },
        None if fallback => Ok((shape.default_config(), None, Some(tracked))),
        None => {
            let near: Vec<String> = store.nearest_keys(&key, 3).iter().map(|k| k.id()).collect();
            Err(error(
                span,
                format!(
                    "{path} has no tuned entry for {key}; nearest keys: {}; add `fallback = default` to use the default heuristic",
                    if near.is_empty() {
                        "none".to_string()
                    } else {
                        near.join(", ")
                    }
                ),
            ))
        }
    }
}
