//! Loan checks: whether a member has a housing-fund loan at another centre
//! (`MemberExchange/LoanCheck`, `Clerk/LoanCheck`), not served by this release as methods of
//! their own. What exists today is the `loan_check` purpose of a member query
//! ([`crate::member`]): loan count and outstanding principal.
//!
//! What will live here: the dedicated check (request validation, the core system's loan
//! lookup, the minimised answer and its disclosure record), called from `crate::server`.
