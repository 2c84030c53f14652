//! Search strategies over a list of candidates, behind one interface: each asks an objective
//! for the cost of candidate `i` (lower is better; `None` for a candidate that failed) until
//! the budget is spent.
//!
//! The guided strategy is a best-first local search from the default heuristic's config (and
//! the winners of neighbouring buckets, when the caller has them): it times every one-axis
//! neighbour (scoring, tokens per warp, warps, stages, codebook copies, direct loads, dims per
//! lane, split, page size, launch bound, key mma rows), plus the two tokens-per-warp × stages diagonals, of the fastest config not
//! yet expanded, and stops when two expansions in a row found nothing faster. Why: the axes act mostly one at a time on this kernel (the H100
//! sweeps in bench/results/h100 move one knob at a time and the gains add up) once the tile is
//! expressed as tokens per warp, and the default already sits near the best, so two or three
//! moves reach the best region in a small fraction of the space. Cycling through the axes one
//! at a time (first improvement) measured worse on the H100: it took the first gain on an
//! early axis and missed a larger one on a later axis (bench/results/h100/tune). A cost model
//! would need one model per GPU, and successive halving saves only on cheap low-fidelity runs,
//! which timing one launch does not have.

use crate::space::{AXES, MIN_BLOCKS, STAGES, TOKENS_PER_WARP, coordinates};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};
use vecinfer_codegen::KernelConfig;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Budget {
    /// At most this many candidates evaluated per key.
    Evaluations(usize),
    /// Stop starting evaluations after this many seconds per key.
    Seconds(f64),
    Unlimited,
}

impl FromStr for Budget {
    type Err = String;

    /// `40` (evaluations), `90s` (seconds) or `unlimited`.
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let bad = || {
            format!(
                "budget {s:?}: valid budgets are a number of evaluations (40), seconds (90s) or unlimited"
            )
        };
        if s == "unlimited" {
            Ok(Self::Unlimited)
        } else if let Some(secs) = s.strip_suffix('s') {
            match secs.parse::<f64>() {
                Ok(x) if x > 0.0 && x.is_finite() => Ok(Self::Seconds(x)),
                _ => Err(bad()),
            }
        } else {
            match s.parse::<usize>() {
                Ok(n) if n > 0 => Ok(Self::Evaluations(n)),
                _ => Err(bad()),
            }
        }
    }
}

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Budget::Evaluations(n) => write!(f, "{n}"),
            Budget::Seconds(s) => write!(f, "{s}s"),
            Budget::Unlimited => f.write_str("unlimited"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Every candidate, in the space's order.
    Exhaustive,
    /// The default first, then candidates in a seeded random order.
    Random { seed: u64 },
    /// Steepest descent over one-axis moves from the default (see the module doc for why).
    Guided,
}

impl FromStr for Strategy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "exhaustive" => Ok(Self::Exhaustive),
            "random" => Ok(Self::Random { seed: 0 }),
            "guided" => Ok(Self::Guided),
            other => match other.strip_prefix("random:").map(str::parse) {
                Some(Ok(seed)) => Ok(Self::Random { seed }),
                _ => Err(format!(
                    "strategy {other:?}: valid strategies are exhaustive, random (or random:SEED) and guided"
                )),
            },
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Strategy::Exhaustive => f.write_str("exhaustive"),
            Strategy::Random { seed } => write!(f, "random:{seed}"),
            Strategy::Guided => f.write_str("guided"),
        }
    }
}

/// What a search did: candidates in the order evaluated, with their costs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SearchLog {
    pub evaluated: Vec<(usize, Option<f64>)>,
}

impl SearchLog {
    /// The cheapest candidate that did not fail.
    pub fn best(&self) -> Option<(usize, f64)> {
        self.evaluated
            .iter()
            .filter_map(|&(i, c)| c.map(|c| (i, c)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }
}

/// The objective behind a budget and a memo: each candidate is evaluated at most once.
struct Search<'a> {
    objective: &'a mut dyn FnMut(usize) -> Option<f64>,
    memo: Vec<Option<Option<f64>>>,
    log: SearchLog,
    budget: Budget,
    started: Instant,
}

/// The budget is spent.
struct Spent;

impl Search<'_> {
    fn cost(&mut self, i: usize) -> Result<Option<f64>, Spent> {
        if let Some(known) = self.memo[i] {
            return Ok(known);
        }
        let spent = match self.budget {
            Budget::Evaluations(n) => self.log.evaluated.len() >= n,
            Budget::Seconds(s) => self.started.elapsed() >= Duration::from_secs_f64(s),
            Budget::Unlimited => false,
        };
        if spent {
            return Err(Spent);
        }
        let c = (self.objective)(i).filter(|c| c.is_finite());
        self.memo[i] = Some(c);
        self.log.evaluated.push((i, c));
        Ok(c)
    }
}

/// Runs `strategy` over `candidates` starting from `starts` (the default heuristic's config
/// first, then e.g. winners of neighbouring buckets; all evaluated first), calling
/// `objective(i)` for candidate `i`.
pub fn search(
    strategy: Strategy,
    candidates: &[KernelConfig],
    starts: &[usize],
    budget: Budget,
    objective: &mut dyn FnMut(usize) -> Option<f64>,
) -> SearchLog {
    let mut s = Search {
        objective,
        memo: vec![None; candidates.len()],
        log: SearchLog::default(),
        budget,
        started: Instant::now(),
    };
    if candidates.is_empty() {
        return s.log;
    }
    let _ = match strategy {
        Strategy::Exhaustive => in_order(&mut s, starts, 0..candidates.len()),
        Strategy::Random { seed } => {
            let mut order: Vec<usize> = (0..candidates.len()).collect();
            order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
            in_order(&mut s, starts, order.into_iter())
        }
        Strategy::Guided => {
            let points: Vec<[i64; AXES]> = candidates.iter().map(coordinates).collect();
            best_first(&mut s, &points, starts, PATIENCE)
        }
    };
    s.log
}

/// The search's starts: the first candidate (the default heuristic's config, by the space's
/// order) and then each of `hints` that is in `candidates`, once.
pub fn warm_starts(candidates: &[KernelConfig], hints: &[KernelConfig]) -> Vec<usize> {
    let mut starts = vec![0];
    for h in hints {
        if let Some(i) = candidates.iter().position(|c| c == h)
            && !starts.contains(&i)
        {
            starts.push(i);
        }
    }
    starts
}

fn in_order(
    s: &mut Search<'_>,
    starts: &[usize],
    order: impl Iterator<Item = usize>,
) -> Result<(), Spent> {
    for &i in starts {
        s.cost(i)?;
    }
    for i in order {
        s.cost(i)?;
    }
    Ok(())
}

/// The candidate with the given values on some axes that differs from `from` on the fewest
/// other axes (the lowest index on a tie): the next point along those axes, even where the
/// exact line is missing (e.g. from the tensor-core kernel with 16 codebook copies to a
/// CUDA-core kernel, which has one).
fn along(points: &[[i64; AXES]], from: &[i64; AXES], set: &[(usize, i64)]) -> Option<usize> {
    points
        .iter()
        .enumerate()
        .filter(|(_, p)| set.iter().all(|&(axis, v)| p[axis] == v))
        .min_by_key(|(i, p)| {
            let differ = (0..AXES)
                .filter(|&a| set.iter().all(|&(axis, _)| axis != a) && p[a] != from[a])
                .count();
            (differ, *i)
        })
        .map(|(i, _)| i)
}

/// The values each axis takes over `points`, in order.
fn axis_values(points: &[[i64; AXES]], axis: usize) -> Vec<i64> {
    let mut values: Vec<i64> = points.iter().map(|p| p[axis]).collect();
    values.sort_unstable();
    values.dedup();
    values
}

/// Every candidate one move away from `from`: for each axis and each other value on it, the
/// nearest candidate with that value (see [`along`]); and the diagonal moves that trade
/// tokens per warp against pipeline stages (one step each, opposite ways). Why the diagonal:
/// the staging buffer is tile × stages, so a longer tile with one stage fewer keeps the shared
/// memory, and with it the resident blocks, about the same, where either move alone crosses
/// an occupancy step (on the H100, d8b12 at 8 × 32k: 512-token tiles on one stage are 6%
/// faster than the default, 512 on two stages 6% slower).
pub fn neighbours(points: &[[i64; AXES]], from: usize) -> Vec<usize> {
    let here = points[from];
    let mut out = Vec::new();
    let add = |set: &[(usize, i64)], out: &mut Vec<usize>| {
        if let Some(j) = along(points, &here, set)
            && j != from
            && !out.contains(&j)
        {
            out.push(j);
        }
    };
    for (axis, &current) in here.iter().enumerate() {
        for v in axis_values(points, axis)
            .into_iter()
            .filter(|&v| v != current)
        {
            add(&[(axis, v)], &mut out);
            // From a bounded point, each move also without the bound: a bound fits one
            // config's registers, and the next tile or warp count may need none (or be
            // best without it while the bounded line is slower).
            if here[MIN_BLOCKS] != 0 && axis != MIN_BLOCKS {
                add(&[(axis, v), (MIN_BLOCKS, 0)], &mut out);
            }
        }
    }
    let (tpw, stages) = (
        axis_values(points, TOKENS_PER_WARP),
        axis_values(points, STAGES),
    );
    let rank = |values: &[i64], v: i64| values.iter().position(|&x| x == v);
    if let (Some(t), Some(s)) = (
        rank(&tpw, here[TOKENS_PER_WARP]),
        rank(&stages, here[STAGES]),
    ) {
        for (dt, ds) in [(1isize, -1isize), (-1, 1)] {
            let (Some(&t2), Some(&s2)) = (
                tpw.get(t.wrapping_add_signed(dt)),
                stages.get(s.wrapping_add_signed(ds)),
            ) else {
                continue;
            };
            add(&[(TOKENS_PER_WARP, t2), (STAGES, s2)], &mut out);
        }
    }
    out
}

/// Expansions in a row that may find nothing faster before the search stops.
pub const PATIENCE: usize = 1;

/// Best-first local search: expand (time every neighbour of) the fastest candidate not yet
/// expanded; stop once [`PATIENCE`] expansions in a row found nothing faster. With patience
/// 0 this is steepest descent; one more expansion steps off a local optimum that is one
/// neighbour short of a better region.
fn best_first(
    s: &mut Search<'_>,
    points: &[[i64; AXES]],
    starts: &[usize],
    patience: usize,
) -> Result<(), Spent> {
    for &i in starts {
        s.cost(i)?;
    }
    let mut expanded = vec![false; points.len()];
    let mut misses = 0;
    loop {
        let best_before = s.log.best().map_or(f64::INFINITY, |b| b.1);
        let next = s
            .log
            .evaluated
            .iter()
            .filter(|(i, c)| c.is_some() && !expanded[*i])
            .min_by(|a, b| a.1.unwrap().total_cmp(&b.1.unwrap()))
            .map(|&(i, _)| i)
            // Until something has run (every start pruned or wrong, e.g. a default that
            // spills), walk on from the failed points: their neighbours may run.
            .or_else(|| {
                s.log.best().is_none().then(|| {
                    s.log
                        .evaluated
                        .iter()
                        .find(|(i, _)| !expanded[*i])
                        .map(|&(i, _)| i)
                })?
            });
        let Some(next) = next else { return Ok(()) };
        expanded[next] = true;
        for j in neighbours(points, next) {
            s.cost(j)?;
        }
        let best_after = s.log.best().map_or(f64::INFINITY, |b| b.1);
        if best_after < best_before {
            misses = 0;
        } else {
            misses += 1;
            if misses > patience {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::KernelShape;
    use crate::space::SearchSpace;

    /// The real d4b8 search space with a synthetic cost: a known optimum three moves from the
    /// default (scoring kept, tokens per warp, warps and stages changed; 16 codebook copies as
    /// in most H100 winners), each axis adding a penalty per step away from it (rank on that
    /// axis), and one interaction (tile and warps).
    fn synthetic() -> (Vec<KernelConfig>, usize, impl Fn(usize) -> Option<f64>) {
        let shape = KernelShape::new(128, 4, "d4b8".parse().unwrap(), "d4b8".parse().unwrap());
        let (candidates, _) = SearchSpace::default().candidates(&shape, "sm_90");
        let points: Vec<[i64; AXES]> = candidates.iter().map(coordinates).collect();
        let optimum = candidates
            .iter()
            .position(|c| {
                c.key_scoring == vecinfer_codegen::KeyScoring::Mma
                    && c.tile_tokens == 128
                    && c.warps == 2
                    && c.stages == 3
                    && c.codebook_replicas == 16
                    && !c.direct_codes
            })
            .unwrap();
        let rank = move |axis: usize, v: i64| {
            let mut values: Vec<i64> = points.iter().map(|p| p[axis]).collect();
            values.sort_unstable();
            values.dedup();
            values.iter().position(|&x| x == v).unwrap() as f64
        };
        let best = coordinates(&candidates[optimum]);
        let all = candidates.clone();
        let cost = move |i: usize| {
            let p = coordinates(&all[i]);
            let steps: f64 = (0..AXES)
                .map(|a| (rank(a, p[a]) - rank(a, best[a])).abs() * (0.05 + 0.02 * a as f64))
                .sum();
            let interaction = if p[1] / p[2] > 64 { 0.04 } else { 0.0 };
            Some(1.0 + steps + interaction)
        };
        (candidates, optimum, cost)
    }

    #[test]
    fn neighbours_are_one_axis_moves_plus_the_tile_for_stages_diagonals() {
        let shape = KernelShape::new(128, 4, "d8b12".parse().unwrap(), "d8b8".parse().unwrap());
        let (candidates, _) = SearchSpace::default().candidates(&shape, "sm_90");
        let points: Vec<[i64; AXES]> = candidates.iter().map(coordinates).collect();
        let here = points[0];
        let moved = |p: &[i64; AXES]| (0..AXES).filter(|&a| p[a] != here[a]).count();
        let near = neighbours(&points, 0);
        let diagonal = |tokens_per_warp: i64, stages: i64| {
            near.iter().any(|&j| {
                let p = points[j];
                p[TOKENS_PER_WARP] == tokens_per_warp && p[STAGES] == stages && moved(&p) == 2
            })
        };
        // The d8b12/d8b8 default: 64 tokens per warp, two stages.
        assert_eq!((here[TOKENS_PER_WARP], here[STAGES]), (64, 2));
        assert!(diagonal(128, 1), "128 tokens per warp on one stage");
        assert!(diagonal(32, 3), "32 tokens per warp on three stages");
        for axis in (0..AXES).filter(|&a| axis_values(&points, a).len() > 1) {
            assert!(
                near.iter().any(|&j| points[j][axis] != here[axis]),
                "no move on axis {axis}"
            );
        }
        assert!(!near.contains(&0));
    }

    #[test]
    fn from_a_bounded_point_each_move_is_also_tried_without_the_bound() {
        // The 2-bit Llama default asks for three blocks per SM.
        let shape = KernelShape::new(128, 4, "d4b8".parse().unwrap(), "d4b8".parse().unwrap());
        let (candidates, _) = SearchSpace::default().candidates(&shape, "sm_90");
        let points: Vec<[i64; AXES]> = candidates.iter().map(coordinates).collect();
        let here = points[0];
        assert_eq!(here[MIN_BLOCKS], 3);
        let near = neighbours(&points, 0);
        let moved_to = |axis: usize, bound: i64| {
            near.iter().any(|&j| {
                let p = points[j];
                p[axis] != here[axis]
                    && p[MIN_BLOCKS] == bound
                    && (0..AXES)
                        .filter(|&a| a != axis && a != MIN_BLOCKS)
                        .all(|a| p[a] == here[a])
            })
        };
        // Tokens per warp and the codebook copies: moved with the bound kept and without it.
        for axis in [TOKENS_PER_WARP, 4] {
            assert!(moved_to(axis, 3), "axis {axis} with the bound");
            assert!(moved_to(axis, 0), "axis {axis} without the bound");
        }
    }

    #[test]
    fn exhaustive_finds_the_known_optimum_and_evaluates_everything_once() {
        let (candidates, optimum, cost) = synthetic();
        let mut calls = 0;
        let log = search(
            Strategy::Exhaustive,
            &candidates,
            &[0],
            Budget::Unlimited,
            &mut |i| {
                calls += 1;
                cost(i)
            },
        );
        assert_eq!(log.best().unwrap().0, optimum);
        assert_eq!(calls, candidates.len());
        assert_eq!(log.evaluated[0].0, 0, "the start comes first");
    }

    #[test]
    fn guided_reaches_within_3_percent_with_a_quarter_of_the_evaluations() {
        let (candidates, optimum, cost) = synthetic();
        let log = search(
            Strategy::Guided,
            &candidates,
            &[0],
            Budget::Unlimited,
            &mut |i| cost(i),
        );
        let (_, found) = log.best().unwrap();
        let best = cost(optimum).unwrap();
        assert!(found <= best * 1.03, "guided {found} vs optimum {best}");
        assert!(
            log.evaluated.len() * 4 <= candidates.len(),
            "{} of {} evaluated",
            log.evaluated.len(),
            candidates.len()
        );
    }

    #[test]
    fn guided_walks_on_from_a_start_that_cannot_run() {
        let (candidates, optimum, cost) = synthetic();
        // The default (the only start) and its neighbours fail, as a default that spills is
        // pruned: the search must still find the optimum's neighbourhood.
        let points: Vec<[i64; AXES]> = candidates.iter().map(coordinates).collect();
        let dead: Vec<usize> = std::iter::once(0).chain(neighbours(&points, 0)).collect();
        let log = search(
            Strategy::Guided,
            &candidates,
            &[0],
            Budget::Unlimited,
            &mut |i| if dead.contains(&i) { None } else { cost(i) },
        );
        let (_, found) = log.best().expect("something ran");
        assert!(found <= cost(optimum).unwrap() * 1.03, "guided {found}");
    }

    #[test]
    fn random_is_seeded_starts_at_the_default_and_keeps_to_its_budget() {
        let (candidates, _, cost) = synthetic();
        let run = |seed| {
            search(
                Strategy::Random { seed },
                &candidates,
                &[5],
                Budget::Evaluations(20),
                &mut |i| cost(i),
            )
        };
        let (a, b, c) = (run(1), run(1), run(2));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.evaluated.len(), 20);
        assert_eq!(a.evaluated[0].0, 5);
        let mut seen: Vec<usize> = a.evaluated.iter().map(|e| e.0).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 20, "no candidate twice");
    }

    #[test]
    fn failed_candidates_are_never_best_and_budgets_in_seconds_stop_the_search() {
        let (candidates, _, cost) = synthetic();
        // Every even candidate fails (None, or NaN from a broken timer).
        let log = search(
            Strategy::Exhaustive,
            &candidates,
            &[0],
            Budget::Unlimited,
            &mut |i| match i % 4 {
                0 => None,
                2 => Some(f64::NAN),
                _ => cost(i),
            },
        );
        assert_eq!(log.best().unwrap().0 % 2, 1);
        let started = Instant::now();
        let log = search(
            Strategy::Exhaustive,
            &candidates,
            &[0],
            Budget::Seconds(0.05),
            &mut |i| {
                std::thread::sleep(Duration::from_millis(5));
                cost(i)
            },
        );
        assert!(
            log.evaluated.len() < candidates.len() / 4,
            "{}",
            log.evaluated.len()
        );
        assert!(started.elapsed() < Duration::from_millis(200));
    }

    #[test]
    fn budgets_and_strategies_parse_and_bad_ones_say_what_is_valid() {
        assert_eq!("40".parse(), Ok(Budget::Evaluations(40)));
        assert_eq!("1.5s".parse(), Ok(Budget::Seconds(1.5)));
        assert_eq!("unlimited".parse(), Ok(Budget::Unlimited));
        for bad in ["0", "-3", "s", "fast", "0s"] {
            let e = bad.parse::<Budget>().unwrap_err();
            assert!(e.contains("valid budgets"), "{bad}: {e}");
        }
        assert_eq!("random:7".parse(), Ok(Strategy::Random { seed: 7 }));
        assert_eq!("guided".parse::<Strategy>().unwrap().to_string(), "guided");
        assert!(
            "bayes"
                .parse::<Strategy>()
                .unwrap_err()
                .contains("exhaustive, random")
        );
    }
}
