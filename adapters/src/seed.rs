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

struct City {
    code4: &'static str,
    name: &'static str,
    /// (county-level code, name)
    districts: &'static [(&'static str, &'static str)],
}

/// GB/T 2260 county-level codes of the zone's cities (current codes; a handful per city).
static CITIES: [City; 10] = [
    City {
        code4: "3203",
        name: "徐州",
        districts: &[
            ("320302", "鼓楼区"),
            ("320303", "云龙区"),
            ("320305", "贾汪区"),
            ("320311", "泉山区"),
            ("320312", "铜山区"),
            ("320321", "丰县"),
            ("320322", "沛县"),
            ("320324", "睢宁县"),
            ("320381", "新沂市"),
            ("320382", "邳州市"),
        ],
    },
    City {
        code4: "3207",
        name: "连云港",
        districts: &[
            ("320703", "连云区"),
            ("320706", "海州区"),
            ("320707", "赣榆区"),
            ("320722", "东海县"),
            ("320723", "灌云县"),
            ("320724", "灌南县"),
        ],
    },
    City {
        code4: "3213",
        name: "宿迁",
        districts: &[
            ("321302", "宿城区"),
            ("321311", "宿豫区"),
            ("321322", "沭阳县"),
            ("321323", "泗阳县"),
            ("321324", "泗洪县"),
        ],
    },
    City {
        code4: "3406",
        name: "淮北",
        districts: &[
            ("340602", "杜集区"),
            ("340603", "相山区"),
            ("340604", "烈山区"),
            ("340621", "濉溪县"),
        ],
    },
    City {
        code4: "3413",
        name: "宿州",
        districts: &[
            ("341302", "埇桥区"),
            ("341321", "砀山县"),
            ("341322", "萧县"),
            ("341323", "灵璧县"),
            ("341324", "泗县"),
        ],
    },
    City {
        code4: "4114",
        name: "商丘",
        districts: &[
            ("411402", "梁园区"),
            ("411403", "睢阳区"),
            ("411421", "民权县"),
            ("411422", "睢县"),
            ("411423", "宁陵县"),
            ("411424", "柘城县"),
            ("411425", "虞城县"),
            ("411426", "夏邑县"),
            ("411481", "永城市"),
        ],
    },
    City {
        code4: "3704",
        name: "枣庄",
        districts: &[
            ("370402", "市中区"),
            ("370403", "薛城区"),
            ("370404", "峄城区"),
            ("370405", "台儿庄区"),
            ("370406", "山亭区"),
            ("370481", "滕州市"),
        ],
    },
    City {
        code4: "3708",
        name: "济宁",
        districts: &[
            ("370811", "任城区"),
            ("370812", "兖州区"),
            ("370826", "微山县"),
            ("370827", "鱼台县"),
            ("370828", "金乡县"),
            ("370829", "嘉祥县"),
            ("370830", "汶上县"),
            ("370831", "泗水县"),
            ("370832", "梁山县"),
            ("370881", "曲阜市"),
            ("370883", "邹城市"),
        ],
    },
    City {
        code4: "3713",
        name: "临沂",
        districts: &[
            ("371302", "兰山区"),
            ("371311", "罗庄区"),
            ("371312", "河东区"),
            ("371321", "沂南县"),
            ("371322", "郯城县"),
            ("371323", "沂水县"),
            ("371324", "兰陵县"),
            ("371325", "费县"),
            ("371326", "平邑县"),
            ("371327", "莒南县"),
            ("371328", "蒙阴县"),
            ("371329", "临沭县"),
        ],
    },
    City {
        code4: "3717",
        name: "菏泽",
        districts: &[
            ("371702", "牡丹区"),
            ("371703", "定陶区"),
            ("371721", "曹县"),
            ("371722", "单县"),
            ("371723", "成武县"),
            ("371724", "巨野县"),
            ("371725", "郓城县"),
            ("371726", "鄄城县"),
            ("371728", "东明县"),
        ],
    },
];

fn city_of(prefix: &str) -> Option<&'static City> {
    CITIES.iter().find(|c| prefix.starts_with(c.code4))
}

/// The centre's 6-digit region prefix. A malformed centre code is tolerated: its digits are used,
/// padded with '0'.
fn prefix6(centre_code: &str) -> String {
    let mut p: String = centre_code
        .chars()
        .filter(char::is_ascii_digit)
        .take(6)
        .collect();
    while p.len() < 6 {
        p.push('0');
    }
    p
}

/// Surnames with weights (per 10,000, after the published frequency ranking).
static SURNAMES: [(char, u32); 105] = [
    ('王', 712),
    ('李', 700),
    ('张', 674),
    ('刘', 510),
    ('陈', 461),
    ('杨', 322),
    ('黄', 245),
    ('赵', 219),
    ('吴', 208),
    ('周', 200),
    ('徐', 145),
    ('孙', 138),
    ('马', 129),
    ('朱', 128),
    ('胡', 116),
    ('郭', 115),
    ('何', 106),
    ('林', 103),
    ('高', 100),
    ('罗', 95),
    ('郑', 86),
    ('梁', 84),
    ('谢', 75),
    ('宋', 70),
    ('唐', 68),
    ('许', 62),
    ('韩', 61),
    ('冯', 60),
    ('邓', 59),
    ('曹', 58),
    ('彭', 55),
    ('曾', 53),
    ('肖', 51),
    ('田', 50),
    ('董', 49),
    ('袁', 48),
    ('潘', 47),
    ('于', 46),
    ('蒋', 45),
    ('蔡', 44),
    ('余', 43),
    ('杜', 42),
    ('叶', 41),
    ('程', 40),
    ('苏', 39),
    ('魏', 38),
    ('吕', 37),
    ('丁', 36),
    ('任', 35),
    ('沈', 34),
    ('姚', 33),
    ('卢', 32),
    ('姜', 31),
    ('崔', 30),
    ('钟', 29),
    ('谭', 28),
    ('陆', 27),
    ('汪', 26),
    ('范', 25),
    ('金', 24),
    ('石', 23),
    ('廖', 22),
    ('贾', 21),
    ('夏', 20),
    ('韦', 19),
    ('付', 18),
    ('方', 17),
    ('白', 16),
    ('邹', 15),
    ('孟', 14),
    ('熊', 13),
    ('秦', 12),
    ('邱', 11),
    ('江', 10),
    ('尹', 10),
    ('薛', 10),
    ('闫', 10),
    ('段', 9),
    ('雷', 9),
    ('侯', 9),
    ('龙', 9),
    ('史', 9),
    ('陶', 8),
    ('黎', 8),
    ('贺', 8),
    ('顾', 8),
    ('毛', 8),
    ('郝', 7),
    ('龚', 7),
    ('邵', 7),
    ('万', 7),
    ('钱', 7),
    ('严', 7),
    ('覃', 6),
    ('武', 6),
    ('戴', 6),
    ('莫', 6),
    ('孔', 6),
    ('向', 6),
    ('汤', 6),
    ('常', 6),
    ('葛', 6),
    ('褚', 5),
    ('满', 5),
    ('颜', 5),
];

const SURNAME_TOTAL: u32 = {
    let mut t = 0;
    let mut i = 0;
    while i < SURNAMES.len() {
        t += SURNAMES[i].1;
        i += 1;
    }
    t
};

static MALE_CHARS: [char; 40] = [
    '伟', '强', '磊', '军', '勇', '杰', '涛', '斌', '超', '明', '刚', '平', '辉', '鹏', '华', '飞',
    '鑫', '波', '宇', '浩', '凯', '健', '俊', '帆', '帅', '旭', '宁', '龙', '林', '阳', '建', '国',
    '峰', '亮', '成', '东', '志', '海', '新', '庆',
];
static FEMALE_CHARS: [char; 40] = [
    '芳', '娜', '敏', '静', '丽', '艳', '娟', '霞', '秀', '玲', '燕', '婷', '雪', '琳', '晶', '颖',
    '倩', '慧', '莉', '红', '梅', '兰', '萍', '洁', '丹', '英', '玉', '佳', '欣', '月', '蕾', '璐',
    '瑶', '怡', '淑', '凤', '琴', '云', '萱', '悦',
];
static NEUTRAL_CHARS: [char; 20] = [
    '文', '晓', '子', '思', '雨', '春', '嘉', '安', '一', '博', '睿', '泽', '诗', '梓', '若', '宏',
    '永', '金', '振', '家',
];

static FIRM_WORDS: [&str; 40] = [
    "华兴", "宏达", "鑫源", "恒通", "金海", "新元", "东方", "天和", "润泽", "中鼎", "远航", "汉源",
    "国泰", "正阳", "瑞丰", "永兴", "盛世", "嘉禾", "长城", "汇通", "信达", "丰泰", "安顺", "利民",
    "兴隆", "德胜", "福泰", "海纳", "博远", "泰和", "万通", "金桥", "龙腾", "彭城", "淮海", "锦程",
    "华瑞", "众诚", "鸿运", "恒信",
];
static FIRM_TRADES: [&str; 25] = [
    "建设工程",
    "商贸",
    "科技",
    "机械制造",
    "物流",
    "食品",
    "纺织",
    "置业",
    "电子",
    "医药",
    "化工",
    "建材",
    "汽车销售",
    "农业发展",
    "能源",
    "电力设备",
    "物业管理",
    "餐饮管理",
    "信息技术",
    "环保科技",
    "矿业",
    "钢结构",
    "包装",
    "家居",
    "文化传媒",
];
static FIRM_FORMS: [&str; 3] = ["有限公司", "有限责任公司", "股份有限公司"];
const FIRM_NAMES: u64 = (FIRM_WORDS.len() * FIRM_TRADES.len() * FIRM_FORMS.len()) as u64;
/// Multiplier of the firm-name bijection; coprime to `FIRM_NAMES` (3000).
const FIRM_MULT: u64 = 1237;

static INSTITUTIONS: [&str; 12] = [
    "教育局",
    "人民医院",
    "中医院",
    "第一中学",
    "实验小学",
    "财政局",
    "卫生健康委员会",
    "公安局",
    "市场监督管理局",
    "自然资源和规划局",
    "人力资源和社会保障局",
    "住房和城乡建设局",
];

/// Employer rates in basis points with weights.
static RATES: [(u32, u32); 8] = [
    (500, 30),
    (600, 8),
    (700, 10),
    (800, 12),
    (900, 3),
    (1000, 10),
    (1100, 2),
    (1200, 25),
];

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
        let opened_on = date_between(&mut rng, open_first, open_last);
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
mod tests {
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
                districts.insert(m.id_number[..6].to_string());
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
            assert!((ymd(2005, 1, 1)..=ymd(2024, 12, 31)).contains(&m.opened_on));
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
}
