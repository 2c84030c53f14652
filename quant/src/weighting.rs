//! How calibration weighs each recorded token in k-means (`calibrate --weight`).
//!
//! k-means minimises the mean squared error of every sub-vector alike, but what perplexity
//! feels is the error of `q·k` and of `p·v` on the tokens that attention reads. A weight rule
//! turns per-token attention statistics (from the calibration forward pass) into k-means
//! weights:
//! - `none`: every token counts once (the default, and every file written before the rule
//!   existed);
//! - `attention`: keys and values by the attention mass they receive, `Σ_r p_rj`;
//! - `fisher`: values by `Σ_r p_rj²` and keys by `Σ_r p_rj² ‖v_j − o_r‖²`, the expected squared
//!   output error per unit of independent value (score) error of token `j`.
//!
//! Options: `RULE:POWER` raises the statistic to a power (`attention:0.5` tempers the sink and
//! local peaks), `RULE:POWER:DISTANCE` counts only queries at least `DISTANCE` positions after
//! the token (those that read it from the quantized cache when the fp16 window is that long).

use crate::error::{QuantError, Result};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightSource {
    None,
    Attention,
    Fisher,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WeightRule {
    pub source: WeightSource,
    /// Exponent applied to the statistic (1 = as measured).
    pub power: f32,
    /// Only queries at least this many positions after the token count.
    pub min_distance: usize,
}

/// Which side of the cache a weight is for (the `fisher` rule weighs them differently).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheSide {
    Keys,
    Values,
}

/// The per-token statistics of one (layer, KV head) over the recorded tokens.
pub struct TokenStatistics<'a> {
    pub mass: &'a [f32],
    pub squared: &'a [f32],
    pub key_fisher: &'a [f32],
}

impl WeightRule {
    pub const NONE: Self = Self {
        source: WeightSource::None,
        power: 1.0,
        min_distance: 0,
    };
    pub const ATTENTION: Self = Self {
        source: WeightSource::Attention,
        power: 1.0,
        min_distance: 0,
    };
    pub const FISHER: Self = Self {
        source: WeightSource::Fisher,
        power: 1.0,
        min_distance: 0,
    };

    pub fn is_none(self) -> bool {
        self.source == WeightSource::None
    }

    /// `none`, `attention`, `fisher`, with `:POWER[:DISTANCE]` where not the defaults (the
    /// form [`FromStr`](std::str::FromStr) reads).
    pub fn name(self) -> String {
        let base = match self.source {
            WeightSource::None => return "none".into(),
            WeightSource::Attention => "attention",
            WeightSource::Fisher => "fisher",
        };
        match (self.power, self.min_distance) {
            (1.0, 0) => base.into(),
            (p, 0) => format!("{base}:{p}"),
            (p, r) => format!("{base}:{p}:{r}"),
        }
    }

    /// The raw statistic of one side, before the power.
    fn statistic<'a>(self, stats: &TokenStatistics<'a>, side: CacheSide) -> Option<&'a [f32]> {
        match (self.source, side) {
            (WeightSource::None, _) => None,
            (WeightSource::Attention, _) => Some(stats.mass),
            (WeightSource::Fisher, CacheSide::Keys) => Some(stats.key_fisher),
            (WeightSource::Fisher, CacheSide::Values) => Some(stats.squared),
        }
    }

    /// k-means weights of the tokens of one layer, `[kv_head][token]`, from their statistics.
    /// `positions[i]` is token `i`'s position in its calibration window: the first `sinks`
    /// positions (kept in fp16 by the evaluation, and attention sinks whose mass would
    /// dominate) take the median weight of the others. Then the power, then a scale that makes
    /// the layer's weights average 1. A token no counted query reads keeps weight 0 (the
    /// caller leaves it out of k-means). `None` for the rule `none`.
    pub fn layer_weights(
        self,
        stats: &[TokenStatistics<'_>],
        side: CacheSide,
        positions: &[u32],
        sinks: usize,
    ) -> Result<Option<Vec<Vec<f32>>>> {
        let mut heads: Vec<Vec<f32>> = Vec::with_capacity(stats.len());
        for s in stats {
            let Some(raw) = self.statistic(s, side) else {
                return Ok(None);
            };
            if raw.len() != positions.len() {
                return Err(QuantError::shape(
                    "token statistics",
                    format!("one per recorded token ({})", positions.len()),
                    raw.len(),
                ));
            }
            if let Some(bad) = raw.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
                return Err(QuantError::InvalidArgument(format!(
                    "attention statistic {bad} is not a finite non-negative number"
                )));
            }
            let is_sink = |i: usize| (positions[i] as usize) < sinks;
            let mut others: Vec<f32> = (0..raw.len())
                .filter(|&i| !is_sink(i) && raw[i] > 0.0)
                .map(|i| raw[i])
                .collect();
            let median = if others.is_empty() {
                0.0
            } else {
                let mid = others.len() / 2;
                *others.select_nth_unstable_by(mid, f32::total_cmp).1
            };
            heads.push(
                raw.iter()
                    .enumerate()
                    .map(|(i, &w)| {
                        let w = if is_sink(i) { median } else { w };
                        if w > 0.0 { w.powf(self.power) } else { 0.0 }
                    })
                    .collect(),
            );
        }
        let (sum, count) = heads
            .iter()
            .flatten()
            .fold((0f64, 0usize), |(s, n), &w| (s + w as f64, n + 1));
        if !(sum > 0.0 && sum.is_finite()) {
            return Err(QuantError::InvalidArgument(format!(
                "weight rule {}: the layer's weights sum to {sum}; no token is read by a counted query",
                self.name()
            )));
        }
        let scale = (count as f64 / sum) as f32;
        heads.iter_mut().flatten().for_each(|w| *w *= scale);
        Ok(Some(heads))
    }
}

impl Default for WeightRule {
    fn default() -> Self {
        Self::NONE
    }
}

impl fmt::Display for WeightRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl std::str::FromStr for WeightRule {
    type Err = QuantError;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            QuantError::InvalidArgument(format!(
                "weight rule {s:?}: expected none, attention or fisher, optionally :POWER (a positive number) and :DISTANCE (a whole number of positions), e.g. attention:0.5:128"
            ))
        };
        let mut parts = s.trim().split(':');
        let source = match parts.next() {
            Some("none") => WeightSource::None,
            Some("attention") => WeightSource::Attention,
            Some("fisher") => WeightSource::Fisher,
            _ => return Err(bad()),
        };
        let power = match parts.next() {
            None => 1.0,
            Some(p) => p.parse::<f32>().map_err(|_| bad())?,
        };
        let min_distance = match parts.next() {
            None => 0,
            Some(r) => r.parse::<usize>().map_err(|_| bad())?,
        };
        if parts.next().is_some() || !(power.is_finite() && power > 0.0) {
            return Err(bad());
        }
        if source == WeightSource::None && (power != 1.0 || min_distance != 0) {
            return Err(bad());
        }
        Ok(Self {
            source,
            power,
            min_distance,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in [
            "none",
            "attention",
            "fisher",
            "attention:0.5",
            "fisher:0.5:128",
        ] {
            let rule: WeightRule = name.parse().unwrap();
            assert_eq!(rule.name(), name);
        }
        assert_eq!(
            "attention:1:0".parse::<WeightRule>().unwrap(),
            WeightRule::ATTENTION
        );
        for bad in [
            "",
            "mass",
            "attention:0",
            "attention:-1",
            "attention:nan",
            "attention:1:-3",
            "attention:1:2:3",
            "none:0.5",
        ] {
            assert!(bad.parse::<WeightRule>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sinks_take_the_median_and_the_layer_averages_one() {
        // Two heads of 6 tokens, two windows of 3: positions 0 1 2 0 1 2; one sink per window.
        let positions = [0, 1, 2, 0, 1, 2];
        let mass = [
            [100.0, 2.0, 4.0, 50.0, 6.0, 0.0],
            [9.0, 1.0, 1.0, 9.0, 1.0, 1.0],
        ];
        let zeros = [0.0f32; 6];
        let stats: Vec<TokenStatistics> = mass
            .iter()
            .map(|m| TokenStatistics {
                mass: m,
                squared: &zeros,
                key_fisher: &zeros,
            })
            .collect();
        let w = WeightRule::ATTENTION
            .layer_weights(&stats, CacheSide::Keys, &positions, 1)
            .unwrap()
            .unwrap();
        // Head 0: non-sink positive values 2, 4, 6 → median 4; the zero stays zero.
        let raw0 = [4.0, 2.0, 4.0, 4.0, 6.0, 0.0];
        let raw1 = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        let mean = (raw0.iter().sum::<f32>() + raw1.iter().sum::<f32>()) / 12.0;
        for (got, want) in w.concat().iter().zip(raw0.iter().chain(&raw1)) {
            assert!((got - want / mean).abs() < 1e-6, "{w:?}");
        }
        let total: f32 = w.concat().iter().sum();
        assert!((total - 12.0).abs() < 1e-4);
        // The power applies after the sinks' median.
        let sqrt = "attention:0.5"
            .parse::<WeightRule>()
            .unwrap()
            .layer_weights(&stats, CacheSide::Values, &positions, 1)
            .unwrap()
            .unwrap();
        assert!((sqrt[0][4] / sqrt[0][1] - 3f32.sqrt()).abs() < 1e-5);
        // `none` gives no weights; fisher reads its own statistic (all zero here: an error).
        assert!(
            WeightRule::NONE
                .layer_weights(&stats, CacheSide::Keys, &positions, 1)
                .unwrap()
                .is_none()
        );
        assert!(
            WeightRule::FISHER
                .layer_weights(&stats, CacheSide::Keys, &positions, 1)
                .is_err()
        );
    }
}
