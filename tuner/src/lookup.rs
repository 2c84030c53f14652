//! Picking the config for a shape at run time: the nearest tuned bucket, else the documented
//! default heuristic ([`KernelConfig::default_for`]), with a notice printed once per kernel
//! shape.

use crate::key::{KernelShape, TuneKey};
use crate::store::TunedConfigs;
use std::collections::HashSet;
use std::fmt;
use std::sync::{Mutex, OnceLock};
use vecinfer_codegen::KernelConfig;

/// Where a chosen config came from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// A tuned entry, `distance` powers of two (batch plus sequence) from the asked shape.
    Tuned { key: TuneKey, distance: u32 },
    /// The default heuristic, and why.
    Default { why: String },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    pub config: KernelConfig,
    pub source: Source,
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Source::Tuned { key, distance: 0 } => write!(f, "{} (tuned for {key})", self.config),
            Source::Tuned { key, distance } => write!(
                f,
                "{} (tuned for {key}, the nearest bucket, {distance} powers of two away)",
                self.config
            ),
            Source::Default { why } => write!(f, "{} (default heuristic: {why})", self.config),
        }
    }
}

/// The config for `shape` at `batch` × `seq`: the nearest tuned bucket of `store`, else the
/// default heuristic. Pass `None` when no file is loaded (or it failed its checks).
pub fn choose(
    store: Option<&TunedConfigs>,
    shape: &KernelShape,
    batch: usize,
    seq: usize,
) -> Choice {
    let key = TuneKey::for_shape(*shape, batch, seq);
    let found = store.and_then(|s| s.nearest(&key));
    match found {
        Some((entry, distance)) => Choice {
            config: entry
                .winner
                .expect("nearest only returns tuned entries")
                .config,
            source: Source::Tuned {
                key: entry.key,
                distance,
            },
        },
        None => {
            let why = match store {
                None => "no tuned-configs file for this GPU".to_string(),
                Some(s) => format!(
                    "nothing tuned for {shape} on {} (run `vecinfer tune`)",
                    s.device.name
                ),
            };
            notice_once(shape, &why);
            Choice {
                config: shape.default_config(),
                source: Source::Default { why },
            }
        }
    }
}

/// Prints the fallback notice the first time a kernel shape falls back in this process.
fn notice_once(shape: &KernelShape, why: &str) {
    static SEEN: OnceLock<Mutex<HashSet<KernelShape>>> = OnceLock::new();
    let first = SEEN
        .get_or_init(Default::default)
        .lock()
        .map(|mut seen| seen.insert(*shape))
        .unwrap_or(false);
    if first {
        eprintln!("vecinfer: using the default kernel config for {shape}: {why}");
    }
}
