//! Transfers of a member's account between centres (DOMAIN.md, DESIGN.md): not served by
//! this release (the `TransferExchange` and `Clerk` transfer methods answer UNIMPLEMENTED).
//!
//! What will live here:
//! - `case`: the transfer case state machine, a pure function (state, event) -> (state,
//!   effects), so a simulation test can drive it without I/O;
//! - `relay`: the outbox loop that delivers a case's messages to the other centre, retried
//!   with the same message id until acknowledged;
//! - `handlers`: the peer faces (contact letter, transfer out, refusal, payment, completion)
//!   and the clerk faces (start, get), called from `crate::server`.
//!
//! Its tables (outbox, cases) will sit in `crate::store` beside the others.
