//! `hfx certs`: the zone PKI (root, node and person certificates, CRL, directory).

use anyhow::Context;
use hfx_certs::{Role, Validity, ZoneDir};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn certs_init(zone: &Path, dir: &Path, root_days: i64) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(zone).with_context(|| format!("reading {}", zone.display()))?;
    let zd = ZoneDir::open(dir);
    zd.init(&text, root_days)?;
    let cfg = zd.zone_config()?;
    println!("zone {} created in {}", cfg.zone, dir.display());
    println!(
        "  root:       {}  (keep root/root.key.pem offline)",
        zd.root_cert_path().display()
    );
    println!(
        "  directory:  {} (version 1, {} centres)",
        zd.directory_path().display(),
        cfg.centres.len()
    );
    println!("  crl:        {}", zd.crl_path().display());
    println!(
        "  witness quorum: {}{}",
        cfg.witness_quorum,
        if cfg.witness_quorum_given {
            ""
        } else {
            " (default: min(2, centres - 1))"
        }
    );
    for c in cfg.centres {
        println!(
            "  node {} {}: {}",
            c.code,
            c.city,
            zd.centre_dir(&c.code).display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn certs_person(
    dir: &Path,
    centre: &str,
    role: &str,
    id: &str,
    days: i64,
) -> anyhow::Result<ExitCode> {
    let role: Role = role
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--role: {e}"))?;
    let (crt, key, serial) =
        ZoneDir::open(dir).issue_person(centre, role, id, Validity::days(days))?;
    println!(
        "{role} {id} of {centre}: {} (key {}), serial {serial}",
        crt.display(),
        key.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn certs_revoke(
    dir: &Path,
    serial: Option<String>,
    cert: Option<PathBuf>,
    reason: &str,
) -> anyhow::Result<ExitCode> {
    let zd = ZoneDir::open(dir);
    let serial = match (serial, cert) {
        (Some(s), _) => {
            zd.revoke(&s, reason)?;
            s
        }
        (None, Some(c)) => zd.revoke_cert_file(&in_zone(dir, &c)?, reason)?,
        (None, None) => anyhow::bail!("give --serial or --cert"),
    };
    println!(
        "revoked {serial}; new CRL at {} (nodes pick it up within seconds, or on SIGHUP)",
        zd.crl_path().display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn certs_rotate(dir: &Path, centre: &str) -> anyhow::Result<ExitCode> {
    let zd = ZoneDir::open(dir);
    let serial = zd.rotate_node(centre)?;
    println!("node {centre}: new certificate {serial}; old one revoked; directory re-published");
    Ok(ExitCode::SUCCESS)
}

pub fn certs_publish(dir: &Path, zone: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let zd = ZoneDir::open(dir);
    let d = match zone {
        Some(z) => {
            let z = in_zone(dir, &z)?;
            zd.update_zone(
                &std::fs::read_to_string(&z).with_context(|| format!("reading {}", z.display()))?,
            )?
        }
        None => zd.publish_directory()?,
    };
    println!(
        "directory version {} published ({} centres), expires at unix {}",
        d.version,
        d.centres.len(),
        d.expires_at_unix
    );
    Ok(ExitCode::SUCCESS)
}

/// A file argument of a command on the zone folder `dir`: as given if it exists there
/// (absolute, or relative to the current folder), else relative to `dir`, so
/// `--cert people/<code>/clerk-P1.crt.pem` works from anywhere.
pub fn in_zone(dir: &Path, path: &Path) -> anyhow::Result<PathBuf> {
    if path.exists() {
        return Ok(path.to_path_buf());
    }
    let beside = dir.join(path);
    if path.is_relative() && beside.exists() {
        return Ok(beside);
    }
    if path.is_relative() {
        anyhow::bail!(
            "{}: not found in the current folder nor in the zone folder ({})",
            path.display(),
            beside.display()
        )
    }
    anyhow::bail!("{}: no such file", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_paths_resolve_from_the_cwd_then_the_zone_folder() {
        let zone = tempfile::tempdir().unwrap();
        let rel = Path::new("people/320300000000000/clerk-P1.crt.pem");
        std::fs::create_dir_all(zone.path().join(rel).parent().unwrap()).unwrap();
        std::fs::write(zone.path().join(rel), "x").unwrap();
        // The test's cwd is the crate folder, which holds no people/: the zone folder's file.
        assert_eq!(in_zone(zone.path(), rel).unwrap(), zone.path().join(rel));
        // An existing path (here absolute) is taken as given.
        let abs = zone.path().join(rel);
        assert_eq!(in_zone(Path::new("/nonexistent"), &abs).unwrap(), abs);
        // Relative to the cwd first: Cargo.toml is the crate's, not the zone's.
        std::fs::write(zone.path().join("Cargo.toml"), "zone's").unwrap();
        assert_eq!(
            in_zone(zone.path(), Path::new("Cargo.toml")).unwrap(),
            Path::new("Cargo.toml")
        );
        let e = in_zone(zone.path(), Path::new("people/x.pem"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("nor in the zone folder"), "{e}");
    }
}
