//! The bank stand-in's endpoints.

use super::{BankState, Fault, FaultMode, FaultOp, Refusal};
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hfx_adapters::bank::{
    BAD_REQUEST, CASE_MISMATCH, ErrorBody, NOT_PAID, Payout, UNAVAILABLE, UNKNOWN_CASE,
};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

type St = State<Arc<BankState>>;

/// The longest case id the bank takes.
const MAX_CASE_ID: usize = 128;

pub(super) fn router(st: Arc<BankState>) -> Router {
    Router::new()
        .route("/payout", post(payout))
        .route("/payout/{case_id}", get(status))
        .route("/deliver/{case_id}", post(deliver))
        .route("/ledger", get(ledger))
        .route(
            "/faults",
            post(add_faults).get(list_faults).delete(clear_faults),
        )
        .fallback(|| async {
            err(
                StatusCode::NOT_FOUND,
                "NO_SUCH_ENDPOINT",
                "no such endpoint",
            )
        })
        .with_state(st)
}

fn err(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(ErrorBody {
            code: code.into(),
            message: message.into(),
        }),
    )
        .into_response()
}

fn unavailable(message: &str) -> Response {
    err(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE, message)
}

fn refused(r: Refusal) -> Response {
    match r {
        Refusal::UnknownCase => err(
            StatusCode::NOT_FOUND,
            UNKNOWN_CASE,
            "the bank never saw this case",
        ),
        Refusal::Mismatch(m) => err(StatusCode::CONFLICT, CASE_MISMATCH, m),
        Refusal::NotPaid => err(
            StatusCode::CONFLICT,
            NOT_PAID,
            "the case was declined: nothing to deliver",
        ),
        Refusal::Store(e) => {
            tracing::warn!(error = %hfx_adapters::chain(&e), "bank stand-in ledger write failed");
            err(
                StatusCode::INTERNAL_SERVER_ERROR,
                UNAVAILABLE,
                hfx_adapters::chain(&e),
            )
        }
    }
}

fn bad_request(message: String) -> Response {
    err(StatusCode::BAD_REQUEST, BAD_REQUEST, message)
}

/// A case id the bank takes, or why not.
fn check_case_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_CASE_ID || id.chars().any(char::is_control) {
        return Err(format!(
            "case_id must be 1..={MAX_CASE_ID} printable characters"
        ));
    }
    Ok(())
}

/// A payout the bank takes, or why not.
fn parse_payout(body: &[u8]) -> Result<Payout, String> {
    let p: Payout = serde_json::from_slice(body).map_err(|e| format!("not a payout: {e}"))?;
    check_case_id(&p.case_id)?;
    for (k, v) in [("from_centre", &p.from_centre), ("to_centre", &p.to_centre)] {
        if v.is_empty() {
            return Err(format!("{k} must not be empty"));
        }
    }
    if p.from_centre == p.to_centre {
        return Err("from_centre and to_centre must differ".into());
    }
    if p.amount_fen <= 0 {
        return Err(format!("amount_fen {} must be positive", p.amount_fen));
    }
    Ok(p)
}

/// What a fault does before the call is applied: `Some(answer)` ends the call unapplied.
async fn before_apply(fault: Option<&Fault>) -> Option<Response> {
    match fault.map(|f| (f.mode, f.delay_ms)) {
        Some((FaultMode::Flaky, _)) => Some(unavailable("injected: flaky, nothing applied")),
        Some((FaultMode::TimeoutBeforeApply, ms)) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Some(unavailable(
                "injected: timeout before apply, nothing applied",
            ))
        }
        _ => None,
    }
}

/// What a fault does to the answer of an applied call.
async fn after_apply(fault: Option<&Fault>, answer: Response) -> Response {
    match fault.map(|f| (f.mode, f.delay_ms)) {
        Some((FaultMode::Late, ms)) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            answer
        }
        Some((FaultMode::ReplyLost, _)) => {
            unavailable("injected: reply lost (the call was applied)")
        }
        _ => answer,
    }
}

async fn payout(State(st): St, body: Bytes) -> Response {
    st.payouts.fetch_add(1, Ordering::SeqCst);
    let p = match parse_payout(&body) {
        Ok(p) => p,
        Err(m) => return bad_request(m),
    };
    let fault = st.take_fault(FaultOp::Payout, &p.case_id, |m| m != FaultMode::Decline);
    if let Some(r) = before_apply(fault.as_ref()).await {
        return r;
    }
    // Applied in its own task: a client that hangs up does not stop the money moving.
    let applied = {
        let st = st.clone();
        tokio::spawn(async move { st.apply_payout(&p).await })
    };
    let answer = match applied.await {
        Ok(Ok(outcome)) => Json(outcome).into_response(),
        Ok(Err(r)) => refused(r),
        Err(e) => err(
            StatusCode::INTERNAL_SERVER_ERROR,
            UNAVAILABLE,
            e.to_string(),
        ),
    };
    after_apply(fault.as_ref(), answer).await
}

async fn status(State(st): St, UrlPath(case_id): UrlPath<String>) -> Response {
    st.statuses.fetch_add(1, Ordering::SeqCst);
    if let Err(m) = check_case_id(&case_id) {
        return bad_request(m);
    }
    match st.outcome_of(&case_id).await {
        Some(o) => Json(o).into_response(),
        None => refused(Refusal::UnknownCase),
    }
}

async fn deliver(State(st): St, UrlPath(case_id): UrlPath<String>) -> Response {
    st.deliveries.fetch_add(1, Ordering::SeqCst);
    if let Err(m) = check_case_id(&case_id) {
        return bad_request(m);
    }
    let fault = st.take_fault(FaultOp::Deliver, &case_id, |m| m != FaultMode::Decline);
    if let Some(r) = before_apply(fault.as_ref()).await {
        return r;
    }
    let applied = {
        let (st, id) = (st.clone(), case_id.clone());
        tokio::spawn(async move { st.apply_deliver(&id).await })
    };
    let answer = match applied.await {
        Ok(Ok(())) => Json(json!({ "case_id": case_id, "state": "delivered" })).into_response(),
        Ok(Err(r)) => refused(r),
        Err(e) => err(
            StatusCode::INTERNAL_SERVER_ERROR,
            UNAVAILABLE,
            e.to_string(),
        ),
    };
    after_apply(fault.as_ref(), answer).await
}

async fn ledger(State(st): St) -> Response {
    Json(st.ledger().await).into_response()
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(Fault),
    Many(Vec<Fault>),
}

async fn add_faults(State(st): St, body: Bytes) -> Response {
    let faults = match serde_json::from_slice::<OneOrMany>(&body) {
        Ok(OneOrMany::One(f)) => vec![f],
        Ok(OneOrMany::Many(v)) => v,
        Err(e) => {
            return err(
                StatusCode::BAD_REQUEST,
                BAD_REQUEST,
                format!("not a fault: {e}"),
            );
        }
    };
    if let Some(e) = faults.iter().find_map(|f| f.check().err()) {
        return err(StatusCode::BAD_REQUEST, BAD_REQUEST, e.to_string());
    }
    for f in faults {
        if let Err(e) = st.set_fault(f) {
            return err(StatusCode::BAD_REQUEST, BAD_REQUEST, e.to_string());
        }
    }
    list_faults(State(st)).await
}

async fn list_faults(State(st): St) -> Response {
    Json(json!({ "faults": st.pending_faults() })).into_response()
}

async fn clear_faults(State(st): St) -> Response {
    st.clear_faults();
    list_faults(State(st)).await
}
