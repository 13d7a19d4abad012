use super::*;
use crate::ids;
use std::collections::{HashMap, HashSet};

const XUZHOU: &str = "320300000000000";
const JUNE_2026: YearMonth = YearMonth {
    year: 2026,
    month: 6,
};

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[test]
fn constants_hold() {
    let days = (ymd(2004, 12, 31) - birth_first()).num_days() + 1;
    assert_eq!(days as u64, BIRTH_DAYS);
    assert_eq!(gcd(PERSON_MULT, PERSON_SLOTS), 1);
    assert_eq!(gcd(PASSPORT_MULT, 100_000_000), 1);
    assert_eq!(gcd(ORG_MULT, 100_000_000), 1);
    assert_eq!(gcd(FIRM_MULT, FIRM_NAMES), 1);
    assert_eq!(person_capacity(XUZHOU), PERSON_SLOTS * 10);
    assert_eq!(person_capacity("999900000000000"), PERSON_SLOTS);
    assert_eq!(monthly_amount_fen(500_000, 1200), 60_000);
    assert_eq!(monthly_amount_fen(512_300, 1200), 61_500); // 614.76 -> 615
    assert_eq!(monthly_amount_fen(512_300, 500), 25_600); // 256.15 -> 256
}

#[test]
fn deterministic_and_seed_dependent() {
    let opts = SeedOptions::default();
    for i in [0, 1, 17, 99_999, 1_000_000_007] {
        assert_eq!(generate(XUZHOU, &opts, i), generate(XUZHOU, &opts, i));
        assert_eq!(loans_of(XUZHOU, &opts, i), loans_of(XUZHOU, &opts, i));
    }
    let other = SeedOptions { seed: 1, ..opts };
    assert_ne!(
        generate(XUZHOU, &opts, 5).member,
        generate(XUZHOU, &other, 5).member
    );
    assert_ne!(
        generate(XUZHOU, &opts, 5).member.id_number,
        generate("370800000000000", &opts, 5).member.id_number
    );
}

#[test]
fn ids_are_unique_across_blocks() {
    let opts = SeedOptions::default();
    for pos in [0u64, 1, 12_345, PERSON_SLOTS - 1] {
        let mut seen = HashSet::new();
        for block in 0..10 {
            let p = person(XUZHOU, &opts, pos + block * PERSON_SLOTS);
            if p.id_type == IdType::ResidentId {
                assert!(
                    seen.insert(p.id_number.clone()),
                    "duplicate {}",
                    p.id_number
                );
            }
        }
    }
}

#[test]
fn employers_are_valid_and_distinct() {
    let opts = SeedOptions::default();
    let mut usccs = HashSet::new();
    let mut names = HashSet::new();
    for n in 0..opts.employers {
        let e = employer(XUZHOU, &opts, n);
        assert_eq!(
            ids::validate_uscc("uscc", &e.uscc).as_deref(),
            Ok(e.uscc.as_str())
        );
        assert!(usccs.insert(e.uscc.clone()));
        assert!(names.insert(e.name.clone()), "duplicate name {}", e.name);
        assert!(e.account_no.starts_with("320300D") && e.account_no.len() == 13);
        assert!((500..=1200).contains(&e.employer_rate_bp));
        assert!((500..=1200).contains(&e.member_rate_bp));
        let district = CITIES[0]
            .districts
            .iter()
            .any(|(_, d)| e.name.starts_with(d));
        assert!(e.name.starts_with("徐州") || district, "{}", e.name);
    }
    // Unknown centre: falls back to the prefix.
    let e = employer("999900000000000", &opts, 3);
    assert!(ids::validate_uscc("uscc", &e.uscc).is_ok());
    assert_eq!(&e.uscc[2..8], "999900");
    let p = person("999900000000000", &opts, 3);
    assert!(p.id_type != IdType::ResidentId || p.id_number.starts_with("999900"));
}

#[test]
fn malformed_centre_codes_do_not_panic() {
    let opts = SeedOptions {
        employers: 0,
        history_months: 0,
        ..SeedOptions::default()
    };
    for code in ["", "abc", "32", "徐州"] {
        let r = generate(code, &opts, 42);
        assert_eq!(r.member.account_no.len(), 16);
        assert!(r.deposits.is_empty());
        let _ = loans_of(code, &opts, u64::MAX);
        let _ = generate(code, &opts, u64::MAX);
    }
}

/// The invariants of a population of 20,000.
#[test]
fn population_invariants() {
    let opts = SeedOptions::default();
    let n = 20_000u64;
    let records: Vec<SeedRecord> = (0..n).map(|i| generate(XUZHOU, &opts, i)).collect();

    let mut id_set = HashSet::new();
    let mut account_set = HashSet::new();
    let mut status_counts: HashMap<&str, u64> = HashMap::new();
    let mut passports = 0;
    let mut loans = 0;
    let mut shared = 0;
    let mut districts = HashSet::new();
    let mut surnames: HashMap<char, u64> = HashMap::new();
    let h = opts.history_months as i32;

    for (i, r) in records.iter().enumerate() {
        let i = i as u64;
        let m = &r.member;
        assert_eq!(
            person_key(XUZHOU, &opts, i),
            (m.name.clone(), m.id_number.clone())
        );
        assert_eq!(
            ids::validate_person_id("zjhm", m.id_type, &m.id_number).as_deref(),
            Ok(m.id_number.as_str())
        );
        if m.id_type == IdType::ResidentId {
            assert_eq!(ids::sex_of(&m.id_number), Some(m.sex));
            assert_eq!(ids::birth_date_of(&m.id_number), Some(m.birth_date));
            // A mover's id was issued in the city they came from.
            if mover_origin(XUZHOU, &opts, i).is_none() {
                districts.insert(m.id_number[..6].to_string());
            }
        } else {
            passports += 1;
            assert_eq!(m.id_type, IdType::Passport);
            assert!(m.id_number.starts_with('E') && m.id_number.len() == 9);
        }
        assert!(ids::validate_name("xingming", &m.name).is_ok());
        let chars = m.name.chars().count();
        assert!(chars == 2 || chars == 3, "{}", m.name);
        *surnames
            .entry(m.name.chars().next().unwrap_or(' '))
            .or_default() += 1;
        assert!((ymd(1962, 1, 1)..=ymd(2004, 12, 31)).contains(&m.birth_date));
        assert!(
            id_set.insert(m.id_number.clone()),
            "duplicate id {}",
            m.id_number
        );
        assert!(account_set.insert(m.account_no.clone()));
        assert!(m.account_no.len() <= 20 && m.account_no.starts_with("320300"));
        assert!(
            m.phone.len() == 11
                && m.phone.starts_with('1')
                && m.phone.bytes().all(|b| b.is_ascii_digit())
        );
        assert!(ids::validate_uscc("uscc", &m.employer.uscc).is_ok());
        *status_counts.entry(m.status.code()).or_default() += 1;

        // Money.
        assert!((220_000..=3_500_000).contains(&m.deposit_base_fen));
        assert_eq!(m.member_monthly_fen % 100, 0);
        assert_eq!(m.employer_monthly_fen % 100, 0);
        assert_eq!(
            m.member_monthly_fen,
            monthly_amount_fen(m.deposit_base_fen, m.employer.member_rate_bp)
        );
        assert_eq!(m.carried_over_fen + m.this_year_fen, m.balance_fen);
        assert!(m.balance_fen >= 0 && m.carried_over_fen >= 0 && m.this_year_fen >= 0);

        // Dates and status.
        if mover_origin(XUZHOU, &opts, i).is_some() {
            // A mover opened the account here 3 to 8 months ago.
            assert!(
                (ymd(2026, 2, 1)..=ymd(2026, 7, 1)).contains(&m.opened_on),
                "{}",
                m.opened_on
            );
        } else {
            assert!((ymd(2005, 1, 1)..=ymd(2024, 12, 31)).contains(&m.opened_on));
        }
        assert!(m.opened_on >= m.birth_date.checked_add_months(Months::new(216)).unwrap());
        let open_month = YearMonth::of(m.opened_on);
        assert!(m.paid_up_to >= open_month && m.paid_up_to <= AS_OF);
        if m.status.is_closed() {
            assert_eq!(m.balance_fen, 0);
            let closed = m.closed_on.unwrap();
            assert!(closed > m.opened_on && closed <= ymd(2026, 10, 31));
            assert!(YearMonth::of(closed) > m.paid_up_to);
            let reason = m.close_reason.as_deref().unwrap();
            if m.status == AccountStatus::ClosedTransferred {
                assert_eq!(reason, "07");
            } else {
                assert!(["01", "02", "03", "04", "05", "06"].contains(&reason));
            }
        } else {
            assert!(m.closed_on.is_none() && m.close_reason.is_none());
            assert!(
                m.balance_fen > 0,
                "live account {} without balance",
                m.account_no
            );
        }

        // Deposits inside the window, in order.
        let start = m.paid_up_to.add_months(-(h - 1)).max(open_month);
        let monthly: Vec<_> = r
            .deposits
            .iter()
            .filter(|d| d.business_type == "01")
            .collect();
        assert_eq!(monthly.len() as i64, deposited_months(start, m.paid_up_to));
        for w in r.deposits.windows(2) {
            assert!(w[0].date <= w[1].date);
        }
        for d in &r.deposits {
            assert!(d.for_month >= start && d.for_month <= m.paid_up_to);
            assert!(d.date >= m.opened_on);
            match d.business_type.as_str() {
                "01" => {
                    assert_eq!(d.amount_fen, m.member_monthly_fen + m.employer_monthly_fen);
                    assert_eq!(
                        d.date,
                        ymd(d.for_month.year, d.for_month.month, 15).max(m.opened_on)
                    );
                }
                "09" => {
                    assert_eq!(d.amount_fen, 0);
                    assert!(d.interest_fen >= 0);
                    assert_eq!(d.date, ymd(d.for_month.year, 6, 30));
                }
                other => panic!("unexpected business type {other}"),
            }
        }
        if !m.status.is_closed() && m.paid_up_to >= JUNE_2026 && start <= JUNE_2026 {
            let settled = r
                .deposits
                .iter()
                .find(|d| d.date == ymd(2026, 6, 30))
                .unwrap();
            assert_eq!(
                settled.interest_fen,
                interest_on(m.carried_over_fen - settled.interest_fen)
            );
        }

        // Loans.
        assert!(r.loans.len() <= 1);
        assert_eq!(
            loans_of(XUZHOU, &opts, i)
                .iter()
                .filter(|l| l.loan.role == LoanRole::Borrower)
                .count(),
            r.loans.len()
        );
        for l in &r.loans {
            loans += 1;
            assert_eq!(l.borrower, (m.id_type, m.id_number.clone()));
            assert_eq!(l.loan.role, LoanRole::Borrower);
            assert!(l.loan.issued_on > m.opened_on && l.loan.issued_on <= ymd(2026, 10, 31));
            assert!((20_000_000..=120_000_000).contains(&l.loan.contract_amount_fen));
            assert!(
                l.loan.contract_no.starts_with("320300JK")
                    && l.loan.loan_account.starts_with("320300DK")
            );
            assert!(l.loan.outstanding_fen <= l.loan.contract_amount_fen);
            assert!(l.loan.overdue_principal_fen <= l.loan.outstanding_fen);
            match l.loan.status {
                LoanStatus::Normal => {
                    assert!(l.loan.outstanding_fen > 0 && l.loan.overdue_periods == 0);
                    assert_eq!(l.loan.overdue_principal_fen, 0);
                }
                LoanStatus::Overdue | LoanStatus::WrittenOff => {
                    assert!(l.loan.overdue_periods > 0 && l.loan.overdue_principal_fen > 0);
                }
                LoanStatus::Settled => {
                    assert_eq!(l.loan.outstanding_fen, 0);
                    let s = l.loan.settled_on.unwrap();
                    assert!(s > l.loan.issued_on && s <= ymd(2026, 10, 31));
                }
            }
            if l.loan.status != LoanStatus::Settled {
                assert!(l.loan.settled_on.is_none());
            }
            if let Some(co) = &l.co_borrower {
                shared += 1;
                // The rule: only odd indexes, co-borrower is index - 1, who finds the loan too.
                assert_eq!(i % 2, 1);
                let partner = &records[(i - 1) as usize].member;
                assert_eq!(co, &(partner.id_type, partner.id_number.clone()));
                let theirs = loans_of(XUZHOU, &opts, i - 1);
                let found = theirs
                    .iter()
                    .find(|x| x.loan.contract_no == l.loan.contract_no)
                    .unwrap();
                assert_eq!(found.loan.role, LoanRole::CoBorrower);
                assert_eq!(found.borrower, l.borrower);
                let mut as_borrower = found.clone();
                as_borrower.loan.role = LoanRole::Borrower;
                assert_eq!(&as_borrower, l);
            }
        }
        // Every co-borrowed loan reported by loans_of is a real loan of index + 1 naming us.
        for l in loans_of(XUZHOU, &opts, i)
            .iter()
            .filter(|l| l.loan.role == LoanRole::CoBorrower)
        {
            assert_eq!(i % 2, 0);
            assert_eq!(l.co_borrower, Some((m.id_type, m.id_number.clone())));
            if i + 1 < n {
                assert_eq!(
                    records[(i + 1) as usize].loans[0].loan.contract_no,
                    l.loan.contract_no
                );
            }
        }
    }

    // Every status within the first 100, and the overall mix.
    let first: HashSet<_> = records[..100].iter().map(|r| r.member.status).collect();
    assert_eq!(first.len(), AccountStatus::ALL.len());
    assert_eq!(status_counts["01"], n * 73 / 100);
    assert_eq!(status_counts["02"], n * 14 / 100);
    assert_eq!(status_counts["99"], n / 100);
    assert!((100..=300).contains(&passports), "passports {passports}");
    assert!((2_000..=2_800).contains(&loans), "loans {loans}");
    assert!(
        shared * 100 / loans >= 25 && shared * 100 / loans <= 42,
        "shared {shared} of {loans}"
    );
    assert_eq!(districts.len(), 10);
    // One mover in 50, each a normal account here with an identity from 菏泽 (the ring's
    // previous city), and the origin's account of the wanted status.
    let movers: Vec<u64> = (0..n / 50)
        .filter_map(|k| mover_index(XUZHOU, &opts, k))
        .collect();
    assert_eq!(movers.len() as u64, n / 50);
    for (k, &i) in movers.iter().enumerate() {
        let m = &records[i as usize].member;
        assert_eq!(m.status, AccountStatus::Normal);
        let (origin, at) = mover_origin(XUZHOU, &opts, i).expect("a mover");
        assert!(origin.starts_with("3717"), "{origin}");
        let o = generate(&origin, &opts, at).member;
        assert_eq!(
            (o.id_number.as_str(), o.name.as_str()),
            (m.id_number.as_str(), m.name.as_str())
        );
        let want = match k % 4 {
            2 => AccountStatus::Sealed,
            3 => AccountStatus::Frozen,
            _ => AccountStatus::Normal,
        };
        assert_eq!(o.status, want, "mover {k}");
    }
    assert!(surnames[&'王'] > surnames.get(&'褚').copied().unwrap_or(0) * 20);
    // Live normal accounts are mostly paid up to date.
    let normal_current = records
        .iter()
        .filter(|r| r.member.status == AccountStatus::Normal && r.member.paid_up_to == AS_OF)
        .count() as u64;
    assert!(normal_current * 100 / status_counts["01"] >= 88);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_index_gives_a_valid_record(seed in any::<u64>(), index in 0u64..(PERSON_SLOTS * 10)) {
            let opts = SeedOptions { seed, ..SeedOptions::default() };
            let r = generate(XUZHOU, &opts, index);
            let m = &r.member;
            prop_assert!(ids::validate_person_id("zjhm", m.id_type, &m.id_number).is_ok());
            prop_assert!(ids::validate_uscc("uscc", &m.employer.uscc).is_ok());
            prop_assert_eq!(m.carried_over_fen + m.this_year_fen, m.balance_fen);
            prop_assert!(m.balance_fen >= 0);
            prop_assert_eq!(person_key(XUZHOU, &opts, index), (m.name.clone(), m.id_number.clone()));
        }
    }
}
