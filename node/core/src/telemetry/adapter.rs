//! A span around every call into the centre's core fund system (docs/tracing.md): the core
//! system is wrapped once when the node opens ([`traced`]), so every adapter call of every
//! business room shows in the trace of the case that made it, without each call site
//! remembering to.
//!
//! The span names the operation, the adapter kind, this centre and, for the calls of a
//! transfer, the case id. It never holds the id number, name or account number the call
//! carries: those arguments are not recorded.

use hfx_adapters::model::{Deposit, IdType, Member, YearMonth};
use hfx_adapters::{AdapterError, CheckItem, CoreSystem, LivePage, PersonLoan, Reservation};
use std::sync::Arc;
use tracing::Instrument;

/// `core` with a span around each call (see the module).
pub fn traced(core: Arc<dyn CoreSystem>) -> Arc<dyn CoreSystem> {
    Arc::new(TracedCore { inner: core })
}

struct TracedCore {
    inner: Arc<dyn CoreSystem>,
}

/// The span of one call; `case_id` is "" for calls that belong to no case.
fn span(kind: &'static str, op: &'static str, case_id: &str) -> tracing::Span {
    let s = tracing::info_span!(
        "adapter.call",
        otel.name = %format_args!("adapter {op}"),
        adapter.op = op,
        adapter.kind = kind,
        centre = %super::centre(),
        case_id = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    if !case_id.is_empty() {
        s.record("case_id", case_id);
    }
    s
}

/// Mark the span failed when the call failed (the error's kind only: its text may quote
/// what the core system said about a person).
fn outcome<T>(span: &tracing::Span, r: &Result<T, AdapterError>) {
    if r.is_err() {
        span.record("otel.status_code", "ERROR");
    }
}

impl TracedCore {
    async fn run<T>(
        &self,
        op: &'static str,
        case_id: &str,
        fut: impl std::future::Future<Output = Result<T, AdapterError>>,
    ) -> Result<T, AdapterError> {
        let s = span(self.inner.kind(), op, case_id);
        let r = fut.instrument(s.clone()).await;
        outcome(&s, &r);
        r
    }
}

#[async_trait::async_trait]
impl CoreSystem for TracedCore {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn member_by_id(
        &self,
        id_type: IdType,
        id_number: &str,
    ) -> Result<Option<Member>, AdapterError> {
        self.run(
            "member_by_id",
            "",
            self.inner.member_by_id(id_type, id_number),
        )
        .await
    }

    async fn deposits(
        &self,
        account_no: &str,
        from: YearMonth,
        to: YearMonth,
    ) -> Result<Vec<Deposit>, AdapterError> {
        self.run("deposits", "", self.inner.deposits(account_no, from, to))
            .await
    }

    async fn loans_of(
        &self,
        id_type: IdType,
        id_number: &str,
    ) -> Result<Vec<PersonLoan>, AdapterError> {
        self.run("loans_of", "", self.inner.loans_of(id_type, id_number))
            .await
    }

    async fn reserve(&self, case_id: &str, account_no: &str) -> Result<Reservation, AdapterError> {
        self.run("reserve", case_id, self.inner.reserve(case_id, account_no))
            .await
    }

    async fn release(&self, case_id: &str) -> Result<(), AdapterError> {
        self.run("release", case_id, self.inner.release(case_id))
            .await
    }

    async fn close_out(&self, case_id: &str) -> Result<(), AdapterError> {
        self.run("close_out", case_id, self.inner.close_out(case_id))
            .await
    }

    async fn credit_in(
        &self,
        case_id: &str,
        account_no: &str,
        amount_fen: i64,
        history: &[Deposit],
    ) -> Result<(), AdapterError> {
        self.run(
            "credit_in",
            case_id,
            self.inner
                .credit_in(case_id, account_no, amount_fen, history),
        )
        .await
    }

    async fn check(&self) -> Vec<CheckItem> {
        let s = span(self.inner.kind(), "check", "");
        self.inner.check().instrument(s).await
    }

    async fn live_ids(&self, cursor: Option<String>, limit: u32) -> Result<LivePage, AdapterError> {
        self.run("live_ids", "", self.inner.live_ids(cursor, limit))
            .await
    }
}
