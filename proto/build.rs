//! Compiles `proto/hfx/v1/*.proto` with protox (no protoc on build machines) and tonic-prost-build.
//! Without feature `grpc` only the messages are generated.
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/hfx/v1/common.proto",
        "proto/hfx/v1/peer.proto",
        "proto/hfx/v1/local.proto",
        "proto/hfx/v1/bench.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let grpc = std::env::var_os("CARGO_FEATURE_GRPC").is_some();
    let fds = protox::compile(files, ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("hfx_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_client(grpc)
        .build_server(grpc)
        .compile_fds(fds)?;
    Ok(())
}
