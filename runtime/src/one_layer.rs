//! One layer's cache in either layout: random contents for timing a kernel (the bench and the
//! tuner: speed depends on the layout and the lengths, not the values), or a CPU reference's
//! contents for checking one.

use crate::error::Result;
use crate::gpu::Gpu;
use crate::kv_cache::GpuKvCache;
use crate::paged::PagedKvCache;
use crate::view::CacheView;
use vecinfer_codegen::{CodeLayout, KernelConfig};
use vecinfer_quant::{DecodeShape, ReferenceKvCache};

/// `batch` lengths spread evenly around `seq`, in a fixed shuffled order: the `i`-th shortest is
/// `seq · (2i + 1) / batch` (rounded), so they run from `seq / batch` to about `2 · seq` and add
/// up to `batch · seq` as equal lengths would, give or take the rounding (at most `batch / 2`).
/// A `seq` below `batch` gives empty sequences. `vecinfer bench --ragged`,
/// `vecinfer decode-bench --ragged` and `bench/ragged_baseline.py` spread them alike.
pub fn spread_lengths(batch: usize, seq: usize) -> Vec<usize> {
    // In u128: no overflow for any `seq` (the result is below 2 · seq).
    let spread = |i: usize| ((2 * i as u128 + 1) * seq as u128 + batch as u128 / 2) / batch as u128;
    let mut lengths: Vec<usize> = (0..batch).map(|i| spread(i) as usize).collect();
    // Fisher-Yates with a fixed linear congruential generator: no length order for the grid
    // to exploit, and the same order in every run.
    let mut state: u64 = 0x2545f4914f6cdd1d;
    for i in (1..batch).rev() {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = ((state >> 33) % (i as u64 + 1)) as usize;
        lengths.swap(i, j);
    }
    lengths
}

// Boxing the contiguous variant would only move a few hundred bytes of handles off the stack.
#[allow(clippy::large_enum_variant)]
pub enum OneLayerCache {
    Contiguous(GpuKvCache),
    Paged(PagedKvCache),
}

impl OneLayerCache {
    /// A cache in `config`'s layout: `shape.batch` sequences of `lengths[b]` tokens, the
    /// newest `residual` in fp16 (paged: pages in a random order).
    pub fn random(
        gpu: &Gpu,
        shape: DecodeShape,
        config: &KernelConfig,
        lengths: &[usize],
        residual: usize,
        seed: u64,
    ) -> Result<Self> {
        Self::random_with_room(gpu, shape, config, (lengths, residual, 0), seed)
    }

    /// [`Self::random`] with room for `room` more tokens in each sequence (for appends).
    pub fn random_with_room(
        gpu: &Gpu,
        shape: DecodeShape,
        config: &KernelConfig,
        (lengths, residual, room): (&[usize], usize, usize),
        seed: u64,
    ) -> Result<Self> {
        Ok(match config.layout {
            CodeLayout::Contiguous => {
                // The window holds the newest `residual` tokens: no more than the longest has.
                let window = residual.min(lengths.iter().copied().max().unwrap_or(0));
                Self::Contiguous(GpuKvCache::random_with_lengths(
                    gpu,
                    shape,
                    config,
                    (lengths, window, room),
                    seed,
                )?)
            }
            CodeLayout::Paged { .. } => Self::Paged(PagedKvCache::random_with_lengths(
                gpu,
                shape,
                config,
                (lengths, residual, room),
                seed,
            )?),
        })
    }

    /// Enough caches (at least 256 MB, at most 16) that a benchmark rotating through them never
    /// finds the previous step's bytes in L2.
    pub fn rotating(
        gpu: &Gpu,
        shape: DecodeShape,
        config: &KernelConfig,
        lengths: &[usize],
        residual: usize,
    ) -> Result<Vec<Self>> {
        let first = Self::random(gpu, shape, config, lengths, residual, 1)?;
        let copies = (256usize << 20)
            .div_ceil(first.bytes_per_step(config).max(1))
            .clamp(1, 16);
        let mut caches = vec![first];
        for i in 1..copies {
            caches.push(Self::random(
                gpu,
                shape,
                config,
                lengths,
                residual,
                1 + i as u64,
            )?);
        }
        Ok(caches)
    }

    /// The state of a CPU reference cache in `layout` (paged: pages in a random order from
    /// `seed`, with `spare_pages` free pages left for appends).
    pub fn from_reference(
        gpu: &Gpu,
        cpu: &ReferenceKvCache<'_>,
        layout: CodeLayout,
        seed: u64,
        spare_pages: usize,
    ) -> Result<Self> {
        Ok(match layout {
            CodeLayout::Contiguous => Self::Contiguous(GpuKvCache::from_reference(gpu, cpu)?),
            CodeLayout::Paged { page_tokens } => Self::Paged(PagedKvCache::from_reference(
                gpu,
                cpu,
                page_tokens,
                seed,
                spare_pages,
            )?),
        })
    }

    pub fn view(&self) -> Result<CacheView<'_>> {
        match self {
            Self::Contiguous(c) => Ok(c.view()),
            Self::Paged(p) => p.timing_view(),
        }
    }

    /// Bytes one decode step reads: codes and fp16 tokens of every sequence.
    pub fn bytes_per_step(&self, config: &KernelConfig) -> usize {
        match self {
            Self::Contiguous(c) => c.bytes_per_step(config),
            Self::Paged(p) => p.bytes_per_step(config),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_lengths_keep_the_total_and_spread_from_short_to_twice_the_mean() {
        assert_eq!(spread_lengths(1, 4096), [4096]);
        for (batch, seq) in [(8, 32768), (64, 8192), (3, 100), (128, 4096)] {
            let lengths = spread_lengths(batch, seq);
            let mut sorted = lengths.clone();
            sorted.sort_unstable();
            let expected: Vec<usize> = (0..batch)
                .map(|i| ((2 * i + 1) * seq + batch / 2) / batch)
                .collect();
            assert_eq!(sorted, expected, "{batch}x{seq}: every spread length once");
            let total: usize = lengths.iter().sum();
            assert!(
                total.abs_diff(batch * seq) <= batch,
                "{batch}x{seq}: {total}"
            );
            assert!(sorted[batch - 1] < 2 * seq, "{batch}x{seq}: {sorted:?}");
            if batch > 2 {
                assert_ne!(lengths, sorted, "{batch}x{seq}: shuffled, not ascending");
            }
        }
        // What `bench/ragged_baseline.py --print-lengths --shapes 8x32768,3x100` prints: the
        // baseline times the same batch.
        assert_eq!(
            spread_lengths(8, 32768),
            [28672, 36864, 53248, 4096, 12288, 61440, 20480, 45056]
        );
        assert_eq!(spread_lengths(3, 100), [33, 167, 100]);
    }
}
