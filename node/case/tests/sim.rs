//! A deterministic simulation of the transfer case in the manner of TigerBeetle's VOPR.
//!
//! Two nodes (destination D, origin O) drive [`hfx_case::Case`] the way a node does: each
//! transition is committed together with the messages it sends (the outbox, one id per
//! message); the relay re-sends an outbox message with the same id until the peer answers;
//! a receiver records (message id → its status after handling it) with the effect and answers
//! a duplicate with that stored status; `Case::next_action` is executed against the origin's
//! core system, the destination's core system, the settlement bank or the peer, and its
//! result is fed back as an event. Everything outside the nodes' durable state is hostile: the
//! network drops, delays, duplicates and reorders messages and answers and partitions and
//! heals; either node crashes at any point (volatile state — in-flight calls, last send
//! times — is lost, durable state is what was last committed); an outside call may never
//! arrive, may take effect and lose its reply, or answer late (a late answer is still fed to
//! the case, as a second replica of the node would); clerks cancel at random and settle
//! negotiations after a while; accounts are frozen and unfrozen.
//!
//! After every step the invariants of DESIGN §4 rule 8 are checked (see [`Sim::check`]); at
//! the end of a seed the faults stop, the network heals, the run goes to quiescence and both
//! sides must have ended the same way (see [`Sim::check_end`]).
//!
//! `HFX_SIM_SEED=<n>` replays one seed (with a trace of its last steps on failure);
//! `HFX_SIM_SEEDS=<count>` runs that many seeds (default 3000) from `HFX_SIM_FIRST` (default 1).

use hfx_case::{
    AccountFound, Action, BankAnswer, Case, CaseError, Event, Letter, Msg, MsgKind, Person,
    Refusal, Status, TransferRecord, letter_no, refusal,
};
use std::collections::{BTreeMap, BTreeSet};

const D_CENTRE: &str = "320300000000000";
const O_CENTRE: &str = "320700000000000";
/// A relay re-sends an unanswered outbox message after this long.
const RESEND_MS: i64 = 30;
/// A node gives up waiting for an outside call after this long (the call is then in doubt).
const CALL_TIMEOUT_MS: i64 = 50;
/// A clerk settles a negotiation after it has been open this long.
const CLERK_ACCEPT_MS: i64 = 80;
/// Steps allowed to reach quiescence once the faults stop.
const QUIESCE_STEPS: usize = 20_000;

/// splitmix64: small, seeded, good enough to pick faults.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    D,
    O,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::D => Side::O,
            Side::O => Side::D,
        }
    }
}

#[derive(Debug, Clone)]
struct OutMsg {
    id: u64,
    case_id: String,
    msg: Msg,
}

/// What survives a crash: exactly what was committed.
#[derive(Default)]
struct Durable {
    cases: BTreeMap<String, Case>,
    outbox: Vec<OutMsg>,
    /// Answered message ids → the stored answer (the status after first handling it).
    inbox: BTreeMap<u64, Status>,
}

/// What a crash loses.
#[derive(Default)]
struct Volatile {
    /// Outbox id → when it was last sent.
    last_sent: BTreeMap<u64, i64>,
    /// Case id → when its current outside call times out.
    calls: BTreeMap<String, i64>,
}

struct Node {
    up: bool,
    /// Bumped by every crash; answers and results addressed to an older process are lost.
    epoch: u64,
    durable: Durable,
    vol: Volatile,
}

impl Node {
    fn new() -> Self {
        Node {
            up: true,
            epoch: 0,
            durable: Durable::default(),
            vol: Volatile::default(),
        }
    }
}

/// An account at the origin's core system.
#[derive(Debug, Clone)]
struct OAccount {
    id_number: String,
    name: String,
    balance: i64,
    frozen: bool,
    unsettled_loan: bool,
    fraud_flag: bool,
    /// The case whose hold seals the account.
    hold: Option<String>,
    /// Closed out (04, balance 0, reason 07) for this case.
    closed_by: Option<String>,
}

#[derive(Default)]
struct Bank {
    /// The bank's first decision per case id (later payouts of the case get the same answer).
    decided: BTreeMap<String, BankAnswer>,
    /// Paid case id → amount (the transit).
    paid: BTreeMap<String, i64>,
    /// Cases whose transit has been delivered to the destination centre.
    delivered: BTreeSet<String>,
    /// Cases the bank will decline.
    declines: BTreeSet<String>,
}

#[derive(Debug, Clone)]
enum Op {
    Check { person: Person },
    Reserve { account_no: String },
    Payout { amount_fen: i64 },
    CloseOut { account_no: String },
    Release { account_no: String },
    Credit { account_no: String, amount_fen: i64 },
    Deliver,
    Query { deadline_ms: i64 },
}

#[derive(Debug, Clone)]
enum Item {
    /// A peer message on its way; the answer goes back to the sender's process `reply_epoch`.
    Deliver {
        to: Side,
        reply_epoch: u64,
        id: u64,
        case_id: String,
        msg: Msg,
    },
    /// The answer to message `id`: the receiver's status, or `None` for "not yet".
    Answer {
        to: Side,
        epoch: u64,
        id: u64,
        case_id: String,
        kind: MsgKind,
        status: Option<Status>,
    },
    /// An outside call reaching the core system, the bank or (QueryPeer) the peer.
    Effect {
        side: Side,
        epoch: u64,
        case_id: String,
        op: Op,
    },
    /// An outside call's result on its way back to the caller.
    Result {
        side: Side,
        epoch: u64,
        case_id: String,
        event: Event,
        via_peer: bool,
    },
}

struct Pending {
    at: i64,
    item: Item,
}

/// A case the destination's clerk will start.
struct Plan {
    case_id: String,
    person: Person,
    d_account: String,
    deadline_after_ms: i64,
    started: bool,
}

struct Sim {
    rng: Rng,
    now: i64,
    faults: bool,
    partitioned: bool,
    d: Node,
    o: Node,
    o_core: BTreeMap<String, OAccount>,
    /// O core: case ids whose hold was released, with or without a hold taken (a release
    /// fences off a later reserve of the case, as a hold record in state `released` does).
    o_released: BTreeSet<String>,
    d_core: BTreeMap<String, i64>,
    /// D core: credited case id → (account, amount). Idempotent by case id.
    d_credited: BTreeMap<String, (String, i64)>,
    bank: Bank,
    net: Vec<Pending>,
    /// The origin's clock minus the destination's (the deadline is decided on each side's own).
    o_skew_ms: i64,
    plans: Vec<Plan>,
    next_msg_id: u64,
    money: i64,
    /// When a D case entered negotiation (for the clerk).
    negotiating_since: BTreeMap<String, i64>,
    bug: Option<String>,
    verbose: bool,
    trace: Vec<String>,
}

impl Sim {
    fn new(seed: u64, verbose: bool) -> Sim {
        let mut rng = Rng(seed);
        let n_accounts = rng.range(1, 4) as usize;
        let mut o_core = BTreeMap::new();
        for k in 0..n_accounts {
            let balance = rng.range(0, 50_000);
            o_core.insert(
                format!("O{k}"),
                OAccount {
                    id_number: format!("3207001990010{k:04}X"),
                    name: format!("会员{k}"),
                    balance,
                    frozen: rng.chance(150),
                    unsettled_loan: rng.chance(200),
                    fraud_flag: rng.chance(50),
                    hold: None,
                    closed_by: None,
                },
            );
        }
        let n_cases = rng.range(1, 5) as usize;
        let mut plans = Vec::new();
        let mut d_core = BTreeMap::new();
        let mut bank = Bank::default();
        for k in 0..n_cases {
            let case_id = format!("case-{k}");
            // Mostly an account the origin has; sometimes a second case for the same person
            // (it must be refused or wait), sometimes a person the origin does not know or
            // whose name does not match.
            let acct = rng.below(n_accounts as u64) as usize;
            let person = match rng.below(20) {
                0 => Person {
                    id_type: "01".into(),
                    id_number: "999999199001019999".into(),
                    name: "无名".into(),
                },
                1 => Person {
                    id_type: "01".into(),
                    id_number: format!("3207001990010{acct:04}X"),
                    name: "别人".into(),
                },
                _ => Person {
                    id_type: "01".into(),
                    id_number: format!("3207001990010{acct:04}X"),
                    name: format!("会员{acct}"),
                },
            };
            let d_account = format!("D{k}");
            d_core.insert(d_account.clone(), rng.range(0, 10_000));
            if rng.chance(150) {
                bank.declines.insert(case_id.clone());
            }
            plans.push(Plan {
                case_id,
                person,
                d_account,
                deadline_after_ms: rng.range(20, 600),
                started: false,
            });
        }
        let o_skew_ms = rng.range(-100, 100);
        let mut sim = Sim {
            rng,
            now: 0,
            faults: true,
            partitioned: false,
            d: Node::new(),
            o: Node::new(),
            o_core,
            o_released: BTreeSet::new(),
            d_core,
            d_credited: BTreeMap::new(),
            bank,
            net: Vec::new(),
            o_skew_ms,
            plans,
            next_msg_id: 1,
            money: 0,
            negotiating_since: BTreeMap::new(),
            bug: None,
            verbose,
            trace: Vec::new(),
        };
        sim.money = sim.zone_money();
        sim
    }

    fn log(&mut self, f: impl FnOnce() -> String) {
        if self.verbose {
            let line = format!("{:>7} {}", self.now, f());
            self.trace.push(line);
        }
    }

    fn fail(&mut self, msg: String) {
        if self.bug.is_none() {
            self.log(|| format!("BUG: {msg}"));
            self.bug = Some(msg);
        }
    }

    fn node(&mut self, side: Side) -> &mut Node {
        match side {
            Side::D => &mut self.d,
            Side::O => &mut self.o,
        }
    }

    fn node_ref(&self, side: Side) -> &Node {
        match side {
            Side::D => &self.d,
            Side::O => &self.o,
        }
    }

    /// Zone money, which must never change (in a text block, it is a sum):
    /// ```text
    ///   Σ origin balances, an account sealed by a hold whose payout the bank made counting 0
    ///     (the bank has that money in transit; a closed account has balance 0 anyway)
    /// + Σ destination balances
    /// + Σ bank transit of cases paid and not delivered
    /// − Σ amounts credited at the destination for cases paid and not yet delivered (the
    ///     credit and the transit are the same money until the bank delivers it to the
    ///     destination centre; once delivered, the transit is 0 and the credit alone counts)
    /// ```
    /// A credit without a payout, a payout of more than was held, a release or a reopening
    /// after a payout, or a delivery without a credit all change this sum.
    fn zone_money(&self) -> i64 {
        let origin: i64 = self
            .o_core
            .values()
            .map(|a| match &a.hold {
                Some(c) if self.bank.paid.contains_key(c) => 0,
                _ => a.balance,
            })
            .sum();
        let destination: i64 = self.d_core.values().sum();
        let transit: i64 = self
            .bank
            .paid
            .iter()
            .filter(|(c, _)| !self.bank.delivered.contains(*c))
            .map(|(_, a)| *a)
            .sum();
        let double: i64 = self
            .d_credited
            .iter()
            .filter(|(c, _)| self.bank.paid.contains_key(*c) && !self.bank.delivered.contains(*c))
            .map(|(_, (_, a))| *a)
            .sum();
        origin + destination + transit - double
    }

    /// The invariants that hold after every step.
    fn check(&mut self) {
        let money = self.zone_money();
        if money != self.money {
            self.fail(format!(
                "zone money not conserved: {money} fen, was {} fen",
                self.money
            ));
        }
        for (c, (_, amount)) in &self.d_credited.clone() {
            match self.bank.paid.get(c) {
                Some(paid) if paid == amount => {}
                other => self.fail(format!(
                    "{c} credited {amount} fen at the destination, the bank paid {other:?}"
                )),
            }
        }
        for (no, a) in &self.o_core.clone() {
            if let Some(c) = &a.closed_by {
                if !self.bank.paid.contains_key(c) {
                    self.fail(format!(
                        "origin account {no} closed for {c}, which the bank never paid"
                    ));
                }
                if a.balance != 0 || a.hold.is_some() {
                    self.fail(format!("origin account {no} closed with a balance or hold"));
                }
            }
        }
    }

    fn commit(&mut self, side: Side, old: Option<&Case>, new: Case, send: Vec<Msg>) {
        if let Some(old) = old
            && old.status.is_final()
            && new.status != old.status
        {
            self.fail(format!(
                "{side:?} {} left final status {} for {}",
                new.case_id, old.status, new.status
            ));
        }
        if side == Side::D && new.status == Status::Negotiating {
            self.negotiating_since
                .entry(new.case_id.clone())
                .or_insert(self.now);
        }
        let case_id = new.case_id.clone();
        self.log(|| {
            format!(
                "{side:?} commit {case_id}: {} -> {} send {:?}",
                old.map(|c| c.status.as_str()).unwrap_or("-"),
                new.status,
                send.iter().map(|m| m.kind()).collect::<Vec<_>>()
            )
        });
        let mut ids = Vec::new();
        for msg in send {
            ids.push(OutMsg {
                id: self.next_msg_id,
                case_id: case_id.clone(),
                msg,
            });
            self.next_msg_id += 1;
        }
        let node = self.node(side);
        node.durable.cases.insert(case_id, new);
        node.durable.outbox.extend(ids);
    }

    /// Apply an event to a committed case and commit the result.
    fn feed(&mut self, side: Side, case_id: &str, ev: Event) -> Result<Option<Status>, CaseError> {
        let Some(case) = self.node_ref(side).durable.cases.get(case_id).cloned() else {
            self.fail(format!("{side:?} has no case {case_id} for {ev:?}"));
            return Ok(None);
        };
        let t = case.apply(ev, self.now)?;
        let status = t.case.status;
        if t.changed || !t.send.is_empty() {
            self.commit(side, Some(&case), t.case, t.send);
        }
        Ok(Some(status))
    }

    fn schedule(&mut self, delay: i64, item: Item) {
        self.net.push(Pending {
            at: self.now + delay,
            item,
        });
    }

    /// A message or answer between the nodes: maybe dropped, maybe duplicated, delayed.
    fn send_peer(&mut self, item: Item) {
        if self.faults && self.rng.chance(100) {
            return;
        }
        let copies = if self.faults && self.rng.chance(50) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = if self.faults {
                self.rng.range(1, 60)
            } else {
                self.rng.range(1, 10)
            };
            self.schedule(delay, item.clone());
        }
    }

    // ---- the nodes -------------------------------------------------------------------------

    /// A node's loops: the relay re-sends its outbox; the action runner starts due calls.
    fn tick(&mut self, side: Side) {
        if !self.node_ref(side).up {
            return;
        }
        let now = self.now;
        let epoch = self.node_ref(side).epoch;
        let due: Vec<OutMsg> = {
            let node = self.node_ref(side);
            node.durable
                .outbox
                .iter()
                .filter(|m| {
                    node.vol
                        .last_sent
                        .get(&m.id)
                        .is_none_or(|t| now - t >= RESEND_MS)
                })
                .cloned()
                .collect()
        };
        for m in due {
            self.node(side).vol.last_sent.insert(m.id, now);
            self.log(|| format!("{side:?} sends #{} {:?} {}", m.id, m.msg.kind(), m.case_id));
            self.send_peer(Item::Deliver {
                to: side.other(),
                reply_epoch: epoch,
                id: m.id,
                case_id: m.case_id,
                msg: m.msg,
            });
        }
        let actions: Vec<(String, Action)> = {
            let node = self.node_ref(side);
            node.durable
                .cases
                .iter()
                .filter(|(id, _)| node.vol.calls.get(*id).is_none_or(|t| now >= *t))
                .filter_map(|(id, c)| c.next_action(now).map(|a| (id.clone(), a)))
                .collect()
        };
        for (case_id, action) in actions {
            self.start_call(side, &case_id, action);
        }
    }

    fn start_call(&mut self, side: Side, case_id: &str, action: Action) {
        let case = self.node_ref(side).durable.cases[case_id].clone();
        let op = match action {
            Action::Check => {
                let Some(p) = case.person() else {
                    return self.fail(format!("{case_id}: check without a letter"));
                };
                Op::Check { person: p.clone() }
            }
            Action::Reserve | Action::CloseOut | Action::Release => {
                let Some(account_no) = case.origin_account_no.clone() else {
                    return self.fail(format!("{case_id}: {action:?} without an account"));
                };
                match action {
                    Action::Reserve => Op::Reserve { account_no },
                    Action::CloseOut => Op::CloseOut { account_no },
                    _ => Op::Release { account_no },
                }
            }
            Action::Payout => {
                let Some(r) = &case.record else {
                    return self.fail(format!("{case_id}: payout without a record"));
                };
                Op::Payout {
                    amount_fen: r.amount_fen,
                }
            }
            Action::Credit => {
                let Some(p) = &case.payment else {
                    return self.fail(format!("{case_id}: credit without a payment"));
                };
                let Some(l) = &case.letter else {
                    return self.fail(format!("{case_id}: credit without a letter"));
                };
                Op::Credit {
                    account_no: l.destination_account_no.clone(),
                    amount_fen: p.amount_fen,
                }
            }
            Action::Deliver => Op::Deliver,
            Action::QueryPeer => {
                let Some(l) = &case.letter else {
                    return self.fail(format!("{case_id}: query without a letter"));
                };
                Op::Query {
                    deadline_ms: l.deadline_ms,
                }
            }
        };
        let now = self.now;
        let epoch = self.node_ref(side).epoch;
        self.node(side)
            .vol
            .calls
            .insert(case_id.to_string(), now + CALL_TIMEOUT_MS);
        self.log(|| format!("{side:?} calls {action:?} for {case_id}"));
        // The request may never arrive (a timeout before it took effect).
        if self.faults && self.rng.chance(100) {
            return;
        }
        let delay = self.rng.range(1, 30);
        self.schedule(
            delay,
            Item::Effect {
                side,
                epoch,
                case_id: case_id.to_string(),
                op,
            },
        );
    }

    fn on_deliver(&mut self, to: Side, reply_epoch: u64, id: u64, case_id: String, msg: Msg) {
        if !self.node_ref(to).up || self.partitioned {
            return;
        }
        let kind = msg.kind();
        let status = if let Some(s) = self.node_ref(to).durable.inbox.get(&id) {
            Some(*s)
        } else if self.node_ref(to).durable.cases.contains_key(&case_id) {
            match self.feed(to, &case_id, Event::Received(msg)) {
                Ok(s) => s,
                Err(CaseError::NotYet { .. }) => None,
                Err(e) => {
                    self.fail(format!("{to:?} {case_id}: {kind:?} refused: {e}"));
                    None
                }
            }
        } else {
            match (to, msg) {
                (Side::O, Msg::Letter(l)) => {
                    let c = Case::from_letter(&case_id, l, self.now);
                    let s = c.status;
                    self.commit(to, None, c, Vec::new());
                    Some(s)
                }
                (Side::O, Msg::Cancel { .. }) => None, // the letter has not arrived: not yet
                (_, msg) => {
                    self.fail(format!("{to:?} has no case {case_id} for {:?}", msg.kind()));
                    None
                }
            }
        };
        if let Some(s) = status {
            // Stored with the effect (the commit above is one transaction with it).
            self.node(to).durable.inbox.insert(id, s);
        }
        self.log(|| format!("{to:?} answers #{id} {kind:?} {case_id}: {status:?}"));
        self.send_peer(Item::Answer {
            to: to.other(),
            epoch: reply_epoch,
            id,
            case_id,
            kind,
            status,
        });
    }

    fn on_answer(
        &mut self,
        to: Side,
        epoch: u64,
        id: u64,
        case_id: String,
        kind: MsgKind,
        status: Option<Status>,
    ) {
        let node = self.node_ref(to);
        if !node.up || node.epoch != epoch || self.partitioned {
            return;
        }
        let Some(status) = status else { return };
        let Some(pos) = node.durable.outbox.iter().position(|m| m.id == id) else {
            return;
        };
        // The outbox row goes with the case change, in one transaction.
        self.node(to).durable.outbox.remove(pos);
        self.node(to).vol.last_sent.remove(&id);
        if let Err(e) = self.feed(to, &case_id, Event::Acked { kind, status }) {
            self.fail(format!("{to:?} {case_id}: ack of {kind:?} refused: {e}"));
        }
    }

    fn on_result(&mut self, side: Side, epoch: u64, case_id: String, event: Event, via_peer: bool) {
        let node = self.node_ref(side);
        if !node.up || node.epoch != epoch || (via_peer && self.partitioned) {
            return;
        }
        self.node(side).vol.calls.remove(&case_id);
        self.log(|| format!("{side:?} result for {case_id}: {event:?}"));
        if let Err(e) = self.feed(side, &case_id, event.clone()) {
            self.fail(format!("{side:?} {case_id}: result {event:?} refused: {e}"));
        }
    }

    // ---- the outside world -----------------------------------------------------------------

    fn record_of(a: &OAccount) -> TransferRecord {
        let interest = a.balance / 10;
        TransferRecord {
            amount_fen: a.balance,
            principal_fen: a.balance - interest,
            interest_fen: interest,
            opened_month: 201501,
            paid_up_to_month: 202611,
            six_consecutive_months: true,
            loans_used: u32::from(a.unsettled_loan),
            unsettled_loan: a.unsettled_loan,
            fraud_flag: a.fraud_flag,
            history: vec![],
        }
    }

    /// The call reaches its target and takes effect; its result may still be lost or late.
    fn on_effect(&mut self, side: Side, epoch: u64, case_id: String, op: Op) {
        self.log(|| format!("{side:?} effect {op:?} for {case_id}"));
        let mut via_peer = false;
        let event = match op {
            Op::Check { person } => {
                let found = self
                    .o_core
                    .iter()
                    .find(|(_, a)| a.id_number == person.id_number);
                Some(Event::Checked(match found {
                    None => Err(Refusal::new(refusal::NO_ACCOUNT, "no such account")),
                    Some((_, a)) if a.name != person.name => {
                        Err(Refusal::new(refusal::NAME_MISMATCH, "name differs"))
                    }
                    Some((_, a)) if a.closed_by.is_some() => {
                        Err(Refusal::new(refusal::ACCOUNT_CLOSED, "closed"))
                    }
                    Some((_, a)) if a.frozen => {
                        Err(Refusal::new(refusal::ACCOUNT_FROZEN, "frozen"))
                    }
                    Some((no, _)) => Ok(AccountFound {
                        account_no: no.clone(),
                    }),
                }))
            }
            Op::Reserve { account_no } => {
                let Some(a) = self.o_core.get_mut(&account_no) else {
                    self.fail(format!(
                        "{case_id}: reserve on unknown account {account_no}"
                    ));
                    return;
                };
                if a.hold.as_deref() == Some(case_id.as_str()) {
                    Some(Event::Reserved(Self::record_of(a)))
                } else if self.o_released.contains(&case_id) {
                    // Released (the fence): a late reserve of the case takes nothing.
                    Some(Event::HoldRefused(Refusal::new(
                        refusal::HOLD_REFUSED,
                        "the case's hold was released",
                    )))
                } else if a.closed_by.is_some() || a.frozen || a.hold.is_some() {
                    Some(Event::HoldRefused(Refusal::new(
                        refusal::HOLD_REFUSED,
                        "closed, frozen or held",
                    )))
                } else {
                    a.hold = Some(case_id.clone());
                    Some(Event::Reserved(Self::record_of(a)))
                }
            }
            Op::Payout { amount_fen } => {
                let answer = match self.bank.decided.get(&case_id) {
                    Some(a) => a.clone(),
                    None => {
                        let a = if self.bank.declines.contains(&case_id) {
                            BankAnswer::Declined {
                                code: "ACCOUNT_BLOCKED".into(),
                                reason: "the receiving account is blocked".into(),
                            }
                        } else {
                            self.bank.paid.insert(case_id.clone(), amount_fen);
                            BankAnswer::Paid {
                                bank_ref: format!("B-{case_id}"),
                                amount_fen,
                            }
                        };
                        self.bank.decided.insert(case_id.clone(), a.clone());
                        a
                    }
                };
                Some(Event::Bank(answer))
            }
            Op::CloseOut { account_no } => {
                let paid = self.bank.paid.contains_key(&case_id);
                let Some(a) = self.o_core.get_mut(&account_no) else {
                    self.fail(format!("{case_id}: close-out of unknown account"));
                    return;
                };
                if a.closed_by.as_deref() == Some(case_id.as_str()) {
                    Some(Event::ClosedOut)
                } else if a.hold.as_deref() == Some(case_id.as_str()) {
                    a.hold = None;
                    a.balance = 0;
                    a.closed_by = Some(case_id.clone());
                    if !paid {
                        self.fail(format!("{case_id}: close-out before the bank paid"));
                    }
                    Some(Event::ClosedOut)
                } else {
                    self.fail(format!(
                        "{case_id}: close-out of {account_no}, not held by it"
                    ));
                    None
                }
            }
            Op::Release { account_no } => {
                let Some(a) = self.o_core.get_mut(&account_no) else {
                    self.fail(format!("{case_id}: release of unknown account"));
                    return;
                };
                let closed = a.closed_by.as_deref() == Some(case_id.as_str());
                if a.hold.as_deref() == Some(case_id.as_str()) {
                    a.hold = None;
                }
                self.o_released.insert(case_id.clone());
                if closed {
                    self.fail(format!("{case_id}: release of an account closed for it"));
                }
                Some(Event::Released)
            }
            Op::Credit {
                account_no,
                amount_fen,
            } => {
                if !self.d_credited.contains_key(&case_id) {
                    *self.d_core.entry(account_no.clone()).or_insert(0) += amount_fen;
                    self.d_credited
                        .insert(case_id.clone(), (account_no, amount_fen));
                }
                Some(Event::Credited)
            }
            Op::Deliver => {
                if !self.bank.paid.contains_key(&case_id) {
                    self.fail(format!("{case_id}: delivery of a transit never paid"));
                }
                self.bank.delivered.insert(case_id.clone());
                Some(Event::Delivered)
            }
            Op::Query { deadline_ms } => {
                via_peer = true;
                if !self.o.up || self.partitioned {
                    return;
                }
                match self.o.durable.cases.get(&case_id) {
                    Some(c) => Some(Event::PeerState { status: c.status }),
                    // The origin decides on its own clock, which may be off the destination's.
                    None if self.now + self.o_skew_ms >= deadline_ms => {
                        let t = Case::tombstone(&case_id, O_CENTRE, D_CENTRE, self.now);
                        self.commit(Side::O, None, t, Vec::new());
                        Some(Event::PeerState {
                            status: Status::Expired,
                        })
                    }
                    None => None, // not yet: the destination asks again later
                }
            }
        };
        let Some(event) = event else { return };
        // The reply may be lost, or come back late (after the caller's timeout).
        if self.faults && self.rng.chance(100) {
            return;
        }
        let delay = if self.faults && self.rng.chance(80) {
            self.rng.range(CALL_TIMEOUT_MS, 3 * CALL_TIMEOUT_MS)
        } else {
            self.rng.range(1, 30)
        };
        self.schedule(
            delay,
            Item::Result {
                side,
                epoch,
                case_id,
                event,
                via_peer,
            },
        );
    }

    // ---- the driver ------------------------------------------------------------------------

    fn start_case(&mut self, k: usize) {
        if self.plans[k].started || !self.d.up {
            return;
        }
        let p = &self.plans[k];
        let Some(no) = letter_no(D_CENTRE, 261202, k as u32 + 1) else {
            return self.fail("letter number".into());
        };
        let letter = Letter {
            letter_no: no,
            person: p.person.clone(),
            destination_account_no: p.d_account.clone(),
            destination_centre: D_CENTRE.into(),
            origin_centre: O_CENTRE.into(),
            applied_date: 20261202,
            deadline_ms: self.now + p.deadline_after_ms,
        };
        let case_id = p.case_id.clone();
        self.plans[k].started = true;
        let t = Case::start(&case_id, letter, self.now);
        self.commit(Side::D, None, t.case, t.send);
    }

    fn clerk_cancel(&mut self) {
        if !self.d.up || self.d.durable.cases.is_empty() {
            return;
        }
        let k = self.rng.below(self.d.durable.cases.len() as u64) as usize;
        let Some(case_id) = self.d.durable.cases.keys().nth(k).cloned() else {
            return;
        };
        self.log(|| format!("D clerk cancels {case_id}"));
        match self.feed(
            Side::D,
            &case_id,
            Event::ClerkCancel {
                reason: "the member withdrew".into(),
            },
        ) {
            Ok(_) | Err(CaseError::NotAllowed { .. }) => {}
            Err(e) => self.fail(format!("D {case_id}: cancel: {e}")),
        }
    }

    fn clerk_accept(&mut self) {
        if !self.d.up {
            return;
        }
        let now = self.now;
        let due: Vec<String> = self
            .d
            .durable
            .cases
            .values()
            .filter(|c| c.status == Status::Negotiating)
            .filter(|c| {
                self.negotiating_since
                    .get(&c.case_id)
                    .is_some_and(|t| now - t >= CLERK_ACCEPT_MS)
            })
            .map(|c| c.case_id.clone())
            .collect();
        for case_id in due {
            self.log(|| format!("D clerk accepts {case_id}"));
            if let Err(e) = self.feed(Side::D, &case_id, Event::ClerkAccept) {
                self.fail(format!("D {case_id}: accept: {e}"));
            }
        }
    }

    fn crash(&mut self, side: Side) {
        self.log(|| format!("{side:?} CRASH"));
        let node = self.node(side);
        node.up = false;
        node.epoch += 1;
        node.vol = Volatile::default();
    }

    fn deliver_one(&mut self) -> bool {
        let due: Vec<usize> = (0..self.net.len())
            .filter(|i| self.net[*i].at <= self.now)
            .collect();
        if due.is_empty() {
            if let Some(next) = self.net.iter().map(|p| p.at).min() {
                self.now = self.now.max(next);
            }
            return false;
        }
        let i = due[self.rng.below(due.len() as u64) as usize];
        let p = self.net.swap_remove(i);
        match p.item {
            Item::Deliver {
                to,
                reply_epoch,
                id,
                case_id,
                msg,
            } => self.on_deliver(to, reply_epoch, id, case_id, msg),
            Item::Answer {
                to,
                epoch,
                id,
                case_id,
                kind,
                status,
            } => self.on_answer(to, epoch, id, case_id, kind, status),
            Item::Effect {
                side,
                epoch,
                case_id,
                op,
            } => self.on_effect(side, epoch, case_id, op),
            Item::Result {
                side,
                epoch,
                case_id,
                event,
                via_peer,
            } => self.on_result(side, epoch, case_id, event, via_peer),
        }
        true
    }

    fn fault_step(&mut self) {
        self.now += self.rng.range(0, 3);
        match self.rng.below(100) {
            0..=44 => {
                self.deliver_one();
            }
            45..=64 => {
                let side = if self.rng.chance(500) {
                    Side::D
                } else {
                    Side::O
                };
                self.tick(side);
            }
            65..=69 => {
                let k = self.rng.below(self.plans.len() as u64) as usize;
                self.start_case(k);
            }
            70..=71 => self.clerk_cancel(),
            72..=74 => self.clerk_accept(),
            75 => {
                let side = if self.rng.chance(500) {
                    Side::D
                } else {
                    Side::O
                };
                if self.node_ref(side).up {
                    self.crash(side);
                }
            }
            76..=79 => {
                for side in [Side::D, Side::O] {
                    if !self.node_ref(side).up {
                        self.log(|| format!("{side:?} RESTART"));
                        self.node(side).up = true;
                    }
                }
            }
            80 => {
                self.partitioned = !self.partitioned;
                let p = self.partitioned;
                self.log(|| format!("PARTITION {p}"));
            }
            81 => {
                let n = self.o_core.len() as u64;
                let k = self.rng.below(n) as usize;
                if let Some(a) = self.o_core.values_mut().nth(k) {
                    a.frozen = !a.frozen;
                }
            }
            _ => self.now += self.rng.range(0, 20),
        }
    }

    fn quiescent(&self) -> bool {
        self.net.is_empty()
            && self.plans.iter().all(|p| p.started)
            && [&self.d, &self.o].iter().all(|n| {
                n.durable.outbox.is_empty()
                    && n.durable
                        .cases
                        .values()
                        .all(|c| c.next_action(self.now).is_none())
            })
            && self
                .d
                .durable
                .cases
                .values()
                .all(|c| c.status != Status::Negotiating)
    }

    /// Both sides ended, and ended the same way.
    fn check_end(&mut self) {
        for p in &self.plans {
            let id = &p.case_id;
            let Some(d) = self.d.durable.cases.get(id) else {
                self.bug = Some(format!("{id} missing at the destination"));
                return;
            };
            if !d.is_final() {
                self.bug = Some(format!("D {id} not final: {}", d.status));
                return;
            }
            let o = self.o.durable.cases.get(id);
            match o {
                None if d.status == Status::Expired => {}
                None => {
                    self.bug = Some(format!("D {id} {} but the origin has no case", d.status));
                    return;
                }
                Some(o) => {
                    if !o.is_final() {
                        self.bug = Some(format!("O {id} not final: {}", o.status));
                        return;
                    }
                    if o.status != d.status {
                        self.bug = Some(format!(
                            "{id} ended {} at the destination, {} at the origin",
                            d.status, o.status
                        ));
                        return;
                    }
                }
            }
            let paid = self.bank.paid.get(id).copied();
            let credited = self.d_credited.get(id).map(|(_, a)| *a);
            let delivered = self.bank.delivered.contains(id);
            let closed = self
                .o_core
                .values()
                .any(|a| a.closed_by.as_deref() == Some(id.as_str()));
            let held = self
                .o_core
                .iter()
                .find(|(_, a)| a.hold.as_deref() == Some(id.as_str()))
                .map(|(no, _)| no.clone());
            let ok = match d.status {
                Status::Done | Status::NegotiatedDone => {
                    paid.is_some() && credited == paid && delivered && closed && held.is_none()
                }
                _ => paid.is_none() && credited.is_none() && !closed && held.is_none(),
            };
            if !ok {
                self.bug = Some(format!(
                    "{id} ended {}: paid {paid:?}, credited {credited:?}, delivered {delivered}, \
                     origin account closed {closed}, still held on {held:?}",
                    d.status
                ));
                return;
            }
        }
    }

    fn run(&mut self) -> Result<(), String> {
        let fault_steps = self.rng.range(100, 700);
        for _ in 0..fault_steps {
            self.fault_step();
            self.check();
            if let Some(b) = &self.bug {
                return Err(b.clone());
            }
        }
        // Heal: no more faults, both nodes up, every case started.
        self.faults = false;
        self.partitioned = false;
        self.log(|| "HEAL".into());
        for side in [Side::D, Side::O] {
            self.node(side).up = true;
        }
        for k in 0..self.plans.len() {
            self.start_case(k);
        }
        let mut steps = 0;
        while !self.quiescent() {
            steps += 1;
            if steps > QUIESCE_STEPS {
                return Err(format!(
                    "no quiescence after {QUIESCE_STEPS} steps: {}",
                    self.summary()
                ));
            }
            self.now += self.rng.range(0, 3);
            match self.rng.below(10) {
                0..=5 => {
                    self.deliver_one();
                }
                6 => self.tick(Side::D),
                7 => self.tick(Side::O),
                8 => self.clerk_accept(),
                _ => self.now += 5,
            }
            self.check();
            if let Some(b) = &self.bug {
                return Err(b.clone());
            }
        }
        self.check_end();
        match &self.bug {
            Some(b) => Err(format!("{b}\n{}", self.summary())),
            None => Ok(()),
        }
    }

    fn summary(&self) -> String {
        let mut s = String::new();
        for p in &self.plans {
            let st = |n: &Node| {
                n.durable
                    .cases
                    .get(&p.case_id)
                    .map(|c| format!("{}{}", c.status, if c.is_final() { "" } else { "*" }))
                    .unwrap_or_else(|| "-".into())
            };
            s.push_str(&format!(
                "  {}: D {} / O {}\n",
                p.case_id,
                st(&self.d),
                st(&self.o)
            ));
        }
        s.push_str(&format!("  origin accounts: {:?}\n", self.o_core));
        s
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// How the cases of a run ended (D's final status → count), to see the run reaches them all.
type Outcomes = BTreeMap<&'static str, u64>;

fn run_seed(seed: u64, verbose: bool, outcomes: &mut Outcomes) -> Result<(), String> {
    let mut sim = Sim::new(seed, verbose);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sim.run()))
        .unwrap_or_else(|_| Err("the simulation panicked".into()));
    for c in sim.d.durable.cases.values() {
        *outcomes.entry(c.status.as_str()).or_insert(0) += 1;
    }
    if r.is_err() && verbose {
        let from = sim.trace.len().saturating_sub(400);
        for line in &sim.trace[from..] {
            eprintln!("{line}");
        }
    }
    r
}

#[test]
fn vopr() {
    let started = std::time::Instant::now();
    let (first, count, verbose) = match env_u64("HFX_SIM_SEED") {
        Some(seed) => (seed, 1, true),
        None => (
            env_u64("HFX_SIM_FIRST").unwrap_or(1),
            env_u64("HFX_SIM_SEEDS").unwrap_or(3000),
            false,
        ),
    };
    let mut outcomes = Outcomes::new();
    for seed in first..first + count {
        if let Err(e) = run_seed(seed, verbose, &mut outcomes) {
            panic!(
                "seed {seed} failed: {e}\nreplay: HFX_SIM_SEED={seed} cargo nextest run -p hfx-case --test sim"
            );
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "hfx-case sim: {count} seeds from {first} in {secs:.2} s: {:.0} seeds/s",
        count as f64 / secs.max(1e-9)
    );
    eprintln!("hfx-case sim: cases ended {outcomes:?}");
    if count >= 1000 {
        // A run that never reaches an outcome is not testing it.
        for s in Status::ALL.iter().filter(|s| s.is_final()) {
            assert!(
                outcomes.get(s.as_str()).is_some_and(|n| *n > 0),
                "no case ended {s} in {count} seeds: {outcomes:?}"
            );
        }
    }
}
