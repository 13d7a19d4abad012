//! Calls to the centre's core system: `hfx_adapter_seconds{operation}` and
//! `hfx_adapter_errors_total{operation}`, from a decorator [`Node::open`] puts around the
//! adapter, so every kind of core system (and every room calling it) is measured in one place.
//!
//! `operation` is the trait method (`member_by_id`, `deposits`, `loans_of`, `reserve`,
//! `release`, `close_out`, `credit_in`, `check`, `live_ids`); an error is an `Err` (for
//! `check`, a self-test with a failed item). Never a label of the arguments.
//!
//! [`Node::open`]: crate::node::Node::open

use super::grpc::{HistogramFamily, latency_histogram};
use hfx_adapters::model::{Deposit, IdType, Member, YearMonth};
use hfx_adapters::{AdapterError, CheckItem, CoreSystem, LivePage, PersonLoan, Reservation};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabel {
    pub operation: &'static str,
}

/// The adapter families (registered by [`super::Metrics::new`]).
#[derive(Clone)]
pub struct AdapterMetrics {
    pub seconds: HistogramFamily<OperationLabel>,
    pub errors: Family<OperationLabel, Counter>,
    /// Off on a node without an operator port: nothing is wrapped.
    pub(crate) on: bool,
}

impl Default for AdapterMetrics {
    fn default() -> Self {
        Self {
            seconds: Family::new_with_constructor(latency_histogram),
            errors: Family::default(),
            on: false,
        }
    }
}

impl AdapterMetrics {
    fn observe(&self, operation: &'static str, started: Instant, failed: bool) {
        let label = OperationLabel { operation };
        self.seconds
            .get_or_create(&label)
            .observe(started.elapsed().as_secs_f64());
        if failed {
            self.errors.get_or_create(&label).inc();
        }
    }
}

/// A core system whose calls are timed and counted; behaves exactly as the one it wraps.
pub struct MeteredCore {
    inner: Arc<dyn CoreSystem>,
    metrics: AdapterMetrics,
}

impl MeteredCore {
    /// `inner` measured, or `inner` itself when metrics are off.
    pub fn wrap(inner: Arc<dyn CoreSystem>, metrics: &AdapterMetrics) -> Arc<dyn CoreSystem> {
        if !metrics.on {
            return inner;
        }
        Arc::new(Self {
            inner,
            metrics: metrics.clone(),
        })
    }

    async fn timed<T>(
        &self,
        operation: &'static str,
        f: impl Future<Output = Result<T, AdapterError>>,
    ) -> Result<T, AdapterError> {
        let started = Instant::now();
        let out = f.await;
        self.metrics.observe(operation, started, out.is_err());
        out
    }
}

#[tonic::async_trait]
impl CoreSystem for MeteredCore {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn member_by_id(
        &self,
        id_type: IdType,
        id_number: &str,
    ) -> Result<Option<Member>, AdapterError> {
        self.timed("member_by_id", self.inner.member_by_id(id_type, id_number))
            .await
    }

    async fn deposits(
        &self,
        account_no: &str,
        from: YearMonth,
        to: YearMonth,
    ) -> Result<Vec<Deposit>, AdapterError> {
        self.timed("deposits", self.inner.deposits(account_no, from, to))
            .await
    }

    async fn loans_of(
        &self,
        id_type: IdType,
        id_number: &str,
    ) -> Result<Vec<PersonLoan>, AdapterError> {
        self.timed("loans_of", self.inner.loans_of(id_type, id_number))
            .await
    }

    async fn reserve(&self, case_id: &str, account_no: &str) -> Result<Reservation, AdapterError> {
        self.timed("reserve", self.inner.reserve(case_id, account_no))
            .await
    }

    async fn release(&self, case_id: &str) -> Result<(), AdapterError> {
        self.timed("release", self.inner.release(case_id)).await
    }

    async fn close_out(&self, case_id: &str) -> Result<(), AdapterError> {
        self.timed("close_out", self.inner.close_out(case_id)).await
    }

    async fn credit_in(
        &self,
        case_id: &str,
        account_no: &str,
        amount_fen: i64,
        history: &[Deposit],
    ) -> Result<(), AdapterError> {
        self.timed(
            "credit_in",
            self.inner
                .credit_in(case_id, account_no, amount_fen, history),
        )
        .await
    }

    async fn check(&self) -> Vec<CheckItem> {
        let started = Instant::now();
        let items = self.inner.check().await;
        self.metrics
            .observe("check", started, items.iter().any(|i| !i.ok));
        items
    }

    async fn live_ids(&self, cursor: Option<String>, limit: u32) -> Result<LivePage, AdapterError> {
        self.timed("live_ids", self.inner.live_ids(cursor, limit))
            .await
    }
}
