//! The consistency checks a tuned-configs file's entries must pass on read: what the tuner
//! writes always passes them, so a file that fails was edited or corrupted, and its numbers
//! would mislead a lookup or a comparison.

use crate::store::{CandidateResult, CandidateStatus, Measured, StepRanking, TunedEntry};

/// Two times written from the same f64 differ by no more than this (relative), whatever JSON
/// printing does to them.
const SAME_TIME: f64 = 1e-9;

/// Checks one entry (`id` is its name in the file, `arch` the file's GPU arch); the error
/// says what is wrong.
pub(crate) fn check_entry(id: &str, e: &TunedEntry, arch: &str) -> Result<(), String> {
    if id != e.key.id() || !e.key.is_canonical() {
        return Err(format!(
            "entry {id:?} holds key {} (an entry's name must be its key, with power-of-two buckets)",
            e.key.id()
        ));
    }
    if e.kv_heads == 0 {
        return Err(format!("entry {id}: kv_heads is 0 (must be positive)"));
    }
    if !(e.seconds.is_finite() && e.seconds >= 0.0) {
        return Err(format!(
            "entry {id}: seconds is {} (must be a finite, non-negative number)",
            e.seconds
        ));
    }
    check_counts(id, e)?;
    for c in &e.candidates {
        check_candidate(id, e, c)?;
    }
    for (what, m) in [("winner", &e.winner), ("default", &e.default)] {
        if let Some(m) = m {
            check_measured(id, e, what, m, arch)?;
        }
    }
    if let Some(steps) = &e.steps {
        return check_steps(id, e, steps);
    }
    let fastest = e
        .candidates
        .iter()
        .filter_map(CandidateResult::ms)
        .min_by(f64::total_cmp);
    match (&e.winner, fastest) {
        (Some(w), Some(best)) if w.median_ms > best * (1.0 + SAME_TIME) => Err(format!(
            "entry {id}: the winner {} takes {} ms but a timed candidate takes {best} ms (the winner must be the fastest)",
            w.config, w.median_ms
        )),
        (None, Some(_)) if e.complete => Err(format!(
            "entry {id} is complete and has timed candidates but no winner"
        )),
        _ => Ok(()),
    }
}

/// `evaluations` counts the candidates the search timed or tried to: never more than the
/// space, nor than the candidates recorded, nor fewer than those timed.
fn check_counts(id: &str, e: &TunedEntry) -> Result<(), String> {
    let timed = e
        .candidates
        .iter()
        .filter(|c| c.status == CandidateStatus::Timed)
        .count();
    if e.evaluations > e.space_size {
        return Err(format!(
            "entry {id}: evaluations {} is more than space_size {} (a search evaluates at most every candidate once)",
            e.evaluations, e.space_size
        ));
    }
    if e.evaluations > e.candidates.len() {
        return Err(format!(
            "entry {id}: evaluations {} is more than the {} candidates recorded",
            e.evaluations,
            e.candidates.len()
        ));
    }
    if timed > e.evaluations {
        return Err(format!(
            "entry {id}: {timed} candidates are timed but evaluations is {}",
            e.evaluations
        ));
    }
    Ok(())
}

fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

fn check_candidate(id: &str, e: &TunedEntry, c: &CandidateResult) -> Result<(), String> {
    if !e.key.shape.admits(&c.config) {
        return Err(format!(
            "entry {id}: candidate {} is for another kernel shape",
            c.config
        ));
    }
    if c.status != CandidateStatus::Timed {
        return Ok(());
    }
    let Some(s) = c.stats else {
        return Err(format!(
            "entry {id}: timed candidate {} has no stats",
            c.config
        ));
    };
    let ordered = s.min_ms <= s.median_ms && s.median_ms <= s.max_ms;
    if !(positive(s.min_ms) && positive(s.median_ms) && positive(s.max_ms) && ordered) {
        return Err(format!(
            "entry {id}: candidate {} has times min {} / median {} / max {} ms (must be positive, min ≤ median ≤ max)",
            c.config, s.min_ms, s.median_ms, s.max_ms
        ));
    }
    if s.runs == 0 {
        return Err(format!(
            "entry {id}: candidate {} was timed over 0 runs",
            c.config
        ));
    }
    if let Some(ms) = c.remeasured_ms
        && !positive(ms)
    {
        return Err(format!(
            "entry {id}: candidate {} has re-measured time {ms} ms (must be positive)",
            c.config
        ));
    }
    Ok(())
}

/// The winner or default: of the key's shape, valid on the arch, and the very time its own
/// timed candidate recorded.
fn check_measured(
    id: &str,
    e: &TunedEntry,
    what: &str,
    m: &Measured,
    arch: &str,
) -> Result<(), String> {
    if !e.key.shape.admits(&m.config) {
        return Err(format!(
            "entry {id}: the {what} {} is for another kernel shape",
            m.config
        ));
    }
    if let Err(err) = m.config.validate(arch) {
        return Err(format!(
            "entry {id}: the {what} {} is not a valid config on {arch}: {err}",
            m.config
        ));
    }
    if !positive(m.median_ms) {
        return Err(format!(
            "entry {id}: the {what} has time {} ms (must be positive)",
            m.median_ms
        ));
    }
    let recorded = e
        .result_of(&m.config)
        .filter(|c| c.status == CandidateStatus::Timed)
        .and_then(CandidateResult::ms);
    let Some(ms) = recorded else {
        return Err(format!(
            "entry {id}: the {what} {} is not among its verified, timed candidates",
            m.config
        ));
    };
    if (m.median_ms - ms).abs() > SAME_TIME * ms {
        return Err(format!(
            "entry {id}: the {what} {} is listed at {} ms but its timed candidate took {ms} ms",
            m.config, m.median_ms
        ));
    }
    Ok(())
}

/// A re-ranking by decode steps: every candidate one of the entry's timed ones at its recorded
/// time, one positive step time per round, fastest mean first, and the first the winner.
fn check_steps(id: &str, e: &TunedEntry, steps: &StepRanking) -> Result<(), String> {
    if steps.rounds == 0 || steps.candidates.is_empty() {
        return Err(format!(
            "entry {id}: its step ranking has {} rounds and {} candidates (both must be positive)",
            steps.rounds,
            steps.candidates.len()
        ));
    }
    // Exactly the top fastest alone, each once: an edited ranking cannot crown any candidate.
    let mut ranked: Vec<_> = steps.candidates.iter().map(|c| c.config).collect();
    ranked.extend(steps.left_out.iter().copied());
    let top: Vec<_> = e
        .fastest_timed(steps.top)
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    let same = ranked.len() == top.len() && top.iter().all(|c| ranked.contains(c));
    if !same {
        return Err(format!(
            "entry {id}: its step ranking holds {} configs (ranked and left out) that are not its {} fastest timed candidates, each once",
            ranked.len(),
            steps.top
        ));
    }
    for c in &steps.candidates {
        let recorded = e
            .result_of(&c.config)
            .filter(|r| r.status == CandidateStatus::Timed)
            .and_then(CandidateResult::ms);
        match recorded {
            Some(ms) if (c.kernel_ms - ms).abs() <= SAME_TIME * ms => {}
            Some(ms) => {
                return Err(format!(
                    "entry {id}: step-ranked {} is listed at {} ms alone but its timed candidate took {ms} ms",
                    c.config, c.kernel_ms
                ));
            }
            None => {
                return Err(format!(
                    "entry {id}: step-ranked {} is not among its verified, timed candidates",
                    c.config
                ));
            }
        }
        if c.step_ms.len() != steps.rounds || !c.step_ms.iter().all(|&ms| positive(ms)) {
            return Err(format!(
                "entry {id}: step-ranked {} has step times {:?} ms (must be {} positive times, one a round)",
                c.config, c.step_ms, steps.rounds
            ));
        }
    }
    if let Some(pair) = steps
        .candidates
        .windows(2)
        .find(|w| w[0].mean_ms() > w[1].mean_ms())
    {
        return Err(format!(
            "entry {id}: step ranking out of order: {} ({} ms) before {} ({} ms)",
            pair[0].config,
            pair[0].mean_ms(),
            pair[1].config,
            pair[1].mean_ms()
        ));
    }
    match &e.winner {
        Some(w) if w.config == steps.candidates[0].config => Ok(()),
        Some(w) => Err(format!(
            "entry {id}: the winner {} is not its step ranking's fastest, {}",
            w.config, steps.candidates[0].config
        )),
        None => Err(format!("entry {id} has a step ranking but no winner")),
    }
}
