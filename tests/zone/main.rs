//! Multi-process tests of whole zones: real `hfx node run` processes started through the same
//! zone launcher as `hfx demo`, talking mutual TLS over loopback.

mod acting_person;
mod attest;
mod audit;
mod audit_money;
mod bad_bytes;
mod bench;
mod common;
mod crash;
mod demo;
mod directory;
mod disclosures;
mod dup_sweep;
mod duplicates;
mod loan_check;
mod policy;
mod query;
mod raw;
mod revocation;
mod roles;
mod shared_store;
mod store;
mod tls_refusals;
mod tls_scan;
mod transfer;
mod transfer_faults;
mod transfer_net;
mod verify_cli;
