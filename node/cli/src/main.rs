//! `hfx`: one binary, subcommands that only parse arguments; `commands/` has one file per
//! command group, and the logic lives in `hfx_node` and `hfx_zone`.

use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand};
mod commands;
#[cfg(test)]
mod help_tests;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "hfx", version, about = "hfx — the Huaihai housing-fund exchange", long_about = None)]
struct Cli {
    /// Language of the human output: zh-CN or en. Default: from LC_ALL, else LC_MESSAGES,
    /// else LANG (zh… is zh-CN; anything else, unset, C or POSIX is en). --json output is
    /// the same in every language.
    #[arg(long, global = true, value_name = "LANG", value_parser = hfx_i18n::Lang::from_flag)]
    lang: Option<hfx_i18n::Lang>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a node.
    #[command(subcommand)]
    Node(NodeCmd),
    /// Start a ten-centre zone on loopback, run a scripted session of queries, print what happened.
    Demo {
        /// Folder for the zone (PKI, configs, stores); default: a temporary folder.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Leave the zone up and print how to point the CLI at it.
        #[arg(long)]
        keep_running: bool,
        /// Members seeded into each centre's core system.
        #[arg(long, default_value_t = 2000)]
        members: u64,
        /// How many centres of deploy/zone.toml to run (3..=10).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(3..=10))]
        centres: u16,
    },
    /// Zone PKI: root, node and person certificates, CRL, directory.
    #[command(subcommand)]
    Certs(CertsCmd),
    /// Fill a core system with the deterministic synthetic population (any of the five kinds).
    Seed {
        /// A sqlite core system's database file (created if missing).
        #[arg(long, conflicts_with = "config", required_unless_present = "config")]
        core: Option<PathBuf>,
        /// A node configuration: seed the core system its [adapter] table names.
        #[arg(long)]
        config: Option<PathBuf>,
        /// 15-digit centre code (decides region codes, account prefixes); default: the config's centre.
        #[arg(long)]
        centre: Option<String>,
        /// How many members.
        #[arg(long, default_value_t = 10_000)]
        members: u64,
        /// First member index (to extend an existing population).
        #[arg(long, default_value_t = 0)]
        start: u64,
        /// Population seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Months of deposit history per member.
        #[arg(long, default_value_t = 12)]
        history_months: u32,
        /// Print JSON (stable field names, the same in every language) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Ask another centre about a member (clerk).
    #[command(subcommand)]
    Member(MemberCmd),
    /// Transfer a member's account from another centre to this one (clerk): request, follow,
    /// list, cancel, resolve.
    #[command(subcommand)]
    Transfer(commands::transfer::TransferCmd),
    /// The centre's adapter to its core fund system.
    #[command(subcommand)]
    Adapter(AdapterCmd),
    /// The own node's status (operator, auditor or clerk).
    Status {
        #[command(flatten)]
        conn: commands::Conn,
        /// Print JSON (stable field names, the same in every language) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Make the own node reload certificates, CRL and directory now (operator).
    Reload {
        #[command(flatten)]
        conn: commands::Conn,
        /// Print JSON (stable field names, the same in every language) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The node's disclosure records, filtered; with --member, the member's own report
    /// (PIPL art. 45: which centres saw which of their data, when, why, on what basis).
    Disclosures(commands::disclosures::DisclosuresArgs),
    /// Loan checks across the zone (贷款核查).
    #[command(subcommand)]
    Loan(commands::loan::LoanCmd),
    /// Deposit-use certificates (缴存使用证明): request, show, verify offline, status, revoke.
    #[command(subcommand)]
    Attest(commands::attest::AttestCmd),
    /// Zone-wide checks: one person, one account (duplicate sweep, live-account check), and
    /// the zone doctor.
    #[command(subcommand)]
    Zone(commands::duplicates::ZoneCmd),
    /// Auditor's tools.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Witnessing of peers' logs.
    #[command(subcommand)]
    Witness(WitnessCmd),
    /// Back up and restore the node's store (docs/backup.md).
    #[command(subcommand)]
    Store(commands::store::StoreCmd),
    /// Measure the zone's speed beside the bare stack's: real nodes on loopback, real TLS,
    /// durable stores; prints a table and (with --json) writes the figures.
    Bench {
        /// Scenarios to run (default: all). `query` also runs `baseline`.
        #[arg(value_enum)]
        scenarios: Vec<hfx_zone::bench::Scenario>,
        /// Seconds each scenario measures (default: 10; the soak 20).
        #[arg(long, value_name = "S", value_parser = hfx_zone::bench::parse_seconds)]
        duration: Option<std::time::Duration>,
        /// Concurrent requests per scenario (workers share up to 4 connections).
        #[arg(long, value_name = "N", default_value_t = hfx_zone::bench::DEFAULT_CONCURRENCY,
              value_parser = clap::value_parser!(u16).range(1..=4096).map(usize::from))]
        concurrency: usize,
        /// `log` also measures with this many concurrent writers (the group commit's capacity).
        #[arg(long, value_name = "N", default_value_t = hfx_zone::bench::DEFAULT_LOG_WRITERS,
              value_parser = clap::value_parser!(u16).range(1..=4096).map(usize::from))]
        log_writers: usize,
        /// Write the figures as JSON to FILE.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Members seeded into each centre's core system.
        #[arg(long, default_value_t = 2000)]
        members: u64,
        /// Transfers the `transfer` scenario makes (at --concurrency).
        #[arg(long, value_name = "N", default_value_t = hfx_zone::bench::DEFAULT_TRANSFERS,
              value_parser = clap::value_parser!(u32).range(1..=100_000).map(|n| n as usize))]
        transfers: usize,
        /// Log entries the `start` scenario fills the node's store with (run it by name: the
        /// default 10,000,000 take minutes and ~8 GB of disk).
        #[arg(long, value_name = "N", default_value_t = hfx_zone::bench::DEFAULT_START_ENTRIES,
              value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
        entries: u64,
        /// Keep zones and stores in this (empty or new) folder; default: a temporary folder.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The nodes' stores (and the `log` scenario's): SQLite files, or a fresh PostgreSQL
        /// database each on --store-url, dropped afterwards (synchronous commit on).
        #[arg(long, value_enum, default_value = "sqlite")]
        store: hfx_zone::bench::StoreChoice,
        /// The PostgreSQL server of --store postgres (a database to connect to first).
        #[arg(long, value_name = "URL", env = "HFX_BENCH_STORE_URL",
              default_value = hfx_zone::bench::DEFAULT_STORE_URL)]
        store_url: String,
    },
}

#[derive(Subcommand)]
enum NodeCmd {
    /// Turn the own node's maintenance mode on or off (operator; docs/failover.md).
    ///
    /// While on, gRPC health says NOT_SERVING and every peer call is refused at once with
    /// UNAVAILABLE, reason MAINTENANCE; clerks' calls too. Status, audit and this command still
    /// answer. Not kept across a restart: a restarted node serves.
    Maintenance {
        /// on or off.
        #[arg(value_parser = ["on", "off"])]
        state: String,
        #[command(flatten)]
        conn: commands::Conn,
        /// Print JSON (stable field names, the same in every language) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Serve the peer and local APIs until SIGTERM/SIGINT (SIGHUP reloads trust files).
    ///
    /// The node binds listen.peer and listen.local itself, unless it inherits them already
    /// bound, the systemd way (socket activation): LISTEN_FDS=2 with LISTEN_FDNAMES=peer:local
    /// (fds 3 and 4; without names fd 3 is the peer listener and fd 4 the local one), and
    /// LISTEN_PID, when set, equal to the node's pid (else they are left alone). `hfx demo`,
    /// the tests and `hfx bench` start nodes that way, on listeners they bound and kept.
    Run {
        /// The node's TOML configuration.
        #[arg(long, env = "HFX_CONFIG")]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum CertsCmd {
    /// Create a zone root, node certificates, signing keys, CRL and directory from a zone file.
    Init {
        /// Zone file, e.g. deploy/zone.toml.
        #[arg(long)]
        zone: PathBuf,
        /// Folder to create the zone in (root key, trust files, node certificates and keys).
        #[arg(long)]
        dir: PathBuf,
        /// Validity of the zone root in days.
        #[arg(long, default_value_t = 3650)]
        root_days: i64,
    },
    /// Issue a person certificate for the local API.
    Person {
        /// The zone folder (as `hfx certs init --dir` or `hfx demo --dir` made it).
        #[arg(long)]
        dir: PathBuf,
        /// The person's centre: the certificate opens that centre's local API only.
        #[arg(long)]
        centre: String,
        /// clerk, auditor or operator.
        #[arg(long)]
        role: String,
        /// Person id (1-32 of A-Z a-z 0-9 - _).
        #[arg(long)]
        id: String,
        /// Validity in days from now.
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
    /// Revoke a certificate and publish a new CRL.
    Revoke {
        /// The zone folder (as `hfx certs init --dir` or `hfx demo --dir` made it).
        #[arg(long)]
        dir: PathBuf,
        /// Serial number, hex.
        #[arg(long, conflicts_with = "cert", required_unless_present = "cert")]
        serial: Option<String>,
        /// The certificate file to revoke: a path relative to the current folder first, else
        /// to --dir (e.g. people/<centre>/clerk-P1.crt.pem).
        #[arg(long)]
        cert: Option<PathBuf>,
        /// Why, kept with the serial in the zone's revocation record (free text, e.g. "left
        /// the centre").
        #[arg(long, default_value = "unspecified")]
        reason: String,
    },
    /// Rotate a node's TLS certificate: new key and certificate, old one revoked, new directory.
    Rotate {
        /// The zone folder (as `hfx certs init --dir` or `hfx demo --dir` made it).
        #[arg(long)]
        dir: PathBuf,
        /// The centre whose node certificate and key to replace.
        #[arg(long)]
        centre: String,
    },
    /// Publish a new directory version (after editing DIR/zone.toml, or to renew its expiry).
    Publish {
        /// The zone folder (as `hfx certs init --dir` or `hfx demo --dir` made it).
        #[arg(long)]
        dir: PathBuf,
        /// A new zone file to adopt first (relative to the current folder first, else to --dir).
        #[arg(long)]
        zone: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum AdapterCmd {
    /// Self-test against the live core system: connectivity, schema, code tables, a sample read.
    ///
    /// Exits 1 and names the failed checks when one fails: a core that cannot be opened (a
    /// missing SQLite file is an error naming adapter.path), missing tables, unmapped codes,
    /// or no member at all (an empty core answers "not found" to every peer).
    Check {
        /// The node configuration whose [adapter] table to check.
        #[arg(long, env = "HFX_CONFIG")]
        config: PathBuf,
        /// Print JSON (stable field names, the same in every language) instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum MemberCmd {
    /// Query a member at a centre; the answer is cut to the purpose.
    Query(MemberQuery),
}

#[derive(Args)]
struct MemberQuery {
    #[command(flatten)]
    conn: commands::Conn,
    /// Centre to ask: its 15-digit code, its city (连云港) or the city's pinyin (lianyungang).
    #[arg(long)]
    centre: String,
    /// 01 身份证, 02 军官证, 03 护照, 04 外国人永久居留证, 99 其他.
    #[arg(long, default_value = "01")]
    id_type: String,
    /// The member's id number (for id type 01 the 18-character 身份证号, check digit included).
    #[arg(long)]
    id_number: String,
    /// The member's name as on the id (checked against the centre's record).
    #[arg(long)]
    name: String,
    /// identity_confirmation, duplicate_account_check, transfer_check, loan_application or
    /// loan_check (- is accepted for _, e.g. transfer-check).
    #[arg(long)]
    purpose: String,
    /// Reuse a message id (UUIDv7) when retrying.
    #[arg(long)]
    message_id: Option<String>,
    /// Print JSON (stable field names, the same in every language) instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum WitnessCmd {
    /// Evidence of misbehaving logs this node kept as a witness.
    Evidence {
        #[command(flatten)]
        conn: commands::Conn,
        /// Print JSON (stable field names, the same in every language) instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Export a centre's log (entries, checkpoints, cosignatures, disclosures, payloads) to a file.
    ///
    /// The file is plain text, one record a line, in sections that each start with their name
    /// and how many lines follow (the format is `hfx-log-export 1`, defined in hfx-tlog):
    ///
    ///   hfx-log-export 1
    ///   centre <code>                  the centre whose log this is
    ///   origin <checkpoint origin>     the name its checkpoints are signed under
    ///   vkey <note verifier key>       the centre's log key, as the directory lists it
    ///   exported_at_ms <ms>
    ///   entries <N>                    then N lines: one JSON object per log entry (dir, peer,
    ///                                  seq, message_id, case_id, msg_type, at_ms,
    ///                                  payload_sha256); line i is leaf i, its leaf hash
    ///                                  SHA-256(0x00 || line)
    ///   checkpoints <K>                then K lines: a base64 signed note per checkpoint
    ///                                  (tree size and root), ascending size
    ///   cosignatures <C>               then C lines: <size> <witness origin> <witness key,
    ///                                  base64> <signature line, base64>: peers as witnesses
    ///   disclosures <D>                then D lines: one JSON disclosure record each (who
    ///                                  asked, purpose, legal basis, outcome, masked subject),
    ///                                  each committed to by a `Disclosure#record` entry
    ///   payloads <P>                   then P lines: <sha256 hex> <base64 payload>, or "-"
    ///                                  for a payload purged under the retention rules
    ///   end
    ///
    /// `hfx audit verify` checks such files; `replay`, `reconcile` and `prove` read them. The
    /// file holds masked subjects and, with payloads, the exchanged messages: keep it as
    /// carefully as the node's store.
    #[command(verbatim_doc_comment)]
    Export {
        #[command(flatten)]
        conn: commands::Conn,
        /// Read the node's store directly (offline) using its configuration, instead of the local API.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The export file to write (written beside it with extension .partial first, renamed
        /// when complete).
        #[arg(long)]
        out: PathBuf,
        /// Leave payloads out (entries and hashes only).
        #[arg(long)]
        no_payloads: bool,
    },
    /// Verify exports: roots, checkpoint signatures, cosignatures, sequence gaps, payload hashes.
    Verify {
        /// Export files (`hfx audit export --out`): one or more centres'.
        files: Vec<PathBuf>,
        /// The signed zone directory (trust/directory.json) for the centres' keys and witness quorum.
        #[arg(long, requires = "root")]
        directory: Option<PathBuf>,
        /// The zone root certificate that signed the directory.
        #[arg(long, requires = "directory")]
        root: Option<PathBuf>,
        /// Check the exports against the key in their own headers, with no directory: the
        /// result then proves only that each export is consistent with itself, not that it
        /// is the centre's log.
        #[arg(long, conflicts_with = "directory")]
        trust_export_key: bool,
        /// Print JSON (stable field names, the same in every language) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write an offline receipt proving one entry's inclusion under a signed checkpoint.
    Prove {
        /// An export file (`hfx audit export --out`).
        file: PathBuf,
        /// The entry's leaf index (0 is the first entry line of the export).
        #[arg(long)]
        index: u64,
        /// Write the receipt (JSON) to this file (default: print it).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check an offline inclusion receipt.
    CheckReceipt {
        /// A receipt file (`hfx audit prove --out`).
        file: PathBuf,
        /// The signed zone directory (trust/directory.json) for the centre's key.
        #[arg(long, requires = "root")]
        directory: Option<PathBuf>,
        /// The zone root certificate that signed the directory.
        #[arg(long, requires = "directory")]
        root: Option<PathBuf>,
    },
    /// Rebuild disclosures and transfer cases (states, amounts held, paid out, credited,
    /// closed, released) from the log alone and compare them with the store's records; with
    /// --config, also with the node's transfer cases and its core system's accounts.
    Replay {
        /// One centre's export file (`hfx audit export --out`).
        file: PathBuf,
        /// The node's configuration: read its store (offline) and its core system (through
        /// the [adapter] section), both read only, to compare every transfer case with them.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print JSON (stable field names, the same in every language) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Reconcile two or more centres' exports: both sides of every exchange present and
    /// agreeing, and the money of every transfer case (breaks with their age, money in flight).
    Reconcile {
        /// Export files of two or more centres (`hfx audit export --out` at each).
        files: Vec<PathBuf>,
        /// A hold older than this (seconds since the transfer-out record), neither paid out
        /// nor released, is a break (default: the node's default step deadline).
        #[arg(long, value_name = "S", default_value_t = 600)]
        hold_deadline_secs: u64,
        /// Print JSON (stable field names, the same in every language) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write synthetic, mutually consistent exports of N centres (to measure verify, replay and
    /// reconcile at scale).
    Synth {
        /// Folder to write the exports in (one file per centre).
        #[arg(long)]
        out: PathBuf,
        /// Total log entries across all centres (each exchange adds four).
        #[arg(long, default_value_t = 1_000_000)]
        entries: u64,
        /// How many centres of deploy/zone.toml (2..=10).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(2..=10))]
        centres: u16,
    },
    /// Purge payloads older than the retention period (the tree keeps their hashes).
    Purge {
        /// The node's configuration: its store is opened directly.
        #[arg(long)]
        config: PathBuf,
        /// Drop payloads of entries older than this many days.
        #[arg(long)]
        older_than_days: u32,
    },
    /// The node's disclosure records (who, when, purpose, legal basis, outcome).
    Disclosures {
        #[command(flatten)]
        conn: commands::Conn,
        /// Most records to show, newest first.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print JSON (stable field names, the same in every language) instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `hfx audit export ... | head`: a reader that goes away is not a crash. println! panics on
/// a closed pipe (Rust ignores SIGPIPE, and this crate keeps unsafe code out of everything
/// but one descriptor hand-over, so not the call that would restore it), so end quietly with the shell's code for SIGPIPE instead.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn main() -> std::process::ExitCode {
    quiet_on_closed_pipe();
    hfx_node::tls::install_crypto_provider();
    let args = Cli::parse();
    commands::lang::init(args.lang);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match args.cmd {
            Cmd::Node(NodeCmd::Run { config }) => commands::node::node_run(&config).await,
            Cmd::Node(NodeCmd::Maintenance { state, conn, json }) => {
                commands::maintenance::maintenance(&conn, state == "on", json).await
            }
            Cmd::Demo {
                dir,
                keep_running,
                members,
                centres,
            } => commands::zone::demo(dir, keep_running, members, centres as usize).await,
            Cmd::Certs(CertsCmd::Init {
                zone,
                dir,
                root_days,
            }) => commands::certs::certs_init(&zone, &dir, root_days),
            Cmd::Certs(CertsCmd::Person {
                dir,
                centre,
                role,
                id,
                days,
            }) => commands::certs::certs_person(&dir, &centre, &role, &id, days),
            Cmd::Certs(CertsCmd::Revoke {
                dir,
                serial,
                cert,
                reason,
            }) => commands::certs::certs_revoke(&dir, serial, cert, &reason),
            Cmd::Certs(CertsCmd::Rotate { dir, centre }) => {
                commands::certs::certs_rotate(&dir, &centre)
            }
            Cmd::Certs(CertsCmd::Publish { dir, zone }) => {
                commands::certs::certs_publish(&dir, zone)
            }
            Cmd::Seed {
                core,
                config,
                centre,
                members,
                start,
                seed,
                history_months,
                json,
            } => {
                let target = commands::seed::SeedTarget {
                    core,
                    config,
                    centre,
                };
                commands::seed::seed(target, members, start, seed, history_months, json).await
            }
            Cmd::Adapter(AdapterCmd::Check { config, json }) => {
                commands::adapter::adapter_check(&config, json).await
            }
            Cmd::Member(MemberCmd::Query(q)) => {
                commands::member::member_query(
                    &q.conn,
                    &q.centre,
                    &q.id_type,
                    &q.id_number,
                    &q.name,
                    &q.purpose,
                    q.message_id,
                    q.json,
                )
                .await
            }
            Cmd::Transfer(cmd) => commands::transfer::run(cmd).await,
            Cmd::Disclosures(args) => commands::disclosures::run(args).await,
            Cmd::Loan(cmd) => commands::loan::run(cmd).await,
            Cmd::Attest(cmd) => commands::attest::run(cmd).await,
            Cmd::Zone(cmd) => commands::duplicates::run(cmd).await,
            Cmd::Status { conn, json } => commands::status::status(&conn, json).await,
            Cmd::Reload { conn, json } => commands::status::reload(&conn, json).await,
            Cmd::Audit(AuditCmd::Disclosures { conn, limit, json }) => {
                commands::audit::disclosures(&conn, limit, json).await
            }
            Cmd::Audit(AuditCmd::Export {
                conn,
                config,
                out,
                no_payloads,
            }) => commands::audit::audit_export(&conn, config, &out, no_payloads).await,
            Cmd::Audit(AuditCmd::Verify {
                files,
                directory,
                root,
                trust_export_key,
                json,
            }) => commands::audit::audit_verify(&files, directory, root, trust_export_key, json),
            Cmd::Audit(AuditCmd::Prove { file, index, out }) => {
                commands::audit::audit_prove(&file, index, out)
            }
            Cmd::Audit(AuditCmd::CheckReceipt {
                file,
                directory,
                root,
            }) => commands::audit::audit_check_receipt(&file, directory, root),
            Cmd::Audit(AuditCmd::Replay { file, config, json }) => {
                commands::audit::audit_replay(&file, config.as_deref(), json).await
            }
            Cmd::Audit(AuditCmd::Synth {
                out,
                entries,
                centres,
            }) => commands::audit::audit_synth(&out, entries, centres as usize),
            Cmd::Audit(AuditCmd::Reconcile {
                files,
                hold_deadline_secs,
                json,
            }) => commands::audit::audit_reconcile(&files, hold_deadline_secs, json),
            Cmd::Audit(AuditCmd::Purge {
                config,
                older_than_days,
            }) => commands::audit::audit_purge(&config, older_than_days).await,
            Cmd::Witness(WitnessCmd::Evidence { conn, json }) => {
                commands::witness::witness_evidence(&conn, json).await
            }
            Cmd::Store(cmd) => commands::store::run(cmd).await,
            Cmd::Bench {
                scenarios,
                duration,
                concurrency,
                log_writers,
                json,
                members,
                transfers,
                entries,
                dir,
                store,
                store_url,
            } => {
                commands::bench::bench(commands::bench::BenchArgs {
                    scenarios,
                    duration,
                    concurrency,
                    log_writers,
                    json,
                    members,
                    transfers,
                    entries,
                    dir,
                    store,
                    store_url,
                })
                .await
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            let text = commands::error_line(&e);
            let line = commands::lang::cat().text("error-line", &[("text", text.into())]);
            eprintln!("{line}");
            std::process::ExitCode::FAILURE
        }
    }
}
