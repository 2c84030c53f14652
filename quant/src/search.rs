//! Nearest-centroid search, the inner loop of both k-means and encoding.
//!
//! The distance used to rank centroids is `‖c‖² − 2·x·c` (the `‖x‖²` term is common to all
//! centroids). Centroids are stored transposed (`[dim][k]`) so the loop over centroids runs
//! eight lanes wide. Ties go to the lowest index; the GPU encoder follows the same order of
//! operations so that its codes match these except at exact ties.
//!
//! The build targets the baseline x86-64 CPU; on a CPU with AVX2 (and FMA) the same code is
//! run compiled for it, chosen at run time. Rust never fuses a multiply and an add on its
//! own, so both give bit-identical results.

#[derive(Clone)]
pub struct CentroidSearch {
    dim: usize,
    k: usize,
    /// `[dim][k]`
    transposed: Vec<f32>,
    norms: Vec<f32>,
}

const LANES: usize = 8;

impl CentroidSearch {
    /// `centroids` is row-major `[k, dim]`.
    pub fn new(centroids: &[f32], dim: usize) -> Self {
        let k = centroids.len() / dim;
        let mut transposed = vec![0f32; dim * k];
        for (c, row) in centroids.chunks_exact(dim).enumerate() {
            for (j, &v) in row.iter().enumerate() {
                transposed[j * k + c] = v;
            }
        }
        let norms = centroids
            .chunks_exact(dim)
            .map(|r| r.iter().map(|v| v * v).sum())
            .collect();
        Self {
            dim,
            k,
            transposed,
            norms,
        }
    }

    pub fn len(&self) -> usize {
        self.k
    }

    pub fn is_empty(&self) -> bool {
        self.k == 0
    }

    /// A buffer for [`Self::nearest`]; one per thread.
    pub fn scratch(&self) -> Vec<f32> {
        vec![0f32; self.k.next_multiple_of(LANES)]
    }

    /// Index of the nearest centroid and the squared distance to it.
    #[inline]
    pub fn nearest(&self, x: &[f32], scratch: &mut [f32]) -> (u32, f32) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: `nearest_avx2` only requires the CPU features it is compiled for, AVX2
            // and FMA, and the CPU has both (checked just above; the check is cached).
            return unsafe { self.nearest_avx2(x, scratch) };
        }
        self.nearest_portable(x, scratch)
    }

    /// [`Self::nearest`] compiled for AVX2 + FMA: the distance loop runs 8 floats wide.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn nearest_avx2(&self, x: &[f32], scratch: &mut [f32]) -> (u32, f32) {
        self.nearest_portable(x, scratch)
    }

    #[inline(always)]
    fn nearest_portable(&self, x: &[f32], scratch: &mut [f32]) -> (u32, f32) {
        debug_assert_eq!(x.len(), self.dim);
        let k = self.k;
        let dist = &mut scratch[..k.next_multiple_of(LANES)];
        dist[..k].copy_from_slice(&self.norms);
        dist[k..].fill(f32::INFINITY);
        for (j, &xj) in x.iter().enumerate() {
            let two_x = 2.0 * xj;
            let column = &self.transposed[j * k..(j + 1) * k];
            for (d, &c) in dist[..k].iter_mut().zip(column) {
                *d -= two_x * c;
            }
        }
        let mut best = [f32::INFINITY; LANES];
        let mut best_index = [0u32; LANES];
        for (block, lanes) in dist.chunks_exact(LANES).enumerate() {
            for l in 0..LANES {
                if lanes[l] < best[l] {
                    best[l] = lanes[l];
                    best_index[l] = (block * LANES + l) as u32;
                }
            }
        }
        let mut index = best_index[0];
        let mut value = best[0];
        for l in 1..LANES {
            if best[l] < value || (best[l] == value && best_index[l] < index) {
                value = best[l];
                index = best_index[l];
            }
        }
        let x_norm: f32 = x.iter().map(|v| v * v).sum();
        (index, (value + x_norm).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    #[test]
    fn matches_brute_force() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for (k, dim) in [(256usize, 4usize), (4096, 8), (300, 2), (5, 8)] {
            let cents: Vec<f32> = (0..k * dim).map(|_| rng.random_range(-1.0..1.0)).collect();
            let s = CentroidSearch::new(&cents, dim);
            let mut scratch = s.scratch();
            for _ in 0..200 {
                let x: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.2..1.2)).collect();
                let (i, d) = s.nearest(&x, &mut scratch);
                let brute: Vec<f64> = cents
                    .chunks_exact(dim)
                    .map(|c| {
                        c.iter()
                            .zip(&x)
                            .map(|(a, b)| ((a - b) as f64).powi(2))
                            .sum()
                    })
                    .collect();
                let best = brute.iter().cloned().fold(f64::INFINITY, f64::min);
                assert!(brute[i as usize] - best < 1e-5, "k {k} dim {dim}");
                assert!((d as f64 - brute[i as usize]).abs() < 1e-4);
            }
        }
    }

    #[test]
    fn the_dispatched_search_equals_the_portable_one_bit_for_bit() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for (k, dim) in [(256usize, 4usize), (4096, 8), (256, 2)] {
            let cents: Vec<f32> = (0..k * dim).map(|_| rng.random_range(-1.0..1.0)).collect();
            let s = CentroidSearch::new(&cents, dim);
            let mut scratch = s.scratch();
            for _ in 0..500 {
                let x: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.2..1.2)).collect();
                let (a, da) = s.nearest(&x, &mut scratch);
                let (b, db) = s.nearest_portable(&x, &mut scratch);
                assert_eq!((a, da.to_bits()), (b, db.to_bits()));
            }
        }
    }

    #[test]
    fn ties_go_to_the_lowest_index() {
        let cents = vec![1.0, 0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, -1.0, 1.0, 0.0];
        let s = CentroidSearch::new(&cents, 2);
        let mut scratch = s.scratch();
        assert_eq!(s.nearest(&[1.0, 0.0], &mut scratch).0, 0);
        assert_eq!(s.nearest(&[0.0, 0.0], &mut scratch).0, 0);
    }
}
