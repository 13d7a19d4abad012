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
mod deploy_manifests;
mod directory;
mod disclosures;
mod doctor;
mod dup_sweep;
mod duplicates;
mod failover;
mod loan_check;
mod metrics;
mod policy;
mod query;
mod raw;
mod restore;
mod revocation;
mod roles;
mod shared_store;
mod shutdown;
mod store;
mod tls_refusals;
mod tls_scan;
mod tracing;
mod transfer;
mod transfer_faults;
mod transfer_net;
mod verify_cli;
