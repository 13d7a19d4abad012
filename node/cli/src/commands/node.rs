//! `hfx node run`: serve a node, on listeners it binds itself or on ones it inherits the
//! systemd way (socket activation).

use anyhow::Context;
use std::os::fd::RawFd;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

pub async fn node_run(config: &Path) -> anyhow::Result<ExitCode> {
    let cfg = hfx_node::config::NodeConfig::load(config)?;
    // Logs (JSON, or text on a terminal) and, with `[telemetry] otlp_endpoint`, traces.
    let telemetry = hfx_node::telemetry::init(&cfg).context("telemetry")?;
    let shutdown = async {
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
        match term {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        tracing::info!("shutdown requested: finishing in-flight calls");
    };
    // The web console (hfx-console) is served beside the gRPC faces when `[console] listen`
    // names an address (and the binary was built with it: feature `console`, on by default).
    #[cfg(feature = "console")]
    let faces = vec![hfx_console::face()];
    #[cfg(not(feature = "console"))]
    let faces = {
        if cfg.console.listen.is_some() {
            tracing::warn!("console.listen is set, but this hfx was built without the console");
        }
        Vec::new()
    };
    let served = match inherited_listeners()? {
        Some((peer, local)) => {
            tracing::info!(
                peer = %peer.local_addr().map(|a| a.to_string()).unwrap_or_default(),
                local = %local.local_addr().map(|a| a.to_string()).unwrap_or_default(),
                "serving on inherited listeners (LISTEN_FDS)"
            );
            hfx_node::server::run_with_faces(cfg, peer, local, faces, shutdown, |_| {}).await
        }
        None => match hfx_node::server::bind(&cfg).await {
            Ok((peer, local)) => {
                hfx_node::server::run_with_faces(cfg, peer, local, faces, shutdown, |_| {}).await
            }
            Err(e) => Err(e),
        },
    };
    // A failure is said once, in the node's log (where its operator and the journal read
    // everything else it said), not once more on stderr by `main`.
    let failed = served.as_ref().err().map(|e| {
        tracing::error!(error = %super::error_line(e), "node failed");
    });
    // After the servers stopped: the last spans (and the error's) are exported too.
    telemetry.shutdown();
    Ok(if failed.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The first inherited descriptor of the systemd protocol (after stdin, stdout, stderr).
const LISTEN_FDS_START: RawFd = 3;

/// The peer and local descriptors the environment hands over, if any.
///
/// The systemd protocol: `LISTEN_FDS` = how many descriptors, from fd 3 on; `LISTEN_FDNAMES`
/// = their names, `:`-separated (here `peer` and `local`; without names, fd 3 is the peer
/// listener and fd 4 the local one); `LISTEN_PID`, when set, must be this process's pid, else
/// the descriptors were meant for another process and are left alone. The hfx zone launcher
/// does not set `LISTEN_PID` (it would have to call `setenv` between fork and exec, which is
/// not async-signal-safe) and removes any it inherited itself.
fn listen_fds(
    listen_pid: Option<&str>,
    listen_fds: Option<&str>,
    names: Option<&str>,
    own_pid: u32,
) -> anyhow::Result<Option<(RawFd, RawFd)>> {
    let Some(count) = listen_fds else {
        return Ok(None);
    };
    if let Some(pid) = listen_pid
        && pid.trim().parse::<u32>().ok() != Some(own_pid)
    {
        return Ok(None);
    }
    let count: usize = count
        .trim()
        .parse()
        .with_context(|| format!("LISTEN_FDS: {count:?} is not a number"))?;
    let fd_of = |i: usize| -> anyhow::Result<RawFd> {
        Ok(LISTEN_FDS_START + RawFd::try_from(i).context("LISTEN_FDS: too many descriptors")?)
    };
    match names {
        Some(names) => {
            let names: Vec<&str> = names.split(':').collect();
            anyhow::ensure!(
                names.len() == count,
                "LISTEN_FDNAMES names {} descriptors, LISTEN_FDS says {count}",
                names.len()
            );
            let find = |name: &str| -> anyhow::Result<RawFd> {
                let i = names
                    .iter()
                    .position(|n| *n == name)
                    .with_context(|| format!("LISTEN_FDNAMES has no {name:?} descriptor"))?;
                fd_of(i)
            };
            Ok(Some((find("peer")?, find("local")?)))
        }
        None => {
            anyhow::ensure!(
                count == 2,
                "LISTEN_FDS={count} without LISTEN_FDNAMES: give 2 (fd 3 peer, fd 4 local) or name them"
            );
            Ok(Some((fd_of(0)?, fd_of(1)?)))
        }
    }
}

/// Set once the inherited descriptors are owned by listeners, so they are never taken twice.
static CLAIMED: AtomicBool = AtomicBool::new(false);

fn inherited_listeners()
-> anyhow::Result<Option<(tokio::net::TcpListener, tokio::net::TcpListener)>> {
    let var = |k: &str| std::env::var(k).ok();
    let Some((peer, local)) = listen_fds(
        var("LISTEN_PID").as_deref(),
        var("LISTEN_FDS").as_deref(),
        var("LISTEN_FDNAMES").as_deref(),
        std::process::id(),
    )?
    else {
        return Ok(None);
    };
    anyhow::ensure!(
        !CLAIMED.swap(true, Ordering::SeqCst),
        "the inherited listeners were already taken"
    );
    let to_tokio = |fd: RawFd, name: &str| -> anyhow::Result<tokio::net::TcpListener> {
        let l =
            claim_listener(fd).with_context(|| format!("inherited {name} listener (fd {fd})"))?;
        l.set_nonblocking(true)?;
        Ok(tokio::net::TcpListener::from_std(l)?)
    };
    Ok(Some((to_tokio(peer, "peer")?, to_tokio(local, "local")?)))
}

/// Own an inherited descriptor as a TCP listener, after checking it is an open socket, and
/// mark it close-on-exec so it goes no further.
#[allow(unsafe_code)]
fn claim_listener(fd: RawFd) -> std::io::Result<std::net::TcpListener> {
    use std::os::fd::FromRawFd;
    // SAFETY: fstat and fcntl only read and set flags of `fd` and write into `st`, a local
    // we own. `from_raw_fd` takes ownership of `fd`: the launcher (or systemd) handed it to
    // this process for exactly this use, nothing else in the process opened or owns it
    // (fds 3.. are not used before this point), `CLAIMED` makes sure it is taken once, and
    // fstat has just shown it is an open socket.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a socket",
            ));
        }
        let flags = libc::fcntl(fd, libc::F_GETFD);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(std::net::TcpListener::from_raw_fd(fd))
    }
}

#[cfg(test)]
mod tests {
    use super::listen_fds;

    #[test]
    fn the_systemd_protocol_is_read_by_name_or_position() {
        let me = 4242;
        assert_eq!(listen_fds(None, None, None, me).unwrap(), None);
        assert_eq!(
            listen_fds(None, Some("2"), Some("peer:local"), me).unwrap(),
            Some((3, 4))
        );
        assert_eq!(
            listen_fds(Some("4242"), Some("2"), Some("local:peer"), me).unwrap(),
            Some((4, 3))
        );
        assert_eq!(listen_fds(None, Some("2"), None, me).unwrap(), Some((3, 4)));
        // Meant for another process: left alone.
        assert_eq!(
            listen_fds(Some("17"), Some("2"), Some("peer:local"), me).unwrap(),
            None
        );
        assert!(listen_fds(None, Some("two"), None, me).is_err());
        assert!(listen_fds(None, Some("3"), None, me).is_err());
        assert!(listen_fds(None, Some("2"), Some("peer:admin"), me).is_err());
        assert!(listen_fds(None, Some("3"), Some("peer:local"), me).is_err());
    }
}
