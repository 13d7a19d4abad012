//! The hfx wire contract (package `hfx.v1`): peer API, local API and their common types.
//! The messages are always built; the tonic clients and servers need feature `grpc`.
#![forbid(unsafe_code)]
#![allow(clippy::large_enum_variant, clippy::doc_lazy_continuation)]

pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/hfx.v1.rs"));
}

/// Encoded file descriptor set, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/hfx_descriptor.bin"));
