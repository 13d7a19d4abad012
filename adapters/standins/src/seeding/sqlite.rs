//! Seeding the small-centre sqlite core (also the master data of the batch and vendor stand-ins).

use crate::model::{Deposit, Sex};
use crate::money::format_yuan;
use crate::seed::{SeedOptions, generate};
use hfx_adapters::AdapterError;
use hfx_adapters::sqlite::{SqliteCore, date_text as d, loan_status_code};
use sqlx::{QueryBuilder, Sqlite};

/// Seed members `start..start+count` of the deterministic population, in batches; calls
/// `progress(done)` after each batch. Idempotent: existing rows are kept.
pub async fn seed(
    core: &SqliteCore,
    centre: &str,
    opts: &SeedOptions,
    start: u64,
    count: u64,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<(), AdapterError> {
    // Employers first.
    let mut tx = core.pool().begin().await?;
    for chunk in (0..opts.employers).collect::<Vec<_>>().chunks(500) {
        let mut qb: QueryBuilder<Sqlite> =
            QueryBuilder::new("INSERT OR IGNORE INTO dwxx (dwzh, dwmc, tyshxydm, dwjcbl, grjcbl) ");
        qb.push_values(chunk, |mut b, n| {
            let e = crate::seed::employer(centre, opts, *n);
            b.push_bind(e.account_no)
                .push_bind(e.name)
                .push_bind(e.uscc)
                .push_bind(e.employer_rate_bp as i64)
                .push_bind(e.member_rate_bp as i64);
        });
        qb.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    const BATCH: u64 = 2_000;
    let mut done = 0;
    let end = start + count;
    let mut i = start;
    while i < end {
        let n = BATCH.min(end - i);
        let recs: Vec<_> = (i..i + n).map(|k| generate(centre, opts, k)).collect();
        let mut tx = core.pool().begin().await?;
        for chunk in recs.chunks(1_000) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT OR IGNORE INTO grxx (grzh, xingming, zjlx, zjhm, xingbie, csrq, sjhm, dwzh, grjcjs, gryjce, dwyjce, grzhye, grzhsnjzye, grzhdngjye, grzhzt, khrq, xhrq, xhyy, jzny) ",
            );
            qb.push_values(chunk, |mut b, r| {
                let m = &r.member;
                b.push_bind(m.account_no.clone())
                    .push_bind(m.name.clone())
                    .push_bind(m.id_type.code())
                    .push_bind(m.id_number.clone())
                    .push_bind(if m.sex == Sex::Male { "1" } else { "2" })
                    .push_bind(d(m.birth_date))
                    .push_bind(m.phone.clone())
                    .push_bind(m.employer.account_no.clone())
                    .push_bind(format_yuan(m.deposit_base_fen))
                    .push_bind(format_yuan(m.member_monthly_fen))
                    .push_bind(format_yuan(m.employer_monthly_fen))
                    .push_bind(format_yuan(m.balance_fen))
                    .push_bind(format_yuan(m.carried_over_fen))
                    .push_bind(format_yuan(m.this_year_fen))
                    .push_bind(m.status.code())
                    .push_bind(d(m.opened_on))
                    .push_bind(m.closed_on.map(d))
                    .push_bind(m.close_reason.clone())
                    .push_bind(m.paid_up_to.to_string());
            });
            qb.build().execute(&mut *tx).await?;
        }
        let deposits: Vec<(&str, &Deposit)> = recs
            .iter()
            .flat_map(|r| {
                r.deposits
                    .iter()
                    .map(move |dp| (r.member.account_no.as_str(), dp))
            })
            .collect();
        for chunk in deposits.chunks(4_000) {
            let mut qb: QueryBuilder<Sqlite> =
                QueryBuilder::new("INSERT INTO grmx (grzh, rq, ywlx, fse, lx, hjny) ");
            qb.push_values(chunk, |mut b, (acct, dp)| {
                b.push_bind(*acct)
                    .push_bind(d(dp.date))
                    .push_bind(dp.business_type.clone())
                    .push_bind(format_yuan(dp.amount_fen))
                    .push_bind(format_yuan(dp.interest_fen))
                    .push_bind(dp.for_month.to_string());
            });
            qb.build().execute(&mut *tx).await?;
        }
        let loans: Vec<_> = recs.iter().flat_map(|r| r.loans.iter()).collect();
        for chunk in loans.chunks(500) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT OR IGNORE INTO dkxx (jkhtbh, dkzh, jkr_zjlx, jkr_zjhm, gjr_zjlx, gjr_zjhm, htdkje, dkffrq, dkye, yqbjze, ljyqqs, dkjqrq, dkzt) ",
            );
            qb.push_values(chunk, |mut b, l| {
                b.push_bind(l.loan.contract_no.clone())
                    .push_bind(l.loan.loan_account.clone())
                    .push_bind(l.borrower.0.code())
                    .push_bind(l.borrower.1.clone())
                    .push_bind(l.co_borrower.as_ref().map(|c| c.0.code()))
                    .push_bind(l.co_borrower.as_ref().map(|c| c.1.clone()))
                    .push_bind(format_yuan(l.loan.contract_amount_fen))
                    .push_bind(d(l.loan.issued_on))
                    .push_bind(format_yuan(l.loan.outstanding_fen))
                    .push_bind(format_yuan(l.loan.overdue_principal_fen))
                    .push_bind(l.loan.overdue_periods as i64)
                    .push_bind(l.loan.settled_on.map(d))
                    .push_bind(loan_status_code(l.loan.status));
            });
            qb.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        done += n;
        i += n;
        progress(done);
    }
    Ok(())
}
