//! [`SlotLayout`]: the host's twin of the slot buffers' layout (`cache_view.cuh`), for uploads
//! and downloads. A buffer (keys or values) holds `rows = slots × kv_heads × (sinks + residual)`
//! rows of `words` 16-bit words: fp16 rows hold `head_dim` halves; int8 rows hold `head_dim`
//! codes, two a word (little-endian), and after the last row come the rows' fp16 scales, one
//! a row in the same order.

use half::f16;
use vecinfer_quant::WindowPrecision;
use vecinfer_quant::window::{int8_code, int8_value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SlotLayout {
    pub(crate) head_dim: usize,
    pub(crate) precision: WindowPrecision,
    /// Rows in the buffer.
    pub(crate) rows: usize,
}

impl SlotLayout {
    /// 16-bit words a row takes.
    pub(crate) fn words(&self) -> usize {
        match self.precision {
            WindowPrecision::Fp16 => self.head_dim,
            WindowPrecision::Int8 => self.head_dim / 2,
        }
    }

    /// Words a buffer takes: its rows, and their scales where it has them (padded to an even
    /// count, so that the buffer is whole 32-bit words, as random fills take them).
    pub(crate) fn len(&self) -> usize {
        let scales = match self.precision {
            WindowPrecision::Fp16 => 0,
            WindowPrecision::Int8 => self.rows.next_multiple_of(2),
        };
        self.rows * self.words() + scales
    }

    /// Word range of rows `[first, last)`, and of their scales (empty for fp16 rows).
    pub(crate) fn ranges(
        &self,
        first: usize,
        last: usize,
    ) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let w = self.words();
        let scales = match self.precision {
            WindowPrecision::Fp16 => 0..0,
            WindowPrecision::Int8 => self.rows * w + first..self.rows * w + last,
        };
        (first * w..last * w, scales)
    }

    /// Puts row `index` into a host copy of the buffer: `row` as the cache holds it (for an
    /// int8 window, the values of its codes, `f16(q · scale)`) and, int8, its scale.
    pub(crate) fn put(&self, buffer: &mut [u16], index: usize, row: &[f16], scale: Option<f16>) {
        let w = self.words();
        let out = &mut buffer[index * w..(index + 1) * w];
        match (self.precision, scale) {
            (WindowPrecision::Int8, Some(scale)) => {
                let s = scale.to_f32();
                for (word, pair) in out.iter_mut().zip(row.chunks_exact(2)) {
                    let [lo, hi] = [pair[0], pair[1]].map(|x| int8_code(x.to_f32(), s) as u8);
                    *word = u16::from_le_bytes([lo, hi]);
                }
                buffer[self.rows * w + index] = scale.to_bits();
            }
            _ => {
                for (o, x) in out.iter_mut().zip(row) {
                    *o = x.to_bits();
                }
            }
        }
    }

    /// Rows decoded from a downloaded word range and its scales ([`Self::ranges`]): fp16
    /// values as the kernels read them, `[rows, head_dim]`.
    pub(crate) fn decode(&self, words: &[u16], scales: &[u16]) -> Vec<f16> {
        match self.precision {
            WindowPrecision::Fp16 => words.iter().map(|&b| f16::from_bits(b)).collect(),
            WindowPrecision::Int8 => words
                .chunks_exact(self.words())
                .zip(scales)
                .flat_map(|(row, &scale)| {
                    let scale = f16::from_bits(scale);
                    row.iter()
                        .flat_map(move |w| w.to_le_bytes().map(|b| int8_value(b as i8, scale)))
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vecinfer_quant::window::int8_row;

    #[test]
    fn int8_rows_and_scales_round_trip_through_the_buffer_layout() {
        let layout = SlotLayout {
            head_dim: 8,
            precision: WindowPrecision::Int8,
            rows: 3,
        };
        assert_eq!(
            (layout.words(), layout.len()),
            (4, 16),
            "3 scales padded to 4 words"
        );
        let x = [0.5f32, -1.25, 3.0, 0.01, -3.0, 2.2, 0.0, 1.0];
        let (codes, scale) = int8_row(&x);
        let row: Vec<f16> = codes.iter().map(|&q| int8_value(q, scale)).collect();
        let mut buffer = vec![0u16; layout.len()];
        layout.put(&mut buffer, 1, &row, Some(scale));
        assert_eq!(buffer[12 + 1], scale.to_bits(), "the scale after the rows");
        let (words, scales) = layout.ranges(1, 2);
        assert_eq!((words.clone(), scales.clone()), (4..8, 13..14));
        assert_eq!(layout.decode(&buffer[words], &buffer[scales]), row);
        // Code bytes little-endian, two a word: codes 0 and 1 in word 4.
        assert_eq!(buffer[4].to_le_bytes(), [codes[0] as u8, codes[1] as u8]);
    }

    #[test]
    fn fp16_rows_are_their_bits() {
        let layout = SlotLayout {
            head_dim: 4,
            precision: WindowPrecision::Fp16,
            rows: 2,
        };
        assert_eq!(layout.len(), 8);
        let row = [1.5, -2.0, 0.25, 7.0].map(f16::from_f32);
        let mut buffer = vec![0u16; layout.len()];
        layout.put(&mut buffer, 1, &row, None);
        let (words, scales) = layout.ranges(1, 2);
        assert!(scales.is_empty());
        assert_eq!(layout.decode(&buffer[words], &[]), row);
    }
}
