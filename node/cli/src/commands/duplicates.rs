//! `hfx zone duplicates` (operator): sweep the own population against every peer by private
//! set intersection, batch by batch, resumable; `hfx zone live-check` (clerk): does one
//! person hold a live account anywhere in the zone. docs/duplicates.md has the protocol.

use super::{Conn, init_cli_logging, progress_bar, status_error};
use anyhow::Context;
use hfx_adapters::ids::{mask_id, mask_name};
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

type DupClient = pb::duplicates_client::DuplicatesClient<tonic::transport::Channel>;

/// The largest batch the protocol allows (`hfx_node::dupcheck::MAX_BATCH`).
const MAX_BATCH: u32 = hfx_node::dupcheck::MAX_BATCH as u32;

/// Exit code of a sweep stopped by `--max-batches` before it was done.
const EXIT_UNFINISHED: u8 = 3;

#[derive(clap::Subcommand, Debug)]
pub enum ZoneCmd {
    /// Sweep the own population against every peer: which own members also hold a live
    /// account elsewhere (operator).
    ///
    /// A private set intersection (docs/duplicates.md): neither side hands over its
    /// population; this centre learns which of its members the peer also has, the peer
    /// learns only how many ids were asked. Batches go at each peer's `[duplicates]` rate;
    /// a peer over its own rate is backed off. The place reached is kept in the state file
    /// after every batch: `--resume` goes on from there. Exit 0 when every peer is done, 3
    /// when stopped by --max-batches (resume later), 1 on an error (the state is kept).
    Duplicates(SweepArgs),
    /// Does this person hold a live account anywhere in the zone (clerk, before opening an
    /// account)? Asks every other centre at once, minimised (live or not, status, open month).
    ///
    /// Exit 0 when no centre has a live account, 2 when one has, 3 when a centre did not
    /// answer (so "none" is not proven).
    LiveCheck(LiveArgs),
    /// What is wrong between this node and its peers, and what to do (operator).
    ///
    /// For this node and every peer of the directory: TCP, TLS handshake, certificate and
    /// CRL expiry, directory version, clock skew, witness lag, policy mismatches, maintenance
    /// (docs/doctor.md). One line of advice per problem. Exit 0 when no problem was found
    /// (warnings allowed), 2 when one was, 1 when the node could not be asked.
    Doctor(super::doctor::DoctorArgs),
}

#[derive(clap::Args, Debug)]
pub struct SweepArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// Only these peers (15-digit centre codes; repeatable). Default: every other centre of
    /// the zone directory in --dir.
    #[arg(long = "peer")]
    pub peers: Vec<String>,
    /// Own members per batch (1..=4096).
    #[arg(long, default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=MAX_BATCH as i64))]
    pub batch: u32,
    /// Where the sweep keeps its place (default: hfx-duplicates-CENTRE.json here). It holds
    /// the ids of the members found: keep it like any personal data (written mode 0600).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Go on from the state file instead of starting over.
    #[arg(long)]
    pub resume: bool,
    /// Stop after this many batches (exit 3); go on later with --resume.
    #[arg(long)]
    pub max_batches: Option<u64>,
    /// Print the result as JSON (full ids of the own members found; human output masks them).
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct LiveArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// Id type code (01 resident id, 02, 03 passport, 04, 99).
    #[arg(long, default_value = "01")]
    pub id_type: String,
    /// The person's id number (resident ids are checked: GB 11643).
    #[arg(long)]
    pub id_number: String,
    /// The person's name as on the id.
    #[arg(long)]
    pub name: String,
    /// Only these centres (repeatable). Default: every other centre of the directory.
    #[arg(long = "centre")]
    pub centres: Vec<String>,
    /// Print JSON (stable field names, the same in every language) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// One own member found at a peer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Found {
    pub id_type: String,
    pub id_number: String,
    pub name: String,
}

/// Where the sweep against one peer stands.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PeerState {
    pub session_id: String,
    pub after: String,
    pub done: bool,
    pub own_total: u64,
    pub peer_population: u64,
    pub compared: u64,
    pub messages: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub found: Vec<Found>,
}

/// The state file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SweepState {
    pub version: u32,
    pub node: String,
    pub peers: BTreeMap<String, PeerState>,
}

pub async fn run(cmd: ZoneCmd) -> anyhow::Result<ExitCode> {
    init_cli_logging();
    match cmd {
        ZoneCmd::Duplicates(a) => sweep(a).await,
        ZoneCmd::LiveCheck(a) => live_check(a).await,
        ZoneCmd::Doctor(a) => super::doctor::run(a).await,
    }
}

/// Every centre of the zone directory in `dir` but `own`.
fn directory_peers(dir: &Path, own: &str) -> anyhow::Result<Vec<String>> {
    let path = hfx_certs::ZoneDir::open(dir).directory_path();
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let signed = hfx_certs::directory::SignedDirectory::from_json(&text)
        .with_context(|| format!("parsing {}", path.display()))?;
    // Only the list of centres is read here; the node checks each peer against the
    // directory in force (signature, expiry) before it sends anything.
    let d: hfx_certs::directory::Directory = serde_json::from_str(&signed.payload)
        .with_context(|| format!("parsing {}", path.display()))?;
    Ok(d.centres
        .into_iter()
        .map(|c| c.code)
        .filter(|c| c != own)
        .collect())
}

fn write_state(path: &Path, st: &SweepState) -> anyhow::Result<()> {
    let text = serde_json::to_vec_pretty(st)?;
    let tmp = path.with_extension("json.tmp");
    {
        use std::io::Write;
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let mut f = o
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(&text)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn read_state(path: &Path) -> anyhow::Result<SweepState> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--resume: reading {}", path.display()))?;
    let st: SweepState = serde_json::from_str(&text)
        .with_context(|| format!("--resume: parsing {}", path.display()))?;
    anyhow::ensure!(
        st.version == 1,
        "--resume: {} is version {}, not 1",
        path.display(),
        st.version
    );
    Ok(st)
}

async fn sweep(a: SweepArgs) -> anyhow::Result<ExitCode> {
    let client = a.conn.client(Role::Operator)?;
    let own = client.centre.clone();
    let path = a
        .state
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("hfx-duplicates-{own}.json")));
    let peers = if !a.peers.is_empty() {
        a.peers
            .iter()
            .map(|p| hfx_adapters::ids::validate_centre_code("--peer", p).map_err(Into::into))
            .collect::<anyhow::Result<Vec<_>>>()?
    } else {
        let dir = a.conn.dir.as_deref().context(
            "which peers? give --peer CENTRE (repeatable), or --dir ZONE_DIR to sweep all",
        )?;
        directory_peers(dir, &own)?
    };
    let mut st = if a.resume {
        let st = read_state(&path)?;
        anyhow::ensure!(
            st.node == own,
            "--resume: {} is a sweep of node {}, not {own}",
            path.display(),
            st.node
        );
        st
    } else {
        SweepState {
            version: 1,
            node: own.clone(),
            peers: BTreeMap::new(),
        }
    };
    let mut svc = DupClient::new(client.channel());
    let mut batches = 0u64;
    let mut unfinished = false;
    'peers: for peer in &peers {
        let ps = st.peers.entry(peer.clone()).or_default().clone();
        if ps.done {
            continue;
        }
        let mut ps = ps;
        let bar = progress_bar(0, &format!("peer {peer}"));
        let t0 = Instant::now();
        let base_seconds = ps.seconds;
        loop {
            if a.max_batches.is_some_and(|m| batches >= m) {
                unfinished = true;
                bar.finish_and_clear();
                break 'peers;
            }
            let step = pb::DupSweepStep {
                peer: peer.clone(),
                session_id: ps.session_id.clone(),
                after: ps.after.clone(),
                batch_size: a.batch,
            };
            let p = match svc.sweep_step(step).await {
                Ok(r) => r.into_inner(),
                Err(s) => {
                    bar.finish_and_clear();
                    write_state(&path, &st)?;
                    return Err(status_error(s)).with_context(|| {
                        format!(
                            "sweeping against {peer}; the place reached is in {} (--resume)",
                            path.display()
                        )
                    });
                }
            };
            batches += 1;
            ps.session_id = p.session_id;
            ps.after = p.next_after;
            ps.own_total = p.own_total;
            ps.peer_population = p.peer_total;
            ps.compared += u64::from(p.compared);
            ps.messages += u64::from(p.messages);
            ps.bytes += p.bytes;
            ps.done = p.done;
            ps.seconds = base_seconds + t0.elapsed().as_secs_f64();
            for f in p.found {
                let k = f.person.unwrap_or_default();
                let t = pb::IdType::try_from(k.id_type).unwrap_or(pb::IdType::Unspecified);
                let found = Found {
                    id_type: hfx_node::member::id_type_from_pb(t as i32)
                        .map(|t| t.code().to_string())
                        .unwrap_or_default(),
                    id_number: k.id_number,
                    name: k.name,
                };
                if !ps.found.contains(&found) {
                    ps.found.push(found);
                }
            }
            bar.set_length(p.peer_total + p.own_total);
            bar.set_position(p.peer_received + p.own_position);
            st.peers.insert(peer.clone(), ps.clone());
            write_state(&path, &st)?;
            if ps.done {
                break;
            }
        }
        bar.finish_and_clear();
    }
    print_result(&st, &peers, a.json, unfinished, &path)?;
    Ok(if unfinished {
        ExitCode::from(EXIT_UNFINISHED)
    } else {
        ExitCode::SUCCESS
    })
}

/// Own members found, each with the peers that also hold them.
fn found_by_member(st: &SweepState, peers: &[String]) -> BTreeMap<Found, Vec<String>> {
    let mut by: BTreeMap<Found, Vec<String>> = BTreeMap::new();
    for p in peers {
        if let Some(ps) = st.peers.get(p) {
            for f in &ps.found {
                by.entry(f.clone()).or_default().push(p.clone());
            }
        }
    }
    by
}

fn print_result(
    st: &SweepState,
    peers: &[String],
    json: bool,
    unfinished: bool,
    path: &Path,
) -> anyhow::Result<()> {
    let by = found_by_member(st, peers);
    let empty = PeerState::default();
    if json {
        let v = serde_json::json!({
            "node": st.node,
            "done": !unfinished && peers.iter().all(|p| st.peers.get(p).is_some_and(|s| s.done)),
            "state_file": path.display().to_string(),
            "peers": peers.iter().map(|p| {
                let s = st.peers.get(p).unwrap_or(&empty);
                serde_json::json!({
                    "centre": p, "done": s.done, "own_total": s.own_total,
                    "peer_population": s.peer_population, "compared": s.compared,
                    "found": s.found.len(), "messages": s.messages, "bytes": s.bytes,
                    "seconds": s.seconds,
                })
            }).collect::<Vec<_>>(),
            "found": by.iter().map(|(f, centres)| serde_json::json!({
                "id_type": f.id_type, "id_number": f.id_number, "name": f.name,
                "centres": centres,
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("duplicate sweep of centre {}:", st.node);
    for p in peers {
        let s = st.peers.get(p).unwrap_or(&empty);
        println!(
            "  {p}: {} of {} own members compared against {} of theirs, {} found, {} messages, {:.1} MB, {:.1} s{}",
            s.compared,
            s.own_total,
            s.peer_population,
            s.found.len(),
            s.messages,
            s.bytes as f64 / 1e6,
            s.seconds,
            if s.done { "" } else { " (not done)" }
        );
    }
    if by.is_empty() {
        println!("no own member holds a live account at a swept peer");
    } else {
        println!("own members with a live account elsewhere:");
        for (f, centres) in &by {
            println!(
                "  {} {} {}  at {}",
                f.id_type,
                mask_id(&f.id_number),
                mask_name(&f.name),
                centres.join(", ")
            );
        }
    }
    if unfinished {
        println!(
            "stopped by --max-batches; go on with --resume --state {}",
            path.display()
        );
    }
    Ok(())
}

/// `hfx zone live-check` as a clerk reads it: the person masked, each centre's answer in
/// words (the open month as a date, a refusal's reason as it came), then what it means.
fn live_text(
    cat: &hfx_i18n::Catalogue,
    centres: &super::lang::Centres,
    (name, id): &(String, String),
    r: &pb::LiveAccountReport,
) -> String {
    let mut out = cat.text(
        "live-head",
        &[("name", name.as_str().into()), ("id", id.as_str().into())],
    );
    out.push('\n');
    for x in &r.answers {
        let word = cat.msg_or(&format!("live-outcome-{}", x.outcome), &x.outcome);
        let said = match x.outcome.as_str() {
            "live" | "closed" => cat.text(
                "live-opened",
                &[
                    ("outcome", word.into()),
                    ("month", cat.month_yyyymm(x.opened_month).into()),
                ],
            ),
            "unavailable" | "refused" => cat.text(
                "live-reason",
                &[
                    ("outcome", word.into()),
                    ("reason", x.reason.as_str().into()),
                ],
            ),
            "name_mismatch" => cat.text("live-name-mismatch", &[("outcome", word.into())]),
            _ => word,
        };
        out.push_str("  ");
        out.push_str(&cat.text(
            "live-answer",
            &[
                ("centre", centres.short(cat, &x.centre).into()),
                ("outcome", said.into()),
            ],
        ));
        out.push('\n');
    }
    out.push_str(&cat.msg(if r.live_elsewhere {
        "live-elsewhere"
    } else if r.incomplete {
        "live-incomplete"
    } else {
        "live-none"
    }));
    out.push('\n');
    out
}

async fn live_check(a: LiveArgs) -> anyhow::Result<ExitCode> {
    let t = hfx_adapters::model::IdType::from_code(&a.id_type)
        .with_context(|| format!("--id-type: {:?} is not 01, 02, 03, 04 or 99", a.id_type))?;
    let client = a.conn.client(Role::Clerk)?;
    let mut svc = DupClient::new(client.channel());
    let req = pb::LiveAccountCheck {
        person: Some(pb::PersonKey {
            id_type: hfx_node::member::id_type_to_pb(t) as i32,
            id_number: a.id_number.clone(),
            name: a.name.clone(),
        }),
        centres: a.centres.clone(),
    };
    let r = svc
        .check_live_account(req)
        .await
        .map_err(status_error)?
        .into_inner();
    if a.json {
        let v = serde_json::json!({
            "live_elsewhere": r.live_elsewhere,
            "incomplete": r.incomplete,
            "answers": r.answers.iter().map(|x| serde_json::json!({
                "centre": x.centre, "outcome": x.outcome, "status": x.status,
                "opened_month": x.opened_month, "reason": x.reason,
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let centres = super::lang::Centres::load(&a.conn);
        let who = (mask_name(&a.name), mask_id(&a.id_number));
        print!("{}", live_text(super::lang::cat(), &centres, &who, &r));
    }
    Ok(if r.live_elsewhere {
        ExitCode::from(2)
    } else if r.incomplete {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_check_reads_in_both_languages_with_centres_by_name() {
        let centres = crate::commands::lang::test_centres();
        let answer =
            |centre: &str, outcome: &str, month: u32, reason: &str| pb::LiveAccountAnswer {
                centre: centre.into(),
                outcome: outcome.into(),
                opened_month: month,
                reason: reason.into(),
                ..Default::default()
            };
        let r = pb::LiveAccountReport {
            live_elsewhere: true,
            incomplete: true,
            answers: vec![
                answer("320700000000000", "live", 202_103, ""),
                answer("411400000000000", "unavailable", 0, "PEER_UNAVAILABLE"),
            ],
        };
        let who = ("张*".to_string(), "320302********1234".to_string());
        let zh = hfx_i18n::Catalogue::new(hfx_i18n::Lang::ZhCn);
        assert_eq!(
            live_text(&zh, &centres, &who, &r),
            "张* 320302********1234 的在用账户核查：\n  \
             连云港 (320700000000000)：有在用账户（开户于 2021年3月）\n  \
             商丘 (411400000000000)：无法连接（PEER_UNAVAILABLE）\n\
             此人在其他中心有在用账户\n"
        );
        let en = hfx_i18n::Catalogue::new(hfx_i18n::Lang::En);
        let mut r = r;
        r.live_elsewhere = false;
        let t = live_text(&en, &centres, &who, &r);
        assert!(
            t.contains("  Lianyungang (320700000000000): live (opened Mar 2021)\n"),
            "{t}"
        );
        assert!(
            t.ends_with("no live account found, but not every centre answered\n"),
            "{t}"
        );
    }
}
