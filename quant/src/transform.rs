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

/// How calibration chooses the smooth scales λ of one (layer, KV head):
/// `λ_i = sqrt(max_t |K[t,i]|)^key_max · E[k_i²]^(key_rms/4) · E[q_i²]^(-query/2)`, normalised
/// to the geometric mean of the paper's `sqrt(max |K|)` (k-means does not care about a common
/// factor; this keeps the smoothed keys at the paper's magnitudes, well inside fp16's range).
///
/// - `max` (`key_max = 1`): the paper's rule; it flattens the keys' channel outliers.
/// - `query` (`query = 1`): query-aware. A key error `e'` in the smoothed space changes a score
///   by `q' · e'`, of expected square `Σ_i E[q'_i²] e'_i²` (channels taken as uncorrelated),
///   while k-means minimises `Σ_i e'_i²`; with `λ_i² E[q_i²]` constant the two agree. It
///   ignores that the error itself grows with the smoothed keys' power.
/// - `balanced` (`key_rms = 1, query = 1/2`, i.e. `λ_i = (E[k_i²] / E[q_i²])^(1/4)`): if the
///   Hadamard rotation makes the smoothed keys' error about isotropic with a power proportional
///   to the keys' total power `Σ_i E[k_i²]/λ_i²`, the score error is
///   `∝ (Σ_i E[k_i²]/λ_i²) · (Σ_i E[q_i²] λ_i²)`, which this λ minimises (Cauchy–Schwarz).
/// - `mix:A:B` or `mix:A:B:R`: `key_max = A, query = B, key_rms = R`.
///
/// Files written before the rule existed were all `max`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SmoothRule {
    pub key_max: f32,
    pub query: f32,
    pub key_rms: f32,
}

impl SmoothRule {
    pub const MAX: Self = Self {
        key_max: 1.0,
        query: 0.0,
        key_rms: 0.0,
    };
    pub const QUERY: Self = Self {
        key_max: 0.0,
        query: 1.0,
        key_rms: 0.0,
    };
    pub const BALANCED: Self = Self {
        key_max: 0.0,
        query: 0.5,
        key_rms: 1.0,
    };

    /// Whether the rule needs the calibration queries' second moments.
    pub fn needs_queries(self) -> bool {
        self.query != 0.0
    }

    /// `max`, `query`, `balanced`, or `mix:A:B[:R]` (the form [`FromStr`](std::str::FromStr)
    /// reads).
    pub fn name(self) -> String {
        if self == Self::MAX {
            "max".into()
        } else if self == Self::QUERY {
            "query".into()
        } else if self == Self::BALANCED {
            "balanced".into()
        } else if self.key_rms == 0.0 {
            format!("mix:{}:{}", self.key_max, self.query)
        } else {
            format!("mix:{}:{}:{}", self.key_max, self.query, self.key_rms)
        }
    }

    /// λ for one (layer, KV head) from its [`SmoothStats`]. A channel whose statistics are
    /// zero or not finite gets the geometric mean, so the transform stays invertible and finite.
    pub fn scales(self, stats: &SmoothStats) -> Result<Vec<f32>> {
        let d = stats.max_abs.len();
        if d == 0 {
            return Err(QuantError::shape("smooth statistics", "a head dim > 0", 0));
        }
        let query_power = match (self.needs_queries(), stats.query_power()) {
            (false, _) => None,
            (true, Some(p)) => Some(p),
            (true, None) => {
                return Err(QuantError::InvalidArgument(format!(
                    "smooth rule {} needs the calibration queries' second moments",
                    self.name()
                )));
            }
        };
        let key_power = stats.key_power();
        let paper: Vec<f64> = stats.max_abs.iter().map(|&m| (m as f64).sqrt()).collect();
        let usable = |x: f64| x.is_finite() && x > 0.0;
        // log λ_i, or None where a statistic is zero or not finite.
        let logs: Vec<Option<f64>> = (0..d)
            .map(|i| {
                let mut log = 0.0;
                let terms = [
                    (self.key_max, paper[i], 1.0),
                    (
                        self.key_rms,
                        key_power.as_ref().map_or(0.0, |p| p[i] as f64),
                        0.25,
                    ),
                    (
                        self.query,
                        query_power.as_ref().map_or(0.0, |p| p[i] as f64),
                        -0.5,
                    ),
                ];
                for (exponent, stat, scale) in terms {
                    if exponent != 0.0 {
                        if !usable(stat) {
                            return None;
                        }
                        log += scale * exponent as f64 * stat.ln();
                    }
                }
                Some(log)
            })
            .collect();
        let mean = |xs: &mut dyn Iterator<Item = f64>| {
            let (sum, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
            (n > 0).then(|| sum / n as f64)
        };
        let Some(log_mean) = mean(&mut logs.iter().flatten().copied()) else {
            return Ok(vec![1.0; d]); // nothing usable: the identity
        };
        let target =
            mean(&mut paper.iter().copied().filter(|&x| usable(x)).map(f64::ln)).unwrap_or(0.0);
        Ok(logs
            .iter()
            .map(|l| (l.unwrap_or(log_mean) - log_mean + target).exp() as f32)
            .collect())
    }
}

impl Default for SmoothRule {
    fn default() -> Self {
        Self::MAX
    }
}

impl fmt::Display for SmoothRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl std::str::FromStr for SmoothRule {
    type Err = QuantError;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            QuantError::InvalidArgument(format!(
                "smooth rule {s:?}: expected max (the paper's sqrt(max|K|)), query (E[q²]^-1/2), balanced ((E[k²]/E[q²])^1/4) or mix:A:B[:R] (sqrt(max|K|)^A · E[q²]^(-B/2) · E[k²]^(R/4), finite numbers, not all 0)"
            ))
        };
        match s.trim() {
            "max" => Ok(Self::MAX),
            "query" => Ok(Self::QUERY),
            "balanced" => Ok(Self::BALANCED),
            other => {
                let rest = other.strip_prefix("mix:").ok_or_else(bad)?;
                let parts: Vec<f32> = rest
                    .split(':')
                    .map(|p| p.parse::<f32>().map_err(|_| bad()))
                    .collect::<Result<_>>()?;
                let rule = match parts[..] {
                    [key_max, query] => Self {
                        key_max,
                        query,
                        key_rms: 0.0,
                    },
                    [key_max, query, key_rms] => Self {
                        key_max,
                        query,
                        key_rms,
                    },
                    _ => return Err(bad()),
                };
                let all = [rule.key_max, rule.query, rule.key_rms];
                if all.iter().any(|x| !x.is_finite()) || all.iter().all(|&x| x == 0.0) {
                    return Err(bad());
                }
                Ok(rule)
            }
        }
    }
}

/// Per-channel statistics of one (layer, KV head) that the smooth rules read.
#[derive(Clone, Debug)]
pub struct SmoothStats {
    /// `max_t |K[t,i]|`
    pub max_abs: Vec<f32>,
    /// `Σ k_i²` over the recorded keys, and their count.
    pub key_square_sum: Vec<f64>,
    pub keys: usize,
    /// `Σ q_i²` over the recorded queries of the group, and their count.
    pub query_square_sum: Vec<f64>,
    pub queries: usize,
}

impl SmoothStats {
    pub fn new(head_dim: usize) -> Self {
        Self {
            max_abs: vec![0.0; head_dim],
            key_square_sum: vec![0.0; head_dim],
            keys: 0,
            query_square_sum: vec![0.0; head_dim],
            queries: 0,
        }
    }

    /// Adds keys, row-major `[tokens, head_dim]`.
    pub fn add_keys(&mut self, keys: &[f32]) {
        for row in keys.chunks_exact(self.max_abs.len()) {
            for ((m, s), &k) in self
                .max_abs
                .iter_mut()
                .zip(&mut self.key_square_sum)
                .zip(row)
            {
                *m = m.max(k.abs());
                *s += k as f64 * k as f64;
            }
            self.keys += 1;
        }
    }

    /// Adds queries, row-major `[tokens, head_dim]`.
    pub fn add_queries(&mut self, queries: &[f32]) {
        for row in queries.chunks_exact(self.query_square_sum.len()) {
            for (s, &q) in self.query_square_sum.iter_mut().zip(row) {
                *s += q as f64 * q as f64;
            }
            self.queries += 1;
        }
    }

    /// `E[q_i²]`, or `None` before any query.
    pub fn query_power(&self) -> Option<Vec<f32>> {
        (self.queries > 0).then(|| {
            self.query_square_sum
                .iter()
                .map(|s| (s / self.queries as f64) as f32)
                .collect()
        })
    }

    /// `E[k_i²]`, or `None` before any key.
    pub fn key_power(&self) -> Option<Vec<f32>> {
        (self.keys > 0).then(|| {
            self.key_square_sum
                .iter()
                .map(|s| (s / self.keys as f64) as f32)
                .collect()
        })
    }

    pub fn scales(&self, rule: SmoothRule) -> Result<Vec<f32>> {
        rule.scales(self)
    }
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

    #[test]
    fn max_rule_is_the_papers_scales() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let d = 16;
        let keys: Vec<f32> = (0..50 * d).map(|_| rng.random_range(-3.0..3.0)).collect();
        let mut stats = SmoothStats::new(d);
        stats.add_keys(&keys);
        let paper = smooth_scales(&keys, d).unwrap();
        for (a, b) in stats.scales(SmoothRule::MAX).unwrap().iter().zip(&paper) {
            assert!((a - b).abs() < 1e-5 * b, "{a} vs {b}");
        }
    }

    #[test]
    fn query_rule_follows_the_queries_and_keeps_scores() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let d = 16;
        let keys: Vec<f32> = (0..100 * d).map(|_| rng.random_range(-1.0..1.0)).collect();
        // Channel 5 of the queries is 10× the others: E[q_5²] is 100× larger.
        let queries: Vec<f32> = (0..300 * d)
            .map(|i| rng.random_range(-1.0..1.0f32) * if i % d == 5 { 10.0 } else { 1.0 })
            .collect();
        let mut stats = SmoothStats::new(d);
        stats.add_keys(&keys);
        stats.add_queries(&queries);
        let lambda = stats.scales(SmoothRule::QUERY).unwrap();
        let others = lambda.iter().enumerate().filter(|(i, _)| *i != 5);
        let typical = others.clone().map(|(_, l)| l).sum::<f32>() / (d - 1) as f32;
        // λ_5 ≈ λ_typical / 10: the smoothed key's channel 5 is 10× larger, so k-means
        // spends more of its accuracy on the channel the queries weigh most.
        let ratio = typical / lambda[5];
        assert!((7.0..14.0).contains(&ratio), "ratio {ratio}, λ {lambda:?}");
        // Smoothed queries have about equal power in every channel.
        let power = stats.query_power().unwrap();
        let smoothed: Vec<f32> = power.iter().zip(&lambda).map(|(p, l)| p * l * l).collect();
        let (lo, hi) = smoothed
            .iter()
            .fold((f32::MAX, 0f32), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        assert!(hi / lo < 1.0001, "{smoothed:?}");
        // Normalised to the paper's geometric mean.
        let geo =
            |xs: &[f32]| (xs.iter().map(|x| (*x as f64).ln()).sum::<f64>() / xs.len() as f64).exp();
        let paper = stats.scales(SmoothRule::MAX).unwrap();
        assert!((geo(&lambda) / geo(&paper) - 1.0).abs() < 1e-4);
        // Every transform still keeps q · k.
        let q: Vec<f32> = queries[..d].to_vec();
        for t in KeyTransform::ALL {
            let mut qt = q.clone();
            t.apply_to_query(&mut qt, &lambda).unwrap();
            let k = &keys[..d];
            let mut kt = k.to_vec();
            t.apply_to_key(&mut kt, &lambda).unwrap();
            let exact: f32 = q.iter().zip(k).map(|(a, b)| a * b).sum();
            let got: f32 = qt.iter().zip(&kt).map(|(a, b)| a * b).sum();
            assert!((exact - got).abs() < 1e-4 * (1.0 + exact.abs()), "{t}");
        }
    }

    #[test]
    fn dead_channels_and_bad_rules() {
        let d = 4;
        let mut stats = SmoothStats::new(d);
        stats.add_keys(&[1.0, 0.0, 4.0, 9.0]);
        stats.add_queries(&[1.0, 1.0, 0.0, 2.0]);
        for rule in [
            SmoothRule::MAX,
            SmoothRule::QUERY,
            "mix:0.5:0.5".parse().unwrap(),
        ] {
            let l = stats.scales(rule).unwrap();
            assert!(l.iter().all(|x| x.is_finite() && *x > 0.0), "{rule}: {l:?}");
        }
        // Without queries, the query rule is an error, not a panic.
        let no_queries = SmoothStats::new(d);
        assert!(no_queries.scales(SmoothRule::QUERY).is_err());
        for good in [
            "max",
            "query",
            "balanced",
            "mix:1:0.5",
            "mix:0.5:1",
            "mix:0:0.5:1",
            "mix:1:0.5:0.5",
        ] {
            let rule: SmoothRule = good.parse().unwrap();
            assert_eq!(rule.name().parse::<SmoothRule>().unwrap(), rule, "{good}");
        }
        assert_eq!("mix:1:0".parse::<SmoothRule>().unwrap(), SmoothRule::MAX);
        assert_eq!(
            "mix:0:0.5:1".parse::<SmoothRule>().unwrap(),
            SmoothRule::BALANCED
        );
        for bad in [
            "",
            "min",
            "mix:1",
            "mix:a:b",
            "mix:0:0",
            "mix:inf:1",
            "mix:1:1:1:1",
        ] {
            let err = bad.parse::<SmoothRule>().unwrap_err().to_string();
            assert!(err.contains("mix:A:B[:R]"), "{bad}: {err}");
        }
    }

    #[test]
    fn balanced_rule_balances_key_and_query_power() {
        // Channel 0: keys 4× larger, queries 4× smaller than the others. Balanced λ_0 is
        // (16 / (1/16))^(1/4) = 4 times the others', so the smoothed keys and queries have the
        // same magnitude in every channel.
        let d = 4;
        let mut stats = SmoothStats::new(d);
        let keys: Vec<f32> = (0..8 * d)
            .map(|i| if i % d == 0 { 4.0 } else { 1.0 })
            .collect();
        let queries: Vec<f32> = (0..8 * d)
            .map(|i| if i % d == 0 { 0.25 } else { 1.0 })
            .collect();
        stats.add_keys(&keys);
        stats.add_queries(&queries);
        let l = stats.scales(SmoothRule::BALANCED).unwrap();
        assert!((l[0] / l[1] - 4.0).abs() < 1e-4, "{l:?}");
        assert!((l[1] - l[2]).abs() < 1e-6);
        let (k0, q0) = (4.0 / l[0], 0.25 * l[0]);
        let (k1, q1) = (1.0 / l[1], 1.0 * l[1]);
        assert!((k0 / k1 - 1.0).abs() < 1e-4 && (q0 / q1 - 1.0).abs() < 1e-4);
    }
}
