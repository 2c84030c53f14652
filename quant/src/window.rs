//! The precision of the cache's residual window: the newest tokens, which the VQ methods keep
//! out of the codebooks because the next queries attend to them most.
//!
//! At 2 bits the window is the largest part of the bill: 32 fp16 tokens of a 2048-token
//! context cost 0.25 bit per element, as much as 256 coded tokens. Held as int8 with one fp16
//! scale per row (a token of one KV head), the same bits buy a window twice as long, and the
//! window's own error stays far below the codes' (bench/results/accuracy-s21).

use crate::error::{QuantError, Result};
use half::f16;
use std::fmt;
use std::str::FromStr;

/// How the residual window holds its tokens, and the sinks with them (int8 sinks measured the
/// same perplexity as fp16 ones: 26.655 against 26.647 on 4 windows,
/// bench/results/accuracy-s22). Anchors, kept rows of the window, take its precision too.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum WindowPrecision {
    /// fp16, as the K and V arrive.
    #[default]
    Fp16,
    /// Symmetric int8 per row: `q = round(x / s)` in [-127, 127] with the fp16 scale `s`, the
    /// smallest fp16 at or above `absmax / 127`.
    Int8,
}

impl WindowPrecision {
    pub const ALL: [WindowPrecision; 2] = [WindowPrecision::Fp16, WindowPrecision::Int8];

    pub fn name(self) -> &'static str {
        match self {
            WindowPrecision::Fp16 => "fp16",
            WindowPrecision::Int8 => "int8",
        }
    }

    /// Bytes one row (a token of one KV head, keys or values) takes: fp16, or int8 codes and
    /// an fp16 scale.
    pub fn row_bytes(self, head_dim: usize) -> usize {
        match self {
            WindowPrecision::Fp16 => 2 * head_dim,
            WindowPrecision::Int8 => head_dim + 2,
        }
    }

    /// Bits per element of a window token with rows of `head_dim` elements, scales included.
    pub fn bits_per_element(self, head_dim: usize) -> f64 {
        match self {
            WindowPrecision::Fp16 => 16.0,
            WindowPrecision::Int8 => 8.0 + 16.0 / head_dim as f64,
        }
    }

    /// Replaces one row (one token of one KV head, already fp16-rounded) by what the window
    /// gives back for it: each element `f16(q · s)`, the value the GPU kernels read. A row
    /// with a NaN or an infinity has no int8 form: it comes back all NaN, as on the GPU.
    pub fn round_trip_row(self, row: &mut [f32]) {
        match self {
            WindowPrecision::Fp16 => {}
            WindowPrecision::Int8 => match int8_scale(row) {
                Some(scale) => {
                    let s = scale.to_f32();
                    row.iter_mut()
                        .for_each(|x| *x = int8_value(int8_code(*x, s), scale).to_f32());
                }
                None => row.fill(f32::NAN),
            },
        }
    }
}

/// The row's int8 scale: the smallest fp16 at or above `absmax / 127`, so that no code leaves
/// [-127, 127] and none is clamped, and never 0 for a nonzero row (the smallest subnormal at
/// worst). An all-zero row gets 0; a row with a NaN or an infinity gets `None`.
pub fn int8_scale(row: &[f32]) -> Option<f16> {
    let mut absmax = 0f32;
    for x in row {
        if !x.is_finite() {
            return None;
        }
        absmax = absmax.max(x.abs());
    }
    let wanted = absmax / 127.0;
    let scale = f16::from_f32(wanted);
    Some(if scale.to_f32() < wanted {
        f16::from_bits(scale.to_bits() + 1)
    } else {
        scale
    })
}

/// One element's code under the scale `s` (0 for a zero scale).
pub fn int8_code(x: f32, s: f32) -> i8 {
    if s == 0.0 { 0 } else { (x / s).round() as i8 }
}

/// A code's value under the scale: `q · s` (exact in f32) rounded once to fp16.
pub fn int8_value(q: i8, scale: f16) -> f16 {
    f16::from_f32(f32::from(q) * scale.to_f32())
}

/// One row as the int8 window stores it: its codes and scale (`None` for a row with a NaN
/// or an infinity, which reads back as NaN: codes 0, scale NaN).
pub fn int8_row(row: &[f32]) -> (Vec<i8>, f16) {
    match int8_scale(row) {
        Some(scale) => {
            let s = scale.to_f32();
            (row.iter().map(|&x| int8_code(x, s)).collect(), scale)
        }
        None => (vec![0; row.len()], f16::NAN),
    }
}

impl fmt::Display for WindowPrecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for WindowPrecision {
    type Err = QuantError;

    fn from_str(s: &str) -> Result<Self> {
        WindowPrecision::ALL
            .into_iter()
            .find(|w| w.name() == s.trim())
            .ok_or_else(|| {
                QuantError::InvalidArgument(format!(
                    "window precision {s:?}: valid are {}",
                    WindowPrecision::ALL.map(|w| w.name()).join(", ")
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::rng;
    use rand::RngExt;

    /// Rows come back within half a step (and the value's fp16 rounding), with every code in
    /// [-127, 127] before any clamp, as the stored codes and scale give them.
    fn check_row(row: &[f32]) {
        let step = int8_scale(row).unwrap().to_f32();
        let mut back = row.to_vec();
        WindowPrecision::Int8.round_trip_row(&mut back);
        let (codes, scale) = int8_row(row);
        for ((x, y), q) in row.iter().zip(&back).zip(&codes) {
            assert!((x / step).round().abs() <= 127.0, "{x} / {step}");
            let rounding = y.abs() * 2f32.powi(-11);
            assert!(
                (x - y).abs() <= 0.5 * step + rounding,
                "{x} -> {y}, step {step}"
            );
            assert_eq!(*y, int8_value(*q, scale).to_f32());
        }
    }

    #[test]
    fn int8_rows_come_back_within_half_a_step() {
        let mut rng = rng(7);
        for _ in 0..200 {
            let spread = rng.random_range(0.01f32..20.0);
            let row: Vec<f32> = (0..64)
                .map(|_| f16::from_f32(rng.random_range(-spread..spread)).to_f32())
                .collect();
            check_row(&row);
            // The largest element is the end of the grid, up to the scale's fp16 rounding up
            // (at most one unit in the last place, 2^-10 of it).
            let absmax = row.iter().fold(0f32, |m, x| m.max(x.abs()));
            let step = int8_scale(&row).unwrap().to_f32();
            assert!(
                (126.8..=127.0).contains(&(absmax / step)),
                "{absmax} / {step}"
            );
        }
    }

    #[test]
    fn tiny_rows_keep_a_nonzero_scale_and_their_codes_in_range() {
        // Scales in fp16's subnormal range round coarsely: rounded down they would push codes
        // far past 127 (absmax 1e-5: 168) or to a zero scale (absmax 1e-6).
        for absmax in [1e-3f32, 1e-5, 1e-6, 1e-8, 3.3, 17.77, 1000.1] {
            let row = [absmax, -absmax, 0.5 * absmax, 0.3 * absmax, 0.0];
            assert!(int8_scale(&row).unwrap().to_f32() > 0.0, "{absmax}");
            check_row(&row);
        }
    }

    #[test]
    fn rows_with_nan_or_infinity_come_back_as_nan() {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let row = [1.0, bad, -2.0];
            assert_eq!(int8_scale(&row), None);
            let mut back = row;
            WindowPrecision::Int8.round_trip_row(&mut back);
            assert!(back.iter().all(|x| x.is_nan()), "{back:?}");
            let (codes, scale) = int8_row(&row);
            assert_eq!(codes, [0, 0, 0]);
            assert!(scale.is_nan());
        }
    }

    #[test]
    fn zero_rows_and_fp16_rows_come_back_unchanged() {
        let mut zeros = vec![0f32; 64];
        WindowPrecision::Int8.round_trip_row(&mut zeros);
        assert!(zeros.iter().all(|&x| x == 0.0));
        let row: Vec<f32> = (0..64).map(|i| (i as f32 - 31.5) * 0.37).collect();
        let mut same = row.clone();
        WindowPrecision::Fp16.round_trip_row(&mut same);
        assert_eq!(same, row);
    }

    #[test]
    fn bits_count_the_scale() {
        assert_eq!(WindowPrecision::Fp16.bits_per_element(64), 16.0);
        assert_eq!(WindowPrecision::Int8.bits_per_element(64), 8.25);
        assert_eq!(WindowPrecision::Int8.bits_per_element(128), 8.125);
    }

    #[test]
    fn names_parse_and_unknown_ones_say_what_is_valid() {
        for w in WindowPrecision::ALL {
            assert_eq!(w.name().parse::<WindowPrecision>().unwrap(), w);
        }
        let e = "fp8".parse::<WindowPrecision>().unwrap_err().to_string();
        assert!(e.contains("\"fp8\"") && e.contains("fp16, int8"), "{e}");
    }
}
