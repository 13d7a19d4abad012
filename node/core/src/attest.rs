//! Attestations: signed statements a centre issues about a member's deposits (the
//! deposit-use certificate of `VerificationExchange/IssueDepositCertificate` and
//! `Clerk/RequestCertificate`), not served by this release.
//!
//! What will live here: building a certificate from the core system's records for one
//! purpose, signing it with the node's signing key, and logging its issue in the exchange
//! log. Verifying one needs no node: that part belongs in `hfx_tlog`, beside signed notes.
