//! Seeding the national-standard core on MariaDB: multi-row INSERTs, the portal id type on every
//! tenth resident id, and two fixtures with the vendor-extension statuses.

use crate::model::{Deposit, Employer, IdType};
use crate::money::format_yuan;
use crate::seed::{SeedOptions, SeedRecord, generate};
use chrono::NaiveDate;
use hfx_adapters::AdapterError;
use hfx_adapters::mariadb::{MariadbCore, codes};
use sqlx::{MySql, QueryBuilder};
use std::collections::HashSet;

/// Whether the seeder stores member `index` with the portal's id type code `111`: every tenth
/// resident-id member, as if imported from the government-service portal.
pub fn portal_id_code(index: u64, id_type: IdType) -> bool {
    id_type == IdType::ResidentId && index.is_multiple_of(10)
}

/// The extra members the seeder writes beside the population `0..n` (when it seeds from index
/// 0) to carry the vendor-extension statuses: `(index, GRZHZT)`. Their indexes lie at the top of
/// the centre's id capacity, far outside any real population, so their ids are unique.
pub fn vendor_fixtures(centre: &str) -> [(u64, &'static str); 2] {
    let top = crate::seed::person_capacity(centre).saturating_sub(1);
    [(top, "07"), (top.saturating_sub(1), "09")]
}

fn ymd(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}

/// `col IN (?, ...)` with binds.
fn push_in(qb: &mut QueryBuilder<MySql>, col: &str, values: &[String]) {
    qb.push(col);
    qb.push(" IN (");
    let mut sep = qb.separated(", ");
    for v in values {
        sep.push_bind(v.clone());
    }
    qb.push(")");
}

/// Seed members `start..start+count` of the deterministic population with multi-row INSERTs,
/// in transactions of a few thousand members; calls `progress(done)` after each. Every tenth
/// resident-id member is stored with the portal id type `111` ([`portal_id_code`]); when
/// `start` is 0 the [`vendor_fixtures`] (GRZHZT 07 / 09) are written too. Idempotent: members
/// whose account exists are skipped.
pub async fn seed(
    core: &MariadbCore,
    centre: &str,
    opts: &SeedOptions,
    start: u64,
    count: u64,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<(), AdapterError> {
    let employers: Vec<Employer> = (0..opts.employers.max(1))
        .map(|n| crate::seed::employer(centre, opts, n))
        .collect();
    let mut tx = core.pool().begin().await?;
    for chunk in employers.chunks(1_000) {
        let mut qb: QueryBuilder<MySql> =
            QueryBuilder::new("INSERT IGNORE INTO DWXX (DWZH, DWMC, TYSHXYDM, DWJCBL, GRJCBL) ");
        qb.push_values(chunk, |mut b, e| {
            b.push_bind(e.account_no.clone())
                .push_bind(e.name.clone())
                .push_bind(e.uscc.clone())
                .push_bind(format_yuan(i64::from(e.employer_rate_bp)))
                .push_bind(format_yuan(i64::from(e.member_rate_bp)));
        });
        qb.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;

    const BATCH: u64 = 2_000;
    let end = start.saturating_add(count);
    let (txc, mut rx) = tokio::sync::mpsc::channel::<Vec<(u64, SeedRecord)>>(2);
    let centre_owned = centre.to_string();
    let gen_opts = *opts;
    let producer = tokio::task::spawn_blocking(move || {
        let mut i = start;
        while i < end {
            let n = BATCH.min(end - i);
            let recs: Vec<_> = (i..i + n)
                .map(|k| (k, generate(&centre_owned, &gen_opts, k)))
                .collect();
            if txc.blocking_send(recs).is_err() {
                return;
            }
            i += n;
        }
    });
    let mut done = 0u64;
    let mut result = Ok(());
    while let Some(recs) = rx.recv().await {
        let n = recs.len() as u64;
        let rows = recs.into_iter().map(|(k, r)| (k, r, None)).collect();
        if let Err(e) = seed_batch(core, rows).await {
            result = Err(e);
            break;
        }
        done += n;
        progress(done);
    }
    drop(rx);
    let _ = producer.await;
    result?;
    if start == 0 {
        let fixtures = vendor_fixtures(centre)
            .into_iter()
            .map(|(k, zt)| {
                let mut r = generate(centre, opts, k);
                r.loans.clear();
                (k, r, Some(zt))
            })
            .collect();
        seed_batch(core, fixtures).await?;
    }
    Ok(())
}

/// Write records whose account does not exist yet; `Some(code)` overrides GRZHZT.
async fn seed_batch(
    core: &MariadbCore,
    recs: Vec<(u64, SeedRecord, Option<&'static str>)>,
) -> Result<(), AdapterError> {
    let mut tx = core.pool().begin().await?;
    let accts: Vec<String> = recs
        .iter()
        .map(|(_, r, _)| r.member.account_no.clone())
        .collect();
    let mut qb: QueryBuilder<MySql> = QueryBuilder::new("SELECT GRZH FROM GRZHXX WHERE ");
    push_in(&mut qb, "GRZH", &accts);
    let existing: HashSet<String> = qb
        .build_query_scalar::<String>()
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
    let recs: Vec<_> = recs
        .into_iter()
        .filter(|(_, r, _)| !existing.contains(&r.member.account_no))
        .collect();
    if recs.is_empty() {
        return Ok(());
    }
    let zjlx = |k: u64, t: IdType| {
        if portal_id_code(k, t) {
            "111"
        } else {
            t.code()
        }
    };
    for chunk in recs.chunks(2_000) {
        let mut qb: QueryBuilder<MySql> = QueryBuilder::new(
            "INSERT INTO GRXX (GRZH, XingMing, ZJLX, ZJHM, XingBie, CSNY, SJHM) ",
        );
        qb.push_values(chunk, |mut b, (k, r, _)| {
            let m = &r.member;
            b.push_bind(m.account_no.clone())
                .push_bind(m.name.clone())
                .push_bind(zjlx(*k, m.id_type))
                .push_bind(m.id_number.clone())
                .push_bind(codes::code_of(&codes::XINGBIE, m.sex))
                .push_bind(ymd(m.birth_date))
                .push_bind(m.phone.clone());
        });
        qb.build().execute(&mut *tx).await?;
        let mut qb: QueryBuilder<MySql> = QueryBuilder::new(
            "INSERT INTO GRZHXX (GRZH, DWZH, GRJCJS, GRYJCE, DWYJCE, GRZHYE, GRZHSNJZYE, GRZHDNGJYE, GRZHZT, KHRQ, XHRQ, XHYY, JZNY) ",
        );
        qb.push_values(chunk, |mut b, (_, r, zt)| {
            let m = &r.member;
            let (xhrq, xhyy) = match zt {
                Some(_) => (None, None),
                None => (m.closed_on.map(ymd), m.close_reason.clone()),
            };
            b.push_bind(m.account_no.clone())
                .push_bind(m.employer.account_no.clone())
                .push_bind(format_yuan(m.deposit_base_fen))
                .push_bind(format_yuan(m.member_monthly_fen))
                .push_bind(format_yuan(m.employer_monthly_fen))
                .push_bind(format_yuan(m.balance_fen))
                .push_bind(format_yuan(m.carried_over_fen))
                .push_bind(format_yuan(m.this_year_fen))
                .push_bind(zt.unwrap_or(codes::code_of(&codes::GRZHZT, m.status)))
                .push_bind(ymd(m.opened_on))
                .push_bind(xhrq)
                .push_bind(xhyy)
                .push_bind(m.paid_up_to.to_string());
        });
        qb.build().execute(&mut *tx).await?;
    }
    let postings: Vec<(&str, &Deposit)> = recs
        .iter()
        .flat_map(|(_, r, _)| {
            r.deposits
                .iter()
                .map(move |d| (r.member.account_no.as_str(), d))
        })
        .collect();
    for chunk in postings.chunks(8_000) {
        let mut qb: QueryBuilder<MySql> =
            QueryBuilder::new("INSERT INTO GRMX (GRZH, JZRQ, YWLX, FSE, FSLXE, HBJNY) ");
        qb.push_values(chunk, |mut b, (acct, d)| {
            b.push_bind(acct.to_string())
                .push_bind(ymd(d.date))
                .push_bind(d.business_type.clone())
                .push_bind(format_yuan(d.amount_fen))
                .push_bind(format_yuan(d.interest_fen))
                .push_bind(d.for_month.to_string());
        });
        qb.build().execute(&mut *tx).await?;
    }
    let loans: Vec<(u64, &crate::model::LoanRecord)> = recs
        .iter()
        .flat_map(|(k, r, _)| r.loans.iter().map(move |l| (*k, l)))
        .collect();
    for chunk in loans.chunks(2_000) {
        let mut qb: QueryBuilder<MySql> = QueryBuilder::new(
            "INSERT INTO DKXX (JKHTBH, DKZH, JKRZJLX, JKRZJHM, HTDKJE, DKFFRQ, DKYE, YQBJZE, LJYQQS, DKJQRQ, DKZT) ",
        );
        qb.push_values(chunk, |mut b, (k, l)| {
            let ln = &l.loan;
            b.push_bind(ln.contract_no.clone())
                .push_bind(ln.loan_account.clone())
                .push_bind(zjlx(*k, l.borrower.0))
                .push_bind(l.borrower.1.clone())
                .push_bind(format_yuan(ln.contract_amount_fen))
                .push_bind(ymd(ln.issued_on))
                .push_bind(format_yuan(ln.outstanding_fen))
                .push_bind(format_yuan(ln.overdue_principal_fen))
                .push_bind(i64::from(ln.overdue_periods))
                .push_bind(ln.settled_on.map(ymd))
                .push_bind(codes::code_of(&codes::DKZT, ln.status));
        });
        qb.build().execute(&mut *tx).await?;
        // The generator's co-borrower of member k is member k - 1.
        let co: Vec<_> = chunk
            .iter()
            .filter_map(|(k, l)| l.co_borrower.as_ref().map(|c| (k.saturating_sub(1), l, c)))
            .collect();
        if !co.is_empty() {
            let mut qb: QueryBuilder<MySql> =
                QueryBuilder::new("INSERT INTO DKGTJKR (JKHTBH, GTJKRZJLX, GTJKRZJHM) ");
            qb.push_values(co, |mut b, (j, l, c)| {
                b.push_bind(l.loan.contract_no.clone())
                    .push_bind(zjlx(j, c.0))
                    .push_bind(c.1.clone());
            });
            qb.build().execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_lie_outside_any_population() {
        let f = vendor_fixtures("370800000000000");
        assert!(f.iter().all(|(k, _)| *k > 15_000_000));
        let a = generate("370800000000000", &SeedOptions::default(), f[0].0).member;
        assert!(
            crate::ids::validate_resident_id("x", &a.id_number).is_ok()
                || a.id_type != IdType::ResidentId
        );
    }
}
