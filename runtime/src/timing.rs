//! Event-timed GPU work: warm-up, then the median of N runs with its spread.

use crate::error::{Result, RuntimeError};
use crate::gpu::Gpu;
use cudarc::driver::CudaEvent;
use cudarc::driver::sys::CUevent_flags;
use serde::{Deserialize, Serialize};

/// Milliseconds of N timed runs: median, fastest and slowest.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub runs: usize,
}

impl Timing {
    /// From raw samples (at least one).
    pub fn of(mut samples: Vec<f64>) -> Self {
        samples.sort_by(f64::total_cmp);
        Self {
            median_ms: samples[samples.len() / 2],
            min_ms: samples[0],
            max_ms: samples[samples.len() - 1],
            runs: samples.len(),
        }
    }

    /// `(max − min) / median`: how far apart the runs were.
    pub fn spread(&self) -> f64 {
        (self.max_ms - self.min_ms) / self.median_ms
    }
}

pub struct Timer<'a> {
    gpu: &'a Gpu,
}

impl<'a> Timer<'a> {
    pub fn new(gpu: &'a Gpu) -> Self {
        Self { gpu }
    }

    fn event(&self) -> Result<CudaEvent> {
        Ok(self
            .gpu
            .context
            .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))?)
    }

    /// `runs` event-timed calls after `warmup` untimed ones; `step(i)` should rotate through
    /// inputs larger than L2 so that no run finds the previous one's bytes in cache.
    pub fn time<E: From<RuntimeError>>(
        &self,
        warmup: usize,
        runs: usize,
        step: impl FnMut(usize) -> std::result::Result<(), E>,
    ) -> std::result::Result<Timing, E> {
        self.time_behind(warmup, runs, || Ok(()), step)
    }

    /// Like [`Timer::time`], but each timed call is queued behind `block()` (e.g. a long copy),
    /// so that the GPU runs the call's launches back to back: GPU time, not host enqueue time.
    pub fn time_behind<E: From<RuntimeError>>(
        &self,
        warmup: usize,
        runs: usize,
        mut block: impl FnMut() -> std::result::Result<(), E>,
        mut step: impl FnMut(usize) -> std::result::Result<(), E>,
    ) -> std::result::Result<Timing, E> {
        for i in 0..warmup {
            block()?;
            step(i)?;
        }
        let mut samples = Vec::with_capacity(runs.max(1));
        for i in 0..runs.max(1) {
            let (start, end) = (self.event()?, self.event()?);
            block()?;
            start.record(&self.gpu.stream).map_err(RuntimeError::from)?;
            step(warmup + i)?;
            end.record(&self.gpu.stream).map_err(RuntimeError::from)?;
            end.synchronize().map_err(RuntimeError::from)?;
            samples.push(start.elapsed_ms(&end).map_err(RuntimeError::from)? as f64);
        }
        Ok(Timing::of(samples))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_takes_the_middle_sample_and_the_extremes() {
        let t = Timing::of(vec![3.0, 1.0, 2.0, 10.0, 2.5]);
        assert_eq!(
            (t.median_ms, t.min_ms, t.max_ms, t.runs),
            (2.5, 1.0, 10.0, 5)
        );
        assert!((t.spread() - 9.0 / 2.5).abs() < 1e-12);
    }
}
