//! What the store tells the operator port (docs/metrics.md): the writer's group commits
//! (latency, batch size, and the disclosure records each commit made durable) as they happen,
//! and the reads behind the gauges computed at scrape time. Every statement is a count or an
//! aggregate over an indexed or small table; none reads personal data.

use super::writer::{Job, JobOut, Work};
use super::{Store, StoreError, WriteOp};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A disclosure's labels: fixed words only (never the record's subject, person or peer).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DisclosureLabels {
    /// A policy purpose name, or `other`.
    pub purpose: &'static str,
    /// The outcome's first word (`disclosed`, `refused`, `received`, ...): the text after
    /// it can name a reason with free text.
    pub outcome: String,
    /// `sent` or `received` (as the record says), or `other`.
    pub direction: String,
}

/// The writer's families (registered by `crate::ops::Metrics::new`).
#[derive(Clone)]
pub struct CommitMetrics {
    pub seconds: Histogram,
    pub batch_size: Histogram,
    pub disclosures: Family<DisclosureLabels, Counter>,
    /// Running totals of the same commits, for a benchmark's before/after reading.
    totals: Arc<CommitTotals>,
}

/// Group commits, the jobs they took and their time, since the store opened.
#[derive(Debug, Default)]
pub struct CommitTotals {
    commits: AtomicU64,
    jobs: AtomicU64,
    micros: AtomicU64,
}

/// A reading of [`CommitTotals`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitCount {
    pub commits: u64,
    pub jobs: u64,
    pub micros: u64,
}

impl CommitCount {
    /// What happened between `earlier` and this reading.
    pub fn since(self, earlier: CommitCount) -> CommitCount {
        CommitCount {
            commits: self.commits.saturating_sub(earlier.commits),
            jobs: self.jobs.saturating_sub(earlier.jobs),
            micros: self.micros.saturating_sub(earlier.micros),
        }
    }
}

impl Default for CommitMetrics {
    fn default() -> Self {
        Self {
            // 0.1 ms doubling to ~3.3 s: an fsync on a fast disk to a stalled database.
            seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            // 1 doubling to 1024 (the writer's largest batch).
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 11)),
            disclosures: Family::default(),
            totals: Arc::default(),
        }
    }
}

/// `word` if it is a short lower-case word, else `other` (a label never carries free text).
fn word(s: &str) -> String {
    let w = s.split(':').next().unwrap_or_default().trim();
    if !w.is_empty() && w.len() <= 24 && w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        w.to_string()
    } else {
        "other".to_string()
    }
}

impl CommitMetrics {
    /// Commits, jobs and commit time so far (failed commits included).
    pub fn totals(&self) -> CommitCount {
        let t = &self.totals;
        CommitCount {
            commits: t.commits.load(Ordering::Relaxed),
            jobs: t.jobs.load(Ordering::Relaxed),
            micros: t.micros.load(Ordering::Relaxed),
        }
    }

    /// One group commit took `took` for `jobs`; `results` when it committed (each job's own
    /// outcome: a job that failed in its savepoint recorded nothing).
    pub(super) fn committed(
        &self,
        took: Duration,
        jobs: &[Job],
        results: Option<&[Result<JobOut, StoreError>]>,
    ) {
        self.seconds.observe(took.as_secs_f64());
        self.batch_size.observe(jobs.len() as f64);
        let t = &self.totals;
        t.commits.fetch_add(1, Ordering::Relaxed);
        t.jobs.fetch_add(jobs.len() as u64, Ordering::Relaxed);
        t.micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        let Some(results) = results else {
            return;
        };
        for (job, res) in jobs.iter().zip(results) {
            if res.is_err() {
                continue;
            }
            let ops: &[WriteOp] = match &job.work {
                Work::Ops(ops) => ops,
                Work::Exchange(x) => &x.extra,
            };
            for op in ops {
                if let WriteOp::Disclosure(d) = op {
                    let r = &d.record;
                    let purpose = crate::config::PURPOSES
                        .iter()
                        .copied()
                        .find(|p| *p == r.purpose)
                        .unwrap_or("other");
                    self.disclosures
                        .get_or_create(&DisclosureLabels {
                            purpose,
                            outcome: word(&r.outcome),
                            direction: word(&r.direction),
                        })
                        .inc();
                }
            }
        }
    }
}

/// Transfer cases by status, and how many are stuck.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CaseCounts {
    pub by_status: Vec<(String, u64)>,
    pub stuck: u64,
}

impl Store {
    /// The writer's families, to register with the node's registry.
    pub fn commit_metrics(&self) -> &CommitMetrics {
        &self.commit_metrics
    }

    /// The newest signed checkpoint's (size, signing time in unix ms), if any.
    pub async fn newest_checkpoint_time(&self) -> Result<Option<(u64, i64)>, StoreError> {
        let row = sqlx::query_as::<_, (i64, i64)>(
            "SELECT size, at_ms FROM log_checkpoints ORDER BY size DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(s, at)| (s as u64, at)))
    }

    /// When the log entry at `index` was appended (unix ms), if there is one.
    pub async fn entry_time(&self, index: u64) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT at_ms FROM log_entries WHERE idx = $1")
                .bind(index as i64)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// The largest size each witness has cosigned of our checkpoints, by witness name.
    pub async fn cosigned_sizes(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let rows = sqlx::query_as::<_, (String, i64)>(
            "SELECT witness, MAX(size) FROM log_cosignatures GROUP BY witness",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(w, s)| (w, s as u64)).collect())
    }

    /// Messages the relay has yet to deliver, and when the oldest of them was written.
    pub async fn outbox_backlog(&self) -> Result<(u64, Option<i64>), StoreError> {
        let (n, oldest) = sqlx::query_as::<_, (i64, Option<i64>)>(
            "SELECT COUNT(*), MIN(created_ms) FROM transfer_outbox WHERE done = 0",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((n as u64, oldest))
    }

    /// Cases by status, and the cases not final that are parked for a clerk or have not
    /// moved since `stale_before_ms`.
    pub async fn case_counts(&self, stale_before_ms: i64) -> Result<CaseCounts, StoreError> {
        let rows = sqlx::query_as::<_, (String, i64)>(
            "SELECT status, COUNT(*) FROM transfer_case GROUP BY status",
        )
        .fetch_all(&self.pool)
        .await?;
        let stuck: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM transfer_case WHERE is_final = 0 \
             AND (stuck_reason IS NOT NULL OR updated_ms < $1)",
        )
        .bind(stale_before_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok(CaseCounts {
            by_status: rows.into_iter().map(|(s, n)| (s, n as u64)).collect(),
            stuck: stuck as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_words_only() {
        assert_eq!(word("disclosed"), "disclosed");
        assert_eq!(word("refused: purpose not allowed"), "refused");
        assert_eq!(word("张三 110101199001011234"), "other");
        assert_eq!(word("Refused"), "other");
        assert_eq!(word(""), "other");
    }
}
