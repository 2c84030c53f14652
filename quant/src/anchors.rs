//! Anchor tokens: beyond the fixed sinks, a small budget of tokens kept as window rows (fp16 or
//! int8, as the window holds them), chosen when a token leaves the window (the only moment its
//! row is still at hand).
//!
//! The choice is causal and streaming, per (layer, KV head): when the cache grows to `n`
//! tokens, token `j = n - residual - 1` leaves the window with a score known by then (its key's
//! norm, its key's quantization error, or the attention mass it received while in the window).
//! It becomes an anchor while the anchors number fewer than the budget `B(n)`, or when it scores
//! above the weakest anchor, which is then quantized (its fp16 copy is still held, so a cache
//! can encode it at that moment). A token passed over is never reconsidered: its fp16 copy is
//! gone. At every length the anchors number at most `B(n) = min(cap, ⌊fraction · n⌋)`.

use crate::error::{QuantError, Result};
use crate::method::CacheLayout;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::str::FromStr;

/// What makes a token worth keeping as a window row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnchorRule {
    /// The largest key norm ‖k‖ (untransformed): outlier keys, e.g. secondary attention sinks.
    Norm,
    /// The largest key quantization error ‖k − k̂‖ (in the original space).
    Error,
    /// The largest attention mass received while in the window, summed over the queries of the
    /// KV head's group.
    Attention,
}

impl AnchorRule {
    pub const ALL: [AnchorRule; 3] = [AnchorRule::Norm, AnchorRule::Error, AnchorRule::Attention];

    pub fn name(self) -> &'static str {
        match self {
            AnchorRule::Norm => "norm",
            AnchorRule::Error => "error",
            AnchorRule::Attention => "attention",
        }
    }
}

impl fmt::Display for AnchorRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AnchorRule {
    type Err = QuantError;
    fn from_str(s: &str) -> Result<Self> {
        AnchorRule::ALL
            .into_iter()
            .find(|r| r.name() == s.trim())
            .ok_or_else(|| {
                QuantError::InvalidArgument(format!(
                    "anchor rule {s:?}: expected norm (largest ‖k‖), error (largest ‖k − k̂‖) or attention (largest attention mass while in the window)"
                ))
            })
    }
}

/// How many anchors a (layer, KV head) may hold: `min(cap, ⌊fraction · n⌋)` at `n` tokens.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AnchorBudget {
    pub fraction: f64,
    pub cap: usize,
}

impl AnchorBudget {
    /// No cap beyond the fraction.
    pub const UNCAPPED: usize = usize::MAX;

    pub fn at(&self, tokens: usize) -> usize {
        ((self.fraction * tokens as f64).floor() as usize).min(self.cap)
    }

    /// `1%`, `0.01` (a fraction), optionally `,cap=N` or `:N` for the cap (`1%:32`).
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || {
            QuantError::InvalidArgument(format!(
                "anchor budget {s:?}: expected a share of the tokens as a percentage or fraction in [0, 1] (1% or 0.01), optionally with a cap on the count per (layer, KV head) after a colon (1%:32)"
            ))
        };
        let (share, cap) = match s.trim().split_once(':') {
            Some((share, cap)) => (share, Some(cap.trim().parse::<usize>().map_err(|_| bad())?)),
            None => (s.trim(), None),
        };
        let fraction = match share.strip_suffix('%') {
            Some(p) => p.trim().parse::<f64>().map_err(|_| bad())? / 100.0,
            None => share.parse::<f64>().map_err(|_| bad())?,
        };
        if !(0.0..=1.0).contains(&fraction) {
            return Err(bad());
        }
        Ok(Self {
            fraction,
            cap: cap.unwrap_or(Self::UNCAPPED),
        })
    }
}

impl fmt::Display for AnchorBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.fraction * 100.0)?;
        if self.cap != Self::UNCAPPED {
            write!(f, ":{}", self.cap)?;
        }
        Ok(())
    }
}

/// The anchor policy of an evaluation.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AnchorPolicy {
    pub budget: AnchorBudget,
    pub rule: AnchorRule,
}

/// Token `token` is read from fp16 while the cache holds `n` tokens with `from <= n < until`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnchorSpan {
    pub token: usize,
    pub from: usize,
    pub until: usize,
}

impl AnchorSpan {
    pub fn active(&self, cached: usize) -> bool {
        (self.from..self.until).contains(&cached)
    }
}

/// The streaming choice (module doc) over a window of `tokens` tokens. `score[j]` is token
/// `j`'s score, read only when `j` leaves the window (length `j + residual + 1`); tokens
/// that never leave (or are sinks) are never read. Returns every token that was an anchor at
/// some length, in the order they were chosen.
pub fn select(
    score: &[f32],
    tokens: usize,
    layout: CacheLayout,
    budget: AnchorBudget,
) -> Result<Vec<AnchorSpan>> {
    if score.len() < tokens {
        return Err(QuantError::shape("anchor scores", tokens, score.len()));
    }
    let mut spans: Vec<AnchorSpan> = Vec::new();
    // Min-heap of (score, token, index into `spans`); ties keep the older token.
    let mut held: BinaryHeap<Reverse<(Ordered, Reverse<usize>, usize)>> = BinaryHeap::new();
    for n in layout.sinks + layout.residual + 1..=tokens {
        let j = n - layout.residual - 1;
        let limit = budget.at(n);
        let s = Ordered(score[j]);
        let admit = if held.len() < limit {
            true
        } else if let Some(Reverse((weakest, _, idx))) = held.peek().copied()
            && limit > 0
            && s > weakest
        {
            held.pop();
            spans[idx].until = n;
            true
        } else {
            false
        };
        if admit {
            held.push(Reverse((s, Reverse(j), spans.len())));
            spans.push(AnchorSpan {
                token: j,
                from: n,
                until: usize::MAX,
            });
        }
    }
    Ok(spans)
}

/// f32 with a total order (NaN lowest, so a NaN score never displaces an anchor).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Ordered(f32);

impl Eq for Ordered {}

impl PartialOrd for Ordered {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ordered {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (self.0.is_nan(), other.0.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Less,
            (false, true) => std::cmp::Ordering::Greater,
            (false, false) => self.0.total_cmp(&other.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    fn layout(sinks: usize, residual: usize) -> CacheLayout {
        CacheLayout {
            sinks,
            residual,
            ..CacheLayout::default()
        }
    }

    #[test]
    fn budgets_parse_and_bad_ones_say_what_is_valid() {
        let b = AnchorBudget::parse("1%").unwrap();
        assert_eq!((b.at(2048), b.at(99), b.at(100)), (20, 0, 1));
        assert_eq!(AnchorBudget::parse("0.02:8").unwrap().at(2048), 8);
        assert_eq!(AnchorBudget::parse("2%:64").unwrap().to_string(), "2%:64");
        for bad in ["", "x", "150%", "-1%", "1%:x", "1%:-3", "2"] {
            let err = AnchorBudget::parse(bad).unwrap_err().to_string();
            assert!(err.contains("1%:32"), "{bad}: {err}");
        }
        assert!(
            "weird"
                .parse::<AnchorRule>()
                .unwrap_err()
                .to_string()
                .contains("attention")
        );
        for r in AnchorRule::ALL {
            assert_eq!(r.name().parse::<AnchorRule>().unwrap(), r);
        }
    }

    #[test]
    fn respects_the_budget_at_every_length_and_is_causal() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let tokens = 600;
        let lay = layout(4, 32);
        let budget = AnchorBudget {
            fraction: 0.02,
            cap: 7,
        };
        let score: Vec<f32> = (0..tokens).map(|_| rng.random_range(0.0..1.0)).collect();
        let spans = select(&score, tokens, lay, budget).unwrap();
        assert!(!spans.is_empty());
        for n in 0..=tokens {
            let active = spans.iter().filter(|s| s.active(n)).count();
            assert!(active <= budget.at(n), "{active} anchors at {n}");
        }
        for s in &spans {
            // Chosen exactly when the token leaves the window, never a sink.
            assert_eq!(s.from, s.token + lay.residual + 1);
            assert!(s.token >= lay.sinks && s.from < s.until);
        }
        // Causal: changing the scores of tokens that leave after length m changes nothing
        // about which tokens were anchors at lengths up to m.
        let m = 300;
        let mut later = score.clone();
        for s in later.iter_mut().skip(m - lay.residual) {
            *s = 10.0;
        }
        let other = select(&later, tokens, lay, budget).unwrap();
        for n in 0..=m {
            let at = |spans: &[AnchorSpan]| {
                let mut v: Vec<usize> = spans
                    .iter()
                    .filter(|s| s.active(n))
                    .map(|s| s.token)
                    .collect();
                v.sort_unstable();
                v
            };
            assert_eq!(at(&spans), at(&other), "length {n}");
        }
    }

    #[test]
    fn keeps_the_strongest_tokens_seen() {
        // One outstanding token early, one later: with a budget of 1 the later, stronger one
        // displaces it when it leaves the window.
        let mut score = vec![0.0f32; 100];
        score[10] = 5.0;
        score[50] = 9.0;
        score[60] = f32::NAN;
        let budget = AnchorBudget {
            fraction: 1.0,
            cap: 1,
        };
        let spans = select(&score, 100, layout(2, 8), budget).unwrap();
        let held_at = |n: usize| spans.iter().find(|s| s.active(n)).map(|s| s.token);
        assert_eq!(held_at(11), Some(2)); // the first token to leave fills the empty budget
        assert_eq!(held_at(19), Some(10));
        assert_eq!(held_at(59), Some(50));
        assert_eq!(held_at(100), Some(50));
        // A zero budget holds nothing.
        let none = AnchorBudget {
            fraction: 0.0,
            cap: 5,
        };
        assert!(select(&score, 100, layout(2, 8), none).unwrap().is_empty());
        assert!(select(&score[..5], 100, layout(2, 8), none).is_err());
    }
}
