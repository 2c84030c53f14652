//! Per-GPU autotuning of the fused VQ decode attention.
//!
//! - [`space`]: the candidates for a kernel shape, pruned by validation and by the compiled
//!   module's registers, spills and occupancy;
//! - [`strategy`]: exhaustive, random and guided (best-first local search) search under a budget;
//! - [`store`]: the versioned tuned-configs file (atomic writes, a lock, checks on read);
//! - [`lookup`]: the nearest tuned bucket for a shape, else the default heuristic;
//! - `measure` (feature `gpu`): compile in parallel, verify against the CPU reference, time
//!   with CUDA events, re-measure close calls.

mod entry_check;
pub mod fingerprint;
pub mod key;
pub mod lookup;
#[cfg(feature = "gpu")]
pub mod measure;
pub mod space;
pub mod store;
pub mod strategy;

pub use key::{DEFAULT_PAGE_TOKENS, KernelShape, LayoutKey, TuneKey, bucket};
pub use lookup::{Choice, Source, choose};
pub use space::{PruneRules, Resources, SearchSpace};
pub use store::{
    CandidateResult, CandidateStatus, DeviceFingerprint, Measured, Stats, StepRanking, StepResult,
    StoreError, TunedConfigs, TunedEntry, codegen_fingerprint, file_name_for, update, write_plan,
};
pub use strategy::{Budget, SearchLog, Strategy, search, warm_starts};
