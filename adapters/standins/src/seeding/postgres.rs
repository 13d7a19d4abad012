//! Seeding the PostgreSQL core: person, account, postings and loans with COPY.

use crate::model::{Employer, IdType, Member};
use crate::money::format_yuan;
use crate::seed::{SeedOptions, SeedRecord, generate};
use chrono::NaiveDate;
use hfx_adapters::AdapterError;
use hfx_adapters::postgres::{PostgresCore, codes};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use std::collections::{HashMap, HashSet};

/// Seed members `start..start+count` of the deterministic population (person, account,
/// postings, loans) with COPY, in transactions of a few thousand members; calls
/// `progress(done)` after each. Idempotent: members whose account exists are skipped.
pub async fn seed(
    core: &PostgresCore,
    centre: &str,
    opts: &SeedOptions,
    start: u64,
    count: u64,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<(), AdapterError> {
    // Employers: id = number + 1.
    let employers: Vec<(i64, Employer)> = (0..opts.employers.max(1))
        .map(|n| (i64::from(n) + 1, crate::seed::employer(centre, opts, n)))
        .collect();
    let mut tx = core.pool().begin().await?;
    for chunk in employers.chunks(1_000) {
        let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(
            "INSERT INTO employer (employer_id, account_no, name, uscc, employer_rate, member_rate) ",
        );
        qb.push_values(chunk, |mut b, (id, e)| {
            b.push_bind(*id)
                .push_bind(e.account_no.clone())
                .push_bind(e.name.clone())
                .push_bind(e.uscc.clone())
                .push_bind(format_yuan(i64::from(e.employer_rate_bp)))
                .push_unseparated("::numeric")
                .push_bind(format_yuan(i64::from(e.member_rate_bp)))
                .push_unseparated("::numeric");
        });
        qb.push(" ON CONFLICT DO NOTHING");
        qb.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    let employer_ids: HashMap<String, i64> = employers
        .into_iter()
        .map(|(id, e)| (e.account_no, id))
        .collect();

    // Generate on a blocking thread while the previous batch is written.
    const BATCH: u64 = 5_000;
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
        if let Err(e) = seed_batch(core, centre, opts, &employer_ids, recs).await {
            result = Err(e);
            break;
        }
        done += n;
        progress(done);
    }
    drop(rx);
    let _ = producer.await;
    result?;
    for t in ["person", "employer"] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT setval(pg_get_serial_sequence('{t}', '{t}_id'), (SELECT COALESCE(MAX({t}_id), 0) + 1 FROM {t}), false)"
        )))
        .execute(core.pool())
        .await?;
    }
    let mut tx = core.pool().begin().await?;
    sqlx::raw_sql(
        "SET LOCAL statement_timeout = 0; ANALYZE person; ANALYZE account; ANALYZE loan_party",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn seed_batch(
    core: &PostgresCore,
    centre: &str,
    opts: &SeedOptions,
    employer_ids: &HashMap<String, i64>,
    recs: Vec<(u64, SeedRecord)>,
) -> Result<(), AdapterError> {
    let mut tx = core.pool().begin().await?;
    sqlx::query("SET LOCAL statement_timeout = 0")
        .execute(&mut *tx)
        .await?;
    let accts: Vec<String> = recs
        .iter()
        .map(|(_, r)| r.member.account_no.clone())
        .collect();
    let existing: HashSet<String> =
        sqlx::query_scalar("SELECT account_no FROM account WHERE account_no = ANY($1)")
            .bind(accts)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
    let recs: Vec<(u64, SeedRecord)> = recs
        .into_iter()
        .filter(|(_, r)| !existing.contains(&r.member.account_no))
        .collect();
    if recs.is_empty() {
        return Ok(());
    }
    // Persons: id = index + 1; a co-borrower outside the batch is looked up, or written
    // ahead of its own account (the generator's co-borrower of index k is index k - 1).
    let mut person_ids: HashMap<(IdType, String), i64> = recs
        .iter()
        .map(|(k, r)| {
            (
                (r.member.id_type, r.member.id_number.clone()),
                *k as i64 + 1,
            )
        })
        .collect();
    let mut extra_people: Vec<(u64, Member)> = Vec::new();
    for (k, r) in &recs {
        for l in &r.loans {
            let Some(co) = &l.co_borrower else { continue };
            if person_ids.contains_key(co) {
                continue;
            }
            let found: Option<i64> = sqlx::query_scalar(
                "SELECT person_id FROM person WHERE id_number = $1 AND id_type = $2",
            )
            .bind(&co.1)
            .bind(codes::text_of(&codes::ID_TYPE, co.0))
            .fetch_optional(&mut *tx)
            .await?;
            let pid = match found {
                Some(pid) => pid,
                None => {
                    let j = k
                        .checked_sub(1)
                        .ok_or_else(|| AdapterError::other("co-borrower of member 0"))?;
                    let m = generate(centre, opts, j).member;
                    if (m.id_type, &m.id_number) != (co.0, &co.1) {
                        return Err(AdapterError::other(format!(
                            "co-borrower of member {k} is not member {j}"
                        )));
                    }
                    extra_people.push((j, m));
                    j as i64 + 1
                }
            };
            person_ids.insert(co.clone(), pid);
        }
    }
    let wanted: Vec<i64> = recs.iter().map(|(k, _)| *k as i64 + 1).collect();
    let have: HashSet<i64> =
        sqlx::query_scalar("SELECT person_id FROM person WHERE person_id = ANY($1)")
            .bind(wanted)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();

    let mut people = CopyBuf::new();
    let person_row = |buf: &mut CopyBuf, k: u64, m: &Member| {
        buf.text(&(k + 1).to_string())
            .text(codes::text_of(&codes::ID_TYPE, m.id_type))
            .text(&m.id_number)
            .text(&m.name)
            .text(codes::text_of(&codes::SEX, m.sex))
            .text(&day(m.birth_date))
            .text(&m.phone)
            .end();
    };
    for (k, r) in &recs {
        if !have.contains(&(*k as i64 + 1)) {
            person_row(&mut people, *k, &r.member);
        }
    }
    for (j, m) in &extra_people {
        person_row(&mut people, *j, m);
    }
    let mut accounts = CopyBuf::new();
    let mut postings = CopyBuf::new();
    let mut loans = CopyBuf::new();
    let mut parties = CopyBuf::new();
    for (k, r) in &recs {
        let m = &r.member;
        let emp = employer_ids.get(&m.employer.account_no).ok_or_else(|| {
            AdapterError::other(format!(
                "employer {} of member {k} not seeded",
                m.employer.account_no
            ))
        })?;
        accounts
            .text(&m.account_no)
            .text(&(k + 1).to_string())
            .text(&emp.to_string())
            .text(&format_yuan(m.deposit_base_fen))
            .text(&format_yuan(m.member_monthly_fen))
            .text(&format_yuan(m.employer_monthly_fen))
            .text(&format_yuan(m.balance_fen))
            .text(&format_yuan(m.carried_over_fen))
            .text(&format_yuan(m.this_year_fen))
            .text(codes::text_of(&codes::ACCOUNT_STATUS, m.status))
            .text(&stamp(m.opened_on))
            .opt(m.closed_on.map(stamp).as_deref())
            .opt(m.close_reason.as_deref())
            .text(&day(m.paid_up_to.first_day()))
            .end();
        for dp in &r.deposits {
            let bt = codes::BUSINESS_TYPE
                .iter()
                .find(|(_, c)| *c == dp.business_type)
                .map_or("other", |(t, _)| *t);
            postings
                .text(&m.account_no)
                .text(&day(dp.date))
                .text(bt)
                .text(&format_yuan(dp.amount_fen))
                .text(&format_yuan(dp.interest_fen))
                .text(&day(dp.for_month.first_day()))
                .end();
        }
        for l in &r.loans {
            let ln = &l.loan;
            loans
                .text(&ln.contract_no)
                .text(&ln.loan_account)
                .text(&format_yuan(ln.contract_amount_fen))
                .text(&day(ln.issued_on))
                .text(&format_yuan(ln.outstanding_fen))
                .text(&format_yuan(ln.overdue_principal_fen))
                .text(&ln.overdue_periods.to_string())
                .opt(ln.settled_on.map(day).as_deref())
                .text(codes::text_of(&codes::LOAN_STATUS, ln.status))
                .end();
            parties
                .text(&ln.contract_no)
                .text(&(k + 1).to_string())
                .text("borrower")
                .end();
            if let Some(co) = &l.co_borrower
                && let Some(pid) = person_ids.get(co)
            {
                parties
                    .text(&ln.contract_no)
                    .text(&pid.to_string())
                    .text("co_borrower")
                    .end();
            }
        }
    }
    copy_in(&mut tx, "COPY person (person_id, id_type, id_number, full_name, sex, birth_date, mobile) FROM STDIN", &people)
        .await?;
    copy_in(
        &mut tx,
        "COPY account (account_no, person_id, employer_id, deposit_base, member_monthly, employer_monthly, balance, \
         carried_over, this_year, status, opened_at, closed_at, close_reason, paid_up_to) FROM STDIN",
        &accounts,
    )
    .await?;
    copy_in(
        &mut tx,
        "COPY account_posting (account_no, posted_on, business_type, amount, interest, for_month) FROM STDIN",
        &postings,
    )
    .await?;
    copy_in(
        &mut tx,
        "COPY loan (contract_no, loan_account, contract_amount, issued_on, outstanding, overdue_principal, \
         overdue_periods, settled_on, status) FROM STDIN",
        &loans,
    )
    .await?;
    copy_in(
        &mut tx,
        "COPY loan_party (contract_no, person_id, role) FROM STDIN",
        &parties,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// COPY text-format row writer.
struct CopyBuf {
    buf: String,
    fresh: bool,
}

impl CopyBuf {
    fn new() -> Self {
        Self {
            buf: String::with_capacity(1 << 16),
            fresh: true,
        }
    }
    fn sep(&mut self) {
        if !self.fresh {
            self.buf.push('\t');
        }
        self.fresh = false;
    }
    fn text(&mut self, s: &str) -> &mut Self {
        self.sep();
        for c in s.chars() {
            match c {
                '\\' => self.buf.push_str("\\\\"),
                '\t' => self.buf.push_str("\\t"),
                '\n' => self.buf.push_str("\\n"),
                '\r' => self.buf.push_str("\\r"),
                c => self.buf.push(c),
            }
        }
        self
    }
    fn opt(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            Some(s) => self.text(s),
            None => {
                self.sep();
                self.buf.push_str("\\N");
                self
            }
        }
    }
    fn end(&mut self) {
        self.buf.push('\n');
        self.fresh = true;
    }
}

async fn copy_in(
    conn: &mut PgConnection,
    statement: &str,
    data: &CopyBuf,
) -> Result<(), AdapterError> {
    if data.buf.is_empty() {
        return Ok(());
    }
    let mut copy = conn.copy_in_raw(statement).await?;
    if let Err(e) = copy.send(data.buf.as_bytes()).await {
        let _ = copy.abort(e.to_string()).await;
        return Err(e.into());
    }
    copy.finish().await?;
    Ok(())
}

fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// A business date as the timestamp the core stores: 09:00 in Shanghai.
fn stamp(d: NaiveDate) -> String {
    format!("{} 09:00:00+08", day(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_escapes() {
        let mut b = CopyBuf::new();
        b.text("a\tb\\c\nd").opt(None).text("x").end();
        assert_eq!(b.buf, "a\\tb\\\\c\\nd\t\\N\tx\n");
    }
}
