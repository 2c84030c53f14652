//! [`LayerStorage`]: one layer's cache buffers on the GPU, with the parameters they were
//! coded with. It records what it holds ([`CacheSpec`]); its buffers are private, so the only
//! way to launch a kernel on them is through a checked launch.
//!
//! - code rows, keys and values, `[slots, kv_heads, code_capacity, row]` (contiguous) or
//!   `[pages, kv_heads, page_tokens, row]` (paged), rows in the layout of `vecinfer_quant::pack`;
//! - slots, `[slots, kv_heads, sinks + residual]` rows: slots `[0, sinks)` hold the sinks, then
//!   a ring of `residual` slots the window (token `i` in slot `sinks + (i - sinks) % residual`;
//!   attention does not depend on the order); a row is `head_dim` fp16 values, or with an int8
//!   window `head_dim` int8 codes with the rows' fp16 scales after the last row
//!   (`crate::slot_rows`, `cache_view.cuh`);
//! - codebooks (f16 for attention, f32 with their squared norms for the encoder) and smooth
//!   scales (f32).

use crate::error::{Result, RuntimeError};
use crate::gpu::Gpu;
use crate::spec::CacheSpec;
use cudarc::driver::{CudaSlice, CudaViewMut, DeviceRepr};
use half::f16;
use vecinfer_codegen::CodeLayout;
use vecinfer_quant::{CacheLayout, Codebook, LayerParams};

/// The cache's buffer sizes as the kernels see them (`CacheGeometry` in
/// `codegen/src/cuda/cache_view.cuh`), passed by value to every launch.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheGeometry {
    pub slots: i32,
    /// Contiguous: code rows per (slot, KV head); paged: pages in the pool.
    pub code_extent: i32,
    /// Paged: entries of `page_indices`.
    pub index_count: i32,
    pub fp16_capacity: i32,
    pub sinks: i32,
    pub residual: i32,
}

// SAFETY: `CacheGeometry` is `#[repr(C)]`, six `i32` fields with no padding, laid out exactly
// as the CUDA struct of the same name that the kernels take by value.
unsafe impl DeviceRepr for CacheGeometry {}

/// The codebooks as the encoder reads them: f32 centroids and their squared norms, summed in
/// the CPU search's order.
pub(crate) struct EncoderBooks {
    pub(crate) key_centroids: CudaSlice<f32>,
    pub(crate) key_norms: CudaSlice<f32>,
    pub(crate) value_centroids: CudaSlice<f32>,
    pub(crate) value_norms: CudaSlice<f32>,
}

pub struct LayerStorage {
    spec: CacheSpec,
    pub(crate) key_codebooks: CudaSlice<u16>,
    pub(crate) value_codebooks: CudaSlice<u16>,
    pub(crate) encoder: EncoderBooks,
    pub(crate) smooth: CudaSlice<f32>,
    pub(crate) key_codes: CudaSlice<u8>,
    pub(crate) value_codes: CudaSlice<u8>,
    pub(crate) slot_keys: CudaSlice<u16>,
    pub(crate) slot_values: CudaSlice<u16>,
    slots: usize,
    /// Contiguous: code rows per (slot, KV head), a multiple of 16; paged: pages.
    code_extent: usize,
}

/// A layer's code and fp16 buffers, writable (see [`LayerStorage::contents_mut`]).
/// Views, not the buffers themselves: a caller can write any bytes but cannot put a buffer of
/// another size (or address) in the storage's place, which the kernels' bounds (and the window
/// flush's table of addresses) rely on.
pub struct Contents<'a> {
    pub key_codes: CudaViewMut<'a, u8>,
    pub value_codes: CudaViewMut<'a, u8>,
    pub slot_keys: CudaViewMut<'a, u16>,
    pub slot_values: CudaViewMut<'a, u16>,
}

/// Bytes a cache holds on the GPU, by what they are for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheBytes {
    /// Code rows (pages or contiguous regions), keys and values.
    pub codes: usize,
    /// Slots (fp16 or int8 rows): sinks and windows.
    pub fp16: usize,
    /// Codebooks (f16 for attention, f32 centroids and norms for the encoder) and smooth scales.
    pub parameters: usize,
    /// Batch tables (lengths, slots, block tables).
    pub tables: usize,
}

impl CacheBytes {
    pub fn total(&self) -> usize {
        self.codes + self.fp16 + self.parameters + self.tables
    }
}

impl std::ops::Add for CacheBytes {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self {
            codes: self.codes + o.codes,
            fp16: self.fp16 + o.fp16,
            parameters: self.parameters + o.parameters,
            tables: self.tables + o.tables,
        }
    }
}

/// What one cached token costs in one layer (all KV heads, keys and values), at a context
/// length and batch: its code rows (page rounding included), its share of the fp16 slots
/// (sinks and window, allocated in full), and its share of the codebooks and smooth scales.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TokenBytes {
    pub codes: f64,
    pub fp16: f64,
    pub parameters: f64,
    /// The same token in an fp16 KV cache: `kv_heads × head_dim × 2 (K, V) × 2 bytes`.
    pub fp16_cache: f64,
}

impl TokenBytes {
    pub fn total(&self) -> f64 {
        self.codes + self.fp16 + self.parameters
    }

    /// Bits per cached element, everything counted.
    pub fn bits_per_element(&self, spec: &CacheSpec) -> f64 {
        8.0 * self.total() / (spec.kv_heads * spec.head_dim * 2) as f64
    }

    /// Per token of `batch` sequences of `context` tokens.
    pub fn of(spec: &CacheSpec, context: usize, batch: usize) -> Self {
        let (hk, d) = (spec.kv_heads, spec.head_dim);
        let coded = spec.coded_tokens(context);
        let rows = match spec.layout.page_tokens() {
            Some(p) => coded.div_ceil(p) * p,
            None => coded,
        };
        let books = match spec.granularity {
            vecinfer_quant::Granularity::Layer => 1,
            vecinfer_quant::Granularity::Head => hk,
        };
        let book_bytes = |c: vecinfer_quant::VqCodec| {
            // f16 centroids (attention), f32 centroids and their norms (encoder).
            c.codebook_size() * (c.sub_dim() * (2 + 4) + 4)
        };
        let parameters =
            books * (book_bytes(spec.key_codec) + book_bytes(spec.value_codec)) + hk * d * 4;
        let tokens = (context * batch).max(1) as f64;
        Self {
            codes: (batch * rows * hk * (spec.key_row_bytes() + spec.value_row_bytes())) as f64
                / tokens,
            fp16: (batch * spec.fp16_capacity() * hk * spec.slot_row_bytes() * 2) as f64 / tokens,
            parameters: parameters as f64 / tokens,
            fp16_cache: (hk * d * 2 * 2) as f64,
        }
    }
}

fn bits(x: &[f16]) -> Vec<u16> {
    x.iter().map(|h| h.to_bits()).collect()
}

fn fits_i32(what: &str, n: usize) -> Result<i32> {
    i32::try_from(n).map_err(|_| {
        RuntimeError::Invalid(format!(
            "{what} of {n} is too large: the kernels index it with 32-bit integers (at most {})",
            i32::MAX
        ))
    })
}

impl LayerStorage {
    /// A contiguous cache: `slots` sequences, each with room for `code_capacity` coded tokens
    /// (rounded up to a multiple of 16, so tiles stay 16-byte aligned).
    pub fn contiguous(
        gpu: &Gpu,
        params: &LayerParams<'_>,
        window: CacheLayout,
        slots: usize,
        code_capacity: usize,
    ) -> Result<Self> {
        let spec = CacheSpec::of(params, CodeLayout::Contiguous, window)?;
        Self::allocate(
            gpu,
            params,
            spec,
            slots,
            code_capacity.max(1).next_multiple_of(16),
        )
    }

    /// A paged cache: a pool of `pages` pages of `page_tokens` code rows (per KV head) and
    /// `slots` sequence slots for the fp16 tokens. Which page holds which rows is the block
    /// table's business (the runtime's [`crate::PagedKvCache`], or an engine's own).
    pub fn paged(
        gpu: &Gpu,
        params: &LayerParams<'_>,
        window: CacheLayout,
        page_tokens: usize,
        pages: usize,
        slots: usize,
    ) -> Result<Self> {
        if !vecinfer_codegen::PAGE_TOKENS.contains(&page_tokens) {
            return Err(vecinfer_codegen::ConfigError::PageTokens(page_tokens).into());
        }
        if pages == 0 {
            return Err(RuntimeError::Invalid(
                "a page pool needs at least one page".into(),
            ));
        }
        let spec = CacheSpec::of(params, CodeLayout::Paged { page_tokens }, window)?;
        Self::allocate(gpu, params, spec, slots, pages)
    }

    fn allocate(
        gpu: &Gpu,
        params: &LayerParams<'_>,
        spec: CacheSpec,
        slots: usize,
        code_extent: usize,
    ) -> Result<Self> {
        if slots == 0 {
            return Err(RuntimeError::Invalid(
                "a cache needs at least one sequence slot".into(),
            ));
        }
        fits_i32("the slot count", slots)?;
        fits_i32("the code extent", code_extent)?;
        let hk = spec.kv_heads;
        let rows_per_unit = match spec.layout {
            CodeLayout::Contiguous => code_extent,
            CodeLayout::Paged { page_tokens } => page_tokens,
        };
        let units = match spec.layout {
            CodeLayout::Contiguous => slots,
            CodeLayout::Paged { .. } => code_extent,
        };
        let rows = units * hk * rows_per_unit;
        let slot_words = spec.slot_layout(slots).len();
        let st = &gpu.stream;
        let f16_books =
            |all: &[Codebook]| -> Vec<u16> { all.iter().flat_map(|c| bits(&c.to_f16())).collect() };
        let centroids = |all: &[Codebook]| -> Vec<f32> {
            all.iter().flat_map(|c| c.centroids().to_vec()).collect()
        };
        let norms = |all: &[Codebook]| -> Vec<f32> {
            all.iter()
                .flat_map(|c| {
                    let sub = c.codec().sub_dim();
                    c.centroids()
                        .chunks_exact(sub)
                        .map(|r| r.iter().map(|v| v * v).sum::<f32>())
                        .collect::<Vec<f32>>()
                })
                .collect()
        };
        let (k, v) = (params.keys.all(), params.values.all());
        Ok(Self {
            key_codebooks: st.clone_htod(&f16_books(k))?,
            value_codebooks: st.clone_htod(&f16_books(v))?,
            encoder: EncoderBooks {
                key_centroids: st.clone_htod(&centroids(k))?,
                key_norms: st.clone_htod(&norms(k))?,
                value_centroids: st.clone_htod(&centroids(v))?,
                value_norms: st.clone_htod(&norms(v))?,
            },
            smooth: st.clone_htod(params.smooth)?,
            key_codes: st.alloc_zeros(rows * spec.key_row_bytes())?,
            value_codes: st.alloc_zeros(rows * spec.value_row_bytes())?,
            slot_keys: st.alloc_zeros(slot_words)?,
            slot_values: st.alloc_zeros(slot_words)?,
            spec,
            slots,
            code_extent,
        })
    }

    pub fn spec(&self) -> &CacheSpec {
        &self.spec
    }

    /// The key-book format the cache's kernels may take (see `PagedKvCache::new`): at most
    /// what these books hold.
    pub(crate) fn limit_key_books(&mut self, format: vecinfer_codegen::BookFormat) {
        if format == vecinfer_codegen::BookFormat::F16 {
            self.spec.key_books = format;
        }
    }

    /// The code and fp16 buffers, to fill with anything (benchmarks, an engine's own loads):
    /// any bytes are safe to attend over, since the kernels clamp every index they compute.
    pub fn contents_mut(&mut self) -> Contents<'_> {
        Contents {
            key_codes: self.key_codes.as_view_mut(),
            value_codes: self.value_codes.as_view_mut(),
            slot_keys: self.slot_keys.as_view_mut(),
            slot_values: self.slot_values.as_view_mut(),
        }
    }

    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Contiguous: coded tokens each slot has room for.
    pub fn code_capacity(&self) -> Option<usize> {
        (self.spec.layout == CodeLayout::Contiguous).then_some(self.code_extent)
    }

    /// Paged: pages in the pool.
    pub fn pages(&self) -> Option<usize> {
        (self.spec.layout != CodeLayout::Contiguous).then_some(self.code_extent)
    }

    pub(crate) fn geometry(&self, index_count: usize) -> CacheGeometry {
        // Every count here was checked to fit in i32 when the storage was made; the window and
        // the index count are checked by their owners (CacheView).
        CacheGeometry {
            slots: self.slots as i32,
            code_extent: self.code_extent as i32,
            index_count: index_count.min(i32::MAX as usize) as i32,
            fp16_capacity: self.spec.fp16_capacity() as i32,
            sinks: self.spec.window.sinks.min(i32::MAX as usize) as i32,
            residual: self.spec.window.residual.min(i32::MAX as usize) as i32,
        }
    }

    /// Where code row `row` of (slot, KV head) starts, in rows, for the contiguous layout; the
    /// host-side twin of `code_row_index`, for uploads and downloads.
    pub(crate) fn contiguous_row(&self, slot: usize, kv_head: usize, row: usize) -> usize {
        (slot * self.spec.kv_heads + kv_head) * self.code_extent + row
    }

    /// The same for the paged layout: row `row` of a page.
    pub(crate) fn paged_row(&self, page: usize, kv_head: usize, row: usize) -> usize {
        let page_tokens = self.spec.layout.page_tokens().unwrap_or(1);
        (page * self.spec.kv_heads + kv_head) * page_tokens + row
    }

    /// The slot rows of (sequence slot, KV head), keys and values, `[sinks + residual,
    /// head_dim]`, as fp16 bits the kernels read (int8 rows decoded).
    pub(crate) fn download_slots(
        &self,
        gpu: &Gpu,
        slot: usize,
        kv_head: usize,
    ) -> Result<(Vec<u16>, Vec<u16>)> {
        let layout = self.spec.slot_layout(self.slots);
        let (first, last) = (
            self.fp16_row(slot, kv_head, 0),
            self.fp16_row(slot, kv_head, self.spec.fp16_capacity()),
        );
        let (words, scales) = layout.ranges(first, last);
        let st = &gpu.stream;
        let side = |buffer: &CudaSlice<u16>| -> Result<Vec<u16>> {
            let w = st.clone_dtoh(&buffer.slice(words.clone()))?;
            let s = if scales.is_empty() {
                Vec::new()
            } else {
                st.clone_dtoh(&buffer.slice(scales.clone()))?
            };
            Ok(layout.decode(&w, &s).iter().map(|h| h.to_bits()).collect())
        };
        Ok((side(&self.slot_keys)?, side(&self.slot_values)?))
    }

    /// Where slot `index` of (slot, KV head) starts, in rows.
    pub(crate) fn fp16_row(&self, slot: usize, kv_head: usize, index: usize) -> usize {
        (slot * self.spec.kv_heads + kv_head) * self.spec.fp16_capacity() + index
    }

    pub fn bytes(&self) -> CacheBytes {
        CacheBytes {
            codes: self.key_codes.len() + self.value_codes.len(),
            fp16: (self.slot_keys.len() + self.slot_values.len()) * 2,
            parameters: (self.key_codebooks.len() + self.value_codebooks.len()) * 2
                + (self.encoder.key_centroids.len()
                    + self.encoder.key_norms.len()
                    + self.encoder.value_centroids.len()
                    + self.encoder.value_norms.len()
                    + self.smooth.len())
                    * 4,
            tables: 0,
        }
    }

    /// Copies sequence slot `from` to slot `to` (keys and values, every KV head, the int8
    /// scales with them): a fork's sinks and window.
    pub(crate) fn copy_slot(&mut self, gpu: &Gpu, from: usize, to: usize) -> Result<()> {
        let layout = self.spec.slot_layout(self.slots);
        let rows = self.spec.kv_heads * self.spec.fp16_capacity();
        let (row_words, scale_words) = layout.ranges(0, rows);
        for buffer in [&mut self.slot_keys, &mut self.slot_values] {
            copy_unit(gpu, &mut buffer.as_view_mut(), row_words.len(), from, to)?;
            if !scale_words.is_empty() {
                let mut scales = buffer.slice_mut(layout.rows * layout.words()..);
                copy_unit(gpu, &mut scales, rows, from, to)?;
            }
        }
        Ok(())
    }

    /// Copies page `from` to page `to` (keys and values, every KV head): copy-on-write.
    pub(crate) fn copy_page(&mut self, gpu: &Gpu, from: usize, to: usize) -> Result<()> {
        let rows = self.spec.kv_heads * self.spec.layout.page_tokens().unwrap_or(0);
        let (key_row, value_row) = (self.spec.key_row_bytes(), self.spec.value_row_bytes());
        copy_unit(
            gpu,
            &mut self.key_codes.as_view_mut(),
            rows * key_row,
            from,
            to,
        )?;
        copy_unit(
            gpu,
            &mut self.value_codes.as_view_mut(),
            rows * value_row,
            from,
            to,
        )
    }
}

/// Copies element range `[from·len, (from+1)·len)` of `buffer` onto `[to·len, (to+1)·len)`.
fn copy_unit<T: DeviceRepr>(
    gpu: &Gpu,
    buffer: &mut CudaViewMut<'_, T>,
    len: usize,
    from: usize,
    to: usize,
) -> Result<()> {
    if from == to {
        return Ok(());
    }
    let (mut low, mut high) = buffer.split_at_mut(from.max(to) * len);
    if from < to {
        let src = low.slice(from * len..(from + 1) * len);
        gpu.stream.memcpy_dtod(&src, &mut high.slice_mut(0..len))?;
    } else {
        let src = high.slice(0..len);
        gpu.stream
            .memcpy_dtod(&src, &mut low.slice_mut(to * len..(to + 1) * len))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vecinfer_quant::{Granularity, KeyTransform};

    #[test]
    fn a_token_costs_its_codes_window_share_and_codebook_share() {
        let spec = CacheSpec {
            head_dim: 128,
            kv_heads: 8,
            key_codec: "d4b8".parse().unwrap(),
            value_codec: "d4b8".parse().unwrap(),
            granularity: Granularity::Layer,
            transform: KeyTransform::BOTH,
            layout: CodeLayout::Contiguous,
            window: CacheLayout {
                sinks: 0,
                residual: 128,
                ..CacheLayout::default()
            },
            key_books: vecinfer_codegen::BookFormat::F16,
        };
        // 2 bits per element: 32 + 32 bytes per (token, head) of codes.
        let t = TokenBytes::of(&spec, 32768 + 128, 8);
        assert!((t.codes - (32768.0 * 8.0 * 64.0 / 32896.0)).abs() < 1e-9);
        assert!((t.fp16 - 128.0 * 8.0 * 512.0 / 32896.0).abs() < 1e-9);
        let books = 2.0 * 256.0 * (4.0 * 6.0 + 4.0) + 8.0 * 128.0 * 4.0;
        assert!((t.parameters - books / (8.0 * 32896.0)).abs() < 1e-9);
        assert_eq!(t.fp16_cache, 8.0 * 128.0 * 4.0);
        let bits = t.bits_per_element(&spec);
        assert!(bits > 2.0 && bits < 2.1, "{bits}");
        // Pages round the coded rows up.
        let paged = CacheSpec {
            layout: CodeLayout::Paged { page_tokens: 512 },
            ..spec
        };
        let p = TokenBytes::of(&paged, 128 + 600, 1);
        assert!((p.codes - 1024.0 * 8.0 * 64.0 / 728.0).abs() < 1e-9);
    }
}
