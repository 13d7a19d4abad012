//! The case and its transitions: [`Case::apply`] takes an event and gives the next case and
//! the messages to send with it (the node commits both in one transaction: the outbox);
//! [`Case::next_action`] names the outside call the case waits for (core system, bank, peer).

use crate::msg::{AccountFound, BankAnswer, Event, Letter, Msg, MsgKind, Payment, TransferRecord};
use crate::status::{Role, Status};
use serde::{Deserialize, Serialize};

/// One line of a case's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub at_ms: i64,
    pub status: Status,
    /// The centre that recorded the step (this node's).
    pub centre: String,
    pub note: String,
    /// The person who made the step happen, when one did (a clerk's start, cancel or
    /// settlement: `centre/clerk/person`, [`Case::mark_acting`]); empty for the node's own
    /// steps and for what the other side or the bank did. Cases stored before it: empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub acting: String,
}

/// A transfer case as one side keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub case_id: String,
    pub role: Role,
    /// This node's centre.
    pub centre: String,
    /// The other side's centre.
    pub peer: String,
    /// None only for an origin's expiry tombstone of a letter it never saw.
    pub letter: Option<Letter>,
    pub status: Status,
    /// O: the account the check found.
    pub origin_account_no: Option<String>,
    /// The transfer-out record (O: as sent; D: as received).
    pub record: Option<TransferRecord>,
    /// The payment as the bank answered it (O) or as notified (D).
    pub payment: Option<Payment>,
    pub refusal: Option<crate::msg::Refusal>,
    /// Why the destination opened a negotiation.
    pub negotiation: Option<String>,
    /// D: a clerk asked to cancel; waiting for the origin's answer.
    pub cancel_requested: bool,
    /// D: the bank's transit for the case has been delivered here.
    pub delivered: bool,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// Bumped by every change; the store's compare-and-swap key.
    pub version: u64,
    pub steps: Vec<Step>,
}

/// What an action the case waits for is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// O: check the letter against the core system (live account, id + name, not frozen,
    /// no other case in flight) → [`Event::Checked`].
    Check,
    /// O: hold the balance (idempotent by case id) and build the record → [`Event::Reserved`]
    /// or [`Event::HoldRefused`].
    Reserve,
    /// O: pay out through the bank (idempotent by case id) → [`Event::Bank`].
    Payout,
    /// O: close the account (04, balance 0, reason 07) → [`Event::ClosedOut`].
    CloseOut,
    /// O: release the hold → [`Event::Released`].
    Release,
    /// D: credit the member (business type 08, with the history) → [`Event::Credited`].
    Credit,
    /// D: tell the bank the transit is delivered → [`Event::Delivered`].
    Deliver,
    /// D: the letter's deadline passed unconfirmed: ask the origin → [`Event::PeerState`].
    QueryPeer,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Check => "check",
            Action::Reserve => "reserve",
            Action::Payout => "payout",
            Action::CloseOut => "close_out",
            Action::Release => "release",
            Action::Credit => "credit",
            Action::Deliver => "deliver",
            Action::QueryPeer => "query_peer",
        }
    }
}

/// The result of applying an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub case: Case,
    /// Messages to the other side, to commit with the case (outbox), in order.
    pub send: Vec<Msg>,
    /// Whether anything changed (an event that changes nothing is answered with the status).
    pub changed: bool,
}

/// An event the case cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseError {
    /// A clerk's move the rules do not allow in this status.
    #[error("{what} is not allowed while the case is {status}: {why}")]
    NotAllowed {
        what: &'static str,
        status: Status,
        why: &'static str,
    },
    /// A message that depends on one not yet received (delivery reordered): ask again later.
    #[error("{what} arrived before {needs}; send it again later")]
    NotYet {
        what: &'static str,
        needs: &'static str,
    },
    /// An event this side never receives (an origin's message sent to an origin, ...).
    #[error("a {role:?} case does not take {what}")]
    WrongSide { role: Role, what: &'static str },
}

impl Case {
    fn new(case_id: &str, role: Role, centre: &str, peer: &str, now_ms: i64) -> Case {
        Case {
            case_id: case_id.to_string(),
            role,
            centre: centre.to_string(),
            peer: peer.to_string(),
            letter: None,
            status: Status::LetterSent,
            origin_account_no: None,
            record: None,
            payment: None,
            refusal: None,
            negotiation: None,
            cancel_requested: false,
            delivered: false,
            created_ms: now_ms,
            updated_ms: now_ms,
            version: 1,
            steps: Vec::new(),
        }
    }

    /// D: a clerk starts a case: the letter goes out with the first state (DESIGN §4 rule 1).
    pub fn start(case_id: &str, letter: Letter, now_ms: i64) -> Transition {
        let mut c = Case::new(
            case_id,
            Role::Destination,
            &letter.destination_centre,
            &letter.origin_centre,
            now_ms,
        );
        let msg = Msg::Letter(letter.clone());
        c.letter = Some(letter);
        c.step(now_ms, "contact letter issued");
        Transition {
            case: c,
            send: vec![msg],
            changed: true,
        }
    }

    /// O: a letter for a case this node has never seen.
    pub fn from_letter(case_id: &str, letter: Letter, now_ms: i64) -> Case {
        let mut c = Case::new(
            case_id,
            Role::Origin,
            &letter.origin_centre,
            &letter.destination_centre,
            now_ms,
        );
        c.status = Status::LetterReceived;
        c.letter = Some(letter);
        c.step(now_ms, "contact letter received");
        c
    }

    /// O: asked about a case it never saw, past the deadline the asker states: the tombstone
    /// that forbids ever accepting it.
    pub fn tombstone(case_id: &str, centre: &str, peer: &str, now_ms: i64) -> Case {
        let mut c = Case::new(case_id, Role::Origin, centre, peer, now_ms);
        c.status = Status::Expired;
        c.step(
            now_ms,
            "never received before its deadline: expiry tombstone written",
        );
        c
    }

    pub fn is_final(&self) -> bool {
        self.status.is_final() && self.next_action(i64::MIN).is_none()
    }

    /// The person the case is about, if known.
    pub fn person(&self) -> Option<&crate::msg::Person> {
        self.letter.as_ref().map(|l| &l.person)
    }

    fn step(&mut self, now_ms: i64, note: impl Into<String>) {
        self.steps.push(Step {
            at_ms: now_ms,
            status: self.status,
            centre: self.centre.clone(),
            note: note.into(),
            acting: String::new(),
        });
    }

    /// Name `person` as the one who acted in the steps from `from` on (the steps a clerk's
    /// move just added).
    pub fn mark_acting(&mut self, from: usize, person: &str) {
        for s in self.steps.iter_mut().skip(from) {
            s.acting = person.to_string();
        }
    }

    fn to(&mut self, status: Status, now_ms: i64, note: impl Into<String>) {
        self.status = status;
        self.updated_ms = now_ms;
        self.step(now_ms, note);
    }

    /// The outside call this case waits for, if any. `now_ms` decides only whether a
    /// destination asks an unconfirmed letter's origin (never a case's outcome).
    pub fn next_action(&self, now_ms: i64) -> Option<Action> {
        match (self.role, self.status) {
            (Role::Origin, Status::LetterReceived) => Some(Action::Check),
            (Role::Origin, Status::Accepted) => Some(Action::Reserve),
            (Role::Origin, Status::Held) => Some(Action::Payout),
            (Role::Origin, Status::Paid) => Some(Action::CloseOut),
            (Role::Origin, Status::Releasing) => Some(Action::Release),
            (Role::Destination, Status::Crediting) => Some(Action::Credit),
            (Role::Destination, Status::Done | Status::NegotiatedDone)
                if !self.delivered && self.payment.as_ref().is_some_and(|p| p.paid) =>
            {
                Some(Action::Deliver)
            }
            (Role::Destination, Status::LetterSent)
                if self
                    .letter
                    .as_ref()
                    .is_some_and(|l| now_ms != i64::MIN && now_ms >= l.deadline_ms) =>
            {
                Some(Action::QueryPeer)
            }
            _ => None,
        }
    }

    /// Apply an event. The case itself is not changed: the caller commits the returned case
    /// (with its messages) or drops it.
    pub fn apply(&self, ev: Event, now_ms: i64) -> Result<Transition, CaseError> {
        let mut c = self.clone();
        let mut send = Vec::new();
        match self.role {
            Role::Origin => c.origin(ev, now_ms, &mut send)?,
            Role::Destination => c.destination(ev, now_ms, &mut send)?,
        }
        let changed = c != *self;
        if changed {
            c.version = self.version + 1;
            c.updated_ms = now_ms;
        }
        Ok(Transition {
            case: c,
            send,
            changed,
        })
    }

    fn origin(&mut self, ev: Event, now: i64, send: &mut Vec<Msg>) -> Result<(), CaseError> {
        use Status as S;
        let wrong = |what| CaseError::WrongSide {
            role: Role::Origin,
            what,
        };
        match ev {
            Event::Received(Msg::Letter(_)) => {} // the case exists: its status answers
            Event::Received(Msg::Cancel { reason }) => {
                if self.status == S::LetterReceived {
                    self.to(
                        S::Cancelled,
                        now,
                        format!("cancelled by the destination: {reason}"),
                    );
                }
            }
            Event::Received(Msg::Completion {
                credited,
                negotiated,
                negotiation_reason,
                credited_fen,
            }) => match (self.status, credited) {
                (S::Closed, true) if !negotiated => self.to(
                    S::Done,
                    now,
                    format!("destination credited {credited_fen} fen"),
                ),
                (S::Closed | S::Negotiating, true) => self.to(
                    S::NegotiatedDone,
                    now,
                    format!("negotiation settled; destination credited {credited_fen} fen"),
                ),
                (S::Closed, false) => {
                    self.negotiation = Some(negotiation_reason.clone());
                    self.to(
                        S::Negotiating,
                        now,
                        format!("destination negotiates: {negotiation_reason}"),
                    );
                }
                (S::Held | S::Paid, _) => {
                    return Err(CaseError::NotYet {
                        what: "completion",
                        needs: "the payment notice",
                    });
                }
                _ => {}
            },
            Event::Received(Msg::TransferOut(_)) => return Err(wrong("a transfer-out record")),
            Event::Received(Msg::Refusal(_)) => return Err(wrong("a refusal")),
            Event::Received(Msg::Payment(_)) => return Err(wrong("a payment notice")),
            Event::Acked { .. } => {} // the destination's status arrives in its own messages
            Event::Checked(Ok(AccountFound { account_no })) => {
                if self.status == S::LetterReceived {
                    self.origin_account_no = Some(account_no);
                    self.to(S::Accepted, now, "letter checked and accepted");
                }
            }
            // A check's refusal counts only before acceptance: a late one (a retried check's,
            // another replica's) after acceptance would refuse a case whose hold may already
            // be taken, and leave the account sealed for ever.
            Event::Checked(Err(r)) => {
                if self.status == S::LetterReceived {
                    self.refusal = Some(r.clone());
                    self.to(
                        S::Refused,
                        now,
                        format!("refused: {} ({})", r.reason, r.code),
                    );
                    send.push(Msg::Refusal(r));
                }
            }
            // A refused hold is not the last word: an earlier reserve of the case, still on
            // its way to the core system (a timed-out call, a call before a crash), may yet
            // take the hold. So the case releases (idempotent by case id; a release fences
            // off a later reserve of the case) before it is refused.
            Event::HoldRefused(r) => {
                if matches!(self.status, S::LetterReceived | S::Accepted) {
                    self.refusal = Some(r.clone());
                    self.to(
                        S::Releasing,
                        now,
                        format!(
                            "hold refused: {} ({}); releasing any hold of the case",
                            r.reason, r.code
                        ),
                    );
                }
            }
            Event::Reserved(record) => {
                if self.status == S::Accepted {
                    self.record = Some(record.clone());
                    self.to(
                        S::Held,
                        now,
                        format!(
                            "account sealed, {} fen held; transfer-out record sent",
                            record.amount_fen
                        ),
                    );
                    send.push(Msg::TransferOut(record));
                }
            }
            Event::Bank(answer) => {
                if self.status == S::Held {
                    match answer {
                        BankAnswer::Paid {
                            bank_ref,
                            amount_fen,
                        } => {
                            self.payment = Some(Payment {
                                paid: true,
                                bank_ref: bank_ref.clone(),
                                amount_fen,
                                reason: String::new(),
                            });
                            self.to(
                                S::Paid,
                                now,
                                format!("bank paid {amount_fen} fen (ref {bank_ref})"),
                            );
                        }
                        BankAnswer::Declined { code, reason } => {
                            self.payment = Some(Payment {
                                paid: false,
                                bank_ref: String::new(),
                                amount_fen: 0,
                                reason: format!("{code}: {reason}"),
                            });
                            self.to(
                                S::Releasing,
                                now,
                                format!("bank declined the payout: {code}: {reason}"),
                            );
                        }
                    }
                }
            }
            Event::ClosedOut => {
                if self.status == S::Paid {
                    self.to(
                        S::Closed,
                        now,
                        "account closed (04, balance 0, reason 07); payment notice sent",
                    );
                    if let Some(p) = &self.payment {
                        send.push(Msg::Payment(p.clone()));
                    }
                }
            }
            Event::Released => {
                if self.status == S::Releasing {
                    match (&self.payment, &self.refusal) {
                        (None, Some(r)) => {
                            let r = r.clone();
                            self.to(
                                S::Refused,
                                now,
                                format!("refused: {} ({}); no hold left", r.reason, r.code),
                            );
                            send.push(Msg::Refusal(r));
                        }
                        _ => {
                            self.to(S::Failed, now, "hold released, account reopened");
                            if let Some(p) = &self.payment {
                                send.push(Msg::Payment(p.clone()));
                            }
                        }
                    }
                }
            }
            Event::Credited => return Err(wrong("a credit")),
            Event::Delivered => return Err(wrong("a delivery")),
            Event::PeerState { .. } => return Err(wrong("a peer's case state")),
            Event::ClerkCancel { .. } => {
                return Err(CaseError::NotAllowed {
                    what: "cancel",
                    status: self.status,
                    why: "only the destination, which issued the letter, cancels it",
                });
            }
            Event::ClerkAccept => {
                return Err(CaseError::NotAllowed {
                    what: "accept",
                    status: self.status,
                    why: "the destination settles a negotiation",
                });
            }
        }
        Ok(())
    }

    fn destination(&mut self, ev: Event, now: i64, send: &mut Vec<Msg>) -> Result<(), CaseError> {
        use Status as S;
        let wrong = |what| CaseError::WrongSide {
            role: Role::Destination,
            what,
        };
        let early = self.status.rank() < S::OutReceived.rank() && !self.status.is_final();
        match ev {
            Event::Received(Msg::TransferOut(record)) => {
                if early {
                    let note = if self.cancel_requested {
                        "transfer-out record received (the origin had accepted before the cancel)"
                    } else {
                        "transfer-out record received"
                    };
                    self.cancel_requested = false;
                    self.record = Some(record);
                    self.to(S::OutReceived, now, note);
                }
            }
            Event::Received(Msg::Refusal(r)) => {
                if early {
                    self.cancel_requested = false;
                    self.refusal = Some(r.clone());
                    self.to(
                        S::Refused,
                        now,
                        format!("origin refused: {} ({})", r.reason, r.code),
                    );
                }
            }
            Event::Received(Msg::Payment(p)) if p.paid => {
                if early {
                    return Err(CaseError::NotYet {
                        what: "payment notice",
                        needs: "the transfer-out record",
                    });
                }
                if self.status == S::OutReceived {
                    let why = self.negotiation_needed(&p);
                    self.payment = Some(p.clone());
                    match why {
                        Some(why) => {
                            self.negotiation = Some(why.clone());
                            self.to(
                                S::Negotiating,
                                now,
                                format!("payment received; negotiation opened: {why}"),
                            );
                            send.push(Msg::Completion {
                                credited: false,
                                negotiated: false,
                                negotiation_reason: why,
                                credited_fen: 0,
                            });
                        }
                        None => self.to(
                            S::Crediting,
                            now,
                            format!(
                                "payment of {} fen received (ref {})",
                                p.amount_fen, p.bank_ref
                            ),
                        ),
                    }
                }
            }
            Event::Received(Msg::Payment(p)) => {
                if early || self.status == S::OutReceived {
                    self.cancel_requested = false;
                    self.to(
                        S::Failed,
                        now,
                        format!("payout failed at the origin: {}", p.reason),
                    );
                    self.payment = Some(p);
                }
            }
            Event::Received(Msg::Letter(_)) => return Err(wrong("a contact letter")),
            Event::Received(Msg::Cancel { .. }) => return Err(wrong("a cancel")),
            Event::Received(Msg::Completion { .. }) => return Err(wrong("a completion")),
            Event::Acked { kind, status } => self.adopt(kind, status, now),
            Event::PeerState { status } => {
                if status == S::Expired && self.status == S::LetterSent {
                    self.cancel_requested = false;
                    self.to(
                        S::Expired,
                        now,
                        "the origin never received the letter by its deadline (tombstone)",
                    );
                } else {
                    self.adopt(MsgKind::Letter, status, now);
                }
            }
            Event::Credited => {
                if self.status == S::Crediting {
                    let amount = self.payment.as_ref().map(|p| p.amount_fen).unwrap_or(0);
                    let done = if self.negotiation.is_some() {
                        S::NegotiatedDone
                    } else {
                        S::Done
                    };
                    self.to(
                        done,
                        now,
                        format!("member credited {amount} fen (business type 08, with history)"),
                    );
                    send.push(Msg::Completion {
                        credited: true,
                        negotiated: self.negotiation.is_some(),
                        negotiation_reason: String::new(),
                        credited_fen: amount,
                    });
                }
            }
            Event::Delivered => {
                if matches!(self.status, S::Done | S::NegotiatedDone) && !self.delivered {
                    self.delivered = true;
                }
            }
            Event::ClerkCancel { reason } => {
                if !matches!(self.status, S::LetterSent | S::LetterReceived) {
                    return Err(CaseError::NotAllowed {
                        what: "cancel",
                        status: self.status,
                        why: "a letter can be cancelled only before the origin accepts it",
                    });
                }
                if !self.cancel_requested {
                    self.cancel_requested = true;
                    self.step(now, format!("cancel requested: {reason}"));
                    send.push(Msg::Cancel { reason });
                }
            }
            Event::ClerkAccept => {
                if self.status != S::Negotiating {
                    return Err(CaseError::NotAllowed {
                        what: "accept",
                        status: self.status,
                        why: "only a case in negotiation is settled by accepting it",
                    });
                }
                self.to(
                    S::Crediting,
                    now,
                    "negotiation settled by the destination's clerk: crediting the amount paid",
                );
            }
            Event::Checked(_) | Event::Reserved(_) | Event::HoldRefused(_) => {
                return Err(wrong("an origin's check or hold"));
            }
            Event::Bank(_) => return Err(wrong("a payout answer")),
            Event::ClosedOut | Event::Released => return Err(wrong("an origin's account write")),
        }
        Ok(())
    }

    /// D: take the origin's status from its answer, if it is news.
    fn adopt(&mut self, kind: MsgKind, status: Status, now: i64) {
        use Status as S;
        match (kind, status) {
            (MsgKind::Letter | MsgKind::Cancel, S::LetterReceived | S::Accepted)
                if status.rank() > self.status.rank() && !self.status.is_final() =>
            {
                let note = if status == S::LetterReceived {
                    "the origin has the letter"
                } else {
                    "the origin accepted the letter"
                };
                self.to(status, now, note);
                if kind == MsgKind::Cancel {
                    self.cancel_requested = false;
                    self.step(now, "cancel refused: the origin had already accepted");
                }
            }
            (MsgKind::Cancel, S::Cancelled) | (MsgKind::Letter, S::Cancelled)
                if !self.status.is_final() && self.status.rank() < S::Accepted.rank() =>
            {
                self.cancel_requested = false;
                self.to(S::Cancelled, now, "the origin confirmed the cancel");
            }
            (MsgKind::Letter | MsgKind::Cancel, S::Expired) if self.status == S::LetterSent => {
                self.cancel_requested = false;
                self.to(
                    S::Expired,
                    now,
                    "the origin holds an expiry tombstone for the case",
                );
            }
            (MsgKind::Cancel, other)
                if self.cancel_requested && other.rank() >= S::Accepted.rank() =>
            {
                self.cancel_requested = false;
                self.step(
                    now,
                    format!("cancel refused: the origin had already accepted ({other})"),
                );
            }
            _ => {}
        }
    }

    /// D: what in the payment or the record a clerk must look at before the money is credited.
    fn negotiation_needed(&self, p: &Payment) -> Option<String> {
        let r = self.record.as_ref()?;
        if p.amount_fen != r.amount_fen {
            return Some(format!(
                "amount mismatch: the record says {} fen, the bank paid {} fen",
                r.amount_fen, p.amount_fen
            ));
        }
        if r.principal_fen + r.interest_fen != r.amount_fen {
            return Some(format!(
                "the record's principal {} + interest {} fen is not its amount {} fen",
                r.principal_fen, r.interest_fen, r.amount_fen
            ));
        }
        if r.fraud_flag {
            return Some("the origin flags the account for fraud".into());
        }
        if r.unsettled_loan {
            return Some("the origin reports an unsettled fund loan".into());
        }
        None
    }
}
