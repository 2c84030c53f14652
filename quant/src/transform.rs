//! Key outlier suppression: smooth scaling and the Hadamard rotation, with the query
//! compensation that keeps every score `q · k` unchanged.
//!
//! Keys:   `k' = (k ⊘ λ) · H`
//! Query:  `q' = (q ⊙ λ) · H`
//! so `q' · k'ᵀ = (q ⊙ λ) H Hᵀ (k ⊘ λ)ᵀ = q · kᵀ`.

use crate::error::{QuantError, Result};
use crate::hadamard::hadamard_in_place;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which of the two transforms a method applies to keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KeyTransform {
    pub smooth: bool,
    pub hadamard: bool,
}

impl KeyTransform {
    pub const NONE: Self = Self {
        smooth: false,
        hadamard: false,
    };
    pub const SMOOTH: Self = Self {
        smooth: true,
        hadamard: false,
    };
    pub const HADAMARD: Self = Self {
        smooth: false,
        hadamard: true,
    };
    pub const BOTH: Self = Self {
        smooth: true,
        hadamard: true,
    };
    pub const ALL: [Self; 4] = [Self::NONE, Self::SMOOTH, Self::HADAMARD, Self::BOTH];

    /// The name used in codebook files (`plain`, `smooth`, `hadamard`, `smooth_hadamard`).
    pub fn name(self) -> &'static str {
        match (self.smooth, self.hadamard) {
            (false, false) => "plain",
            (true, false) => "smooth",
            (false, true) => "hadamard",
            (true, true) => "smooth_hadamard",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Transforms one key in place. `scales` is λ for this (layer, head).
    pub fn apply_to_key(self, key: &mut [f32], scales: &[f32]) -> Result<()> {
        if self.smooth {
            check_len(key, scales)?;
            key.iter_mut().zip(scales).for_each(|(k, s)| *k /= s);
        }
        if self.hadamard {
            hadamard_in_place(key)?;
        }
        Ok(())
    }

    /// Compensates a query in place so that scores against transformed keys are unchanged.
    pub fn apply_to_query(self, query: &mut [f32], scales: &[f32]) -> Result<()> {
        if self.smooth {
            check_len(query, scales)?;
            query.iter_mut().zip(scales).for_each(|(q, s)| *q *= s);
        }
        if self.hadamard {
            hadamard_in_place(query)?;
        }
        Ok(())
    }

    /// Maps a transformed key back to the original space: `k = (k' · Hᵀ) ⊙ λ`.
    pub fn invert_on_key(self, key: &mut [f32], scales: &[f32]) -> Result<()> {
        if self.hadamard {
            hadamard_in_place(key)?;
        }
        if self.smooth {
            check_len(key, scales)?;
            key.iter_mut().zip(scales).for_each(|(k, s)| *k *= s);
        }
        Ok(())
    }
}

impl fmt::Display for KeyTransform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn check_len(x: &[f32], scales: &[f32]) -> Result<()> {
    if x.len() == scales.len() {
        Ok(())
    } else {
        Err(QuantError::shape("smooth scales", x.len(), scales.len()))
    }
}

/// Smooth scales `λ_i = sqrt(max_t |K[t,i]|)` for one (layer, KV head), from calibration keys
/// given row-major `[tokens, head_dim]`. A channel that is zero everywhere gets λ = 1 so that
/// the transform stays invertible.
pub fn smooth_scales(keys: &[f32], head_dim: usize) -> Result<Vec<f32>> {
    if head_dim == 0 || !keys.len().is_multiple_of(head_dim) || keys.is_empty() {
        return Err(QuantError::shape(
            "calibration keys",
            format!("a non-empty multiple of head dim {head_dim}"),
            keys.len(),
        ));
    }
    let mut max_abs = vec![0f32; head_dim];
    for row in keys.chunks_exact(head_dim) {
        for (m, &k) in max_abs.iter_mut().zip(row) {
            *m = m.max(k.abs());
        }
    }
    Ok(max_abs
        .into_iter()
        .map(|m| if m > 0.0 { m.sqrt() } else { 1.0 })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    #[test]
    fn scores_are_invariant_under_every_transform() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let d = 64;
        // Keys with strong channel outliers, like real post-RoPE keys.
        let keys: Vec<f32> = (0..200 * d)
            .map(|i| rng.random_range(-1.0..1.0f32) * if i % d == 3 { 40.0 } else { 1.0 })
            .collect();
        let scales = smooth_scales(&keys, d).unwrap();
        let q: Vec<f32> = (0..d).map(|_| rng.random_range(-1.0..1.0)).collect();
        for t in KeyTransform::ALL {
            let mut qt = q.clone();
            t.apply_to_query(&mut qt, &scales).unwrap();
            for k in keys.chunks_exact(d).take(20) {
                let mut kt = k.to_vec();
                t.apply_to_key(&mut kt, &scales).unwrap();
                let exact: f64 = q.iter().zip(k).map(|(a, b)| *a as f64 * *b as f64).sum();
                let got: f64 = qt.iter().zip(&kt).map(|(a, b)| *a as f64 * *b as f64).sum();
                assert!(
                    (exact - got).abs() <= 1e-4 * (1.0 + exact.abs()),
                    "{t}: {exact} vs {got}"
                );
                t.invert_on_key(&mut kt, &scales).unwrap();
                for (a, b) in k.iter().zip(&kt) {
                    assert!((a - b).abs() < 1e-4 * (1.0 + a.abs()));
                }
            }
        }
    }

    #[test]
    fn smoothing_flattens_channel_outliers() {
        let d = 8;
        let keys: Vec<f32> = (0..16 * d)
            .map(|i| if i % d == 0 { 100.0 } else { 1.0 })
            .collect();
        let s = smooth_scales(&keys, d).unwrap();
        assert_eq!(s[0], 10.0);
        assert_eq!(s[1], 1.0);
    }

    #[test]
    fn names_round_trip() {
        for t in KeyTransform::ALL {
            assert_eq!(KeyTransform::from_name(t.name()), Some(t));
        }
    }
}
