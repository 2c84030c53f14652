//! The tuned-configs store: one JSON file per GPU with a versioned schema, the device and
//! toolchain it was measured with, and per key the winner and every compiled candidate's result
//! (the combinations that do not validate are counted, not listed).
//!
//! Writes hold a lock file and go through a temp file and a rename, so readers never see a
//! half-written file and two tuners at once lose nothing. Reads check the schema version,
//! every entry, and (with [`TunedConfigs::check_device`]) the GPU, driver, NVRTC and code
//! generator; a mismatch is an error that says which, never a silent use.

use crate::key::TuneKey;
use crate::space::Resources;
use crate::strategy::{Budget, Strategy};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use thiserror::Error;
use vecinfer_codegen::KernelConfig;
use vecinfer_quant::atomic_file::parent;

/// The schema this crate reads and writes; files of another version are reported.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid tuned-configs file: {detail}")]
    Corrupt { path: String, detail: String },
    #[error(
        "{path} has schema version {found}; this vecinfer reads version {supported}: re-run `vecinfer tune` to write it anew"
    )]
    Version {
        path: String,
        found: u64,
        supported: u32,
    },
    #[error(
        "{path} holds {what}: writing an untuned plan over it would lose them; choose another --out or --file, or pass --force to replace it"
    )]
    WouldReplace { path: String, what: String },
    #[error(
        "{path} was tuned with {field} {in_file:?}, this machine has {current:?}: its timings do not apply here; tune again (`vecinfer tune`) or use the file made for this {field}"
    )]
    Mismatch {
        path: String,
        field: &'static str,
        in_file: String,
        current: String,
    },
}

/// What a tuned result depends on besides the key: the GPU, its driver, the compiler and the
/// code generator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceFingerprint {
    pub name: String,
    /// e.g. "9.0".
    pub compute_capability: String,
    pub sm_count: u32,
    /// The driver's CUDA version, e.g. "13.0".
    pub driver: String,
    /// e.g. "13.0".
    pub nvrtc: String,
    pub crate_version: String,
    /// A hash of the code the generator emits for reference configs, comments and blank
    /// lines left out: see [`crate::fingerprint`].
    pub codegen: String,
}

impl DeviceFingerprint {
    /// The NVRTC arch name, e.g. "sm_90".
    pub fn arch(&self) -> String {
        format!("sm_{}", self.compute_capability.replace('.', ""))
    }

    /// The file name for this GPU in a tuned-configs folder, e.g. `nvidia-h100-80gb-hbm3.json`.
    pub fn file_name(&self) -> String {
        file_name_for(&self.name)
    }
}

/// `NVIDIA H100 80GB HBM3` → `nvidia-h100-80gb-hbm3.json`.
pub fn file_name_for(device_name: &str) -> String {
    let mut slug = String::new();
    for ch in device_name.trim().chars() {
        if ch.is_ascii_alphanumeric() {
            slug.push(ch.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    format!("{}.json", slug.trim_end_matches('-'))
}

pub use crate::fingerprint::codegen_fingerprint;

/// Median, fastest and slowest of a candidate's timed runs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub runs: usize,
}

impl Stats {
    /// `(max − min) / median`.
    pub fn spread(&self) -> f64 {
        (self.max_ms - self.min_ms) / self.median_ms
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CandidateStatus {
    /// Verified, then timed.
    Timed,
    /// Failed validation (shared memory, tile rules) for this shape and arch.
    Invalid {
        reason: String,
    },
    /// Compiled, but registers, spills or occupancy rule it out before timing.
    Pruned {
        reason: String,
    },
    CompileFailed {
        error: String,
    },
    LaunchFailed {
        error: String,
    },
    /// Its output differs from the CPU reference by more than the tolerance: never chosen.
    Wrong {
        relative_error: f64,
        tolerance: f64,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CandidateResult {
    pub config: KernelConfig,
    #[serde(flatten)]
    pub status: CandidateStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<Stats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worst_error: Option<f64>,
    /// The median of the close-call re-measurement, for the candidates within the noise of the
    /// best.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remeasured_ms: Option<f64>,
}

impl CandidateResult {
    /// The time this candidate is ranked by: the re-measurement where there is one.
    pub fn ms(&self) -> Option<f64> {
        match self.status {
            CandidateStatus::Timed => self.remeasured_ms.or(self.stats.map(|s| s.median_ms)),
            _ => None,
        }
    }
}

/// A config and its time.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    pub config: KernelConfig,
    pub median_ms: f64,
}

/// One candidate of a [`StepRanking`]: its kernel-alone time in the entry and its whole
/// decode-step times.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepResult {
    pub config: KernelConfig,
    /// Its time in the entry's kernel-alone ranking ([`CandidateResult::ms`]).
    pub kernel_ms: f64,
    /// One graph step time per round (each the median of that round's steps).
    pub step_ms: Vec<f64>,
}

impl StepResult {
    /// The mean over rounds, what the ranking sorts by.
    pub fn mean_ms(&self) -> f64 {
        self.step_ms.iter().sum::<f64>() / self.step_ms.len().max(1) as f64
    }
}

/// A key re-ranked by whole decode steps (`vecinfer tune-steps`): the kernel-alone ranking's
/// fastest candidates, each the attention of the engine's decode step at the key's batch and
/// context, fastest first. Kernel-alone times separate close candidates badly in a step
/// (a 9% spread of step times among candidates within 5% alone,
/// bench/results/model-s12/README.md), so where this is present its first candidate is the
/// entry's winner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
///
/// The step times hold for the engine's kernels of the run; the code generator's fingerprint
/// covers the attention kernels only, so a change to the forward kernels leaves a ranking in
/// place: run `tune-steps` again after one.
pub struct StepRanking {
    /// What the steps ran: model, cache, batch × context, GPU.
    pub workload: String,
    /// Interleaved rounds over the candidates.
    pub rounds: usize,
    /// How many of the fastest alone were re-ranked ([`TunedEntry::fastest_timed`]): the
    /// candidates and `left_out` together are exactly those.
    pub top: usize,
    /// Fastest step first.
    pub candidates: Vec<StepResult>,
    /// Configs of the top whose step failed (they are not ranked).
    #[serde(default)]
    pub left_out: Vec<KernelConfig>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TunedEntry {
    pub key: TuneKey,
    /// KV heads of the shape timed (batch × KV heads blocks make the grid); the bench grid's
    /// Llama-3.1-8B shape has 8.
    pub kv_heads: usize,
    pub strategy: Strategy,
    pub budget: Budget,
    /// False while a run is under way (a checkpoint a re-run resumes from).
    pub complete: bool,
    /// The fastest verified candidate; `None` until tuned.
    pub winner: Option<Measured>,
    /// The default heuristic's config, measured in the same run.
    pub default: Option<Measured>,
    /// Candidates timed by the search (re-measurements not counted).
    pub evaluations: usize,
    /// Valid candidates in the space (after shared-memory pruning).
    pub space_size: usize,
    /// Combinations of the space that do not validate for this shape and arch. Counted, not
    /// listed: the space and `KernelConfig::validate` give them back with their reasons, and
    /// listed they made most of a file (447 of 756 candidates a key on the H100).
    #[serde(default)]
    pub rejected: usize,
    pub seconds: f64,
    /// What was compiled: timed, pruned by resources, or failed (older files also list the
    /// combinations that did not validate).
    pub candidates: Vec<CandidateResult>,
    /// The re-ranking by whole decode steps, where one ran; its first candidate is then the
    /// winner (the kernel-alone fastest otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<StepRanking>,
}

impl TunedEntry {
    /// An entry with nothing measured: the format and keys of a GPU not yet tuned.
    pub fn untuned(key: TuneKey, kv_heads: usize) -> Self {
        Self {
            key,
            kv_heads,
            strategy: Strategy::Exhaustive,
            budget: Budget::Unlimited,
            complete: false,
            winner: None,
            default: None,
            evaluations: 0,
            space_size: 0,
            rejected: 0,
            seconds: 0.0,
            candidates: Vec::new(),
            steps: None,
        }
    }

    /// The recorded result of `config`, if any.
    pub fn result_of(&self, config: &KernelConfig) -> Option<&CandidateResult> {
        self.candidates.iter().find(|c| &c.config == config)
    }

    /// The `n` fastest timed configs by their kernel-alone time ([`CandidateResult::ms`] of
    /// the result the file's checks read for each config), fastest first: what a step ranking
    /// starts from.
    pub fn fastest_timed(&self, n: usize) -> Vec<(KernelConfig, f64)> {
        let mut out: Vec<(KernelConfig, f64)> = Vec::new();
        for c in &self.candidates {
            if out.iter().any(|(k, _)| *k == c.config) {
                continue;
            }
            if let Some(ms) = self.result_of(&c.config).and_then(CandidateResult::ms) {
                out.push((c.config, ms));
            }
        }
        out.sort_by(|a, b| a.1.total_cmp(&b.1));
        out.truncate(n);
        out
    }

    /// The fastest timed candidate alone (what the winner is without a step ranking).
    pub fn fastest_alone(&self) -> Option<Measured> {
        self.fastest_timed(1)
            .first()
            .map(|&(config, median_ms)| Measured { config, median_ms })
    }

    /// Makes `results` the entry's step ranking of its `top` fastest alone (`left_out`: those
    /// whose step failed): sorted by mean step time, the fastest becomes the winner (at its
    /// kernel-alone time, as winners are listed). The file's checks hold each result to one of
    /// the entry's timed candidates at its recorded time; an empty ranking is refused.
    pub fn rank_by_steps(
        &mut self,
        workload: String,
        top: usize,
        mut results: Vec<StepResult>,
        left_out: Vec<KernelConfig>,
    ) -> Result<(), String> {
        results.sort_by(|a, b| a.mean_ms().total_cmp(&b.mean_ms()));
        let Some(first) = results.first() else {
            return Err(format!("{}: no candidate to rank", self.key.id()));
        };
        self.winner = Some(Measured {
            config: first.config,
            median_ms: first.kernel_ms,
        });
        self.steps = Some(StepRanking {
            workload,
            rounds: first.step_ms.len(),
            top,
            candidates: results,
            left_out,
        });
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TunedConfigs {
    pub schema_version: u32,
    pub device: DeviceFingerprint,
    pub entries: BTreeMap<String, TunedEntry>,
}

impl TunedConfigs {
    pub fn new(device: DeviceFingerprint) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            device,
            entries: BTreeMap::new(),
        }
    }

    /// Reads and checks a file: JSON, schema version, and every entry's consistency. The
    /// device is not checked here; see [`TunedConfigs::check_device`].
    pub fn load(path: &Path) -> Result<Self, StoreError> {
        let text = std::fs::read_to_string(path).map_err(|source| StoreError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// As [`TunedConfigs::load`], from text (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self, StoreError> {
        let corrupt = |detail: String| StoreError::Corrupt {
            path: path.display().to_string(),
            detail,
        };
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| corrupt(format!("not JSON ({e})")))?;
        let found = match value.get("schema_version") {
            None if !value.is_object() => {
                return Err(corrupt(format!(
                    "the top level is {}, expected an object with schema_version, device and entries",
                    json_type(&value)
                )));
            }
            None => {
                return Err(corrupt(format!(
                    "no schema_version (expected \"schema_version\": {SCHEMA_VERSION})"
                )));
            }
            Some(v) => v.as_u64().ok_or_else(|| {
                corrupt(format!(
                    "schema_version is {v}, {}: expected the number {SCHEMA_VERSION}",
                    json_type(v)
                ))
            })?,
        };
        if found != SCHEMA_VERSION as u64 {
            return Err(StoreError::Version {
                path: path.display().to_string(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        let store: Self = serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))?;
        let arch = store.device.arch();
        for (id, e) in &store.entries {
            crate::entry_check::check_entry(id, e, &arch).map_err(corrupt)?;
        }
        Ok(store)
    }

    /// Entries with anything measured (a winner, an evaluation or a candidate's result).
    pub fn measured_entries(&self) -> usize {
        self.entries
            .values()
            .filter(|e| e.winner.is_some() || e.evaluations > 0 || !e.candidates.is_empty())
            .count()
    }

    /// Whether this file was made on `current`'s GPU, driver, NVRTC and code generator.
    pub fn check_device(&self, current: &DeviceFingerprint, path: &Path) -> Result<(), StoreError> {
        let (f, c) = (&self.device, current);
        let fields: [(&'static str, &String, &String); 5] = [
            ("GPU", &f.name, &c.name),
            (
                "compute capability",
                &f.compute_capability,
                &c.compute_capability,
            ),
            ("driver", &f.driver, &c.driver),
            ("NVRTC", &f.nvrtc, &c.nvrtc),
            ("code generator", &f.codegen, &c.codegen),
        ];
        for (field, in_file, now) in fields {
            if in_file != now {
                return Err(StoreError::Mismatch {
                    path: path.display().to_string(),
                    field,
                    in_file: in_file.clone(),
                    current: now.clone(),
                });
            }
        }
        Ok(())
    }

    /// The tuned entry for `key`'s kernel shape with the nearest buckets (ties: the larger
    /// sequence, then batch), and how many powers of two away it is.
    pub fn nearest(&self, key: &TuneKey) -> Option<(&TunedEntry, u32)> {
        self.entries
            .values()
            .filter(|e| e.winner.is_some())
            .filter_map(|e| key.bucket_distance(&e.key).map(|d| (e, d)))
            .min_by_key(|(e, d)| (*d, std::cmp::Reverse((e.key.seq, e.key.batch))))
    }

    /// Up to `n` keys of the file nearest to `key` (any kernel shape), for error messages.
    pub fn nearest_keys(&self, key: &TuneKey, n: usize) -> Vec<TuneKey> {
        let mut keys: Vec<TuneKey> = self.entries.values().map(|e| e.key).collect();
        keys.sort_by_key(|k| (key.loose_distance(k), k.id()));
        keys.truncate(n);
        keys
    }

    /// Puts `entry` in, unless it is an unfinished checkpoint and a complete result is there.
    pub fn merge(&mut self, entry: TunedEntry) {
        let id = entry.key.id();
        let keep_existing = !entry.complete && self.entries.get(&id).is_some_and(|e| e.complete);
        if !keep_existing {
            self.entries.insert(id, entry);
        }
    }

    /// Writes atomically: a unique temp file beside `path`, flushed, then renamed over it
    /// (removed on error).
    pub fn save(&self, path: &Path) -> Result<(), StoreError> {
        let text = serde_json::to_string_pretty(self).map_err(|e| StoreError::Corrupt {
            path: path.display().to_string(),
            detail: format!("cannot serialise: {e}"),
        })? + "\n";
        vecinfer_quant::atomic_file::write(path, text.as_bytes()).map_err(|source| StoreError::Io {
            path: path.display().to_string(),
            source,
        })
    }
}

/// Holds the store's lock file (`<file>.lock`, an exclusive OS file lock) while alive.
pub struct StoreLock {
    _file: File,
}

impl StoreLock {
    pub fn acquire(path: &Path) -> Result<Self, StoreError> {
        let mut lock_path = path.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock_path = PathBuf::from(lock_path);
        let io = |source| StoreError::Io {
            path: lock_path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(parent(path)).map_err(io)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io)?;
        file.lock().map_err(io)?;
        Ok(Self { _file: file })
    }
}

/// Under the lock: the file at `path` if there is one, checked to be this device's.
pub fn read(path: &Path, device: &DeviceFingerprint) -> Result<Option<TunedConfigs>, StoreError> {
    let _lock = StoreLock::acquire(path)?;
    read_unlocked(path, device)
}

fn read_unlocked(
    path: &Path,
    device: &DeviceFingerprint,
) -> Result<Option<TunedConfigs>, StoreError> {
    if !path.exists() {
        return Ok(None);
    }
    let store = TunedConfigs::load(path)?;
    store.check_device(device, path)?;
    Ok(Some(store))
}

/// Under the lock: reads the file at `path` (or starts one for `device`), checks it is this
/// device's, lets `change` edit it, and writes it back atomically.
pub fn update<T>(
    path: &Path,
    device: &DeviceFingerprint,
    change: impl FnOnce(&mut TunedConfigs) -> T,
) -> Result<T, StoreError> {
    let _lock = StoreLock::acquire(path)?;
    let mut store = match read_unlocked(path, device)? {
        Some(store) => store,
        None => TunedConfigs::new(device.clone()),
    };
    let out = change(&mut store);
    store.save(path)?;
    Ok(out)
}

/// Under the lock: writes `plan` (untuned keys, e.g. `vecinfer tune --plan-only`) to `path`.
/// A file there with measured entries is never replaced unless `force`; an untuned one gets
/// the plan's keys added (the plan's device replaces its device).
pub fn write_plan(path: &Path, plan: TunedConfigs, force: bool) -> Result<(), StoreError> {
    let _lock = StoreLock::acquire(path)?;
    let mut store = plan;
    if path.exists() && !force {
        let existing = TunedConfigs::load(path).map_err(|e| StoreError::WouldReplace {
            path: path.display().to_string(),
            what: format!("a file that does not load ({e})"),
        })?;
        let measured = existing.measured_entries();
        if measured > 0 {
            return Err(StoreError::WouldReplace {
                path: path.display().to_string(),
                what: format!(
                    "{measured} measured entries (tuned on {} with driver {})",
                    existing.device.name, existing.device.driver
                ),
            });
        }
        for (id, e) in existing.entries {
            store.entries.entry(id).or_insert(e);
        }
    }
    store.save(path)
}

/// "a string", "an array", ...: a JSON value's type, for messages.
fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number that is not a non-negative integer",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
