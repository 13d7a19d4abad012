//! Deterministic synthetic population for a fund centre.
//!
//! Every record is a pure function of `(centre_code, opts.seed, index)`: a caller can seed a
//! centre of 1,000,000 members in chunks, in parallel or out of order and always get the same
//! rows, and a test can regenerate any single member without the others. Nothing is shared between
//! calls and nothing is cached.
//!
//! # Randomness
//! Each aspect of a record (person, account, loan, employer) has its own ChaCha8 key, derived with
//! FNV-1a and splitmix64 (both stable across platforms and Rust versions, unlike std's
//! `DefaultHasher`) from the centre code, the seed and a per-aspect salt; the record's index is the
//! ChaCha stream number. So changing how loans are drawn never changes people, and [`person_key`]
//! is cheap and always agrees with [`generate`].
//!
//! # Unique resident ids
//! An 18-character id is region (6) + birth date (8) + sequence (3) + check. Birth dates run over
//! the [`BIRTH_DAYS`] days of 1962-01-01..=2004-12-31, so there are `PERSON_SLOTS = BIRTH_DAYS *
//! 1000` (birth date, sequence) pairs. With `pos = index % PERSON_SLOTS` and `block = index /
//! PERSON_SLOTS`, the pair is `(pos * MULT + offset) mod PERSON_SLOTS` (day = pair / 1000,
//! sequence = pair % 1000): an affine map with `gcd(MULT, PERSON_SLOTS) = 1`, hence a bijection,
//! which scatters consecutive indexes over all birth dates. The region is one of the city's
//! county-level codes, number `(h(pos) + block) mod R` for a hash `h`; two indexes with the same
//! `pos` differ in `block`, hence in region as long as `index < PERSON_SLOTS * R`. Resident ids are
//! therefore unique within a centre for `index < person_capacity(centre_code)` (≥ 15,706,000).
//! Sex follows the sequence's parity, as on a real card.
//!
//! About 1% of people hold a passport (id type 03) numbered `"E"` + 8 digits, an affine bijection of
//! `index mod 10^8`: unique for `index < 10^8`.
//!
//! # Loans and co-borrowers
//! About 12% of members borrow (at most one loan each, listed in [`SeedRecord::loans`] with role
//! `Borrower`, so each loan appears exactly once across a population). Only an **odd** index may
//! have a co-borrower, and it is always the member at `index - 1`; about a third of loans have one.
//! Any prefix `0..n` of indexes therefore contains every co-borrower its loans name. The member at
//! an even index `j` is co-borrower of the loan of `j + 1` when that one has a co-borrower;
//! [`loans_of`] returns both kinds (role `CoBorrower` for the latter). Note `loans_of(n - 1)` may
//! name a borrower at index `n` outside a population `0..n` when `n` is odd.
//!
//! # Money and dates
//! Everything is as of [`AS_OF`] (2026-10). The fund year ends on 30 June, when interest is
//! settled: `carried_over_fen` is the balance after the last settlement (30 June 2026, interest
//! included) and `this_year_fen` the deposits posted since, so `balance_fen = carried_over_fen +
//! this_year_fen`. Closed accounts have all three at 0.

use chrono::{Datelike, Months, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::model::{
    AccountStatus, Deposit, Employer, IdType, Loan, LoanRecord, LoanRole, LoanStatus, Member, Sex,
    YearMonth, business_type,
};

/// Options shared by every record of a seeded population.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedOptions {
    /// Different seeds give unrelated populations.
    pub seed: u64,
    /// How many months of deposit history, ending at the paid-up-to month.
    pub history_months: u32,
    /// Size of the employer pool per centre (1..=999,999; 0 counts as 1).
    pub employers: u32,
}

impl Default for SeedOptions {
    fn default() -> Self {
        Self {
            seed: 0,
            history_months: 12,
            employers: 2000,
        }
    }
}

/// One generated member with its deposit history and the loans where it is the borrower.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedRecord {
    pub member: Member,
    /// Oldest first: one `01` posting per month and a `09` interest posting each 30 June in the
    /// history window.
    pub deposits: Vec<Deposit>,
    /// Loans where this member is the borrower (role `Borrower`). See [`loans_of`] for the loans
    /// where it is co-borrower too.
    pub loans: Vec<LoanRecord>,
}

/// The identity part of a generated member; see [`person`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub id_type: IdType,
    pub id_number: String,
    pub sex: Sex,
    pub birth_date: NaiveDate,
}

/// The "now" of every generated population: the latest paid-up-to month.
pub const AS_OF: YearMonth = YearMonth {
    year: 2026,
    month: 10,
};
/// Days from 1962-01-01 to 2004-12-31 inclusive.
pub const BIRTH_DAYS: u64 = 15_706;
/// (birth date, sequence) pairs available per region code.
pub const PERSON_SLOTS: u64 = BIRTH_DAYS * 1000;
/// Multiplier of the (birth date, sequence) bijection; coprime to [`PERSON_SLOTS`].
const PERSON_MULT: u64 = 9_576_373;
/// Multiplier of the passport-number bijection; coprime to 10^8.
const PASSPORT_MULT: u64 = 31_415_927;
/// Multiplier of the employer organisation-code bijection; coprime to 10^8.
const ORG_MULT: u64 = 48_271;

const SALT_PERSON: u64 = 0x7065_7273_6f6e;
const SALT_ACCOUNT: u64 = 0x0061_6363_6f75_6e74;
const SALT_LOAN: u64 = 0x6c6f_616e;
const SALT_EMPLOYER: u64 = 0x656d_706c_6f79;
const SALT_OFFSETS: u64 = 0x6f66_6673_6574;

/// How many indexes get distinct resident ids in this centre: `PERSON_SLOTS * region codes`.
pub fn person_capacity(centre_code: &str) -> u64 {
    let prefix = prefix6(centre_code);
    PERSON_SLOTS * city_of(&prefix).map_or(1, |c| c.districts.len() as u64)
}

/// The member's name and id number (resident id, or passport number for the ~1% with id type 03),
/// exactly as [`generate`] produces them, at a fraction of the cost.
pub fn person_key(centre_code: &str, opts: &SeedOptions, index: u64) -> (String, String) {
    let p = person(centre_code, opts, index);
    (p.name, p.id_number)
}

/// In each block of [`MOVER_EVERY`] members of each of the ten cities, one is a *mover*: a
/// person of the previous city in the zone's ring (徐州 ← 菏泽, 连云港 ← 徐州, ...) who changed
/// jobs and opened a normal account here, so a transfer of their old account can be tried
/// between any two neighbouring centres. Mover `k` ([`mover_index`]) is the first member from
/// index `50k + 25` on whose account here is normal (so movers do not change the status mix).
/// Their identity (id, name) is that of a member of the origin centre (prefix + zeros) from
/// index `50k + 25` on whose account there is normal (k mod 4 = 0, 1), sealed (2) or frozen
/// (3: a transfer the origin refuses).
pub const MOVER_EVERY: u64 = 50;
pub const MOVER_AT: u64 = 25;

/// The seed index of mover `k` at `centre_code` (None for a centre outside the ten cities).
pub fn mover_index(centre_code: &str, opts: &SeedOptions, k: u64) -> Option<u64> {
    Ctx::new(centre_code, opts).mover_index(k)
}

/// The origin centre and member index of the mover at `index` of `centre_code`, if it is one.
pub fn mover_origin(centre_code: &str, opts: &SeedOptions, index: u64) -> Option<(String, u64)> {
    Ctx::new(centre_code, opts).mover_of(index)
}

/// The identity of the member at `index`, exactly as [`generate`] produces it.
pub fn person(centre_code: &str, opts: &SeedOptions, index: u64) -> Person {
    let ctx = Ctx::new(centre_code, opts);
    ctx.person(index)
}

/// The employer numbered `n` (0-based) of the centre's pool. Numbers ≥ `opts.employers` are valid
/// too but no generated member works there.
pub fn employer(centre_code: &str, opts: &SeedOptions, n: u32) -> Employer {
    let ctx = Ctx::new(centre_code, opts);
    ctx.employer(n)
}

/// The member at `index` of the centre, with deposit history and the loans it borrowed.
pub fn generate(centre_code: &str, opts: &SeedOptions, index: u64) -> SeedRecord {
    let ctx = Ctx::new(centre_code, opts);
    let core = ctx.account(index);
    let employer = ctx.employer(core.employer_n);
    let member_monthly_fen = monthly_amount_fen(core.base_fen, employer.member_rate_bp);
    let employer_monthly_fen = monthly_amount_fen(core.base_fen, employer.employer_rate_bp);
    let monthly = member_monthly_fen + employer_monthly_fen;

    let open_month = YearMonth::of(core.opened_on);
    let settle_month = YearMonth {
        year: AS_OF.year,
        month: 6,
    };
    // Principal accumulated up to the last settlement (30 June 2026): months deposited, scaled
    // down for lower past wages and withdrawals.
    let months_before = deposited_months(open_month, core.paid_up_to.min(settle_month));
    let principal = months_before * monthly * core.factor_permille / 1000;
    let settle_interest = interest_on(principal);
    let months_after =
        deposited_months(open_month.max(settle_month.add_months(1)), core.paid_up_to);

    let (carried_over_fen, this_year_fen) = if core.status.is_closed() {
        (0, 0)
    } else {
        (principal + settle_interest, months_after * monthly)
    };

    let deposits = history(
        &core,
        opts.history_months,
        monthly,
        principal,
        months_before,
    );
    let loans = ctx
        .borrower_loan(index, Some(&core), LoanRole::Borrower)
        .into_iter()
        .collect();

    let member = Member {
        account_no: format!("{}{:010}", ctx.prefix, index),
        name: core.person.name,
        id_type: core.person.id_type,
        id_number: core.person.id_number,
        sex: core.person.sex,
        birth_date: core.person.birth_date,
        phone: core.phone,
        employer,
        deposit_base_fen: core.base_fen,
        member_monthly_fen,
        employer_monthly_fen,
        balance_fen: carried_over_fen + this_year_fen,
        carried_over_fen,
        this_year_fen,
        status: core.status,
        opened_on: core.opened_on,
        closed_on: core.closed_on,
        close_reason: core.close_reason.map(str::to_string),
        paid_up_to: core.paid_up_to,
    };
    SeedRecord {
        member,
        deposits,
        loans,
    }
}

/// Every loan of the member at `index`: the one it borrowed (role `Borrower`), if any, and the one
/// of `index + 1` when `index` is even and that loan names it as co-borrower (role `CoBorrower`).
pub fn loans_of(centre_code: &str, opts: &SeedOptions, index: u64) -> Vec<LoanRecord> {
    let ctx = Ctx::new(centre_code, opts);
    let mut out = Vec::new();
    if let Some(own) = ctx.borrower_loan(index, None, LoanRole::Borrower) {
        out.push(own);
    }
    if index.is_multiple_of(2)
        && let Some(partner) = index.checked_add(1)
        && let Some(shared) = ctx.borrower_loan(partner, None, LoanRole::CoBorrower)
        && shared.co_borrower.is_some()
    {
        out.push(shared);
    }
    out
}

/// GRYJCE / DWYJCE: `base_fen * rate_bp / 10000`, rounded half up to whole yuan.
pub fn monthly_amount_fen(base_fen: i64, rate_bp: u32) -> i64 {
    (base_fen * i64::from(rate_bp) + 500_000) / 1_000_000 * 100
}

// ---------------------------------------------------------------------------------------------
// Internals
// ---------------------------------------------------------------------------------------------

mod tables;
use tables::*;

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn key32(base: u64, salt: u64) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut x = splitmix64(base ^ splitmix64(salt));
    for chunk in out.chunks_exact_mut(8) {
        x = splitmix64(x);
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    out
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
}

fn birth_first() -> NaiveDate {
    ymd(1962, 1, 1)
}

/// Uniform date in `lo..=hi` (`lo` if the range is empty).
fn date_between(rng: &mut ChaCha8Rng, lo: NaiveDate, hi: NaiveDate) -> NaiveDate {
    let a = lo.num_days_from_ce();
    let b = hi.num_days_from_ce().max(a);
    NaiveDate::from_num_days_from_ce_opt(rng.random_range(a..=b)).unwrap_or(lo)
}

/// Uniform month in `lo..=hi` (`lo` if the range is empty).
fn month_between(rng: &mut ChaCha8Rng, lo: YearMonth, hi: YearMonth) -> YearMonth {
    let span = lo.months_until(hi).max(0);
    lo.add_months(rng.random_range(0..=span))
}

fn last_day(m: YearMonth) -> NaiveDate {
    m.add_months(1)
        .first_day()
        .pred_opt()
        .unwrap_or(NaiveDate::MIN)
}

/// Months from `from` to `to` inclusive, 0 if `to < from`.
fn deposited_months(from: YearMonth, to: YearMonth) -> i64 {
    i64::from(from.months_until(to) + 1).max(0)
}

/// About 1.5% a year.
fn interest_on(balance_fen: i64) -> i64 {
    (balance_fen * 150 + 5_000) / 10_000
}

fn weighted<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, u32)], total: u32) -> T {
    let mut r = rng.random_range(0..total.max(1));
    for (item, w) in items {
        if r < *w {
            return *item;
        }
        r -= *w;
    }
    items[items.len() - 1].0
}

/// GB 11714 organisation code check character for 8 digits.
fn org_code_check(body: &[u8; 8]) -> char {
    const W: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .iter()
        .zip(W)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        c => char::from(b'0' + c as u8),
    }
}

/// Account fields drawn before deposits and loans.
struct Core {
    person: Person,
    phone: String,
    employer_n: u32,
    status: AccountStatus,
    opened_on: NaiveDate,
    paid_up_to: YearMonth,
    closed_on: Option<NaiveDate>,
    close_reason: Option<&'static str>,
    base_fen: i64,
    /// Past balance growth relative to `months * current monthly amount`, per mille.
    factor_permille: i64,
}

struct Ctx {
    opts: SeedOptions,
    prefix: String,
    city: Option<&'static City>,
    key_person: [u8; 32],
    key_account: [u8; 32],
    key_loan: [u8; 32],
    key_employer: [u8; 32],
    perm_offset: u64,
    region_salt: u64,
    passport_offset: u64,
    status_offset: u64,
    org_offset: u64,
    firm_offset: u64,
    employers: u32,
}

impl Ctx {
    fn new(centre_code: &str, opts: &SeedOptions) -> Self {
        let prefix = prefix6(centre_code);
        let city = city_of(&prefix);
        let base = splitmix64(fnv1a(centre_code.trim().as_bytes()) ^ splitmix64(opts.seed));
        let o = splitmix64(base ^ SALT_OFFSETS);
        let o2 = splitmix64(o);
        let o3 = splitmix64(o2);
        Self {
            opts: *opts,
            prefix,
            city,
            key_person: key32(base, SALT_PERSON),
            key_account: key32(base, SALT_ACCOUNT),
            key_loan: key32(base, SALT_LOAN),
            key_employer: key32(base, SALT_EMPLOYER),
            perm_offset: o % PERSON_SLOTS,
            region_salt: o2,
            passport_offset: o3 % 100_000_000,
            status_offset: o % 100,
            org_offset: o2 % 100_000_000,
            firm_offset: o3 % FIRM_NAMES,
            employers: opts.employers.clamp(1, 999_999),
        }
    }

    fn rng(key: &[u8; 32], stream: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::from_seed(*key);
        rng.set_stream(stream);
        rng
    }

    fn city_name(&self) -> &'static str {
        self.city.map_or("淮海", |c| c.name)
    }

    fn region_count(&self) -> u64 {
        self.city.map_or(1, |c| c.districts.len() as u64)
    }

    fn region_code(&self, i: u64) -> &str {
        match self.city {
            Some(c) => c.districts[(i % c.districts.len() as u64) as usize].0,
            None => &self.prefix,
        }
    }

    fn person(&self, index: u64) -> Person {
        if let Some((origin, at)) = self.mover_of(index) {
            return Ctx::new(&origin, &self.opts).person(at);
        }
        let mut rng = Self::rng(&self.key_person, index);
        let pos = index % PERSON_SLOTS;
        let block = index / PERSON_SLOTS;
        let pair = (pos * PERSON_MULT + self.perm_offset) % PERSON_SLOTS;
        let day = pair / 1000;
        let seq = pair % 1000;
        let birth_date = birth_first() + chrono::Days::new(day);
        let sex = if seq % 2 == 1 { Sex::Male } else { Sex::Female };

        let passport = rng.random_range(0..100u32) == 0;
        let id_number = if passport {
            let n = (index % 100_000_000 * PASSPORT_MULT + self.passport_offset) % 100_000_000;
            format!("E{n:08}")
        } else {
            let r = self.region_count();
            let region_i = (splitmix64(pos ^ self.region_salt) % r + block % r) % r;
            let mut id = String::with_capacity(18);
            id.push_str(self.region_code(region_i));
            id.push_str(&format!(
                "{:04}{:02}{:02}{seq:03}",
                birth_date.year(),
                birth_date.month(),
                birth_date.day()
            ));
            // 17 ASCII digits by construction; the fallback is never taken.
            id.push(crate::ids::resident_id_check_char(&id).unwrap_or('0'));
            id
        };
        let id_type = if passport {
            IdType::Passport
        } else {
            IdType::ResidentId
        };

        let mut name = String::with_capacity(9);
        name.push(weighted(&mut rng, &SURNAMES, SURNAME_TOTAL));
        let own: &[char] = if sex == Sex::Male {
            &MALE_CHARS
        } else {
            &FEMALE_CHARS
        };
        let two = rng.random_range(0..100u32) < 72;
        if two {
            let k = rng.random_range(0..(own.len() + NEUTRAL_CHARS.len()));
            name.push(if k < own.len() {
                own[k]
            } else {
                NEUTRAL_CHARS[k - own.len()]
            });
        }
        name.push(own[rng.random_range(0..own.len())]);

        Person {
            name,
            id_type,
            id_number,
            sex,
            birth_date,
        }
    }

    /// The index of mover `k` (see [`mover_index`]).
    fn mover_index(&self, k: u64) -> Option<u64> {
        self.city?;
        let from = k.checked_mul(MOVER_EVERY)?.checked_add(MOVER_AT)?;
        (from..from + (MOVER_EVERY - MOVER_AT))
            .find(|&j| self.status_of(j) == AccountStatus::Normal)
    }

    /// See [`mover_origin`].
    fn mover_of(&self, index: u64) -> Option<(String, u64)> {
        if index % MOVER_EVERY < MOVER_AT {
            return None;
        }
        let k = index / MOVER_EVERY;
        if self.mover_index(k) != Some(index) {
            return None;
        }
        let city = self.city?;
        let i = CITIES.iter().position(|c| std::ptr::eq(c, city))?;
        let from = &CITIES[(i + CITIES.len() - 1) % CITIES.len()];
        let code = format!("{}00000000000", from.code4);
        let want = match k % 4 {
            2 => AccountStatus::Sealed,
            3 => AccountStatus::Frozen,
            _ => AccountStatus::Normal,
        };
        let origin = Ctx::new(&code, &self.opts);
        let start = k * MOVER_EVERY + MOVER_AT;
        let at = (start..start + 400).find(|&j| {
            origin.status_of(j) == want && origin.mover_index(j / MOVER_EVERY) != Some(j)
        })?;
        Some((code, at))
    }

    /// The account status of `index`: a fixed mix (movers are chosen among normal accounts,
    /// so they do not change it).
    fn status_of(&self, index: u64) -> AccountStatus {
        // 37 is coprime to 100: any 100 consecutive indexes hit every bucket once.
        let bucket = ((index % 100) * 37 + self.status_offset) % 100;
        match bucket {
            0..73 => AccountStatus::Normal,
            73..87 => AccountStatus::Sealed,
            87..90 => AccountStatus::ClosedMerged,
            90..93 => AccountStatus::ClosedTransferred,
            93..96 => AccountStatus::ClosedWithdrawn,
            96..99 => AccountStatus::Frozen,
            _ => AccountStatus::Other,
        }
    }

    fn account(&self, index: u64) -> Core {
        let person = self.person(index);
        let mut rng = Self::rng(&self.key_account, index);

        let phone = format!(
            "1{}{}{:08}",
            rng.random_range(3..=9u32),
            rng.random_range(0..=9u32),
            rng.random_range(0..100_000_000u32)
        );

        // Skewed: low-numbered employers are the big ones.
        let u: f64 = rng.random();
        let employer_n = ((f64::from(self.employers) * u * u) as u32).min(self.employers - 1);

        let status = self.status_of(index);

        let adult = person
            .birth_date
            .checked_add_months(Months::new(18 * 12))
            .unwrap_or(person.birth_date);
        let open_last = ymd(2024, 12, 31);
        let open_first = ymd(2005, 1, 1).max(adult).min(open_last);
        let drawn = date_between(&mut rng, open_first, open_last);
        // A mover opened the account here a few months ago, on moving (the draw is kept so
        // every other field is as it would be).
        let opened_on = match self.mover_of(index) {
            Some(_) => AS_OF
                .add_months(-(3 + (index / MOVER_EVERY % 6) as i32))
                .first_day(),
            None => drawn,
        };
        let open_month = YearMonth::of(opened_on);

        let u: f64 = rng.random();
        let base_yuan = 2_200 + (32_800.0 * u * u * u) as i64;
        let base_fen = base_yuan * 100;

        let last_live = AS_OF.add_months(-1);
        let up_to_date = rng.random_range(0..100u32);
        let paid_up_to = match status {
            AccountStatus::Normal if up_to_date < 92 => AS_OF,
            AccountStatus::Normal => AS_OF
                .add_months(-rng.random_range(1..=6i32))
                .max(open_month),
            AccountStatus::Frozen if up_to_date < 50 => AS_OF,
            _ => month_between(&mut rng, open_month, last_live),
        };

        let (closed_on, close_reason) = if status.is_closed() {
            let lo = paid_up_to.add_months(1).first_day();
            let hi = last_day(paid_up_to.add_months(36)).min(last_day(AS_OF));
            let on = date_between(&mut rng, lo, hi);
            let reason = match status {
                AccountStatus::ClosedTransferred => "07",
                _ => ["01", "02", "03", "04", "05", "06"][rng.random_range(0..6usize)],
            };
            (Some(on), Some(reason))
        } else {
            (None, None)
        };

        let factor_permille = rng.random_range(300..=1000i64);

        Core {
            person,
            phone,
            employer_n,
            status,
            opened_on,
            paid_up_to,
            closed_on,
            close_reason,
            base_fen,
            factor_permille,
        }
    }

    fn employer(&self, n: u32) -> Employer {
        let mut rng = Self::rng(&self.key_employer, u64::from(n));
        let n64 = u64::from(n);
        let city = self.city_name();
        let public = n % 20 == 7;

        let district_i = rng.random_range(0..self.region_count());
        let region = self.region_code(district_i);

        let name = if public {
            let k = n64 / 20;
            let inst = INSTITUTIONS[(k % INSTITUTIONS.len() as u64) as usize];
            let r = self.region_count();
            let rest = k / INSTITUTIONS.len() as u64;
            let mut s = match self.city {
                Some(c) => {
                    let (_, district) = c.districts[(rest % r) as usize];
                    if district.ends_with('区') {
                        format!("{city}市{district}{inst}")
                    } else {
                        format!("{district}{inst}")
                    }
                }
                None => format!("{city}市{inst}"),
            };
            let cycle = rest / r;
            if cycle > 0 {
                s.push_str(&format!("第{}分部", cycle + 1));
            }
            s
        } else {
            let combo = (n64 % FIRM_NAMES * FIRM_MULT + self.firm_offset) % FIRM_NAMES;
            let word = FIRM_WORDS[(combo % FIRM_WORDS.len() as u64) as usize];
            let rest = combo / FIRM_WORDS.len() as u64;
            let trade = FIRM_TRADES[(rest % FIRM_TRADES.len() as u64) as usize];
            let form = FIRM_FORMS[(rest / FIRM_TRADES.len() as u64) as usize % FIRM_FORMS.len()];
            let mut s = format!("{city}{word}{trade}{form}");
            let cycle = n64 / FIRM_NAMES;
            if cycle > 0 {
                s.push_str(&format!("第{}分公司", cycle + 1));
            }
            s
        };

        // USCC: registration authority + type (91 enterprise, 12 public institution), region,
        // 9-character organisation code (8 digits + GB 11714 check), GB 32100 check.
        let org = (n64 % 100_000_000 * ORG_MULT + self.org_offset) % 100_000_000;
        let org_digits = format!("{org:08}");
        let mut body = [b'0'; 8];
        body.copy_from_slice(org_digits.as_bytes());
        let mut uscc = String::with_capacity(18);
        uscc.push_str(if public { "12" } else { "91" });
        uscc.push_str(region);
        uscc.push_str(&org_digits);
        uscc.push(org_code_check(&body));
        // 17 alphabet characters by construction; the fallback is never taken.
        uscc.push(crate::ids::uscc_check_char(&uscc).unwrap_or('0'));

        let total: u32 = RATES.iter().map(|r| r.1).sum();
        let employer_rate_bp = weighted(&mut rng, &RATES, total);
        let member_rate_bp = if rng.random_range(0..100u32) < 90 {
            employer_rate_bp
        } else {
            weighted(&mut rng, &RATES, total)
        };

        Employer {
            account_no: format!("{}D{:06}", self.prefix, n),
            name,
            uscc,
            employer_rate_bp,
            member_rate_bp,
        }
    }

    /// The loan the member at `index` borrowed, if any. `core` is that member's account if the
    /// caller already has it.
    fn borrower_loan(&self, index: u64, core: Option<&Core>, role: LoanRole) -> Option<LoanRecord> {
        let mut rng = Self::rng(&self.key_loan, index);
        let has_loan = rng.random_range(0..100u32) < 12;
        let shared = rng.random_range(0..3u32) < 2;
        if !has_loan {
            return None;
        }
        let co_index = if index % 2 == 1 && shared {
            Some(index - 1)
        } else {
            None
        };

        let owned;
        let core = match core {
            Some(c) => c,
            None => {
                owned = self.account(index);
                &owned
            }
        };

        let u: f64 = rng.random();
        let amount_fen = (20 + (100.0 * u * u) as i64) * 10_000 * 100;
        let issue_lo = core.opened_on + chrono::Days::new(180);
        let issue_hi = last_day(AS_OF.add_months(-1));
        let issued_on = date_between(&mut rng, issue_lo.min(issue_hi), issue_hi);
        let term: i64 = [120, 180, 240, 300, 360][rng.random_range(0..5usize)];
        let elapsed = i64::from(YearMonth::of(issued_on).months_until(AS_OF)).max(1);

        let draw = rng.random_range(0..100u32);
        let mut status = match draw {
            0..76 => LoanStatus::Normal,
            76..84 => LoanStatus::Overdue,
            84..98 => LoanStatus::Settled,
            _ => LoanStatus::WrittenOff,
        };
        if elapsed >= term {
            status = LoanStatus::Settled;
        }

        let mut settled_on = None;
        let mut overdue_periods: i64 = 0;
        let outstanding_fen;
        let overdue_principal_fen;
        match status {
            LoanStatus::Normal => {
                outstanding_fen = amount_fen * (term - elapsed) / term;
                overdue_principal_fen = 0;
            }
            LoanStatus::Overdue | LoanStatus::WrittenOff => {
                let periods = if status == LoanStatus::Overdue {
                    rng.random_range(1..=6i64)
                } else {
                    rng.random_range(12..=36i64)
                };
                overdue_periods = periods.min(elapsed);
                outstanding_fen = amount_fen * (term - elapsed + overdue_periods) / term;
                overdue_principal_fen = if status == LoanStatus::WrittenOff {
                    outstanding_fen
                } else {
                    amount_fen * overdue_periods / term
                };
            }
            LoanStatus::Settled => {
                let lo = issued_on + chrono::Days::new(30);
                settled_on = Some(date_between(&mut rng, lo, last_day(AS_OF)));
                outstanding_fen = 0;
                overdue_principal_fen = 0;
            }
        }

        let borrower = (core.person.id_type, core.person.id_number.clone());
        let co_borrower = co_index.map(|i| {
            let p = self.person(i);
            (p.id_type, p.id_number)
        });
        Some(LoanRecord {
            loan: Loan {
                contract_no: format!("{}JK{:010}", self.prefix, index),
                loan_account: format!("{}DK{:010}", self.prefix, index),
                role,
                contract_amount_fen: amount_fen,
                issued_on,
                outstanding_fen,
                overdue_principal_fen,
                overdue_periods: overdue_periods as u32,
                settled_on,
                status,
            },
            borrower,
            co_borrower,
        })
    }
}

/// The deposit history: the last `months` months up to paid-up-to (not before the open month).
fn history(
    core: &Core,
    months: u32,
    monthly: i64,
    principal: i64,
    months_before: i64,
) -> Vec<Deposit> {
    let open_month = YearMonth::of(core.opened_on);
    if months == 0 {
        return Vec::new();
    }
    let span = i32::try_from(months - 1).unwrap_or(i32::MAX / 24);
    let start = core.paid_up_to.add_months(-span).max(open_month);
    let n = deposited_months(start, core.paid_up_to);
    let mut out = Vec::with_capacity(n as usize + n as usize / 12 + 1);
    let mut m = start;
    while m <= core.paid_up_to {
        out.push(Deposit {
            // The first remittance cannot precede the opening.
            date: ymd(m.year, m.month, 15).max(core.opened_on),
            business_type: business_type::REMITTANCE.to_string(),
            amount_fen: monthly,
            interest_fen: 0,
            for_month: m,
        });
        if m.month == 6 {
            // Interest on the balance of the time: the principal scaled to the months deposited
            // by then.
            let by_then = deposited_months(open_month, m);
            let balance = if months_before > 0 {
                principal * by_then.min(months_before) / months_before
            } else {
                0
            };
            out.push(Deposit {
                date: ymd(m.year, 6, 30),
                business_type: business_type::INTEREST.to_string(),
                amount_fen: 0,
                interest_fen: interest_on(balance),
                for_month: m,
            });
        }
        m = m.add_months(1);
    }
    out
}

#[cfg(test)]
mod tests;
