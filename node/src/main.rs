//! `hfx`: one binary, subcommands that only parse arguments; the logic lives in `hfx_node`.
#![forbid(unsafe_code)]

use clap::{Args, Parser, Subcommand};
use hfx_node::cli;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "hfx", version, about = "hfx — the Huaihai housing-fund exchange", long_about = None)]
struct Cli {
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
    /// Fill a sqlite core system with the deterministic synthetic population.
    Seed {
        /// The core system's database file (created if missing).
        #[arg(long)]
        core: PathBuf,
        /// 15-digit centre code (decides region codes, account prefixes).
        #[arg(long)]
        centre: String,
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
        #[arg(long)]
        json: bool,
    },
    /// Ask another centre about a member (clerk).
    #[command(subcommand)]
    Member(MemberCmd),
    /// The own node's status (operator, auditor or clerk).
    Status {
        #[command(flatten)]
        conn: cli::Conn,
        #[arg(long)]
        json: bool,
    },
    /// Make the own node reload certificates, CRL and directory now (operator).
    Reload {
        #[command(flatten)]
        conn: cli::Conn,
        #[arg(long)]
        json: bool,
    },
    /// Auditor's tools.
    #[command(subcommand)]
    Audit(AuditCmd),
}

#[derive(Subcommand)]
enum NodeCmd {
    /// Serve the peer and local APIs until SIGTERM/SIGINT (SIGHUP reloads trust files).
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
        #[arg(long)]
        dir: PathBuf,
        /// Validity of the zone root in days.
        #[arg(long, default_value_t = 3650)]
        root_days: i64,
    },
    /// Issue a person certificate for the local API.
    Person {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        centre: String,
        /// clerk, auditor or operator.
        #[arg(long)]
        role: String,
        /// Person id (1-32 of A-Z a-z 0-9 - _).
        #[arg(long)]
        id: String,
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
    /// Revoke a certificate and publish a new CRL.
    Revoke {
        #[arg(long)]
        dir: PathBuf,
        /// Serial number, hex.
        #[arg(long, conflicts_with = "cert", required_unless_present = "cert")]
        serial: Option<String>,
        /// The certificate file to revoke.
        #[arg(long)]
        cert: Option<PathBuf>,
        #[arg(long, default_value = "unspecified")]
        reason: String,
    },
    /// Rotate a node's TLS certificate: new key and certificate, old one revoked, new directory.
    Rotate {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        centre: String,
    },
    /// Publish a new directory version (after editing DIR/zone.toml, or to renew its expiry).
    Publish {
        #[arg(long)]
        dir: PathBuf,
        /// A new zone file to adopt first.
        #[arg(long)]
        zone: Option<PathBuf>,
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
    conn: cli::Conn,
    /// Target centre (15 digits).
    #[arg(long)]
    centre: String,
    /// 01 身份证, 02 军官证, 03 护照, 04 外国人永久居留证, 99 其他.
    #[arg(long, default_value = "01")]
    id_type: String,
    #[arg(long)]
    id_number: String,
    #[arg(long)]
    name: String,
    /// identity_confirmation, duplicate_account_check, transfer_check, loan_application, loan_check.
    #[arg(long)]
    purpose: String,
    /// Reuse a message id (UUIDv7) when retrying.
    #[arg(long)]
    message_id: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum AuditCmd {
    /// The node's disclosure records (who, when, purpose, legal basis, outcome).
    Disclosures {
        #[command(flatten)]
        conn: cli::Conn,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
}

fn main() -> std::process::ExitCode {
    hfx_node::tls::install_crypto_provider();
    let args = Cli::parse();
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
            Cmd::Node(NodeCmd::Run { config }) => cli::node_run(&config).await,
            Cmd::Demo {
                dir,
                keep_running,
                members,
                centres,
            } => cli::demo(dir, keep_running, members, centres as usize).await,
            Cmd::Certs(CertsCmd::Init {
                zone,
                dir,
                root_days,
            }) => cli::certs_init(&zone, &dir, root_days),
            Cmd::Certs(CertsCmd::Person {
                dir,
                centre,
                role,
                id,
                days,
            }) => cli::certs_person(&dir, &centre, &role, &id, days),
            Cmd::Certs(CertsCmd::Revoke {
                dir,
                serial,
                cert,
                reason,
            }) => cli::certs_revoke(&dir, serial, cert, &reason),
            Cmd::Certs(CertsCmd::Rotate { dir, centre }) => cli::certs_rotate(&dir, &centre),
            Cmd::Certs(CertsCmd::Publish { dir, zone }) => cli::certs_publish(&dir, zone),
            Cmd::Seed {
                core,
                centre,
                members,
                start,
                seed,
                history_months,
                json,
            } => cli::seed(&core, &centre, members, start, seed, history_months, json).await,
            Cmd::Member(MemberCmd::Query(q)) => {
                cli::member_query(
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
            Cmd::Status { conn, json } => cli::status(&conn, json).await,
            Cmd::Reload { conn, json } => cli::reload(&conn, json).await,
            Cmd::Audit(AuditCmd::Disclosures { conn, limit, json }) => {
                cli::disclosures(&conn, limit, json).await
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
