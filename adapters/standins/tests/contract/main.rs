//! The adapter contract suite: the same cases (hfx_standins::contract) against every core
//! system kind. Kinds that need a server take its URL from the environment
//! (hfx_standins::contract::database_url): unset, they say SKIPPED and pass, unless `CI` is
//! set, when a missing URL fails; .ci/run sets the URLs, so in CI they run.

mod batchfile;
mod faults;
mod mariadb;
mod postgres;
mod server;
mod sqlite;
mod vendorapi;
mod vendorapi_tls;

/// Population size every contract test seeds.
pub const N: u64 = 240;

pub fn opts() -> hfx_standins::seed::SeedOptions {
    hfx_standins::seed::SeedOptions {
        seed: 7,
        history_months: 12,
        employers: 50,
    }
}
