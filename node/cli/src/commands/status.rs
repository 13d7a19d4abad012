//! `hfx status` and `hfx reload`: the operator's view of the own node.

use super::{Conn, init_cli_logging, status_error};
use hfx_certs::Role;
use hfx_i18n::Catalogue;
use hfx_proto::v1 as pb;
use std::process::ExitCode;

pub async fn status(conn: &Conn, json: bool) -> anyhow::Result<ExitCode> {
    init_cli_logging();
    let client = conn.client(Role::Operator)?;
    let s = client.status().await.map_err(status_error)?;
    if json {
        println!(
            "{}",
            serde_json::json!({"centre": s.centre, "name": s.name, "directory_version": s.directory_version, "directory_expires_unix": s.directory_expires_unix, "log_size": s.log_size, "adapter": s.adapter, "store": s.store, "uptime_seconds": s.uptime_seconds, "version": s.version, "checkpoint_size": s.checkpoint_size, "witnessed_size": s.witnessed_size, "witness_evidence": s.witness_evidence, "maintenance": s.maintenance, "lease": s.lease})
        );
    } else {
        let centres = super::lang::Centres::load(conn);
        print!("{}", status_text(super::lang::cat(), &centres, &s));
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn reload(conn: &Conn, json: bool) -> anyhow::Result<ExitCode> {
    init_cli_logging();
    let client = conn.client(Role::Operator)?;
    let r = client.reload().await.map_err(status_error)?;
    if json {
        println!(
            "{}",
            serde_json::json!({"directory_ok": r.directory_ok, "tls_ok": r.tls_ok, "directory_version": r.directory_version, "detail": r.detail})
        );
    } else {
        print!("{}", reload_text(super::lang::cat(), &r));
    }
    Ok(if r.directory_ok && r.tls_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `hfx reload` as an operator reads it: whether the directory and the TLS files were taken,
/// then the node's detail (its own words) when one was refused.
pub(crate) fn reload_text(cat: &Catalogue, r: &pb::ReloadReply) -> String {
    let ok = |b: bool| cat.msg(if b { "reload-ok" } else { "reload-refused" });
    let mut out = cat.text(
        "reload-directory",
        &[
            ("ok", ok(r.directory_ok).into()),
            ("version", r.directory_version.into()),
        ],
    );
    out.push('\n');
    out.push_str(&cat.text("reload-tls", &[("ok", ok(r.tls_ok).into())]));
    out.push('\n');
    if !r.detail.is_empty() {
        out.push_str(&r.detail);
        out.push('\n');
    }
    out
}

/// `hfx status` as an operator reads it: the centre by name, the directory's expiry as a
/// date and time (China Standard Time), the uptime as a duration.
pub(crate) fn status_text(
    cat: &Catalogue,
    centres: &super::lang::Centres,
    s: &pb::NodeStatus,
) -> String {
    let full = centres.full(cat, &s.centre);
    let centre = if full == s.centre && !s.name.is_empty() {
        format!("{} {}", s.centre, s.name)
    } else {
        full
    };
    let lines = [
        cat.text(
            "status-head",
            &[
                ("centre", centre.into()),
                ("version", s.version.as_str().into()),
            ],
        ),
        cat.text(
            "status-directory",
            &[
                ("version", s.directory_version.to_string().into()),
                (
                    "expires",
                    cat.date_time_unix(s.directory_expires_unix).into(),
                ),
            ],
        ),
        cat.text(
            "status-log",
            &[
                ("entries", s.log_size.to_string().into()),
                ("store", s.store.as_str().into()),
                ("adapter", s.adapter.as_str().into()),
                ("uptime", cat.duration(s.uptime_seconds).into()),
            ],
        ),
        cat.text(
            "status-witness",
            &[
                ("checkpoint", s.checkpoint_size.to_string().into()),
                ("witnessed", s.witnessed_size.to_string().into()),
                ("evidence", s.witness_evidence.to_string().into()),
            ],
        ),
        cat.text(
            "status-lease",
            &[
                ("lease", s.lease.as_str().into()),
                (
                    "maintenance",
                    cat.msg(if s.maintenance {
                        "status-maintenance-on"
                    } else {
                        "status-maintenance-off"
                    })
                    .into(),
                ),
            ],
        ),
    ];
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        out.push_str(if i == 0 { "" } else { "  " });
        out.push_str(l);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hfx_i18n::Lang;

    #[test]
    fn status_names_the_centre_and_dates_the_directory_expiry() {
        let s = pb::NodeStatus {
            centre: "320700000000000".into(),
            name: "连云港市住房公积金管理中心".into(),
            version: "0.1.0".into(),
            directory_version: 3,
            directory_expires_unix: 1_796_140_800,
            uptime_seconds: 3_725,
            lease: "only".into(),
            ..Default::default()
        };
        let centres = crate::commands::lang::test_centres();
        let en = status_text(&Catalogue::new(Lang::En), &centres, &s);
        assert!(
            en.starts_with(
                "Lianyungang, 连云港市住房公积金管理中心 (320700000000000) (hfx 0.1.0)\n"
            ),
            "{en}"
        );
        assert!(
            en.contains("directory version 3, valid until 2 Dec 2026 00:00:00 (UTC+8)"),
            "{en}"
        );
        assert!(en.contains("up 1 h 2 min 5 s"), "{en}");
        assert!(!en.contains("1796140800"), "{en}");
        let zh = status_text(&Catalogue::new(Lang::ZhCn), &centres, &s);
        assert!(
            zh.contains("目录版本 3，有效期至 2026年12月2日 00:00:00（北京时间）"),
            "{zh}"
        );
        assert!(zh.contains("维护模式 关闭"), "{zh}");
        // Without a directory to name it, the code and the node's own name.
        let bare = status_text(
            &Catalogue::new(Lang::En),
            &crate::commands::lang::Centres::default(),
            &s,
        );
        assert!(
            bare.starts_with("320700000000000 连云港市住房公积金管理中心 (hfx 0.1.0)"),
            "{bare}"
        );
    }
}
