//! The search space: every combination of the searched `KernelConfig` axes for one kernel
//! shape, pruned before timing by validation (shared memory included) and, once compiled, by
//! the registers, spills and occupancy the module reports.

use crate::key::{KernelShape, LayoutKey};
use serde::{Deserialize, Serialize};
use vecinfer_codegen::{CodeLayout, KernelConfig, KeyScoring, SplitPolicy};

/// The values each searched axis takes. The method fields (codecs, granularity, transform,
/// output) come from the key and are never searched.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchSpace {
    pub scoring: Vec<KeyScoring>,
    pub tile_tokens: Vec<usize>,
    pub warps: Vec<usize>,
    pub stages: Vec<usize>,
    pub codebook_replicas: Vec<usize>,
    pub direct_codes: Vec<bool>,
    pub dims_per_lane: Vec<usize>,
    pub split: Vec<SplitPolicy>,
    /// Tokens per page, searched only for keys whose page size the tuner chooses
    /// ([`LayoutKey::PagedAny`]); other keys take their own layout.
    #[serde(default = "all_page_sizes")]
    pub page_tokens: Vec<usize>,
    /// Launch-bound blocks per SM (tensor-core kernel; 0 = no bound). A bound that does not
    /// change the compiled kernel is pruned after compiling, before timing.
    #[serde(default = "default_bounds")]
    pub min_blocks_per_sm: Vec<usize>,
    /// The tensor-core kernel's key mma: the query heads (false) or a slab's tokens (true) as
    /// its rows.
    #[serde(default = "both")]
    pub key_token_rows: Vec<bool>,
}

fn all_page_sizes() -> Vec<usize> {
    vecinfer_codegen::PAGE_TOKENS.to_vec()
}

fn default_bounds() -> Vec<usize> {
    DEFAULT_MIN_BLOCKS.to_vec()
}

fn both() -> Vec<bool> {
    vec![false, true]
}

impl Default for SearchSpace {
    /// Around what the H100 sweeps found to matter (bench/results/h100): the tensor-core
    /// kernel's tile, warps, pipeline depth, codebook copies and direct code loads, plus the
    /// CUDA-core kernels' few settings that were ever competitive.
    fn default() -> Self {
        Self {
            scoring: vec![KeyScoring::Mma, KeyScoring::Dequantize, KeyScoring::Lut],
            tile_tokens: vec![128, 256, 512],
            warps: vec![2, 4, 8],
            stages: vec![1, 2, 3],
            codebook_replicas: vec![1, 4, 8, 16],
            direct_codes: vec![false, true],
            dims_per_lane: vec![8, 16],
            split: vec![SplitPolicy::Auto],
            page_tokens: all_page_sizes(),
            min_blocks_per_sm: DEFAULT_MIN_BLOCKS.to_vec(),
            key_token_rows: both(),
        }
    }
}

/// A candidate that failed validation for this shape and arch, with why.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejected {
    pub config: KernelConfig,
    pub reason: String,
}

/// Launch bounds searched by default: none, and 2 or 3 resident blocks (what the tensor-core
/// kernels' 1-3 blocks per SM can gain one of).
pub const DEFAULT_MIN_BLOCKS: [usize; 3] = [0, 2, 3];

/// The axes a candidate is a point on (for local search): one number per axis.
pub const AXES: usize = 11;
/// Where tokens per warp and the pipeline stages sit in [`coordinates`].
pub const TOKENS_PER_WARP: usize = 1;
pub const STAGES: usize = 3;
/// Where the launch bound sits in [`coordinates`].
pub const MIN_BLOCKS: usize = 9;

/// Tokens per warp stands in for the tile: a warp's work is what the tile and warp count
/// trade together (on the H100, 512 tokens over 8 warps ran like 256 over 4, not like 512
/// over 4), so moving the warp count at a fixed share of the tile is one step.
pub fn coordinates(c: &KernelConfig) -> [i64; AXES] {
    [
        c.key_scoring as i64,
        (c.tile_tokens / c.warps) as i64,
        c.warps as i64,
        c.stages as i64,
        c.codebook_replicas as i64,
        c.direct_codes as i64,
        c.dims_per_lane as i64,
        match c.split {
            SplitPolicy::Auto => -1,
            SplitPolicy::Fixed(n) => n as i64,
        },
        c.layout.page_tokens().unwrap_or(0) as i64,
        c.min_blocks_per_sm as i64,
        c.key_token_rows as i64,
    ]
}

impl SearchSpace {
    /// Every valid config of this space for `shape` on `arch`, in a fixed order (the default
    /// heuristic's config first, added if the space lacks it, when it is valid), and the combinations that do
    /// not validate with their reasons. Axes that do not apply to a kernel family (codebook
    /// copies and direct loads for the CUDA-core kernels, dims per lane for the tensor-core
    /// one) take only their neutral value there, so no config appears twice.
    pub fn candidates(
        &self,
        shape: &KernelShape,
        arch: &str,
    ) -> (Vec<KernelConfig>, Vec<Rejected>) {
        let default = shape.default_config();
        let layouts: Vec<CodeLayout> = match shape.layout {
            LayoutKey::PagedAny => self
                .page_tokens
                .iter()
                .map(|&page_tokens| CodeLayout::Paged { page_tokens })
                .collect(),
            _ => vec![default.layout],
        };
        let (mut valid, mut rejected) = (Vec::new(), Vec::new());
        match default.validate(arch) {
            Ok(()) => valid.push(default),
            Err(e) => rejected.push(Rejected {
                config: default,
                reason: e.to_string(),
            }),
        }
        for &scoring in &self.scoring {
            let mma = scoring == KeyScoring::Mma;
            let replicas: &[usize] = if mma { &self.codebook_replicas } else { &[1] };
            let direct: &[bool] = if mma { &self.direct_codes } else { &[false] };
            let dims: &[usize] = if mma { &[8] } else { &self.dims_per_lane };
            let bounds: &[usize] = if mma { &self.min_blocks_per_sm } else { &[0] };
            let rows: &[bool] = if mma { &self.key_token_rows } else { &[false] };
            for &tile_tokens in &self.tile_tokens {
                for &warps in &self.warps {
                    for &stages in &self.stages {
                        for &codebook_replicas in replicas {
                            for &direct_codes in direct {
                                for &dims_per_lane in dims {
                                    for (&split, &layout, &min_blocks_per_sm, &key_token_rows) in
                                        self.split.iter().flat_map(|s| {
                                            layouts.iter().flat_map(move |l| {
                                                bounds.iter().flat_map(move |b| {
                                                    rows.iter().map(move |r| (s, l, b, r))
                                                })
                                            })
                                        })
                                    {
                                        let c = KernelConfig {
                                            key_scoring: scoring,
                                            tile_tokens,
                                            warps,
                                            stages,
                                            codebook_replicas,
                                            direct_codes,
                                            dims_per_lane,
                                            split,
                                            layout,
                                            min_blocks_per_sm,
                                            key_token_rows,
                                            ..default
                                        };
                                        if c == default {
                                            continue;
                                        }
                                        match c.validate(arch) {
                                            Ok(()) => valid.push(c),
                                            Err(e) => rejected.push(Rejected {
                                                config: c,
                                                reason: e.to_string(),
                                            }),
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        (valid, rejected)
    }
}

/// What the compiled module says about a candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    pub registers: i32,
    /// Local memory per thread (register spills and local arrays).
    pub spilled_bytes: i32,
    /// From the occupancy API; 0 when a block does not fit on an SM.
    pub blocks_per_sm: u32,
    pub warps_per_block: u32,
}

/// Limits a compiled candidate must meet to be timed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PruneRules {
    /// Local memory per thread above this is a spill that costs more than it saves.
    pub max_spilled_bytes: i32,
    /// Fewer resident warps per SM than this cannot hide memory latency in a kernel that
    /// streams the whole cache.
    pub min_resident_warps: u32,
}

impl Default for PruneRules {
    fn default() -> Self {
        // A few words of spill (what a launch bound costs the 8-warp kernels, 4-28 bytes) may
        // cost less than the resident block it wins; the timing decides. Hundreds of bytes
        // are spills in the main loop.
        Self {
            max_spilled_bytes: 32,
            min_resident_warps: 4,
        }
    }
}

impl PruneRules {
    /// Why a compiled candidate is not worth timing, or `None` if it is.
    pub fn prune(&self, r: &Resources) -> Option<String> {
        if r.blocks_per_sm == 0 {
            return Some(format!(
                "a block ({} registers × {} threads plus its shared memory) does not fit on an SM",
                r.registers,
                32 * r.warps_per_block
            ));
        }
        if r.spilled_bytes > self.max_spilled_bytes {
            return Some(format!(
                "{} bytes of local memory per thread ({} registers): spills beyond the limit of {}",
                r.spilled_bytes, r.registers, self.max_spilled_bytes
            ));
        }
        let resident = r.blocks_per_sm * r.warps_per_block;
        if resident < self.min_resident_warps {
            return Some(format!(
                "{resident} resident warps per SM ({} blocks of {} warps, {} registers per thread): below the minimum of {}",
                r.blocks_per_sm, r.warps_per_block, r.registers, self.min_resident_warps
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(k: &str, v: &str) -> KernelShape {
        KernelShape::new(128, 4, k.parse().unwrap(), v.parse().unwrap())
    }

    #[test]
    fn the_space_holds_only_valid_distinct_configs_with_the_default_first() {
        let s = shape("d4b8", "d4b8");
        let (valid, rejected) = SearchSpace::default().candidates(&s, "sm_90");
        assert_eq!(valid[0], s.default_config());
        for (i, c) in valid.iter().enumerate() {
            c.validate("sm_90").unwrap();
            assert!(!valid[..i].contains(c), "{c} twice");
        }
        // The tensor-core kernel needs 16..=128 tokens per warp: 512 over 2 warps is out.
        assert!(
            rejected
                .iter()
                .any(|r| r.config.key_scoring == KeyScoring::Mma
                    && r.config.tile_tokens == 512
                    && r.config.warps == 2)
        );
        // Direct code loads only at stages 1.
        assert!(
            valid
                .iter()
                .filter(|c| c.direct_codes)
                .all(|c| c.stages == 1)
        );
        assert!(valid.iter().any(|c| c.key_scoring == KeyScoring::Lut));
        // A tile holds at least one token per thread, mma warps 16..=128 tokens: 7 tile ×
        // warps pairs for mma × (3 staged + 1 direct) × 4 copies; CUDA-core 8 pairs × 2
        // scorings × 3 stages × 2 dims per lane, less the 6 LUT kernels with 512-token tiles
        // and 3 stages, whose table and tiles overflow 227 KB.
        // Each mma config also with launch bounds of 2 and 3 blocks (the tuner skips, after
        // compiling, those its shared memory keeps out of reach or that change nothing), and
        // with either form of the key mma (key_token_rows).
        assert!(!rejected.iter().any(|r| r.reason.contains("blocks per SM")));
        assert_eq!(
            valid.len(),
            7 * 4 * 4 * 3 * 2 + (8 * 2 * 3 * 2 - 6),
            "{}",
            valid.len()
        );
        assert_eq!(
            rejected
                .iter()
                .filter(|r| r.reason.starts_with("shared memory"))
                .count(),
            6
        );
    }

    #[test]
    fn copies_of_big_codebooks_are_pruned_before_anything_compiles() {
        let s = shape("d8b12", "d8b12");
        let (valid, rejected) = SearchSpace::default().candidates(&s, "sm_90");
        // Books over 16 KB keep one copy (KernelConfig::book_copies), so a count over 1 would
        // name the same kernel again: rejected, with the reason.
        assert!(valid.iter().all(|c| c.codebook_replicas == 1));
        assert!(rejected.iter().any(|r| r.config.codebook_replicas == 4
            && r.reason.contains("codebooks of up to 16 KB")
            && r.reason.contains("neither d8b12 (keys) nor d8b12 (values)")));
        // Beside a wide key book the value book takes the copies.
        let (valid, _) = SearchSpace::default().candidates(&shape("d8b12", "d8b8"), "sm_90");
        assert!(valid.iter().any(|c| c.codebook_replicas == 8));
        // On sm_86 (99 KB) one copy of both books is too much: nothing is left, the default
        // included, and each rejection says why.
        let (valid, rejected) = SearchSpace::default().candidates(&s, "sm_86");
        assert!(valid.is_empty(), "{valid:?}");
        assert_eq!(rejected[0].config, s.default_config());
    }

    #[test]
    fn prune_rules_reject_unfit_spilling_and_starved_candidates() {
        let rules = PruneRules::default();
        let ok = Resources {
            registers: 150,
            spilled_bytes: 0,
            blocks_per_sm: 2,
            warps_per_block: 4,
        };
        assert_eq!(rules.prune(&ok), None);
        let none_fit = Resources {
            blocks_per_sm: 0,
            ..ok
        };
        assert!(rules.prune(&none_fit).unwrap().contains("does not fit"));
        let spills = Resources {
            spilled_bytes: 64,
            ..ok
        };
        assert!(
            rules
                .prune(&spills)
                .unwrap()
                .contains("64 bytes of local memory")
        );
        let starved = Resources {
            blocks_per_sm: 1,
            warps_per_block: 2,
            ..ok
        };
        assert!(rules.prune(&starved).unwrap().contains("2 resident warps"));
        let lenient = PruneRules {
            max_spilled_bytes: 128,
            min_resident_warps: 1,
        };
        assert_eq!(lenient.prune(&spills), None);
        assert_eq!(lenient.prune(&starved), None);
    }
}
