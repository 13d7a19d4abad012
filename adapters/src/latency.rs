//! A slow core system, for tests and drills: [`SlowReads`] makes every read (member, deposits,
//! loans) wait a fixed time before it reaches the core system, as an overloaded or distant
//! core does. Writes and the self-test pass through untouched.
//!
//! A node gets it from its `[adapter]` table's test hook `read_delay_ms` (see
//! [`crate::settings::AdapterSettings`]); docs/loan_check.md shows the loan check's zone test
//! slowing one centre this way, past the check's deadline.

use crate::model::{Deposit, IdType, Member, YearMonth};
use crate::{AdapterError, CheckItem, CoreSystem, PersonLoan, Reservation};
use std::sync::Arc;
use std::time::Duration;

/// A core system whose reads each wait `delay` first.
pub struct SlowReads {
    inner: Arc<dyn CoreSystem>,
    delay: Duration,
}

impl SlowReads {
    pub fn new(inner: Arc<dyn CoreSystem>, delay: Duration) -> Self {
        Self { inner, delay }
    }

    async fn wait(&self) {
        tokio::time::sleep(self.delay).await;
    }
}

#[async_trait::async_trait]
impl CoreSystem for SlowReads {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn member_by_id(
        &self,
        id_type: IdType,
        id_number: &str,
    ) -> Result<Option<Member>, AdapterError> {
        self.wait().await;
        self.inner.member_by_id(id_type, id_number).await
    }

    async fn deposits(
        &self,
        account_no: &str,
        from: YearMonth,
        to: YearMonth,
    ) -> Result<Vec<Deposit>, AdapterError> {
        self.wait().await;
        self.inner.deposits(account_no, from, to).await
    }

    async fn loans_of(
        &self,
        id_type: IdType,
        id_number: &str,
    ) -> Result<Vec<PersonLoan>, AdapterError> {
        self.wait().await;
        self.inner.loans_of(id_type, id_number).await
    }

    async fn reserve(&self, case_id: &str, account_no: &str) -> Result<Reservation, AdapterError> {
        self.inner.reserve(case_id, account_no).await
    }

    async fn release(&self, case_id: &str) -> Result<(), AdapterError> {
        self.inner.release(case_id).await
    }

    async fn close_out(&self, case_id: &str) -> Result<(), AdapterError> {
        self.inner.close_out(case_id).await
    }

    async fn credit_in(
        &self,
        case_id: &str,
        account_no: &str,
        amount_fen: i64,
        history: &[Deposit],
    ) -> Result<(), AdapterError> {
        self.inner
            .credit_in(case_id, account_no, amount_fen, history)
            .await
    }

    async fn live_ids(
        &self,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<crate::LivePage, AdapterError> {
        self.inner.live_ids(cursor, limit).await
    }

    async fn check(&self) -> Vec<CheckItem> {
        self.inner.check().await
    }
}
