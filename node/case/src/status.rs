//! Where a case stands, and the national platform's code for it (DOMAIN §4.1).

use serde::{Deserialize, Serialize};

/// Which side of the transfer a node keeps the case for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 转入地: the new city; its clerk starts the case.
    Destination,
    /// 转出地: the old city; it holds the money and pays it out.
    Origin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Destination => "destination",
            Role::Origin => "origin",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Role::Destination, Role::Origin]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// A case's state. Both sides use one vocabulary; some states belong to one side only.
///
/// ```text
/// destination: letter_sent ─► letter_received ─► accepted ─► out_received ─► crediting ─► done
///                  │  (cancel before acceptance) ─► cancelled      │              ▲
///                  │  (never seen by its deadline) ─► expired      └► negotiating ┘ (clerk accepts) ─► negotiated_done
///                  └► refused (origin's refusal)                  └► failed (payout failed)
/// origin:      letter_received ─► accepted ─► held ─► paid ─► closed ─► done | negotiating ─► negotiated_done
///                  │ └► refused        │             └► releasing ─► failed
///                  └► cancelled         │               (bank declined)
///                                       └► releasing ─► refused (hold refused: any late hold released first)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// D: the letter is in the outbox; the origin has not confirmed it.
    LetterSent,
    /// 02: the origin has the letter.
    LetterReceived,
    /// 01: the origin checked the letter and accepted it.
    Accepted,
    /// 08 (O): the balance is held, the transfer-out record sent, the payout under way.
    Held,
    /// 08 (O): the bank confirmed the payout; the account is being closed.
    Paid,
    /// 08 (O): account closed (04, balance 0, reason 07); the payment notice is sent.
    Closed,
    /// 40 pending (O): the bank declined, or the core system refused the hold (then the case
    /// ends refused, 13); any hold of the case is being released.
    Releasing,
    /// 08 (D): the transfer-out record arrived.
    OutReceived,
    /// 08 (D): the payment arrived; the member's account is being credited.
    Crediting,
    /// 06: the destination found something a clerk must settle.
    Negotiating,
    /// 00: credited and closed.
    Done,
    /// 20: settled by negotiation, credited and closed.
    NegotiatedDone,
    /// 13: the origin refused the letter.
    Refused,
    /// 05: cancelled before the origin accepted.
    Cancelled,
    /// 40: the payout failed; the hold was released and the origin account reopened.
    Failed,
    /// 40: the letter never reached the origin by its deadline; the origin wrote a signed
    /// tombstone, so it can never be accepted later.
    Expired,
}

impl Status {
    pub const ALL: [Status; 16] = [
        Status::LetterSent,
        Status::LetterReceived,
        Status::Accepted,
        Status::Held,
        Status::Paid,
        Status::Closed,
        Status::Releasing,
        Status::OutReceived,
        Status::Crediting,
        Status::Negotiating,
        Status::Done,
        Status::NegotiatedDone,
        Status::Refused,
        Status::Cancelled,
        Status::Failed,
        Status::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::LetterSent => "letter_sent",
            Status::LetterReceived => "letter_received",
            Status::Accepted => "accepted",
            Status::Held => "held",
            Status::Paid => "paid",
            Status::Closed => "closed",
            Status::Releasing => "releasing",
            Status::OutReceived => "out_received",
            Status::Crediting => "crediting",
            Status::Negotiating => "negotiating",
            Status::Done => "done",
            Status::NegotiatedDone => "negotiated_done",
            Status::Refused => "refused",
            Status::Cancelled => "cancelled",
            Status::Failed => "failed",
            Status::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The national platform's status code (DOMAIN §4.1); `None` before the origin has the
    /// letter (the national platform has no code for a letter still on its way).
    pub fn national_code(self) -> Option<&'static str> {
        Some(match self {
            Status::LetterSent => return None,
            Status::LetterReceived => "02",
            Status::Accepted => "01",
            Status::Held
            | Status::Paid
            | Status::Closed
            | Status::Releasing
            | Status::OutReceived
            | Status::Crediting => "08",
            Status::Negotiating => "06",
            Status::Done => "00",
            Status::NegotiatedDone => "20",
            Status::Refused => "13",
            Status::Cancelled => "05",
            Status::Failed | Status::Expired => "40",
        })
    }

    /// A final status is never left (DESIGN §4 rule 5: a correction is a new case).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Status::Done
                | Status::NegotiatedDone
                | Status::Refused
                | Status::Cancelled
                | Status::Failed
                | Status::Expired
        )
    }

    /// Progress order, for ignoring an answer that arrives after a later one.
    pub(crate) fn rank(self) -> u8 {
        match self {
            Status::LetterSent => 0,
            Status::LetterReceived => 1,
            Status::Accepted => 2,
            Status::Held | Status::OutReceived => 3,
            Status::Paid | Status::Releasing => 4,
            Status::Closed | Status::Crediting => 5,
            Status::Negotiating => 6,
            _ => 9,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
