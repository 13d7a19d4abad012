//! Money in the auditor's tools, on synthetic logs: a case rebuilt from one centre's log,
//! compared with a store and a core system, and reconciled across both centres, with each
//! break made on purpose.

use super::*;
use crate::methods as m;
use crate::{Envelope, RECV, SENT};
use hfx_proto::v1 as pb;
use prost::Message;
use sha2::Digest;
use std::collections::HashMap;

const O: &str = "320300000000000";
const D: &str = "320700000000000";
const CASE: &str = "0190c0de-0000-7000-8000-000000000001";
const AMOUNT: i64 = 1_234_567;
const T0: i64 = 1_700_000_000_000;

/// One centre's log being written.
struct Log {
    centre: &'static str,
    peer: &'static str,
    entries: Vec<Vec<u8>>,
    payloads: HashMap<merkle::Hash, Option<Vec<u8>>>,
    seq: u64,
}

use crate::merkle;

impl Log {
    fn new(centre: &'static str, peer: &'static str) -> Self {
        Self {
            centre,
            peer,
            entries: Vec::new(),
            payloads: HashMap::new(),
            seq: 0,
        }
    }

    /// Log `bytes` as `method#part` in direction `dir` at `T0 + at_s` seconds.
    fn log(&mut self, dir: &str, method: &str, part: &str, mid: &str, at_s: i64, bytes: Vec<u8>) {
        self.seq += 1;
        let mut e = Envelope::draft(
            dir,
            self.peer,
            mid,
            CASE,
            &format!("{method}#{part}"),
            &bytes,
        );
        e.seq = self.seq;
        e.at_ms = T0 + at_s * 1000;
        self.entries.push(e.entry_bytes());
        self.payloads
            .insert(sha2::Sha256::digest(&bytes).into(), Some(bytes));
    }

    /// A request and its reply, as the sender (`sent` true) or the receiver logs them.
    fn exchange(&mut self, sent: bool, method: &str, at_s: i64, req: Vec<u8>, reply_state: &str) {
        let mid = format!("m{}-{method}", self.seq);
        let (rq, rp) = if sent { (SENT, RECV) } else { (RECV, SENT) };
        self.log(rq, method, "request", &mid, at_s, req);
        let ack = pb::TransferAck {
            receipt: None,
            status: 0,
            state: reply_state.into(),
        }
        .encode_to_vec();
        self.log(rp, method, "reply", &mid, at_s, ack);
    }

    fn export(&self) -> Export {
        Export {
            centre: self.centre.into(),
            origin: format!("test.hfx/{}", self.centre),
            vkey: String::new(),
            entries: self.entries.clone(),
            checkpoints: vec![],
            cosignatures: vec![],
            disclosures: vec![],
            payloads: self.payloads.clone(),
        }
    }
}

fn letter() -> Vec<u8> {
    pb::ContactLetter {
        letter_no: "3207002601010001".into(),
        deadline_unix_ms: T0 + 86_400_000,
        ..Default::default()
    }
    .encode_to_vec()
}

fn transfer_out(amount: i64) -> Vec<u8> {
    pb::TransferOut {
        amount_fen: amount,
        principal_fen: amount,
        ..Default::default()
    }
    .encode_to_vec()
}

fn payment(paid: bool, amount: i64) -> Vec<u8> {
    pb::PaymentNotice {
        paid,
        bank_reference: if paid { "BANK-1".into() } else { String::new() },
        amount_fen: if paid { amount } else { 0 },
        reason: if paid {
            String::new()
        } else {
            "DECLINED: test".into()
        },
        ..Default::default()
    }
    .encode_to_vec()
}

fn completion(credited: bool, amount: i64) -> Vec<u8> {
    pb::Completion {
        credited,
        credited_fen: if credited { amount } else { 0 },
        negotiation_reason: if credited {
            String::new()
        } else {
            "amount mismatch".into()
        },
        ..Default::default()
    }
    .encode_to_vec()
}

/// How far a synthetic case went.
#[derive(Clone, Copy, PartialEq, PartialOrd)]
enum Upto {
    Held,
    Closed,
    Credited,
}

/// Both sides' logs of one case that went `upto` (times: letter 0 s, hold 10 s, close 20 s,
/// credit 30 s). `credit_amount` is what the destination says it credited.
fn both(upto: Upto, credit_amount: i64) -> (Log, Log) {
    let (mut o, mut d) = (Log::new(O, D), Log::new(D, O));
    d.exchange(true, m::METHOD_LETTER, 0, letter(), "letter_received");
    o.exchange(false, m::METHOD_LETTER, 0, letter(), "letter_received");
    if upto >= Upto::Held {
        o.exchange(
            true,
            m::METHOD_TRANSFER_OUT,
            10,
            transfer_out(AMOUNT),
            "out_received",
        );
        d.exchange(
            false,
            m::METHOD_TRANSFER_OUT,
            10,
            transfer_out(AMOUNT),
            "out_received",
        );
    }
    if upto >= Upto::Closed {
        o.exchange(
            true,
            m::METHOD_PAYMENT,
            20,
            payment(true, AMOUNT),
            "crediting",
        );
        d.exchange(
            false,
            m::METHOD_PAYMENT,
            20,
            payment(true, AMOUNT),
            "crediting",
        );
    }
    if upto >= Upto::Credited {
        d.exchange(
            true,
            m::METHOD_COMPLETION,
            30,
            completion(true, credit_amount),
            "done",
        );
        o.exchange(
            false,
            m::METHOD_COMPLETION,
            30,
            completion(true, credit_amount),
            "done",
        );
    }
    (o, d)
}

fn cases(logs: &[&Log]) -> Vec<CaseLog> {
    logs.iter().flat_map(|l| case_logs(&l.export())).collect()
}

fn kinds(r: &MoneyReport) -> Vec<(&str, &str, i64)> {
    r.breaks
        .iter()
        .map(|b| (b.kind.as_str(), b.case_id.as_str(), b.age_seconds))
        .collect()
}

const NOW: i64 = T0 + 100_000;

#[test]
fn a_whole_transfer_is_rebuilt_from_each_side_and_reconciles_to_nothing_in_flight() {
    let (o, d) = both(Upto::Credited, AMOUNT);
    let oc = case_logs(&o.export());
    let dc = case_logs(&d.export());
    assert_eq!(oc.len(), 1);
    let (oc, dc) = (&oc[0], &dc[0]);
    assert_eq!((oc.role.as_str(), oc.state()), ("origin", "done"));
    assert_eq!((dc.role.as_str(), dc.state()), ("destination", "done"));
    assert_eq!(oc.held.as_ref().map(|e| e.amount_fen), Some(AMOUNT));
    assert_eq!(
        oc.paid.as_ref().map(|e| e.reference.as_str()),
        Some("BANK-1")
    );
    assert_eq!(dc.credited.as_ref().map(|e| e.amount_fen), Some(AMOUNT));
    assert_eq!(dc.letter_no, "3207002601010001");
    assert_eq!((oc.unreadable, dc.unreadable), (0, 0));
    let r = reconcile_money(&cases(&[&o, &d]), NOW, 600);
    assert!(r.breaks.is_empty(), "{:?}", r.breaks);
    assert_eq!(r.in_flight, InFlight::default());
    assert_eq!((r.cases, r.settled, r.one_sided), (1, 1, 0));
}

#[test]
fn credited_but_not_closed_is_a_break_with_its_age() {
    // The destination credited; the origin's log shows the hold and nothing after it.
    let (mut o, mut d) = both(Upto::Held, AMOUNT);
    d.exchange(
        false,
        m::METHOD_PAYMENT,
        20,
        payment(true, AMOUNT),
        "crediting",
    );
    d.exchange(
        true,
        m::METHOD_COMPLETION,
        30,
        completion(true, AMOUNT),
        "done",
    );
    o.exchange(
        false,
        m::METHOD_COMPLETION,
        30,
        completion(true, AMOUNT),
        "closed",
    );
    let r = reconcile_money(&cases(&[&o, &d]), NOW, 600);
    assert_eq!(kinds(&r), vec![("credited_not_closed", CASE, 70)]);
    assert_eq!(r.in_flight.credited_not_closed_fen, AMOUNT);
    assert_eq!(r.in_flight.total_fen, AMOUNT);
    // The destination's receipt of a paid notice does not stand in for the origin's own log.
    assert_eq!(r.in_flight.in_transit_fen, 0);
}

#[test]
fn closed_but_not_credited_is_money_in_transit_and_a_break() {
    let (o, d) = both(Upto::Closed, AMOUNT);
    let r = reconcile_money(&cases(&[&o, &d]), NOW, 600);
    assert_eq!(kinds(&r), vec![("closed_not_credited", CASE, 80)]);
    assert_eq!(r.breaks[0].amount_fen, AMOUNT);
    assert_eq!(
        (r.in_flight.in_transit_fen, r.in_flight.in_transit_cases),
        (AMOUNT, 1)
    );
    assert_eq!(r.in_flight.total_fen, AMOUNT);
}

#[test]
fn a_hold_is_in_flight_and_a_break_only_past_its_deadline() {
    let (o, d) = both(Upto::Held, AMOUNT);
    let all = cases(&[&o, &d]);
    // Held at 10 s; now is 100 s.
    let r = reconcile_money(&all, NOW, 600);
    assert!(r.breaks.is_empty(), "{:?}", r.breaks);
    assert_eq!(
        (r.in_flight.held_at_origins_fen, r.in_flight.held_cases),
        (AMOUNT, 1)
    );
    let r = reconcile_money(&all, NOW, 60);
    assert_eq!(kinds(&r), vec![("held_past_deadline", CASE, 90)]);
    assert!(
        r.breaks[0].detail.contains("by 30 s"),
        "{}",
        r.breaks[0].detail
    );
    // A released hold is no longer held.
    let (mut o, mut d) = both(Upto::Held, AMOUNT);
    o.exchange(
        true,
        m::METHOD_PAYMENT,
        20,
        payment(false, AMOUNT),
        "failed",
    );
    d.exchange(
        false,
        m::METHOD_PAYMENT,
        20,
        payment(false, AMOUNT),
        "failed",
    );
    let r = reconcile_money(&cases(&[&o, &d]), NOW, 60);
    assert!(r.breaks.is_empty(), "{:?}", r.breaks);
    assert_eq!(r.in_flight.total_fen, 0);
    assert_eq!(case_logs(&o.export())[0].state(), "failed");
}

#[test]
fn a_credit_of_another_amount_than_the_payout_is_a_break() {
    let (o, d) = both(Upto::Credited, AMOUNT + 1);
    let r = reconcile_money(&cases(&[&o, &d]), NOW, 600);
    assert_eq!(kinds(&r), vec![("amount_differs", CASE, 70)]);
    assert_eq!(r.breaks[0].amount_fen, 1);
}

#[test]
fn one_side_alone_is_reconciled_from_its_receipts() {
    let (_, d) = both(Upto::Closed, AMOUNT);
    let r = reconcile_money(&cases(&[&d]), NOW, 600);
    assert_eq!(r.one_sided, 1);
    assert_eq!(kinds(&r), vec![("closed_not_credited", CASE, 80)]);
}

#[test]
fn streaming_a_file_rebuilds_the_same_cases_as_parsing_it() {
    let (o, _) = both(Upto::Credited, AMOUNT);
    let e = o.export();
    let dir = std::env::temp_dir().join(format!("hfx-money-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("o.export");
    let mut f = std::fs::File::create(&path).unwrap();
    let header = ExportHeader {
        centre: O.into(),
        origin: e.origin.clone(),
        vkey: "k".into(),
    };
    write_header(&mut f, &header, NOW, e.entries.len() as u64).unwrap();
    for l in &e.entries {
        write_entry(&mut f, l).unwrap();
    }
    for s in ["checkpoints", "cosignatures", "disclosures"] {
        write_count(&mut f, s, 0).unwrap();
    }
    write_count(&mut f, "payloads", e.payloads.len() as u64).unwrap();
    for (h, p) in &e.payloads {
        write_payload(&mut f, h, p.as_deref()).unwrap();
    }
    write_end(&mut f).unwrap();
    let mut collector = MoneyCollector::new();
    let mut n = 0;
    let centre = stream_money(&path, &mut |_, _| n += 1, &mut collector).unwrap();
    assert_eq!((centre.as_str(), n), (O, e.entries.len()));
    assert_eq!(collector.finish(), case_logs(&e));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The store of a centre that agrees with its log.
fn store_of(c: &CaseLog, status: &str) -> StoreCase {
    StoreCase {
        case_id: c.case_id.clone(),
        role: c.role.clone(),
        row_status: status.into(),
        status: status.into(),
        held_fen: c.held.as_ref().map(|e| e.amount_fen),
        payment: c
            .paid
            .as_ref()
            .map(|p| (true, p.amount_fen, p.reference.clone())),
        account_no: "ACCT".into(),
        created_ms: T0,
        updated_ms: T0 + 30_000,
    }
}

fn fields(f: &[MoneyFinding]) -> Vec<(&str, &str)> {
    f.iter()
        .map(|f| (f.kind.as_str(), f.field.as_str()))
        .collect()
}

#[test]
fn replay_names_each_store_difference_by_case_and_field() {
    let (o, d) = both(Upto::Credited, AMOUNT);
    let (oc, dc) = (case_logs(&o.export()), case_logs(&d.export()));
    let good = store_of(&oc[0], "done");
    assert!(check_store(&oc, std::slice::from_ref(&good), NOW).is_empty());
    assert!(check_store(&dc, &[store_of(&dc[0], "done")], NOW).is_empty());

    let mut s = good.clone();
    s.payment = Some((true, AMOUNT - 100, "BANK-1".into()));
    let f = check_store(&oc, &[s], NOW);
    assert_eq!(
        fields(&f),
        vec![
            ("store_differs", "paid_fen"),
            ("store_differs", "credited_fen")
        ]
    );
    assert_eq!(f[0].case_id, CASE);
    assert_eq!(f[0].age_seconds, 70);

    let mut s = good.clone();
    s.status = "held".into();
    s.row_status = "held".into();
    assert_eq!(
        fields(&check_store(&oc, &[s], NOW)),
        vec![("store_differs", "status")]
    );
    let mut s = good.clone();
    s.row_status = "closed".into();
    assert_eq!(
        fields(&check_store(&oc, &[s], NOW)),
        vec![("store_differs", "status")]
    );
    let mut s = good.clone();
    s.held_fen = Some(1);
    assert_eq!(
        fields(&check_store(&oc, &[s], NOW)),
        vec![("store_differs", "held_fen")]
    );

    assert_eq!(
        fields(&check_store(&oc, &[], NOW)),
        vec![("missing_in_store", "case")]
    );
    let mut other = good.clone();
    other.case_id = "another".into();
    assert_eq!(
        fields(&check_store(&oc, &[good, other], NOW)),
        vec![("missing_in_log", "case")]
    );
}

#[test]
fn replay_allows_the_steps_that_send_nothing_and_only_those() {
    // The origin's log proves the hold; the store has moved on to paid (the bank answered,
    // the close-out not yet recorded): no message yet, no difference.
    let (o, _) = both(Upto::Held, AMOUNT);
    let oc = case_logs(&o.export());
    let mut s = store_of(&oc[0], "paid");
    s.payment = Some((true, AMOUNT, "BANK-1".into()));
    assert!(check_store(&oc, &[s.clone()], NOW).is_empty());
    // But "closed" sends the payment notice: a store at closed with no notice in the log is
    // ahead of it.
    s.status = "closed".into();
    s.row_status = "closed".into();
    assert_eq!(
        fields(&check_store(&oc, &[s], NOW)),
        vec![("store_differs", "status"), ("store_differs", "paid_fen")]
    );
}

fn account(status: &str, balance: i64) -> CoreAccount {
    CoreAccount {
        account_no: "ACCT".into(),
        status: status.into(),
        balance_fen: balance,
        close_reason: (status == "04").then(|| "07".into()),
    }
}

fn core_origin(a: CoreAccount) -> CoreFacts {
    let mut c = CoreFacts::default();
    c.origin.insert(CASE.into(), Some(a));
    c
}

#[test]
fn replay_checks_the_origin_account_against_the_case() {
    let (o, _) = both(Upto::Credited, AMOUNT);
    let oc = case_logs(&o.export());
    let s = [store_of(&oc[0], "done")];
    assert!(check_core(&oc, &s, &core_origin(account("04", 0)), NOW).is_empty());
    let f = check_core(&oc, &s, &core_origin(account("04", 500)), NOW);
    assert_eq!(fields(&f), vec![("core_differs", "balance_fen")]);
    assert_eq!((f[0].case_id.as_str(), f[0].age_seconds), (CASE, 70));
    let f = check_core(&oc, &s, &core_origin(account("01", AMOUNT)), NOW);
    assert_eq!(
        fields(&f),
        vec![
            ("core_differs", "account_status"),
            ("core_differs", "balance_fen")
        ]
    );
    let mut none = CoreFacts::default();
    none.origin.insert(CASE.into(), None);
    assert_eq!(
        fields(&check_core(&oc, &s, &none, NOW)),
        vec![("core_differs", "account")]
    );

    // Held: sealed with the held balance.
    let (o, _) = both(Upto::Held, AMOUNT);
    let oc = case_logs(&o.export());
    let s = [store_of(&oc[0], "held")];
    assert!(check_core(&oc, &s, &core_origin(account("02", AMOUNT)), NOW).is_empty());
    assert_eq!(
        fields(&check_core(
            &oc,
            &s,
            &core_origin(account("01", AMOUNT)),
            NOW
        )),
        vec![("core_differs", "account_status")]
    );

    // Failed: reopened with its money.
    let (mut o, _) = both(Upto::Held, AMOUNT);
    o.exchange(
        true,
        m::METHOD_PAYMENT,
        20,
        payment(false, AMOUNT),
        "failed",
    );
    let oc = case_logs(&o.export());
    let mut s = store_of(&oc[0], "failed");
    s.payment = Some((false, 0, String::new()));
    let s = [s];
    assert!(check_core(&oc, &s, &core_origin(account("01", AMOUNT)), NOW).is_empty());
    assert_eq!(
        fields(&check_core(&oc, &s, &core_origin(account("04", 0)), NOW)),
        vec![
            ("core_differs", "account_status"),
            ("core_differs", "balance_fen")
        ]
    );
}

#[test]
fn replay_finds_a_missing_or_doubled_credit_at_the_destination() {
    let (_, d) = both(Upto::Credited, AMOUNT);
    let dc = case_logs(&d.export());
    let s = [store_of(&dc[0], "done")];
    let credits = |v: Vec<i64>| {
        let mut c = CoreFacts::default();
        c.credits.insert("ACCT".into(), v);
        c
    };
    assert!(check_core(&dc, &s, &credits(vec![AMOUNT, 999]), NOW).is_empty());
    let f = check_core(&dc, &s, &credits(vec![999]), NOW);
    assert_eq!(fields(&f), vec![("core_differs", "credit_08")]);
    assert_eq!(f[0].found, "0 such credit(s)");
    let f = check_core(&dc, &s, &credits(vec![AMOUNT, AMOUNT]), NOW);
    assert_eq!(fields(&f), vec![("core_differs", "credit_08")]);
    assert!(f[0].found.contains("more than once"), "{}", f[0].found);
}

#[test]
fn purged_payloads_leave_amounts_unknown_not_different() {
    let (mut o, _) = both(Upto::Credited, AMOUNT);
    for p in o.payloads.values_mut() {
        *p = None;
    }
    let oc = case_logs(&o.export());
    assert!(oc[0].unreadable > 0);
    assert!(oc[0].held.is_none());
    let mut s = store_of(&oc[0], "done");
    s.held_fen = Some(AMOUNT);
    s.payment = Some((true, AMOUNT, "BANK-1".into()));
    assert!(check_store(&oc, &[s], NOW).is_empty());
}

#[test]
fn a_status_query_about_a_case_never_seen_is_no_case_but_a_tombstone_is() {
    let query = |state: &str| {
        let mut o = Log::new(O, D);
        o.log(
            RECV,
            m::METHOD_QUERY_CASE,
            "request",
            "q1",
            5,
            pb::CaseMessage::default().encode_to_vec(),
        );
        let answer = pb::CaseState {
            state: state.into(),
            ..Default::default()
        };
        o.log(
            SENT,
            m::METHOD_QUERY_CASE,
            "reply",
            "q1",
            5,
            answer.encode_to_vec(),
        );
        case_logs(&o.export())
    };
    // Before the letter's deadline the origin keeps nothing: not a case missing in its store.
    let unseen = query("");
    assert!(!unseen[0].exists);
    assert!(check_store(&unseen, &[], NOW).is_empty());
    assert_eq!(reconcile_money(&unseen, NOW, 600).cases, 0);
    // Past it, the tombstone is a case, expired.
    let tomb = query("expired");
    assert!(tomb[0].exists);
    assert_eq!(tomb[0].state(), "expired");
    assert_eq!(
        fields(&check_store(&tomb, &[], NOW)),
        vec![("missing_in_store", "case")]
    );
    let mut s = store_of(&tomb[0], "expired");
    s.held_fen = None;
    assert!(check_store(&tomb, &[s], NOW).is_empty());
}
