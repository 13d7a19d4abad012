//! `hfx demo`: a zone on loopback and a scripted session (the zone room does the work).

use super::init_cli_logging;
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

pub async fn demo(
    dir: Option<PathBuf>,
    keep_running: bool,
    members: u64,
    centres: usize,
) -> anyhow::Result<ExitCode> {
    init_cli_logging();
    let binary = std::env::current_exe().context("locating the hfx binary")?;
    let ok = hfx_zone::demo::run(
        hfx_zone::demo::DemoOptions {
            dir,
            keep_running,
            members,
            centres,
        },
        binary,
    )
    .await?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
