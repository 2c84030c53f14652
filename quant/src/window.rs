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

/// How the residual window holds its tokens. Sinks and anchors stay fp16 either way.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum WindowPrecision {
    /// fp16, as the K and V arrive.
    #[default]
    Fp16,
    /// Symmetric int8 per row: `q = round(x / s)` in [-127, 127] with the fp16 scale
    /// `s = absmax / 127`.
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

    /// Bits per element of a window token with rows of `head_dim` elements, scales included.
    pub fn bits_per_element(self, head_dim: usize) -> f64 {
        match self {
            WindowPrecision::Fp16 => 16.0,
            WindowPrecision::Int8 => 8.0 + 16.0 / head_dim as f64,
        }
    }

    /// Replaces one row (one token of one KV head, already fp16-rounded) by what the window
    /// gives back for it.
    pub fn round_trip_row(self, row: &mut [f32]) {
        match self {
            WindowPrecision::Fp16 => {}
            WindowPrecision::Int8 => {
                let (scale, codes) = int8_row(row);
                let scale = scale.to_f32();
                row.iter_mut()
                    .zip(codes)
                    .for_each(|(x, q)| *x = f32::from(q) * scale);
            }
        }
    }
}

/// A row as the int8 window stores it: the fp16 scale and the codes. An all-zero row gets
/// scale 0; a scale that rounds up in fp16 keeps every code within [-127, 127].
pub fn int8_row(row: &[f32]) -> (f16, Vec<i8>) {
    let absmax = row.iter().fold(0f32, |m, x| m.max(x.abs()));
    let scale = f16::from_f32(absmax / 127.0);
    let s = scale.to_f32();
    let codes = row
        .iter()
        .map(|&x| {
            if s == 0.0 {
                0
            } else {
                (x / s).round().clamp(-127.0, 127.0) as i8
            }
        })
        .collect();
    (scale, codes)
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

    #[test]
    fn int8_rows_come_back_within_half_a_step() {
        let mut rng = rng(7);
        for _ in 0..200 {
            let spread = rng.random_range(0.01f32..20.0);
            let row: Vec<f32> = (0..64)
                .map(|_| f16::from_f32(rng.random_range(-spread..spread)).to_f32())
                .collect();
            let mut back = row.clone();
            WindowPrecision::Int8.round_trip_row(&mut back);
            let (scale, _) = int8_row(&row);
            let step = scale.to_f32();
            for (x, y) in row.iter().zip(&back) {
                assert!(
                    (x - y).abs() <= 0.5 * step * 1.0001,
                    "{x} -> {y}, step {step}"
                );
            }
            // The largest element is the end of the grid, up to the scale's fp16 rounding.
            let absmax = row.iter().fold(0f32, |m, x| m.max(x.abs()));
            assert!((absmax / step - 127.0).abs() < 0.1, "{absmax} / {step}");
        }
    }

    #[test]
    fn int8_codes_stay_in_range_when_the_scale_rounds_down() {
        // 127 · f16(absmax / 127) can fall below absmax; the code then clamps at 127.
        for absmax in [1.0f32, 3.3, 17.77, 1000.1, 0.0123] {
            let row = [absmax, -absmax, 0.5 * absmax, 0.0];
            let (_, codes) = int8_row(&row);
            assert!(
                codes.iter().all(|&q| (-127..=127).contains(&q)),
                "{codes:?}"
            );
            assert_eq!(codes[0], 127);
            assert_eq!(codes[1], -127);
            assert_eq!(codes[3], 0);
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
