//! Fast orthonormal Walsh–Hadamard transform, O(D log D) in place.
//!
//! `H_D` has entries `±1/sqrt(D)` in Sylvester order, so it is symmetric and its own inverse.
//! The GPU kernels use the same butterfly order, so CPU and GPU agree bit for bit before the
//! final scale.

use crate::error::{QuantError, Result};

pub fn check_head_dim(head_dim: usize) -> Result<()> {
    if head_dim.is_power_of_two() && head_dim >= 2 {
        Ok(())
    } else {
        Err(QuantError::HeadDimNotPowerOfTwo(head_dim))
    }
}

/// `x <- x · H` (equivalently `H · x`, as `H` is symmetric), normalised.
pub fn hadamard_in_place(x: &mut [f32]) -> Result<()> {
    check_head_dim(x.len())?;
    butterflies(x);
    let scale = 1.0 / (x.len() as f32).sqrt();
    x.iter_mut().for_each(|v| *v *= scale);
    Ok(())
}

/// Applies the transform to every row of a row-major `[rows, dim]` matrix.
pub fn hadamard_rows(data: &mut [f32], dim: usize) -> Result<()> {
    check_head_dim(dim)?;
    if !data.len().is_multiple_of(dim) {
        return Err(QuantError::shape(
            "hadamard rows",
            format!("a multiple of {dim}"),
            data.len(),
        ));
    }
    let scale = 1.0 / (dim as f32).sqrt();
    for row in data.chunks_exact_mut(dim) {
        butterflies(row);
        row.iter_mut().for_each(|v| *v *= scale);
    }
    Ok(())
}

fn butterflies(x: &mut [f32]) {
    let n = x.len();
    let mut h = 1;
    while h < n {
        for block in x.chunks_exact_mut(2 * h) {
            let (lo, hi) = block.split_at_mut(h);
            for (a, b) in lo.iter_mut().zip(hi.iter_mut()) {
                let (u, v) = (*a, *b);
                *a = u + v;
                *b = u - v;
            }
        }
        h *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dense_hadamard(n: usize) -> Vec<f64> {
        // Sylvester: H[i][j] = (-1)^popcount(i & j) / sqrt(n)
        let s = 1.0 / (n as f64).sqrt();
        (0..n * n)
            .map(|ij| {
                let (i, j) = (ij / n, ij % n);
                if (i & j).count_ones() % 2 == 0 { s } else { -s }
            })
            .collect()
    }

    #[test]
    fn matches_the_dense_matrix() {
        for n in [2usize, 8, 64, 128, 256] {
            let x: Vec<f32> = (0..n).map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.3).collect();
            let mut fast = x.clone();
            hadamard_in_place(&mut fast).unwrap();
            let h = dense_hadamard(n);
            for i in 0..n {
                let want: f64 = (0..n).map(|j| h[i * n + j] * x[j] as f64).sum();
                assert!((fast[i] as f64 - want).abs() < 1e-5, "n {n} i {i}");
            }
        }
    }

    #[test]
    fn is_orthonormal_and_self_inverse() {
        let x: Vec<f32> = (0..64).map(|i| (i as f32).sin()).collect();
        let mut y = x.clone();
        hadamard_in_place(&mut y).unwrap();
        let norm = |v: &[f32]| v.iter().map(|a| a * a).sum::<f32>();
        assert!((norm(&x) - norm(&y)).abs() < 1e-4);
        hadamard_in_place(&mut y).unwrap();
        for (a, b) in x.iter().zip(&y) {
            assert!((a - b).abs() < 1e-5);
        }
    }

    #[test]
    fn rejects_other_dims() {
        for n in [0usize, 1, 3, 96, 100] {
            let mut x = vec![0.0; n];
            let err = hadamard_in_place(&mut x).unwrap_err();
            assert!(err.to_string().contains("power of two"), "{err}");
        }
    }
}
