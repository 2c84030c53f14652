//! A learned key rotation in place of the Hadamard (optimized product quantization, OPQ).
//!
//! After the smooth scales, VecInfer rotates keys by the fixed Hadamard `H` so that outlier
//! energy spreads over all dims before k-means cuts them into sub-vectors. Any orthogonal `R`
//! keeps every score (`q' = R (q ⊙ λ)`, `k' = R (k ⊘ λ)`, `q' · k' = q · k`); OPQ chooses one that
//! the codebook fits better. Starting from `H`, it alternates:
//! - k-means on the rotated keys' sub-vectors (the codebook for this `R`);
//! - for each KV head, the orthogonal Procrustes fit: the `R` that maps the keys closest to
//!   their quantized values, `R = U Vᵀ` where `U S Vᵀ = Σ y xᵀ` over calibration rows `x` and
//!   the quantized rotated rows `y`.
//!
//! Each step lowers `Σ ‖R x − Q(R x)‖²`. Unlike whitening (bench/results/accuracy.md), a
//! rotation keeps the correlations within a sub-vector that a 4-dim codebook can use.
//! Matrices are row-major `[d, d]` f32; `rotate` computes `R x`.

use crate::codebook::Codebook;
use crate::codec::VqCodec;
use crate::error::{QuantError, Result};
use crate::hadamard::{check_head_dim, hadamard_in_place};
use crate::kmeans::{KMeansConfig, kmeans};
use nalgebra::DMatrix;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// The orthonormal Hadamard as a matrix: `rotate(&hadamard_matrix(d), x)` equals
/// `hadamard_in_place(x)` up to rounding.
pub fn hadamard_matrix(d: usize) -> Result<Vec<f32>> {
    check_head_dim(d)?;
    let mut m = vec![0f32; d * d];
    let mut column = vec![0f32; d];
    for j in 0..d {
        column.fill(0.0);
        column[j] = 1.0;
        hadamard_in_place(&mut column)?;
        for (i, v) in column.iter().enumerate() {
            m[i * d + j] = *v;
        }
    }
    Ok(m)
}

/// `x <- R x` for a row-major `[d, d]` matrix `R`.
pub fn rotate(matrix: &[f32], x: &mut [f32]) -> Result<()> {
    let d = check_square(matrix, x.len())?;
    let input = x.to_vec();
    for (out, row) in x.iter_mut().zip(matrix.chunks_exact(d)) {
        *out = row.iter().zip(&input).map(|(a, b)| a * b).sum();
    }
    Ok(())
}

/// `x <- Rᵀ x`: undoes [`rotate`] for an orthogonal `R`.
pub fn rotate_back(matrix: &[f32], x: &mut [f32]) -> Result<()> {
    let d = check_square(matrix, x.len())?;
    let input = x.to_vec();
    x.fill(0.0);
    for (row, &v) in matrix.chunks_exact(d).zip(&input) {
        for (out, a) in x.iter_mut().zip(row) {
            *out += a * v;
        }
    }
    Ok(())
}

fn check_square(matrix: &[f32], d: usize) -> Result<usize> {
    if matrix.len() == d * d {
        Ok(d)
    } else {
        Err(QuantError::shape(
            "rotation",
            format!("{d} x {d} for vectors of {d}"),
            matrix.len(),
        ))
    }
}

/// Largest deviation of `RᵀR` from the identity; NaN if any entry is not finite.
pub fn orthogonality_error(matrix: &[f32], d: usize) -> f64 {
    if matrix.iter().any(|v| !v.is_finite()) {
        return f64::NAN;
    }
    let r = DMatrix::from_row_slice(d, d, &to_f64(matrix));
    (r.transpose() * &r - DMatrix::identity(d, d)).abs().max()
}

fn to_f64(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| v as f64).collect()
}

/// The orthogonal `R` maximising `tr(Aᵀ R)`, i.e. minimising `Σ ‖R x − y‖²` for
/// `A = Σ y xᵀ` (row-major `[d, d]`): `U Vᵀ` of the SVD `A = U S Vᵀ`.
pub fn procrustes(cross: &[f64], d: usize) -> Result<Vec<f32>> {
    if cross.len() != d * d || cross.iter().any(|v| !v.is_finite()) {
        return Err(QuantError::InvalidArgument(format!(
            "the Procrustes fit needs a finite {d} x {d} cross-product matrix"
        )));
    }
    let svd = DMatrix::from_row_slice(d, d, cross).svd(true, true);
    let (u, v_t) = svd
        .u
        .zip(svd.v_t)
        .ok_or_else(|| QuantError::InvalidArgument("the SVD did not converge".into()))?;
    let r = u * v_t;
    Ok((0..d * d).map(|i| r[(i / d, i % d)] as f32).collect())
}

/// How [`learn_rotations`] trains.
#[derive(Clone, Debug)]
pub struct RotationTraining {
    /// k-means / Procrustes alternations after the Hadamard start.
    pub alternations: usize,
    /// Calibration rows per KV head each alternation's k-means sees (drawn at random); the
    /// Procrustes fit takes every row, so that `d²` parameters per head meet enough data.
    pub rows_per_head: usize,
    /// Lloyd iterations of each alternation's k-means.
    pub kmeans_iters: usize,
    pub seed: u64,
}

/// Per KV head, a rotation for keys that share one codebook (`heads`: each head's smoothed keys,
/// row-major `[tokens, d]`), starting from the Hadamard. Returns the rotations and the mean
/// squared quantization error per element of all rows after each alternation (index 0: the
/// Hadamard's).
pub fn learn_rotations(
    heads: &[&[f32]],
    d: usize,
    codec: VqCodec,
    training: &RotationTraining,
) -> Result<(Vec<Vec<f32>>, Vec<f64>)> {
    check_head_dim(d)?;
    codec.codes_per_vector(d)?;
    let mut rng = ChaCha8Rng::seed_from_u64(training.seed);
    let samples: Vec<Vec<f32>> = heads
        .iter()
        .map(|rows| {
            let available = rows.len() / d;
            let take = available.min(training.rows_per_head);
            let mut picks = rand::seq::index::sample(&mut rng, available, take).into_vec();
            picks.sort_unstable();
            picks
                .iter()
                .flat_map(|&t| rows[t * d..(t + 1) * d].iter().copied())
                .collect()
        })
        .collect();
    let sub_vectors: usize = samples.iter().map(|s| s.len() / codec.sub_dim()).sum();
    if sub_vectors < codec.codebook_size() {
        return Err(QuantError::InvalidArgument(format!(
            "{sub_vectors} calibration sub-vectors cannot train a {codec} codebook of {} centroids: give more calibration text",
            codec.codebook_size()
        )));
    }
    let mut rotations = vec![hadamard_matrix(d)?; heads.len()];
    let mut errors = Vec::with_capacity(training.alternations + 1);
    let elements: usize = heads.iter().map(|rows| rows.len()).sum();
    for step in 0..=training.alternations {
        let points = samples
            .iter()
            .zip(&rotations)
            .map(|(rows, r)| rotate_rows(r, rows, d))
            .collect::<Result<Vec<_>>>()?
            .concat();
        let cfg = KMeansConfig {
            max_iters: training.kmeans_iters,
            ..KMeansConfig::new(codec.codebook_size(), training.seed ^ step as u64)
        };
        let book = Codebook::new(codec, &kmeans(&points, codec.sub_dim(), &cfg)?.centroids)?;
        let mut squared = 0f64;
        for (h, rows) in heads.iter().enumerate() {
            let rotated = rotate_rows(&rotations[h], rows, d)?;
            let mut quantized = rotated.clone();
            book.round_trip_rows(&mut quantized, d)?;
            squared += rotated
                .iter()
                .zip(&quantized)
                .map(|(a, b)| ((a - b) as f64).powi(2))
                .sum::<f64>();
            if step < training.alternations {
                rotations[h] = procrustes(&cross(&quantized, rows, d), d)?;
            }
        }
        errors.push(squared / elements as f64);
    }
    Ok((rotations, errors))
}

fn rotate_rows(matrix: &[f32], rows: &[f32], d: usize) -> Result<Vec<f32>> {
    let mut out = rows.to_vec();
    out.par_chunks_mut(d)
        .try_for_each(|row| rotate(matrix, row))?;
    Ok(out)
}

/// `Σ y xᵀ` over row pairs, row-major `[d, d]`, in f64.
fn cross(y: &[f32], x: &[f32], d: usize) -> Vec<f64> {
    let mut a = vec![0f64; d * d];
    for (yr, xr) in y.chunks_exact(d).zip(x.chunks_exact(d)) {
        for (i, &yi) in yr.iter().enumerate() {
            let row = &mut a[i * d..(i + 1) * d];
            for (out, &xj) in row.iter_mut().zip(xr) {
                *out += yi as f64 * xj as f64;
            }
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn correlated_keys(tokens: usize, d: usize, seed: u64) -> Vec<f32> {
        use rand::RngExt;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut out = Vec::with_capacity(tokens * d);
        for _ in 0..tokens {
            // Pairs of dims far apart move together: a rotation can bring each pair into
            // one sub-vector, the Hadamard spreads them.
            let shared: Vec<f32> = (0..d / 2).map(|_| rng.random_range(-1.0..1.0)).collect();
            for i in 0..d {
                let noise: f32 = rng.random_range(-0.05..0.05);
                out.push(shared[i % (d / 2)] * if i < d / 2 { 1.0 } else { 0.8 } + noise);
            }
        }
        out
    }

    #[test]
    fn hadamard_matrix_matches_the_butterflies() {
        let h = hadamard_matrix(16).unwrap();
        let x: Vec<f32> = (0..16).map(|i| (i as f32 * 0.37).sin()).collect();
        let (mut a, mut b) = (x.clone(), x.clone());
        rotate(&h, &mut a).unwrap();
        hadamard_in_place(&mut b).unwrap();
        assert!(a.iter().zip(&b).all(|(p, q)| (p - q).abs() < 1e-5));
        rotate_back(&h, &mut a).unwrap();
        assert!(a.iter().zip(&x).all(|(p, q)| (p - q).abs() < 1e-5));
    }

    #[test]
    fn procrustes_recovers_a_rotation() {
        let d = 8;
        let r = hadamard_matrix(d).unwrap();
        let x = correlated_keys(64, d, 1);
        let y = rotate_rows(&r, &x, d).unwrap();
        let fit = procrustes(&cross(&y, &x, d), d).unwrap();
        assert!(fit.iter().zip(&r).all(|(a, b)| (a - b).abs() < 1e-4));
    }

    #[test]
    fn learned_rotations_lower_the_error_and_stay_orthogonal() {
        let d = 16;
        let keys = [correlated_keys(2048, d, 2), correlated_keys(2048, d, 3)];
        let heads: Vec<&[f32]> = keys.iter().map(Vec::as_slice).collect();
        let codec: VqCodec = "d4b8".parse().unwrap();
        let training = RotationTraining {
            alternations: 6,
            rows_per_head: 1024,
            kmeans_iters: 10,
            seed: 7,
        };
        let (rotations, errors) = learn_rotations(&heads, d, codec, &training).unwrap();
        assert_eq!(rotations.len(), 2);
        assert_eq!(errors.len(), 7);
        for r in &rotations {
            assert!(orthogonality_error(r, d) < 1e-4);
        }
        assert!(
            errors[6] < 0.95 * errors[0],
            "the alternation should fit the codebook better than the Hadamard: {errors:?}"
        );
    }

    #[test]
    fn bad_shapes_are_errors() {
        assert!(rotate(&[1.0; 8], &mut [0.0; 3]).is_err());
        assert!(procrustes(&[f64::NAN; 4], 2).is_err());
        assert!(hadamard_matrix(12).is_err());
    }
}
