//! The adapter contract suite: the same cases (hfx_adapters::contract) against every core
//! system kind. Kinds that need a server take its URL from the environment and say plainly
//! when they are skipped; .ci/run sets the URLs, so in CI they run.

mod batchfile;
mod mariadb;
mod postgres;
mod sqlite;
mod vendorapi;

/// Population size every contract test seeds.
pub const N: u64 = 240;

pub fn opts() -> hfx_adapters::seed::SeedOptions {
    hfx_adapters::seed::SeedOptions {
        seed: 7,
        history_months: 12,
        employers: 50,
    }
}
