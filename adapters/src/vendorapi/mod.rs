//! The vendor core: a core fund system reachable only through its vendor's HTTP/JSON API.
//!
//! # The vendor's API (v2), as the stand-in in hfx-standins serves it
//! ```text
//! POST /oauth/token                                   form: grant_type=client_credentials, client_id, client_secret
//!                                                     -> {"access_token","token_type":"Bearer","expires_in"}
//! GET  /api/v2/health                                 -> {"status":"UP","version"}            (no token)
//! GET  /api/v2/codes                                  -> the vendor's code lists (and codes in use)
//! GET  /api/v2/members?idType=&idNo=&page=&pageSize=  -> page of members
//! GET  /api/v2/accounts/{acctNo}/transactions?from=YYYY-MM&to=YYYY-MM&page=&pageSize=
//! GET  /api/v2/loans?idType=&idNo=&page=&pageSize=    -> page of loans (borrower or co-borrower)
//! POST /api/v2/transfers/{caseId}/reserve|release|close|credit   idempotent by caseId
//! POST /admin/seed, GET /admin/stats                  the stand-in's bulk load and counts
//! ```
//! A page is `{"items":[…],"page":1,"pageSize":20,"total":57,"totalPages":3}`. Money is a decimal
//! string of yuan (`"1234.56"`, never a JSON number); dates `YYYY-MM-DD`, months `YYYY-MM`; rates
//! are percent strings (`"12.00"`). Errors are `{"code":"E3001","message":"…"}` with the vendor's
//! codes ([`VENDOR_ERRORS`]); 429 carries `Retry-After` (seconds); 5xx happens.
//!
//! # Code tables (vendor → canonical)
//! id type [`ID_TYPES`] (the government-service portal codes: 111 居民身份证 …), account status
//! [`ACCOUNT_STATUSES`] (`ACTV`, `SEAL`, …), transaction type [`TXN_TYPES`], loan status
//! [`LOAN_STATUSES`], gender `M`/`F`, loan role `PRIMARY`/`CO`. A code missing from a table is an
//! [`AdapterError::UnknownCode`] naming the record.
//!
//! # Transport
//! `adapter.url` is `https://`: the server certificate must chain to the CA in
//! `adapter.ca_file` (no other CA is trusted) and carry the URL's host among its names; with
//! `adapter.client_cert_file` and `adapter.client_key_file` the client presents that
//! certificate. A certificate refused either way fails the call at once (no retries), naming
//! the setting. `http://` is refused unless `adapter.allow_plain_http = true`; `hfx adapter
//! check` says which transport is in use.
//!
//! # Client behaviour
//! A bearer token is fetched on first use and again when it expires or the API answers 401. 5xx
//! and transport errors are retried with exponential backoff, 429 after its `Retry-After`; all of
//! it bounded by `adapter.timeout_ms` per API request and [`MAX_ATTEMPTS`], after which the call is
//! [`AdapterError::Unavailable`]. Pages are followed to the end.

mod client;
mod tls;
pub mod wire;

pub use client::VendorApiCore;
pub use wire::{ACCOUNT_STATUSES, ID_TYPES, LOAN_STATUSES, MAX_ATTEMPTS, TXN_TYPES, VENDOR_ERRORS};
