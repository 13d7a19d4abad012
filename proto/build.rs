//! Compiles `proto/hfx/v1/*.proto` with protox (no protoc on build machines) and tonic-prost-build.
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
    let fds = protox::compile(files, ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("hfx_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
