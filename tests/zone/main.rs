//! Multi-process tests of whole zones: real `hfx node run` processes started through the same
//! zone launcher as `hfx demo`, talking mutual TLS over loopback.

mod audit;
mod bench;
mod common;
mod crash;
mod demo;
mod directory;
mod duplicates;
mod query;
mod raw;
mod store;
mod tls_refusals;
