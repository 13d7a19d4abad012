//! The zone: the launcher that starts real node processes on loopback (shared by `hfx demo`,
//! the tests and the benchmarks), the demo script, and `hfx bench`.

pub mod bench;
pub mod demo;
pub mod faultproxy;
pub mod launcher;
