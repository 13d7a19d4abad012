//! The stand-in's endpoints.

use super::{
    OUT_ID, OUT_LOAN, OUT_STATUS, Params, Reply, ServerState, VErr, WriteFault, db_err, in_code,
    out_code, out_month, out_txn, store_err, verr,
};
use crate::money::{format_yuan, parse_yuan};
use crate::seed::SeedOptions;
use crate::seeding::Seed;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use hfx_adapters::CoreSystem;
use hfx_adapters::faults::WriteOp;
use hfx_adapters::vendorapi::wire::{TXN_TYPES, TxnDto, deposit_of};
use serde_json::{Value, json};
use sqlx::Row;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

fn page_json(items: Vec<Value>, page: u32, size: u32, total: i64) -> Value {
    let total = total.max(0) as u64;
    let pages = total.div_ceil(u64::from(size));
    json!({ "items": items, "page": page, "pageSize": size, "total": total, "totalPages": pages })
}

fn id_param(q: &HashMap<String, String>) -> Result<Option<(String, String)>, VErr> {
    match (q.get("idType"), q.get("idNo")) {
        (None, None) => Ok(None),
        (Some(t), Some(n)) => {
            let t = in_code(&OUT_ID, t).ok_or_else(|| {
                verr(
                    "E2002",
                    format!("idType {t:?} is not one of the vendor's id types"),
                )
            })?;
            Ok(Some((t.to_string(), n.clone())))
        }
        _ => Err(verr("E2002", "idType and idNo go together")),
    }
}

pub(super) async fn token(
    State(st): State<Arc<ServerState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    st.gate(&headers, false).await?;
    let form = parse_form(&body)?;
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return Err(verr("E2002", "grant_type must be client_credentials"));
    }
    if form.get("client_id") != Some(&st.client_id)
        || form.get("client_secret") != Some(&st.client_secret)
    {
        return Err(verr("E1002", "invalid client credentials"));
    }
    let n = st.counters.tokens_issued.fetch_add(1, Ordering::SeqCst);
    let value = format!("vt-{n}-{:032x}", rand::random::<u128>());
    st.tokens
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(value.clone(), Instant::now() + st.token_ttl);
    Ok(Json(
        json!({ "access_token": value, "token_type": "Bearer", "expires_in": st.token_ttl.as_secs() }),
    ))
}

/// Parse an `application/x-www-form-urlencoded` body.
fn parse_form(body: &[u8]) -> Result<HashMap<String, String>, VErr> {
    axum::extract::Query::<HashMap<String, String>>::try_from_uri(
        &format!("/?{}", String::from_utf8_lossy(body))
            .parse()
            .map_err(|_| verr("E2002", "malformed form body"))?,
    )
    .map(|q| q.0)
    .map_err(|e| verr("E2002", format!("malformed form body: {e}")))
}

pub(super) async fn health() -> Json<Value> {
    Json(json!({ "status": "UP", "version": "2.3.1-standin" }))
}

pub(super) async fn codes(State(st): State<Arc<ServerState>>, headers: HeaderMap) -> Reply {
    st.gate(&headers, true).await?;
    let pool = st.store.pool();
    let in_use = |sql: &'static str| async move {
        sqlx::query_scalar::<_, String>(sql)
            .fetch_all(pool)
            .await
            .map_err(db_err)
    };
    let mut status: Vec<String> = OUT_STATUS
        .iter()
        .filter(|(s, _)| *s != "07")
        .map(|(_, v)| v.to_string())
        .collect();
    for raw in in_use("SELECT DISTINCT grzhzt FROM grxx").await? {
        let v = out_code(&OUT_STATUS, &raw);
        if !status.contains(&v) {
            status.push(v);
        }
    }
    let mut txn: Vec<String> = TXN_TYPES.iter().map(|(v, _)| v.to_string()).collect();
    for raw in in_use("SELECT DISTINCT ywlx FROM grmx").await? {
        let v = out_txn(&raw);
        if !txn.contains(&v) {
            txn.push(v);
        }
    }
    Ok(Json(json!({
        "idType": OUT_ID.iter().map(|(_, v)| v).collect::<Vec<_>>(),
        "acctStatus": status,
        "txnType": txn,
        "loanStatus": OUT_LOAN.iter().map(|(_, v)| v).collect::<Vec<_>>(),
    })))
}

fn member_json(row: &sqlx::sqlite::SqliteRow) -> Value {
    let s = |c: &str| row.try_get::<Option<String>, _>(c).ok().flatten();
    let n = |c: &str| row.try_get::<Option<i64>, _>(c).ok().flatten();
    let pct = |v: Option<i64>| v.map(format_yuan);
    json!({
        "acctNo": s("grzh"),
        "custName": s("xingming"),
        "idType": s("zjlx").map(|c| out_code(&OUT_ID, &c)),
        "idNo": s("zjhm"),
        "gender": s("xingbie").map(|g| match g.as_str() { "1" => "M".to_string(), "2" => "F".to_string(), other => other.to_string() }),
        "birthDate": s("csrq"),
        "mobile": s("sjhm"),
        "employer": {
            "unitAcctNo": s("dwzh"),
            "unitName": s("dwmc"),
            "creditCode": s("tyshxydm"),
            "unitRatePct": pct(n("dwjcbl")),
            "personalRatePct": pct(n("grjcbl")),
        },
        "depositBase": s("grjcjs"),
        "personalMonthly": s("gryjce"),
        "unitMonthly": s("dwyjce"),
        "balance": s("grzhye"),
        "priorYearBalance": s("grzhsnjzye"),
        "currentYearDeposits": s("grzhdngjye"),
        "acctStatus": s("grzhzt").map(|c| out_code(&OUT_STATUS, &c)),
        "openDate": s("khrq"),
        "closeDate": s("xhrq"),
        "closeReasonCode": s("xhyy"),
        "paidThrough": s("jzny").map(|m| out_month(&m)),
    })
}

pub(super) async fn members(
    State(st): State<Arc<ServerState>>,
    headers: HeaderMap,
    Query(q): Params,
) -> Reply {
    st.gate(&headers, true).await?;
    st.counters.member_pages.fetch_add(1, Ordering::SeqCst);
    let (page, size) = st.paging(&q)?;
    let offset = i64::from(page - 1) * i64::from(size);
    let pool = st.store.pool();
    let select = "SELECT g.*, w.dwmc, w.tyshxydm, w.dwjcbl, w.grjcbl FROM grxx g LEFT JOIN dwxx w ON w.dwzh = g.dwzh";
    let (rows, total) = match id_param(&q)? {
        Some((t, n)) => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{select} WHERE g.zjhm = ?1 AND g.zjlx = ?2 ORDER BY g.grzhzt, g.grzh LIMIT ?3 OFFSET ?4"
            )))
            .bind(&n)
            .bind(&t)
            .bind(i64::from(size))
            .bind(offset)
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            let total: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM grxx WHERE zjhm = ?1 AND zjlx = ?2")
                    .bind(&n)
                    .bind(&t)
                    .fetch_one(pool)
                    .await
                    .map_err(db_err)?;
            (rows, total)
        }
        None => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{select} ORDER BY g.grzh LIMIT ?1 OFFSET ?2"
            )))
            .bind(i64::from(size))
            .bind(offset)
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM grxx")
                .fetch_one(pool)
                .await
                .map_err(db_err)?;
            (rows, total)
        }
    };
    Ok(Json(page_json(
        rows.iter().map(member_json).collect(),
        page,
        size,
        total,
    )))
}

fn vendor_month_param(q: &HashMap<String, String>, k: &str, default: &str) -> Result<String, VErr> {
    match q.get(k) {
        None => Ok(default.to_string()),
        Some(v) => {
            let ok = v.len() == 7
                && v.as_bytes()[4] == b'-'
                && v.bytes()
                    .enumerate()
                    .all(|(i, b)| i == 4 || b.is_ascii_digit());
            if ok {
                Ok(v.replace('-', ""))
            } else {
                Err(verr("E2002", format!("{k} {v:?} is not YYYY-MM")))
            }
        }
    }
}

pub(super) async fn transactions(
    State(st): State<Arc<ServerState>>,
    headers: HeaderMap,
    UrlPath(acct): UrlPath<String>,
    Query(q): Params,
) -> Reply {
    st.gate(&headers, true).await?;
    st.counters.transaction_pages.fetch_add(1, Ordering::SeqCst);
    let (page, size) = st.paging(&q)?;
    let from = vendor_month_param(&q, "from", "000000")?;
    let to = vendor_month_param(&q, "to", "999999")?;
    let pool = st.store.pool();
    let rows = sqlx::query(
        "SELECT rq, ywlx, fse, lx, hjny FROM grmx WHERE grzh = ?1 AND hjny >= ?2 AND hjny <= ?3 ORDER BY hjny, rq, rowid LIMIT ?4 OFFSET ?5",
    )
    .bind(&acct)
    .bind(&from)
    .bind(&to)
    .bind(i64::from(size))
    .bind(i64::from(page - 1) * i64::from(size))
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    let total: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM grmx WHERE grzh = ?1 AND hjny >= ?2 AND hjny <= ?3",
    )
    .bind(&acct)
    .bind(&from)
    .bind(&to)
    .fetch_one(pool)
    .await
    .map_err(db_err)?;
    let items = rows
        .iter()
        .map(|r| {
            let s = |c: &str| {
                r.try_get::<Option<String>, _>(c)
                    .ok()
                    .flatten()
                    .unwrap_or_default()
            };
            json!({
                "txnDate": s("rq"),
                "txnType": out_txn(&s("ywlx")),
                "amount": s("fse"),
                "interest": s("lx"),
                "period": out_month(&s("hjny")),
            })
        })
        .collect();
    Ok(Json(page_json(items, page, size, total)))
}

pub(super) async fn loans(
    State(st): State<Arc<ServerState>>,
    headers: HeaderMap,
    Query(q): Params,
) -> Reply {
    st.gate(&headers, true).await?;
    st.counters.loan_pages.fetch_add(1, Ordering::SeqCst);
    let (page, size) = st.paging(&q)?;
    let Some((t, n)) = id_param(&q)? else {
        return Err(verr("E2002", "idType and idNo are required"));
    };
    let pool = st.store.pool();
    let rows = sqlx::query(
        "SELECT *, CASE WHEN jkr_zjhm = ?1 AND jkr_zjlx = ?2 THEN 'PRIMARY' ELSE 'CO' END AS role FROM dkxx \
         WHERE (jkr_zjhm = ?1 AND jkr_zjlx = ?2) OR (gjr_zjhm = ?1 AND gjr_zjlx = ?2) ORDER BY dkffrq, jkhtbh LIMIT ?3 OFFSET ?4",
    )
    .bind(&n)
    .bind(&t)
    .bind(i64::from(size))
    .bind(i64::from(page - 1) * i64::from(size))
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    let total: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM dkxx WHERE (jkr_zjhm = ?1 AND jkr_zjlx = ?2) OR (gjr_zjhm = ?1 AND gjr_zjlx = ?2)",
    )
    .bind(&n)
    .bind(&t)
    .fetch_one(pool)
    .await
    .map_err(db_err)?;
    let items = rows
        .iter()
        .map(|r| {
            let s = |c: &str| r.try_get::<Option<String>, _>(c).ok().flatten();
            json!({
                "contractNo": s("jkhtbh"),
                "loanAcctNo": s("dkzh"),
                "role": s("role"),
                "contractAmount": s("htdkje"),
                "disburseDate": s("dkffrq"),
                "principalBalance": s("dkye"),
                "overduePrincipal": s("yqbjze"),
                "overdueTerms": r.try_get::<Option<i64>, _>("ljyqqs").ok().flatten().unwrap_or(0),
                "payoffDate": s("dkjqrq"),
                "loanStatus": s("dkzt").map(|c| out_code(&OUT_LOAN, &c)),
            })
        })
        .collect();
    Ok(Json(page_json(items, page, size, total)))
}

fn body_json(body: &Bytes) -> Result<Value, VErr> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|e| verr("E2002", format!("body is not JSON: {e}")))
}

fn str_field<'a>(v: &'a Value, k: &str) -> Result<&'a str, VErr> {
    v.get(k)
        .and_then(Value::as_str)
        .ok_or_else(|| verr("E2002", format!("{k} is required (a string)")))
}

/// The write a transfer URL's operation names.
fn write_op(op: &str) -> Option<WriteOp> {
    match op {
        "reserve" => Some(WriteOp::Reserve),
        "release" => Some(WriteOp::Release),
        "close" => Some(WriteOp::CloseOut),
        "credit" => Some(WriteOp::CreditIn),
        _ => None,
    }
}

/// An answer whose head may go out but whose body never completes: hyper cuts the connection.
fn cut_connection() -> Response {
    let body = axum::body::Body::from_stream(futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "connection cut on command after the write was applied",
        ))
    }));
    let mut r = Response::new(body);
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    r
}

pub(super) async fn transfer(
    State(st): State<Arc<ServerState>>,
    headers: HeaderMap,
    UrlPath((case_id, op)): UrlPath<(String, String)>,
    body: Bytes,
) -> Response {
    if let Err(e) = st.gate(&headers, true).await {
        return e.into_response();
    }
    let w = write_op(&op);
    if let Some(w) = w
        && st.take_write_fault(w, true).is_some()
    {
        return verr("E5030", "service temporarily unavailable, try again").into_response();
    }
    let answer = match apply_transfer(&st, &case_id, &op, &body).await {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    match w.and_then(|w| st.take_write_fault(w, false)) {
        Some(WriteFault::After5xx) => {
            tracing::info!(
                case_id,
                op,
                "vendor stand-in: write applied, answering 503 on command"
            );
            verr("E5030", "service temporarily unavailable, try again").into_response()
        }
        Some(WriteFault::AfterCut) => {
            tracing::info!(
                case_id,
                op,
                "vendor stand-in: write applied, cutting the connection on command"
            );
            cut_connection()
        }
        Some(WriteFault::Before5xx) | None => answer.into_response(),
    }
}

/// Apply one transfer write to the store.
async fn apply_transfer(st: &ServerState, case_id: &str, op: &str, body: &Bytes) -> Reply {
    let case_id = case_id.to_string();
    let v = body_json(body)?;
    match op {
        "reserve" => {
            let acct = str_field(&v, "acctNo")?;
            let r = st.store.reserve(&case_id, acct).await.map_err(store_err)?;
            Ok(Json(json!({
                "caseId": r.case_id, "acctNo": r.account_no, "heldPrincipal": format_yuan(r.principal_fen),
                "heldInterest": format_yuan(r.interest_fen), "state": "HELD",
            })))
        }
        "release" => {
            st.store.release(&case_id).await.map_err(store_err)?;
            Ok(Json(json!({ "caseId": case_id, "state": "RELEASED" })))
        }
        "close" => {
            st.store.close_out(&case_id).await.map_err(store_err)?;
            Ok(Json(json!({ "caseId": case_id, "state": "CLOSED" })))
        }
        "credit" => {
            let acct = str_field(&v, "acctNo")?;
            let amount = str_field(&v, "amount")?;
            let fen = parse_yuan(amount)
                .ok_or_else(|| verr("E2002", format!("amount {amount:?} is not a yuan amount")))?;
            let mut history = Vec::new();
            for (i, t) in v
                .get("history")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[])
                .iter()
                .enumerate()
            {
                let d: TxnDto = serde_json::from_value(t.clone())
                    .map_err(|e| verr("E2002", format!("history[{i}]: {e}")))?;
                history.push(
                    deposit_of(d, &format!("history[{i}]"))
                        .map_err(|e| verr("E2002", e.to_string()))?,
                );
            }
            st.store
                .credit_in(&case_id, acct, fen, &history)
                .await
                .map_err(store_err)?;
            Ok(Json(
                json!({ "caseId": case_id, "acctNo": acct, "amount": format_yuan(fen), "state": "CREDITED" }),
            ))
        }
        other => Err(verr(
            "E2002",
            format!("unknown transfer operation {other:?}"),
        )),
    }
}

pub(super) async fn admin_seed(
    State(st): State<Arc<ServerState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    st.gate(&headers, true).await?;
    let v = body_json(&body)?;
    let num = |k: &str| {
        v.get(k)
            .and_then(Value::as_u64)
            .ok_or_else(|| verr("E2002", format!("{k} is required (a number)")))
    };
    let centre = str_field(&v, "centre")?;
    let opts = SeedOptions {
        seed: num("seed")?,
        history_months: u32::try_from(num("historyMonths")?)
            .map_err(|_| verr("E2002", "historyMonths is too large"))?,
        employers: u32::try_from(num("employers")?)
            .map_err(|_| verr("E2002", "employers is too large"))?,
    };
    let (start, count) = (num("start")?, num("count")?);
    st.store
        .seed(centre, &opts, start, count, &|_| {})
        .await
        .map_err(store_err)?;
    Ok(Json(json!({ "seeded": count })))
}

pub(super) async fn admin_stats(State(st): State<Arc<ServerState>>, headers: HeaderMap) -> Reply {
    st.gate(&headers, true).await?;
    let n = st.store.member_count().await.map_err(store_err)?;
    Ok(Json(json!({ "members": n })))
}
