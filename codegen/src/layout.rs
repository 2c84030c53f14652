//! Where everything lives in the fused kernel's dynamic shared memory.

use crate::config::{KernelConfig, KeyScoring};
use vecinfer_quant::VqCodec;

/// Byte offsets into dynamic shared memory; every region is 16-byte aligned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedLayout {
    pub key_codebook: usize,
    pub value_codebook: usize,
    /// Transformed, scaled queries `[G, D]` f32 (scores against coded keys).
    pub query_transformed: usize,
    /// Original, scaled queries `[G, D]` f32 (scores against fp16 keys).
    pub query_plain: usize,
    /// `[G, tile]` f32: scores, then probabilities.
    pub scores: usize,
    /// `[G, D/d, 2^b]` f32 when keys are scored by lookup table.
    pub lut: usize,
    /// `[stages, tile, key_row]` bytes.
    pub key_tiles: usize,
    pub value_tiles: usize,
    /// `[warps, G]` f32 for block reductions.
    pub reduction: usize,
    /// `[G, D]` f32: the split's output, summed over the lanes' token groups (mma: `[warps,
    /// G, D]`, over the codebooks where they fit).
    pub output: usize,
    pub total: usize,
    sizes: Vec<(&'static str, usize)>,
}

fn align16(x: usize) -> usize {
    x.next_multiple_of(16)
}

impl SharedLayout {
    pub fn of(c: &KernelConfig) -> Self {
        let (g, d, tile) = (c.group, c.head_dim, c.tile_tokens);
        // Slack after each tile buffer. Code reads stay within their row since session 38
        // (read_code read a byte past a row's last 12-bit code before); kept, so the offsets of
        // the tuned kernels did not move.
        let pad = 16;
        let lut_bytes = match c.key_scoring {
            KeyScoring::Lut => g * (d / c.key_codec.sub_dim()) * c.key_codec.codebook_size() * 4,
            KeyScoring::Dequantize | KeyScoring::Mma => 0,
        };
        // Direct code loads keep the codes in registers.
        let tiles = if c.direct_codes { 0 } else { c.stages };
        // The mma kernel keeps scores in registers and merges its warps' partial results
        // through shared memory at the end; the CUDA-core kernels share scores per tile.
        let mma = c.key_scoring == KeyScoring::Mma;
        let (scores, reduction, output) = if mma {
            (0, c.warps * g * 2 * 4, c.warps * g * d * 4)
        } else {
            (g * tile * 4, c.warps * g * 4, g * d * 4)
        };
        let book_bytes =
            |codec: VqCodec| codec.codebook_size() * codec.sub_dim() * 2 * c.book_copies(codec);
        // Offset codes (KernelConfig::offset_codes): one table, the value copies of an entry
        // after its key copies.
        let offset_codes = c.offset_codes();
        let books = if offset_codes {
            [
                (
                    "codebooks, interleaved",
                    book_bytes(c.key_codec) + book_bytes(c.value_codec),
                ),
                ("value codebook", 0),
            ]
        } else {
            [
                (
                    "key codebook",
                    c.key_book_bytes() * c.book_copies(c.key_codec),
                ),
                ("value codebook", book_bytes(c.value_codec)),
            ]
        };
        let sizes = vec![
            books[0],
            books[1],
            ("transformed queries", g * d * 4),
            ("queries", g * d * 4),
            ("scores", scores),
            ("lookup table", lut_bytes),
            ("key tiles", tiles * tile * c.key_row_bytes() + pad),
            ("value tiles", tiles * tile * c.value_row_bytes() + pad),
            (
                if mma {
                    "warp softmax state"
                } else {
                    "reduction"
                },
                reduction,
            ),
            (if mma { "warp outputs" } else { "output" }, output),
        ];
        let mut offsets = Vec::with_capacity(sizes.len());
        let mut at = 0;
        for (_, size) in &sizes {
            offsets.push(at);
            at = align16(at + size);
        }
        // The mma kernel writes its warp outputs only after the main loop, behind a barrier:
        // where they fit, they reuse the codebooks' space (a 2-bit block then takes 68 KB
        // instead of 76 KB, and three blocks fit an SM where two did).
        // (the output is the last region, so the block then ends where it would have started).
        const QUERIES: usize = 2;
        const OUTPUT: usize = 9;
        let output_size = sizes[OUTPUT].1;
        if mma && output_size > 0 && output_size <= offsets[QUERIES] {
            at = offsets[OUTPUT];
            offsets[OUTPUT] = 0;
        }
        Self {
            key_codebook: offsets[0],
            value_codebook: if offset_codes {
                offsets[0] + c.key_codec.sub_dim() * 2 * c.book_copies(c.key_codec)
            } else {
                offsets[1]
            },
            query_transformed: offsets[2],
            query_plain: offsets[3],
            scores: offsets[4],
            lut: offsets[5],
            key_tiles: offsets[6],
            value_tiles: offsets[7],
            reduction: offsets[8],
            output: offsets[9],
            total: at,
            sizes,
        }
    }

    /// The regions that take space, largest first, in KB.
    pub fn describe(&self) -> String {
        let mut parts: Vec<_> = self.sizes.iter().filter(|(_, s)| *s > 0).collect();
        parts.sort_by_key(|p| std::cmp::Reverse(p.1));
        parts
            .iter()
            .map(|(n, s)| format!("{n} {:.1} KB", *s as f64 / 1024.0))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
