//! The load driver: N workers call `op` in a loop; a warm-up, then a measured window.

use super::report::{Latency, LoadFigures, round};
use super::{MAX_CHANNELS, Ui, profile};
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Default)]
struct WorkerStats {
    ok_total: u64,
    ok: u64,
    errors: u64,
    error_samples: Vec<String>,
    lat_us: Vec<u32>,
    last_end: Option<Instant>,
}

pub(crate) struct Load {
    /// Successful operations, warm-up included (what the logs must hold).
    pub(crate) ok_total: u64,
    /// Successful operations started in the measured window.
    pub(crate) ok: u64,
    /// Failed operations, warm-up included.
    pub(crate) errors: u64,
    pub(crate) error_samples: Vec<String>,
    /// Sorted latencies (µs) of the measured operations.
    pub(crate) lat_us: Vec<u32>,
    /// From the start of the window to the end of its last operation.
    pub(crate) elapsed: Duration,
}

impl Load {
    pub(crate) fn throughput(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 { self.ok as f64 / s } else { 0.0 }
    }

    pub(crate) fn percentile(&self, q: f64) -> u32 {
        if self.lat_us.is_empty() {
            return 0;
        }
        let rank = ((q * self.lat_us.len() as f64).ceil() as usize).clamp(1, self.lat_us.len());
        self.lat_us[rank - 1]
    }

    /// The figures every throughput scenario reports.
    pub(crate) fn figures(&self, concurrency: usize) -> LoadFigures {
        let mean = if self.lat_us.is_empty() {
            0.0
        } else {
            self.lat_us.iter().map(|&x| x as f64).sum::<f64>() / self.lat_us.len() as f64
        };
        LoadFigures {
            concurrency,
            profile: profile(),
            duration_s: round(self.elapsed.as_secs_f64(), 3),
            operations: self.ok,
            operations_with_warmup: self.ok_total,
            throughput_per_s: round(self.throughput(), 1),
            latency_us: Latency {
                p50: self.percentile(0.50),
                p99: self.percentile(0.99),
                p999: self.percentile(0.999),
                max: self.lat_us.last().copied().unwrap_or(0),
                mean: round(mean, 1),
            },
            errors: self.errors,
            error_samples: self.error_samples.clone(),
        }
    }

    /// [`Load::figures`] as the JSON object a scenario adds its own fields to.
    pub(crate) fn common_json(&self, concurrency: usize) -> Value {
        serde_json::to_value(self.figures(concurrency)).unwrap_or(Value::Null)
    }
}

pub(crate) fn warmup_for(d: Duration) -> Duration {
    (d / 5).min(Duration::from_secs(1))
}

/// Run `op(worker, iteration)` on `concurrency` workers: `warmup`, then `measure`.
pub(crate) async fn drive<F, Fut>(
    label: &str,
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
    ui: &Ui,
    op: F,
) -> Load
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let op = Arc::new(op);
    let t0 = Instant::now();
    let measure_from = t0 + warmup;
    let stop_at = measure_from + measure;
    let mut handles = Vec::with_capacity(concurrency);
    for w in 0..concurrency {
        let op = op.clone();
        handles.push(tokio::spawn(async move {
            let mut s = WorkerStats::default();
            let mut i = 0u64;
            loop {
                let start = Instant::now();
                if start >= stop_at {
                    break;
                }
                let r = op(w, i).await;
                i += 1;
                let end = Instant::now();
                match r {
                    Ok(()) => {
                        s.ok_total += 1;
                        if start >= measure_from {
                            s.ok += 1;
                            let us = end.duration_since(start).as_micros();
                            s.lat_us.push(u32::try_from(us).unwrap_or(u32::MAX));
                            s.last_end = Some(end);
                        }
                    }
                    Err(e) => {
                        s.errors += 1;
                        if s.error_samples.len() < 3 {
                            s.error_samples.push(e);
                        }
                    }
                }
            }
            s
        }));
    }
    let label = label.to_string();
    let total = warmup + measure;
    while Instant::now() < stop_at {
        let el = t0.elapsed();
        let phase = if el < warmup { "warm-up" } else { "measuring" };
        ui.status(&format!(
            "{label}: {phase} {:.0}/{:.0} s",
            el.as_secs_f64(),
            total.as_secs_f64()
        ));
        tokio::time::sleep(
            Duration::from_millis(250).min(stop_at.saturating_duration_since(Instant::now())),
        )
        .await;
    }
    ui.status(&format!("{label}: finishing in-flight calls"));
    let mut load = Load {
        ok_total: 0,
        ok: 0,
        errors: 0,
        error_samples: Vec::new(),
        lat_us: Vec::new(),
        elapsed: measure,
    };
    let mut last_end: Option<Instant> = None;
    for h in handles {
        match h.await {
            Ok(s) => {
                load.ok_total += s.ok_total;
                load.ok += s.ok;
                load.errors += s.errors;
                for e in s.error_samples {
                    if load.error_samples.len() < 5 {
                        load.error_samples.push(e);
                    }
                }
                load.lat_us.extend(s.lat_us);
                last_end = last_end.max(s.last_end);
            }
            Err(e) => {
                load.errors += 1;
                load.error_samples.push(format!("worker failed: {e}"));
            }
        }
    }
    if let Some(end) = last_end {
        load.elapsed = end.duration_since(measure_from);
    }
    load.lat_us.sort_unstable();
    load
}

/// A deterministic, well-mixed 64-bit value (SplitMix64) for picking members and purposes.
pub(crate) fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub(crate) fn pick(worker: usize, i: u64, salt: u64) -> u64 {
    mix(((worker as u64) << 40) ^ i ^ salt.rotate_left(17))
}

pub(crate) fn channels_for(concurrency: usize) -> usize {
    concurrency.clamp(1, MAX_CHANNELS)
}
