//! k-means over sub-vectors: k-means++ seeding, Lloyd iterations, empty clusters re-seeded.
//! Optionally weighted: point `i` counts `w_i` times in the objective `Σ w_i ‖x_i − c(x_i)‖²`
//! (calibration weighs a key by the attention it receives, see `calibrate --weight`).
//!
//! Deterministic for a given seed whatever the thread count: every parallel reduction runs
//! over fixed chunks whose partial results are summed in chunk order.

use crate::error::{QuantError, Result};
use crate::search::CentroidSearch;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Points per parallel work item. Fixed (not derived from the thread count) for determinism.
const CHUNK: usize = 8192;

#[derive(Clone, Debug)]
pub struct KMeansConfig {
    pub clusters: usize,
    /// At most this many Lloyd iterations (the paper uses 30).
    pub max_iters: usize,
    /// Stop when the relative drop of the inertia falls below this.
    pub tolerance: f64,
    pub seed: u64,
}

impl KMeansConfig {
    pub fn new(clusters: usize, seed: u64) -> Self {
        Self {
            clusters,
            max_iters: 30,
            tolerance: 1e-4,
            seed,
        }
    }
}

#[derive(Clone, Debug)]
pub struct KMeansResult {
    /// Row-major `[clusters, dim]`.
    pub centroids: Vec<f32>,
    pub iterations: usize,
    /// Mean squared distance of a point to its centroid after the last iteration.
    pub mean_squared_error: f64,
    /// Clusters that were empty at some iteration and re-seeded.
    pub reseeded: usize,
}

/// Clusters `points` (row-major `[n, dim]`) into `cfg.clusters` centroids.
pub fn kmeans(points: &[f32], dim: usize, cfg: &KMeansConfig) -> Result<KMeansResult> {
    check_points(points, dim, cfg)?;
    lloyd(points, None, dim, cfg)
}

/// Weighted k-means: minimises `Σ w_i ‖x_i − c(x_i)‖²`. Centroids are weighted means
/// (`Σ w x / Σ w`), k-means++ draws its first centroid ∝ `w` and the next ones ∝ `w · D²`,
/// and an empty cluster is re-seeded on the point of largest `w · D²`. Weights must be finite
/// and positive (leave out points that should not count). Constant weights do not change the
/// minimiser: they take the unweighted path, so the result is exactly [`kmeans`]'s.
/// `mean_squared_error` is the weighted mean `Σ w d² / Σ w`.
pub fn weighted_kmeans(
    points: &[f32],
    weights: &[f32],
    dim: usize,
    cfg: &KMeansConfig,
) -> Result<KMeansResult> {
    let n = check_points(points, dim, cfg)?;
    if weights.len() != n {
        return Err(QuantError::shape(
            "k-means weights",
            format!("one per point ({n})"),
            weights.len(),
        ));
    }
    if let Some((index, &value)) = weights
        .iter()
        .enumerate()
        .find(|(_, w)| !(w.is_finite() && **w > 0.0))
    {
        return Err(QuantError::InvalidWeight { index, value });
    }
    if weights.iter().all(|&w| w == weights[0]) {
        return lloyd(points, None, dim, cfg);
    }
    lloyd(points, Some(weights), dim, cfg)
}

/// Checks the points and returns their count.
fn check_points(points: &[f32], dim: usize, cfg: &KMeansConfig) -> Result<usize> {
    if dim == 0 || !points.len().is_multiple_of(dim) {
        return Err(QuantError::shape(
            "k-means points",
            format!("a multiple of dim {dim}"),
            points.len(),
        ));
    }
    let n = points.len() / dim;
    let k = cfg.clusters;
    if k == 0 || n < k {
        return Err(QuantError::InvalidArgument(format!(
            "k-means needs at least as many points as clusters: {n} points for {k} clusters"
        )));
    }
    if points.iter().any(|v| !v.is_finite()) {
        return Err(QuantError::InvalidArgument(
            "k-means points contain NaN or infinity".into(),
        ));
    }
    Ok(n)
}

/// The weight of point `i` (1 when unweighted: every product with it is exact, so the
/// unweighted path computes what it did before weights existed).
#[inline]
fn weight_of(weights: Option<&[f32]>, i: usize) -> f32 {
    weights.map_or(1.0, |w| w[i])
}

fn lloyd(
    points: &[f32],
    weights: Option<&[f32]>,
    dim: usize,
    cfg: &KMeansConfig,
) -> Result<KMeansResult> {
    let n = points.len() / dim;
    let k = cfg.clusters;
    let total_weight: f64 = match weights {
        None => n as f64,
        Some(w) => w.iter().map(|&w| w as f64).sum(),
    };
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut centroids = kmeans_plus_plus(points, weights, dim, k, &mut rng);
    let mut assignment = vec![u32::MAX; n];
    let mut previous_error = f64::INFINITY;
    let mut reseeded = 0;
    let mut iterations = 0;
    let mut mean_squared_error = f64::INFINITY;

    for _ in 0..cfg.max_iters {
        iterations += 1;
        let search = CentroidSearch::new(&centroids, dim);
        let step = assign_and_accumulate(points, weights, dim, &search, &mut assignment);
        mean_squared_error = step.squared_error / total_weight;
        centroids = step
            .sums
            .chunks_exact(dim)
            .zip(&step.weight_sums)
            .zip(centroids.chunks_exact(dim))
            .flat_map(|((sum, &mass), old)| {
                let row: Vec<f32> = if mass > 0.0 {
                    sum.iter().map(|s| (s / mass) as f32).collect()
                } else {
                    old.to_vec()
                };
                row
            })
            .collect();
        let empty: Vec<usize> = (0..k).filter(|&c| step.counts[c] == 0).collect();
        if !empty.is_empty() {
            reseeded += empty.len();
            reseed_empty(points, dim, &step.distances, &empty, &mut centroids);
            continue; // the re-seeded centroids need another assignment before converging
        }
        // The first iteration (and the first after a re-seed) has no previous error to compare
        // with: ∞ − e ≤ tol · ∞ would call every run converged after one step.
        let converged = step.changed == 0
            || (previous_error.is_finite()
                && (previous_error - mean_squared_error)
                    <= cfg.tolerance * previous_error.max(f64::MIN_POSITIVE));
        previous_error = mean_squared_error;
        if converged {
            break;
        }
    }
    Ok(KMeansResult {
        centroids,
        iterations,
        mean_squared_error,
        reseeded,
    })
}

struct Step {
    /// Per cluster, `Σ w x` and `Σ w`.
    sums: Vec<f64>,
    weight_sums: Vec<f64>,
    counts: Vec<u64>,
    /// Weighted squared distance `w · d²` of every point to its assigned centroid.
    distances: Vec<f32>,
    squared_error: f64,
    changed: usize,
}

fn assign_and_accumulate(
    points: &[f32],
    weights: Option<&[f32]>,
    dim: usize,
    search: &CentroidSearch,
    assignment: &mut [u32],
) -> Step {
    let k = search.len();
    let empty = || Step {
        sums: vec![0f64; k * dim],
        weight_sums: vec![0f64; k],
        counts: vec![0u64; k],
        distances: Vec::new(),
        squared_error: 0.0,
        changed: 0,
    };
    let partials: Vec<Step> = points
        .par_chunks(CHUNK * dim)
        .zip(assignment.par_chunks_mut(CHUNK))
        .enumerate()
        .map(|(chunk_index, (chunk, assigned))| {
            let mut part = empty();
            let mut scratch = search.scratch();
            for (i, (x, slot)) in chunk.chunks_exact(dim).zip(assigned.iter_mut()).enumerate() {
                let w = weight_of(weights, chunk_index * CHUNK + i);
                let (c, d) = search.nearest(x, &mut scratch);
                if *slot != c {
                    part.changed += 1;
                    *slot = c;
                }
                let c = c as usize;
                part.counts[c] += 1;
                part.weight_sums[c] += w as f64;
                for (s, &v) in part.sums[c * dim..(c + 1) * dim].iter_mut().zip(x) {
                    *s += w as f64 * v as f64;
                }
                let weighted = w * d;
                part.squared_error += weighted as f64;
                part.distances.push(weighted);
            }
            part
        })
        .collect();
    let mut step = empty();
    step.distances.reserve(assignment.len());
    for part in partials {
        step.sums
            .iter_mut()
            .zip(&part.sums)
            .for_each(|(a, b)| *a += b);
        step.weight_sums
            .iter_mut()
            .zip(&part.weight_sums)
            .for_each(|(a, b)| *a += b);
        step.counts
            .iter_mut()
            .zip(&part.counts)
            .for_each(|(a, b)| *a += b);
        step.distances.extend(part.distances);
        step.squared_error += part.squared_error;
        step.changed += part.changed;
    }
    step
}

/// Moves each empty cluster onto one of the points worst served by the current centroids
/// (largest `w · d²`).
fn reseed_empty(
    points: &[f32],
    dim: usize,
    distances: &[f32],
    empty: &[usize],
    centroids: &mut [f32],
) {
    let mut order: Vec<usize> = (0..distances.len()).collect();
    // Largest distance first; ties broken by index so the choice is deterministic.
    order.sort_unstable_by(|&a, &b| distances[b].total_cmp(&distances[a]).then(a.cmp(&b)));
    for (&cluster, &point) in empty.iter().zip(&order) {
        centroids[cluster * dim..(cluster + 1) * dim]
            .copy_from_slice(&points[point * dim..(point + 1) * dim]);
    }
}

/// k-means++ seeding: each new centroid is a point drawn with probability ∝ its squared
/// distance to the nearest centroid chosen so far (times its weight; the first ∝ its weight).
fn kmeans_plus_plus(
    points: &[f32],
    weights: Option<&[f32]>,
    dim: usize,
    k: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<f32> {
    let n = points.len() / dim;
    let mut centroids = Vec::with_capacity(k * dim);
    let first = match weights {
        None => rng.random_range(0..n),
        Some(w) => {
            let chunk_sums: Vec<f64> = w
                .chunks(CHUNK)
                .map(|c| c.iter().map(|&v| v as f64).sum())
                .collect();
            let total: f64 = chunk_sums.iter().sum();
            sample_proportional(w, &chunk_sums, rng.random::<f64>() * total)
        }
    };
    centroids.extend_from_slice(&points[first * dim..(first + 1) * dim]);
    let mut nearest = vec![f32::INFINITY; n];
    // w · D², what the next centroid is drawn by (D² itself when unweighted).
    let mut score = vec![0f32; n];
    for _ in 1..k {
        let newest = &centroids[centroids.len() - dim..].to_vec();
        let chunk_sums: Vec<f64> = points
            .par_chunks(CHUNK * dim)
            .zip(nearest.par_chunks_mut(CHUNK))
            .zip(score.par_chunks_mut(CHUNK))
            .enumerate()
            .map(|(chunk_index, ((chunk, near), score))| {
                let mut total = 0f64;
                for (i, ((x, d), s)) in chunk
                    .chunks_exact(dim)
                    .zip(near.iter_mut())
                    .zip(score.iter_mut())
                    .enumerate()
                {
                    let dist: f32 = x.iter().zip(newest).map(|(a, b)| (a - b) * (a - b)).sum();
                    *d = d.min(dist);
                    *s = weight_of(weights, chunk_index * CHUNK + i) * *d;
                    total += *s as f64;
                }
                total
            })
            .collect();
        let total: f64 = chunk_sums.iter().sum();
        let chosen = if total > 0.0 {
            sample_proportional(&score, &chunk_sums, rng.random::<f64>() * total)
        } else {
            // Fewer distinct points than clusters: any point will do.
            rng.random_range(0..n)
        };
        centroids.extend_from_slice(&points[chosen * dim..(chosen + 1) * dim]);
    }
    centroids
}

fn sample_proportional(weights: &[f32], chunk_sums: &[f64], mut target: f64) -> usize {
    for (c, &sum) in chunk_sums.iter().enumerate() {
        if target < sum {
            let start = c * CHUNK;
            for (i, &w) in weights[start..(start + CHUNK).min(weights.len())]
                .iter()
                .enumerate()
            {
                target -= w as f64;
                if target < 0.0 && w > 0.0 {
                    return start + i;
                }
            }
            // Rounding left a sliver: take the last point of the chunk with weight.
            return (start..(start + CHUNK).min(weights.len()))
                .rev()
                .find(|&i| weights[i] > 0.0)
                .unwrap_or(start);
        }
        target -= sum;
    }
    weights.iter().rposition(|&w| w > 0.0).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points drawn tightly around known centres.
    fn clustered(centres: &[[f32; 4]], per: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut pts = Vec::new();
        for _ in 0..per {
            for c in centres {
                pts.extend(c.iter().map(|v| v + rng.random_range(-0.05..0.05f32)));
            }
        }
        pts
    }

    #[test]
    fn recovers_known_clusters() {
        let centres = [
            [0.0, 0.0, 0.0, 0.0],
            [5.0, 5.0, 0.0, 0.0],
            [-5.0, 0.0, 5.0, 1.0],
            [0.0, -4.0, -4.0, 3.0],
            [9.0, -9.0, 2.0, -2.0],
        ];
        let pts = clustered(&centres, 2000, 3);
        let result = kmeans(&pts, 4, &KMeansConfig::new(5, 42)).unwrap();
        for c in &centres {
            let best = result
                .centroids
                .chunks_exact(4)
                .map(|r| r.iter().zip(c).map(|(a, b)| (a - b).powi(2)).sum::<f32>())
                .fold(f32::INFINITY, f32::min);
            assert!(
                best < 1e-3,
                "centre {c:?} not found: {:?}",
                result.centroids
            );
        }
        assert!(result.mean_squared_error < 0.01);
        assert!(result.iterations <= 30);
    }

    #[test]
    fn keeps_iterating_while_the_error_drops() {
        // More centroids than clusters: the k-means++ seeds are far from a local optimum and
        // Lloyd has to move them over several iterations.
        let pts = clustered(
            &[[1.0, 2.0, 3.0, 4.0], [0.0; 4], [-1.0, 0.5, 2.0, 0.0]],
            3000,
            4,
        );
        let full = kmeans(&pts, 4, &KMeansConfig::new(12, 1)).unwrap();
        let one_step = kmeans(
            &pts,
            4,
            &KMeansConfig {
                max_iters: 1,
                ..KMeansConfig::new(12, 1)
            },
        )
        .unwrap();
        assert!(
            full.iterations > 2,
            "stopped after {} iterations",
            full.iterations
        );
        assert!(
            full.mean_squared_error < 0.95 * one_step.mean_squared_error,
            "{} iterations: error {}, one iteration: {}",
            full.iterations,
            full.mean_squared_error,
            one_step.mean_squared_error
        );
    }

    #[test]
    fn deterministic_for_a_seed_whatever_the_threads() {
        let pts = clustered(
            &[[1.0, 2.0, 3.0, 4.0], [0.0; 4], [-1.0, 0.5, 2.0, 0.0]],
            9000,
            5,
        );
        let a = kmeans(&pts, 4, &KMeansConfig::new(16, 9)).unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let b = pool
            .install(|| kmeans(&pts, 4, &KMeansConfig::new(16, 9)))
            .unwrap();
        assert_eq!(a.centroids, b.centroids);
        let c = kmeans(&pts, 4, &KMeansConfig::new(16, 10)).unwrap();
        assert_ne!(a.centroids, c.centroids);
    }

    #[test]
    fn handles_duplicate_points_and_empty_clusters() {
        // 3 distinct points, 8 clusters: most clusters must be empty or duplicated, never NaN.
        let mut pts = Vec::new();
        for i in 0..300 {
            pts.extend_from_slice(&[(i % 3) as f32, 0.0]);
        }
        let r = kmeans(&pts, 2, &KMeansConfig::new(8, 1)).unwrap();
        assert!(r.centroids.iter().all(|v| v.is_finite()));
        assert!(r.mean_squared_error < 1e-9);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(kmeans(&[1.0, 2.0, 3.0], 2, &KMeansConfig::new(1, 0)).is_err());
        assert!(
            kmeans(&[1.0, 2.0], 2, &KMeansConfig::new(2, 0))
                .unwrap_err()
                .to_string()
                .contains("1 points for 2 clusters")
        );
        assert!(kmeans(&[f32::NAN, 2.0], 2, &KMeansConfig::new(1, 0)).is_err());
    }
    #[test]
    fn constant_weights_give_the_unweighted_result() {
        let pts = clustered(
            &[[1.0, 2.0, 3.0, 4.0], [0.0; 4], [-1.0, 0.5, 2.0, 0.0]],
            3000,
            7,
        );
        let n = pts.len() / 4;
        let plain = kmeans(&pts, 4, &KMeansConfig::new(16, 3)).unwrap();
        for w in [1.0f32, 2.5, 1e-3] {
            let weighted =
                weighted_kmeans(&pts, &vec![w; n], 4, &KMeansConfig::new(16, 3)).unwrap();
            assert_eq!(plain.centroids, weighted.centroids, "weight {w}");
            assert_eq!(plain.mean_squared_error, weighted.mean_squared_error);
        }
    }

    #[test]
    fn integer_weights_act_as_repeated_points() {
        // Weight 3 on a point = the point three times: the cluster means must agree.
        let centres = [
            [0.0, 0.0, 0.0, 0.0],
            [6.0, 6.0, 0.0, 0.0],
            [-6.0, 0.0, 6.0, 1.0],
        ];
        let pts = clustered(&centres, 500, 11);
        let n = pts.len() / 4;
        let weights: Vec<f32> = (0..n).map(|i| if i % 7 == 0 { 3.0 } else { 1.0 }).collect();
        let mut repeated = Vec::new();
        for (x, &w) in pts.chunks_exact(4).zip(&weights) {
            for _ in 0..w as usize {
                repeated.extend_from_slice(x);
            }
        }
        let cfg = KMeansConfig::new(3, 5);
        let weighted = weighted_kmeans(&pts, &weights, 4, &cfg).unwrap();
        let plain = kmeans(&repeated, 4, &cfg).unwrap();
        let sorted = |c: &[f32]| {
            let mut rows: Vec<Vec<f32>> = c.chunks_exact(4).map(<[f32]>::to_vec).collect();
            rows.sort_by(|a, b| a[0].total_cmp(&b[0]));
            rows.concat()
        };
        for (a, b) in sorted(&weighted.centroids)
            .iter()
            .zip(sorted(&plain.centroids))
        {
            assert!(
                (a - b).abs() < 1e-5,
                "{:?} vs {:?}",
                weighted.centroids,
                plain.centroids
            );
        }
        let (a, b) = (weighted.mean_squared_error, plain.mean_squared_error);
        assert!(
            (a - b).abs() < 1e-3 * b,
            "weighted MSE {a} vs repeated points {b}"
        );
        // And they differ from the unweighted means of the original points.
        let unweighted = kmeans(&pts, 4, &cfg).unwrap();
        assert_ne!(sorted(&unweighted.centroids), sorted(&weighted.centroids));
    }

    #[test]
    fn a_heavy_point_pulls_a_centroid_onto_itself() {
        // Two tight clusters and one lone point between them; 2 centroids.
        let mut pts = clustered(&[[-5.0, 0.0, 0.0, 0.0], [5.0, 0.0, 0.0, 0.0]], 1000, 2);
        let lone = [0.0, 3.0, 0.0, 0.0];
        pts.extend_from_slice(&lone);
        let n = pts.len() / 4;
        let distance_to_lone = |c: &[f32]| {
            c.chunks_exact(4)
                .map(|r| {
                    r.iter()
                        .zip(&lone)
                        .map(|(a, b)| (a - b).powi(2))
                        .sum::<f32>()
                })
                .fold(f32::INFINITY, f32::min)
        };
        let cfg = KMeansConfig::new(2, 0);
        let plain = kmeans(&pts, 4, &cfg).unwrap();
        assert!(
            distance_to_lone(&plain.centroids) > 9.0,
            "{:?}",
            plain.centroids
        );
        let mut weights = vec![1.0f32; n];
        weights[n - 1] = 1e6;
        let weighted = weighted_kmeans(&pts, &weights, 4, &cfg).unwrap();
        assert!(
            distance_to_lone(&weighted.centroids) < 1e-4,
            "{:?}",
            weighted.centroids
        );
    }

    #[test]
    fn weighted_is_deterministic_for_a_seed_whatever_the_threads() {
        let pts = clustered(&[[1.0, 2.0, 3.0, 4.0], [0.0; 4]], 9000, 5);
        let weights: Vec<f32> = (0..pts.len() / 4).map(|i| 0.1 + (i % 13) as f32).collect();
        let cfg = KMeansConfig::new(16, 9);
        let a = weighted_kmeans(&pts, &weights, 4, &cfg).unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let b = pool
            .install(|| weighted_kmeans(&pts, &weights, 4, &cfg))
            .unwrap();
        assert_eq!(a.centroids, b.centroids);
        let plain = kmeans(&pts, 4, &cfg).unwrap();
        assert_ne!(a.centroids, plain.centroids);
    }

    #[test]
    fn rejects_bad_weights() {
        let pts = [0.0f32, 1.0, 2.0, 3.0];
        let cfg = KMeansConfig::new(1, 0);
        for (bad, at) in [
            ([1.0, 0.0], 1),
            ([-1.0, 1.0], 0),
            ([1.0, f32::NAN], 1),
            ([f32::INFINITY, 1.0], 0),
        ] {
            match weighted_kmeans(&pts, &bad, 2, &cfg) {
                Err(QuantError::InvalidWeight { index, .. }) => assert_eq!(index, at, "{bad:?}"),
                other => panic!("{bad:?}: expected InvalidWeight, got {other:?}"),
            }
        }
        assert!(matches!(
            weighted_kmeans(&pts, &[1.0], 2, &cfg),
            Err(QuantError::ShapeMismatch { .. })
        ));
    }
}
