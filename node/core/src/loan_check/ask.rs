//! A clerk of ours asks for a person's loans across the zone (`Clerk/LoanCheck`).
//!
//! One deadline for the whole check, fixed when the clerk's request arrives. Every centre
//! asked is asked at once; each call carries what is left of the deadline (`grpc-timeout`
//! and `remaining_ms`) and is abandoned when it passes. The answer lists every centre asked
//! with its outcome ([`pb::LoanCheckOutcome`]): a centre that did not answer in time, was
//! down or refused us is named as such, never counted as "no loans". Each exchange with a
//! peer is logged and recorded `received` as a member query's is ([`crate::member::asked_ops`]),
//! all in one commit when the check ends.

use super::{DEFAULT_DEADLINE_MS, METHOD_LOAN_CHECK, MIN_DEADLINE_MS, loan_to_pb, outcome_name};
use crate::auth::Caller;
use crate::error::{HfxError, HfxResult, REASON_DEADLINE_PASSED, reason_of};
use crate::member::{
    Person, asked_ops, check_message_id, id_type_to_pb, is_transport_failure, validate_person,
};
use crate::node::Node;
use hfx_proto::v1 as pb;
use pb::LoanCheckOutcome as Outcome;
use prost::Message;
use std::time::Duration;
use tokio::time::Instant;

/// Run a loan check for a clerk.
pub async fn check(
    node: &Node,
    caller: &Caller,
    req: pb::LocalLoanCheck,
) -> HfxResult<pb::LocalLoanCheckReply> {
    let started = Instant::now();
    let person = validate_person(req.person.as_ref())?;
    let deadline = deadline_of(node, req.deadline_ms)?;
    let deadline_at = started + deadline;
    let message_id = if req.message_id.is_empty() {
        uuid::Uuid::now_v7().hyphenated().to_string()
    } else {
        check_message_id("message_id", &req.message_id)?
    };
    let dir = node.trust.directory();
    let targets = targets(&dir, &req.centres)?;
    let acting = caller.label();
    let peer_req = pb::PeerLoanCheck {
        header: Some(pb::RequestHeader {
            message_id: message_id.clone(),
            case_id: String::new(),
            purpose: pb::Purpose::LoanCheck as i32,
            acting_person: acting.clone(),
            sender_checkpoint_size: node.store.log().lock().await.size(),
            sent_at_unix_ms: crate::now_ms(),
        }),
        person: Some(pb::PersonKey {
            id_type: id_type_to_pb(person.id_type) as i32,
            id_number: person.id_number.clone(),
            name: person.name.clone(),
        }),
        remaining_ms: 0,
        deadline_unix_ms: crate::now_ms() + deadline.as_millis() as i64,
    };
    let person = &person;
    let asks = targets.iter().map(|(code, _)| {
        let call = Call {
            node,
            centre: code,
            request: &peer_req,
            started,
            deadline_at,
            hedge: req.hedge,
        };
        async move {
            if *code == node.centre {
                call.own(person).await
            } else {
                call.peer().await
            }
        }
    });
    let parts = futures::future::join_all(asks).await;

    // What crossed to each peer is logged and recorded, in one commit, before anything is
    // shown to the clerk.
    let subject = person.subject(node);
    let ops: Vec<_> = parts
        .iter()
        .filter(|p| !p.view.own)
        .flat_map(|p| {
            let outcome = match p.view.outcome() {
                Outcome::Answered => "received".to_string(),
                _ => format!("failed: {}", p.view.reason),
            };
            asked_ops(
                &p.view.centre,
                METHOD_LOAN_CHECK,
                &message_id,
                &p.request_bytes,
                p.reply_bytes.clone(),
                &acting,
                pb::Purpose::LoanCheck,
                &outcome,
                &subject,
            )
        })
        .collect();
    if !ops.is_empty() {
        node.store.write(ops).await?;
    }
    let mut centres: Vec<pb::CentreLoans> = parts.into_iter().map(|p| p.view).collect();
    for (c, (_, name)) in centres.iter_mut().zip(&targets) {
        c.name = name.clone();
    }
    let complete = centres.iter().all(|c| c.outcome() == Outcome::Answered);
    let missing: Vec<String> = centres
        .iter()
        .filter(|c| c.outcome() != Outcome::Answered)
        .map(|c| format!("{} {}", c.centre, outcome_name(c.outcome())))
        .collect();
    tracing::info!(
        subject = %person.masked(),
        asked = centres.len(),
        loans = centres.iter().map(|c| c.loans.len()).sum::<usize>(),
        missing = %missing.join(", "),
        "loan check"
    );
    Ok(pb::LocalLoanCheckReply {
        centres,
        deadline_ms: deadline.as_millis() as u32,
        elapsed_ms: ms_since(started),
        message_id,
        complete,
    })
}

/// The deadline in force: the request's (default [`DEFAULT_DEADLINE_MS`]), at most the
/// node's `limits.peer_timeout_ms` (the longest any call to a peer may take).
fn deadline_of(node: &Node, asked_ms: u32) -> HfxResult<Duration> {
    let ms = if asked_ms == 0 {
        DEFAULT_DEADLINE_MS
    } else {
        asked_ms
    };
    if ms < MIN_DEADLINE_MS {
        return Err(HfxError::invalid(
            "deadline_ms",
            format!("{ms} ms is too short (at least {MIN_DEADLINE_MS})"),
        ));
    }
    let cap = node.cfg.limits.peer_timeout_ms;
    Ok(Duration::from_millis(u64::from(ms).min(cap)))
}

/// The centres to ask, in directory order, with their names: all of the directory's, or the
/// ones named (each validated and looked up).
fn targets(dir: &hfx_certs::Directory, named: &[String]) -> HfxResult<Vec<(String, String)>> {
    let mut wanted = std::collections::BTreeSet::new();
    for c in named {
        wanted.insert(crate::directory::resolve_centre(dir, "centres", c)?);
    }
    Ok(dir
        .centres
        .iter()
        .filter(|c| wanted.is_empty() || wanted.contains(&c.code))
        .map(|c| (c.code.clone(), c.name.clone()))
        .collect())
}

fn ms_since(t: Instant) -> u32 {
    u32::try_from(t.elapsed().as_millis()).unwrap_or(u32::MAX)
}

/// One centre's part of a check.
struct Call<'a> {
    node: &'a Node,
    centre: &'a str,
    request: &'a pb::PeerLoanCheck,
    started: Instant,
    deadline_at: Instant,
    hedge: bool,
}

/// How one centre's part ended, and what to log of it.
struct Part {
    view: pb::CentreLoans,
    request_bytes: Vec<u8>,
    reply_bytes: Option<Vec<u8>>,
}

/// Why a call brought no answer: outcome, stable reason, words.
#[derive(Debug, Clone, PartialEq)]
struct Miss {
    outcome: Outcome,
    reason: String,
    detail: String,
}

impl Miss {
    fn slow() -> Self {
        Miss {
            outcome: Outcome::Slow,
            reason: "DEADLINE_EXCEEDED".into(),
            detail: "no answer within the deadline".into(),
        }
    }
}

impl Call<'_> {
    fn view(&self, outcome: Outcome) -> pb::CentreLoans {
        pb::CentreLoans {
            centre: self.centre.to_string(),
            outcome: outcome as i32,
            elapsed_ms: ms_since(self.started),
            ..Default::default()
        }
    }

    /// Our own centre: the core system, under the same deadline; nothing crosses to a peer.
    async fn own(&self, person: &Person) -> Part {
        let looked = tokio::time::timeout_at(
            self.deadline_at,
            self.node.core.loans_of(person.id_type, &person.id_number),
        )
        .await;
        let view = match looked {
            Ok(Ok(loans)) => pb::CentreLoans {
                loans: loans.iter().map(|l| loan_to_pb(self.centre, l)).collect(),
                ..self.view(Outcome::Answered)
            },
            Ok(Err(e)) => {
                let e = HfxError::from(e);
                tracing::warn!(error = %e.detail(), "loan check: own core system failed");
                pb::CentreLoans {
                    reason: e.reason().into(),
                    detail: e.to_string(),
                    ..self.view(Outcome::Failed)
                }
            }
            Err(_) => {
                let m = Miss::slow();
                pb::CentreLoans {
                    reason: m.reason,
                    detail: "our core system did not answer within the deadline".into(),
                    ..self.view(Outcome::Slow)
                }
            }
        };
        Part {
            view: pb::CentreLoans { own: true, ..view },
            request_bytes: Vec::new(),
            reply_bytes: None,
        }
    }

    /// A peer: one call (a second copy at half the deadline when hedging), a quick second try
    /// when it could not be reached at all, never past the deadline.
    async fn peer(&self) -> Part {
        let first = self.with_remaining();
        let request_bytes = first.encode_to_vec();
        let mut hedged = false;
        let got = match self.node.peers.channel(self.centre) {
            Err(e) => Err(Miss {
                outcome: Outcome::Failed,
                reason: e.reason().into(),
                detail: e.to_string(),
            }),
            Ok(ch) => {
                let mut got = if self.hedge {
                    self.hedged(&ch, first, &mut hedged).await
                } else {
                    self.call(&ch, first).await
                };
                if let Err(m) = &got
                    && m.outcome == Outcome::Down
                    && self.deadline_at.saturating_duration_since(Instant::now())
                        > Duration::from_millis(300)
                {
                    // Unreachable: the request never arrived, so a second try is safe.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    got = self.call(&ch, self.with_remaining()).await;
                }
                got
            }
        };
        let view = match &got {
            Ok(reply) => pb::CentreLoans {
                loans: reply.loans.clone(),
                peer_receipt: reply.receipt.clone(),
                ..self.view(Outcome::Answered)
            },
            Err(m) => pb::CentreLoans {
                reason: m.reason.clone(),
                detail: m.detail.clone(),
                ..self.view(m.outcome)
            },
        };
        if let Err(m) = &got {
            tracing::info!(peer = %self.centre, outcome = outcome_name(m.outcome), reason = %m.reason, "loan check: no answer");
        }
        Part {
            view: pb::CentreLoans { hedged, ..view },
            request_bytes,
            reply_bytes: got.ok().map(|r| r.encode_to_vec()),
        }
    }

    /// The request with the time left now.
    fn with_remaining(&self) -> pb::PeerLoanCheck {
        let left = self.deadline_at.saturating_duration_since(Instant::now());
        pb::PeerLoanCheck {
            remaining_ms: u32::try_from(left.as_millis()).unwrap_or(u32::MAX).max(1),
            ..self.request.clone()
        }
    }

    /// One call, carrying the time left and abandoned when it runs out.
    async fn call(
        &self,
        ch: &crate::peers::PeerChannel,
        msg: pb::PeerLoanCheck,
    ) -> Result<pb::PeerLoanCheckReply, Miss> {
        let left = self.deadline_at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Miss::slow());
        }
        let mut req = tonic::Request::new(msg);
        req.set_timeout(left);
        let mut client = pb::member_exchange_client::MemberExchangeClient::new(ch.clone());
        match tokio::time::timeout_at(self.deadline_at, client.loan_check(req)).await {
            Err(_) => Err(Miss::slow()),
            Ok(Ok(r)) => Ok(r.into_inner()),
            Ok(Err(status)) => Err(classify(&status)),
        }
    }

    /// The call, and a copy of it once half the deadline has gone without an answer; the
    /// first answer wins (both carry one message id: the peer answers a copy from its
    /// inbox). A failure of one waits for the other.
    async fn hedged(
        &self,
        ch: &crate::peers::PeerChannel,
        first: pb::PeerLoanCheck,
        hedged: &mut bool,
    ) -> Result<pb::PeerLoanCheckReply, Miss> {
        let half = self.deadline_at.saturating_duration_since(self.started) / 2;
        let a = self.call(ch, first);
        tokio::pin!(a);
        tokio::select! {
            r = &mut a => return r,
            _ = tokio::time::sleep_until(self.started + half) => {}
        }
        *hedged = true;
        let b = self.call(ch, self.with_remaining());
        tokio::pin!(b);
        let (mut a_done, mut b_done): (Option<Miss>, Option<Miss>) = (None, None);
        loop {
            tokio::select! {
                r = &mut a, if a_done.is_none() => match r {
                    Ok(x) => return Ok(x),
                    Err(m) => a_done = Some(m),
                },
                r = &mut b, if b_done.is_none() => match r {
                    Ok(x) => return Ok(x),
                    Err(m) => b_done = Some(m),
                },
            }
            if let (Some(m), Some(_)) = (&a_done, &b_done) {
                return Err(m.clone());
            }
        }
    }
}

/// What a peer's error means for the check: down (not reachable), slow (the deadline
/// passed, at either end), refused (policy, rate, permission, authentication) or failed.
fn classify(status: &tonic::Status) -> Miss {
    let reason = reason_of(status);
    let code = status.code();
    let text: String = status.message().chars().take(300).collect();
    if is_transport_failure(status) || (code == tonic::Code::Unavailable && reason.is_none()) {
        return Miss {
            outcome: Outcome::Down,
            reason: "PEER_UNAVAILABLE".into(),
            detail: "not reachable (connection refused or broken)".into(),
        };
    }
    let outcome = match code {
        tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => Outcome::Slow,
        tonic::Code::PermissionDenied
        | tonic::Code::Unauthenticated
        | tonic::Code::ResourceExhausted => Outcome::Refused,
        _ => Outcome::Failed,
    };
    let detail = match (outcome, reason.as_deref()) {
        (Outcome::Slow, Some(REASON_DEADLINE_PASSED)) => {
            "the peer gave up: the deadline passed before its core system answered".into()
        }
        (Outcome::Slow, _) => "no answer within the deadline".into(),
        _ => text,
    };
    Miss {
        outcome,
        reason: reason.unwrap_or_else(|| format!("{code:?}")),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(e: HfxError) -> tonic::Status {
        tonic::Status::from(e)
    }

    #[test]
    fn a_peers_error_is_classified_by_what_it_means_for_the_check() {
        let refused = status(HfxError::PurposeNotAllowed {
            purpose: "loan_check".into(),
            centre: "110000000000001".into(),
        });
        let m = classify(&refused);
        assert_eq!(
            (m.outcome, m.reason.as_str()),
            (Outcome::Refused, "PURPOSE_NOT_ALLOWED")
        );
        let limited = status(HfxError::refused(
            tonic::Code::ResourceExhausted,
            "RATE_LIMITED",
            "too many",
        ));
        assert_eq!(classify(&limited).outcome, Outcome::Refused);
        let gave_up = status(HfxError::refused(
            tonic::Code::DeadlineExceeded,
            REASON_DEADLINE_PASSED,
            "late",
        ));
        let m = classify(&gave_up);
        assert_eq!(
            (m.outcome, m.reason.as_str()),
            (Outcome::Slow, REASON_DEADLINE_PASSED)
        );
        // tonic's own timeout (no reason) is slow too.
        assert_eq!(
            classify(&tonic::Status::cancelled("Timeout expired")).outcome,
            Outcome::Slow
        );
        // Refused connection: down, whatever the text.
        let down = tonic::Status::from_error(Box::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused",
        )));
        assert_eq!(classify(&down).outcome, Outcome::Down);
        assert_eq!(
            classify(&tonic::Status::unavailable("tcp connect error")).outcome,
            Outcome::Down
        );
        // The peer's core system is down: the peer answered, with an error; not "down".
        let core = status(HfxError::AdapterUnavailable(
            hfx_adapters::AdapterError::unavailable("db"),
        ));
        let m = classify(&core);
        assert_eq!(
            (m.outcome, m.reason.as_str()),
            (Outcome::Failed, "CORE_SYSTEM_UNAVAILABLE")
        );
        assert!(!m.detail.contains("db"), "{m:?}");
    }
}
