//! `hfx audit replay --config`: what the node's store and its core system say about the
//! transfer cases the log rebuilds. Both are only read: the store is opened offline (no
//! migration, no log), the core system through the node's `[adapter]` section as
//! `hfx adapter check` opens it, and only its read calls are made (member by id, postings).

use anyhow::Context;
use hfx_adapters::model::{IdType, YearMonth, business_type};
use hfx_tlog::audit::{CaseLog, CoreAccount, CoreFacts, MoneyFinding, StoreCase};
use std::collections::BTreeMap;
use std::path::Path;

/// Every case of the store, and what the core system says of those the log rebuilt.
pub struct Found {
    pub centre: String,
    pub store: Vec<StoreCase>,
    pub core: CoreFacts,
    /// Cases the core system could not be asked about (an adapter error), as findings.
    pub unreadable: Vec<MoneyFinding>,
}

/// The person and accounts of a stored case.
struct Identity {
    id_type: Option<IdType>,
    id_number: String,
}

pub async fn read(config: &Path, logs: &[CaseLog]) -> anyhow::Result<Found> {
    let cfg = hfx_node::config::NodeConfig::load(config)?;
    // Opening a SQLite file that is not there would create it: an auditor's read creates
    // nothing, so a missing store or core-system file is an error.
    let url = cfg.store_url();
    if let Some(rest) = url.strip_prefix("sqlite://") {
        let path = Path::new(rest.split('?').next().unwrap_or(rest));
        anyhow::ensure!(
            path.exists(),
            "store.url: {} does not exist (replay reads a store, it never creates one)",
            path.display()
        );
    }
    if let Some(p) = &cfg.adapter.path {
        let path = cfg.resolve(p);
        anyhow::ensure!(
            path.exists(),
            "adapter.path: {} does not exist (replay reads the core system, it never creates one)",
            path.display()
        );
    }
    let store = hfx_node::store::Store::open_offline(&url)
        .await
        .context("opening the store")?;
    let rows = store
        .cases(hfx_node::store::cases::CaseFilter {
            include_final: true,
            stuck_only: false,
            limit: i64::MAX,
        })
        .await
        .context("reading the store's transfer cases")?;
    let mut cases = Vec::with_capacity(rows.len());
    let mut who: BTreeMap<String, Identity> = BTreeMap::new();
    for r in &rows {
        let c = hfx_node::transfer::case_of(r)
            .map_err(|e| anyhow::anyhow!("case {}: {e}", r.case_id))?;
        let role = c.role.as_str().to_string();
        let account_no = match (role.as_str(), &c.letter) {
            ("origin", _) => c.origin_account_no.clone().unwrap_or_default(),
            (_, Some(l)) => l.destination_account_no.clone(),
            _ => String::new(),
        };
        if let Some(l) = &c.letter {
            who.insert(
                r.case_id.clone(),
                Identity {
                    id_type: IdType::from_code(&l.person.id_type),
                    id_number: l.person.id_number.clone(),
                },
            );
        }
        cases.push(StoreCase {
            case_id: r.case_id.clone(),
            role,
            row_status: r.status.clone(),
            status: c.status.as_str().to_string(),
            held_fen: c.record.as_ref().map(|x| x.amount_fen),
            payment: c
                .payment
                .as_ref()
                .map(|p| (p.paid, p.amount_fen, p.bank_ref.clone())),
            account_no,
            created_ms: r.created_ms,
            updated_ms: r.updated_ms,
        });
    }
    store.close().await;
    let core_sys = hfx_node::node::open_core(&cfg).await?;
    let mut core = CoreFacts::default();
    let mut unreadable = Vec::new();
    let by_id: BTreeMap<&str, &StoreCase> = cases.iter().map(|s| (s.case_id.as_str(), s)).collect();
    // Destination accounts: the earliest case on each, so one read covers them all.
    let mut accounts: BTreeMap<String, i64> = BTreeMap::new();
    let mut failed: Vec<(&CaseLog, String)> = Vec::new();
    let bar = crate::commands::progress_bar(
        logs.len() as u64,
        &crate::commands::lang::cat().msg("progress-asking-core"),
    );
    for l in logs {
        bar.inc(1);
        let Some(s) = by_id.get(l.case_id.as_str()) else {
            continue;
        };
        if !l.is_origin() {
            if !s.account_no.is_empty() {
                let e = accounts.entry(s.account_no.clone()).or_insert(s.created_ms);
                *e = (*e).min(s.created_ms);
            }
            continue;
        }
        let Some(id) = who.get(&l.case_id) else {
            continue; // a tombstone: no person, no account
        };
        let Some(id_type) = id.id_type else {
            failed.push((
                l,
                "the case's id type is not one the core system knows".into(),
            ));
            continue;
        };
        match core_sys.member_by_id(id_type, &id.id_number).await {
            Ok(m) => {
                core.origin.insert(
                    l.case_id.clone(),
                    m.map(|m| CoreAccount {
                        account_no: m.account_no,
                        status: m.status.code().to_string(),
                        balance_fen: m.balance_fen,
                        close_reason: m.close_reason,
                    }),
                );
            }
            Err(e) => failed.push((l, e.detail())),
        }
    }
    bar.finish_and_clear();
    let today = chrono::Local::now().date_naive();
    let bar = crate::commands::progress_bar(
        accounts.len() as u64,
        &crate::commands::lang::cat().msg("progress-reading-credits"),
    );
    for (account, since_ms) in accounts {
        bar.inc(1);
        // The credit is dated by the core's local day; a day's slack either side of the
        // case's start.
        let since = chrono::DateTime::from_timestamp_millis(since_ms)
            .map(|t| t.with_timezone(&chrono::Local).date_naive())
            .unwrap_or(today)
            .pred_opt()
            .unwrap_or(today);
        let to = today.succ_opt().unwrap_or(today);
        match core_sys
            .deposits(&account, YearMonth::of(since), YearMonth::of(to))
            .await
        {
            Ok(postings) => {
                core.credits.insert(
                    account,
                    postings
                        .iter()
                        .filter(|p| p.business_type == business_type::TRANSFER_IN)
                        .filter(|p| p.date >= since)
                        .map(|p| p.amount_fen)
                        .collect(),
                );
            }
            Err(e) => {
                let why = e.detail();
                for l in logs.iter().filter(|l| {
                    !l.is_origin()
                        && by_id
                            .get(l.case_id.as_str())
                            .is_some_and(|s| s.account_no == account)
                }) {
                    failed.push((l, why.clone()));
                }
            }
        }
    }
    bar.finish_and_clear();
    for (l, what) in failed {
        unreadable.push(MoneyFinding {
            kind: "core_unreadable".into(),
            case_id: l.case_id.clone(),
            role: l.role.clone(),
            field: "account".into(),
            expected: "an answer from the core system".into(),
            found: what.clone(),
            age_seconds: (hfx_node::now_ms() - l.last_ms).max(0) / 1000,
        });
        core.unreadable.insert(l.case_id.clone(), what);
    }
    Ok(Found {
        centre: cfg.centre,
        store: cases,
        core,
        unreadable,
    })
}
