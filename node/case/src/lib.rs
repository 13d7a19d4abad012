//! The transfer case of hfx (DOMAIN §4.1, DESIGN §4) as a pure state machine.
//!
//! A case is kept by both sides: the destination, whose clerk starts it with a contact
//! letter, and the origin, which checks the letter, holds the balance, pays it out through
//! the settlement bank and closes the account. [`Case::apply`] takes one [`Event`] (a peer's
//! message, a peer's answer, the result of an outside call, a clerk's move) and returns the
//! next case with the messages to send; the node commits both in one transaction (its
//! outbox), so a state and what it must tell the other side are never apart.
//! [`Case::next_action`] names the outside call a case waits for; outside calls are
//! idempotent by case id, so after a crash the driver simply makes the call again.
//!
//! Nothing here reads a clock or does I/O: the node, and the deterministic simulation in
//! `tests/`, drive it. The rules this enforces:
//! - a final status (done, negotiated, refused, cancelled, failed, expired) is never left;
//! - the origin holds before it pays, and closes only after the bank paid; a declined
//!   payout releases the hold, and so does a refused hold before the case is refused (a
//!   reserve still on its way may yet take it);
//! - the destination credits only after the payment notice, once;
//! - a cancel takes effect only if it reaches the origin before acceptance;
//! - an answer that arrives after a later one changes nothing.

mod case;
mod msg;
mod status;

pub use case::{Action, Case, CaseError, Step, Transition};
pub use msg::{
    AccountFound, BankAnswer, Event, Letter, Msg, MsgKind, Payment, Person, Posting, Refusal,
    TransferRecord, refusal,
};
pub use status::{Role, Status};

/// The letter number: the destination's 6-digit prefix, YYMMDD, a 4-digit daily sequence.
/// `None` past 9,999 letters a day.
pub fn letter_no(centre: &str, yymmdd: u32, seq: u32) -> Option<String> {
    let prefix = centre.get(..6)?;
    ((1..=9999).contains(&seq) && yymmdd <= 991231).then(|| format!("{prefix}{yymmdd:06}{seq:04}"))
}

#[cfg(test)]
mod tests;
