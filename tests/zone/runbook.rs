//! deploy/README.md's runbook, followed by hand for two centres: the blocks marked
//! `sh runbook <who>` are read from the file itself and run in order with `sh -eu`, the real
//! `hfx` binary on the PATH, the variables the README's table lists set for each centre (ports
//! picked here on loopback), the nodes started by the `serve` block as `hfx node run`
//! processes. It ends with member queries answered between the two centres, before and after a
//! certificate rotation, and a revoked clerk refused. Beside it, the errors the runbook's
//! operator meets: a folder that is not a zone, a missing or empty core system.

use hfx_adapters::model::AccountStatus;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

const README: &str = include_str!("../../deploy/README.md");
const XUZHOU: &str = "320300000000000";
const LIANYUNGANG: &str = "320700000000000";

/// Who runs a block: the zone operator once, every centre, every centre's node (in the
/// background), every centre's clerk asking the other centre.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Zone,
    Centre,
    Serve,
    Clerk,
}

#[derive(Debug)]
struct Block {
    who: Who,
    /// 1-based line of the opening fence in deploy/README.md.
    line: usize,
    text: String,
}

/// The runbook's blocks, in order. An unknown `sh runbook <who>` fails the test.
fn blocks(readme: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<(Who, usize, String)> = None;
    for (i, l) in readme.lines().enumerate() {
        if let Some((who, line, mut text)) = open.take() {
            if l.trim_end() == "```" {
                out.push(Block { who, line, text });
            } else {
                text.push_str(l);
                text.push('\n');
                open = Some((who, line, text));
            }
            continue;
        }
        if let Some(rest) = l.trim_end().strip_prefix("```sh runbook ") {
            let who = match rest.trim() {
                "zone" => Who::Zone,
                "centre" => Who::Centre,
                "serve" => Who::Serve,
                "clerk" => Who::Clerk,
                other => panic!(
                    "deploy/README.md line {}: unknown runbook block {other:?}",
                    i + 1
                ),
            };
            open = Some((who, i + 1, String::new()));
        }
    }
    assert!(
        open.is_none(),
        "deploy/README.md: a runbook block is not closed"
    );
    out
}

/// One centre of the hand-built zone: its folders and addresses, as the README's variables.
struct Centre {
    code: &'static str,
    etc: PathBuf,
    var: PathBuf,
    desk: PathBuf,
    peer_addr: String,
    local_addr: String,
}

impl Centre {
    fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("CENTRE", self.code.to_string()),
            ("ETC", self.etc.display().to_string()),
            ("VAR", self.var.display().to_string()),
            ("DESK", self.desk.display().to_string()),
            ("PEER_ADDR", self.peer_addr.clone()),
            ("LOCAL_ADDR", self.local_addr.clone()),
        ]
    }
}

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs blocks and commands as the operator would: `sh -eu`, in the work folder, with the
/// variables given and nothing of the test's own HFX_* environment.
struct Shell {
    work: PathBuf,
    path: String,
    zone_vars: Vec<(&'static str, String)>,
}

impl Shell {
    fn command(&self, program: &str) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(program);
        c.current_dir(&self.work)
            .env("PATH", &self.path)
            .env("LANG", "C.UTF-8")
            .env("NO_COLOR", "1")
            .envs(self.zone_vars.iter().map(|(k, v)| (*k, v)));
        // The human output is read in English: LANG above, not a Chinese LC_*.
        for k in crate::common::HFX_ENV
            .iter()
            .chain(&["LC_ALL", "LC_MESSAGES"])
        {
            c.env_remove(k);
        }
        c.kill_on_drop(true);
        c
    }

    async fn run(&self, script: &str, vars: &[(&'static str, String)]) -> Outcome {
        let mut c = self.command("sh");
        c.args(["-eu", "-c", script])
            .envs(vars.iter().map(|(k, v)| (*k, v)))
            .stdin(Stdio::null());
        let out = tokio::time::timeout(Duration::from_secs(300), c.output())
            .await
            .expect("a runbook block ran over 300 s")
            .expect("running sh");
        Outcome {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// The nodes the `serve` block started; killed (and reaped) when dropped.
struct Nodes(Vec<(String, tokio::process::Child, PathBuf)>);

impl Nodes {
    fn logs(&self) -> String {
        self.0
            .iter()
            .map(|(code, _, log)| {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                format!(
                    "--- node {code} ({}):\n{}\n",
                    log.display(),
                    tail.join("\n")
                )
            })
            .collect()
    }

    async fn stop(&mut self) {
        for (_, child, _) in &mut self.0 {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
        self.0.clear();
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for (_, child, _) in &mut self.0 {
            let _ = child.start_kill();
        }
    }
}

fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("binding a free port"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

async fn wait_listening(addr: &str, child: &mut tokio::process::Child, logs: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!("the node exited ({st}) before listening on {addr}\n{logs}");
        }
        assert!(
            Instant::now() < deadline,
            "nothing listens on {addr} after 60 s\n{logs}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn show(block: &Block, who: &str, o: &Outcome) -> String {
    format!(
        "deploy/README.md line {} ({:?} block, {who}) exited {:?}\n--- block:\n{}--- stdout:\n{}--- stderr:\n{}",
        block.line, block.who, o.code, block.text, o.stdout, o.stderr
    )
}

#[tokio::test]
async fn the_runbook_builds_a_two_centre_zone_that_answers_queries() {
    crate::common::init();
    let tmp = tempfile::Builder::new()
        .prefix("hfx-runbook-")
        .tempdir()
        .expect("tempdir");
    let root = tmp.path();
    let bin = root.join("bin");
    let work = root.join("work");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_hfx"), bin.join("hfx")).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
    );
    let ports = free_ports(4);
    let centres: Vec<Centre> = [XUZHOU, LIANYUNGANG]
        .into_iter()
        .zip(ports.chunks(2))
        .map(|(code, p)| {
            let base = root.join(format!("centre-{code}"));
            Centre {
                code,
                etc: base.join("etc"),
                var: base.join("var"),
                desk: base.join("desk"),
                peer_addr: format!("127.0.0.1:{}", p[0]),
                local_addr: format!("127.0.0.1:{}", p[1]),
            }
        })
        .collect();
    let zone = root.join("zone");
    let shell = Shell {
        work: work.clone(),
        path,
        zone_vars: vec![
            ("ZONE", zone.display().to_string()),
            ("XUZHOU_ENDPOINT", centres[0].peer_addr.clone()),
            ("LIANYUNGANG_ENDPOINT", centres[1].peer_addr.clone()),
        ],
    };
    // Each clerk asks the other centre about one of the members its seed made (`hfx seed`'s
    // default population seed, 1, and the README's 200 members cover common::member's range).
    let asked = |c: &Centre| {
        let other = if c.code == XUZHOU {
            LIANYUNGANG
        } else {
            XUZHOU
        };
        (other, crate::common::member(other, AccountStatus::Normal))
    };

    let blocks = blocks(README);
    for who in [Who::Zone, Who::Centre, Who::Serve, Who::Clerk] {
        assert!(
            blocks.iter().any(|b| b.who == who),
            "deploy/README.md has no `sh runbook {who:?}` block"
        );
    }
    let mut nodes = Nodes(Vec::new());
    let mut outputs: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut queried = false;
    let mut revoked = false;
    for b in &blocks {
        match b.who {
            Who::Zone => {
                let o = shell.run(&b.text, &[]).await;
                assert_eq!(o.code, Some(0), "{}\n{}", show(b, "zone", &o), nodes.logs());
                if b.text.contains("hfx certs revoke") {
                    revoked = true;
                }
                outputs.entry(b.line).or_default().push(o.stdout);
            }
            Who::Centre | Who::Clerk => {
                for c in &centres {
                    let mut vars = c.vars();
                    let (peer, m) = asked(c);
                    if b.who == Who::Clerk {
                        vars.push(("PEER", peer.to_string()));
                        vars.push(("ID_NUMBER", m.id_number.clone()));
                        vars.push(("NAME", m.name.clone()));
                    }
                    let o = shell.run(&b.text, &vars).await;
                    assert_eq!(o.code, Some(0), "{}\n{}", show(b, c.code, &o), nodes.logs());
                    if b.who == Who::Clerk {
                        // Answered by the other centre, with the name masked.
                        let masked = hfx_adapters::ids::mask_name(&m.name);
                        assert!(o.stdout.contains(peer), "{}", show(b, c.code, &o));
                        assert!(o.stdout.contains(&masked), "{}", show(b, c.code, &o));
                        assert!(!o.stdout.contains(&m.name), "{}", show(b, c.code, &o));
                        assert!(!o.stdout.contains(&m.id_number), "{}", show(b, c.code, &o));
                    }
                    outputs.entry(b.line).or_default().push(o.stdout);
                }
                if b.who == Who::Clerk && !queried {
                    queried = true;
                    // The clerk the runbook revokes later is accepted until then.
                    let o = revoked_clerk_query(&shell, &centres[0], &asked(&centres[0])).await;
                    assert_eq!(o.code, Some(0), "ck02 before revocation: {}", o.stderr);
                }
            }
            Who::Serve => {
                for c in &centres {
                    let log = c.var.join("node.log");
                    let file = std::fs::File::create(&log).expect("node log");
                    let mut cmd = shell.command("sh");
                    cmd.args(["-eu", "-c", &format!("exec {}", b.text.trim())])
                        .envs(c.vars())
                        .stdin(Stdio::null())
                        .stdout(file.try_clone().expect("log fd"))
                        .stderr(file);
                    let child = cmd.spawn().expect("starting the serve block");
                    nodes.0.push((c.code.to_string(), child, log));
                }
                for (i, c) in centres.iter().enumerate() {
                    let logs = nodes.logs();
                    for addr in [&c.local_addr, &c.peer_addr] {
                        wait_listening(addr, &mut nodes.0[i].1, &logs).await;
                    }
                }
            }
        }
    }
    assert!(queried && revoked, "the runbook queries and revokes");
    let printed = |needle: &str| outputs.values().flatten().any(|o| o.contains(needle));
    // Two centres: the default witness quorum is 1, and `certs init` says it chose it.
    assert!(printed("witness quorum: 1 (default"), "{outputs:?}");
    assert!(printed("all checks passed"), "adapter check: {outputs:?}");

    // The revoked clerk is refused; the other clerk of the centre, asking the same, is not.
    let o = revoked_clerk_query(&shell, &centres[0], &asked(&centres[0])).await;
    assert_ne!(
        o.code,
        Some(0),
        "a revoked clerk was answered: {}",
        o.stdout
    );
    assert!(o.stderr.contains("revoked"), "{}", o.stderr);
    // `--dir` on the zone operator's own folder (as `hfx certs init` made it) works too.
    let mut vars = centres[0].vars();
    vars.push(("ZONE", zone.display().to_string()));
    let o = shell
        .run(
            "hfx status --dir \"$ZONE\" --node \"$CENTRE\" --endpoint \"$LOCAL_ADDR\" --person op01",
            &vars,
        )
        .await;
    assert_eq!(
        o.code,
        Some(0),
        "status --dir ZONE: {}{}",
        o.stdout,
        o.stderr
    );

    nodes.stop().await;
}

/// 徐州's second clerk (the one the runbook revokes) asks as the runbook's clerk does.
async fn revoked_clerk_query(
    shell: &Shell,
    c: &Centre,
    (peer, m): &(&str, hfx_adapters::model::Member),
) -> Outcome {
    let mut vars = c.vars();
    vars.push(("PEER", peer.to_string()));
    vars.push(("ID_NUMBER", m.id_number.clone()));
    vars.push(("NAME", m.name.clone()));
    shell
        .run(
            "hfx member query --dir \"$DESK\" --node \"$CENTRE\" --endpoint \"$LOCAL_ADDR\" \
             --person ck02 --centre \"$PEER\" --id-number \"$ID_NUMBER\" --name \"$NAME\" \
             --purpose identity_confirmation",
            &vars,
        )
        .await
}

/// `hfx` as an operator runs it, in `cwd`; (exit code, stdout + stderr).
async fn hfx(cwd: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = tokio::process::Command::from(crate::common::hfx())
        .args(args)
        .current_dir(cwd)
        .env_remove("HFX_DIR")
        .env_remove("HFX_ENDPOINT")
        .env_remove("HFX_CONFIG")
        .output()
        .await
        .expect("running hfx");
    crate::common::code_and_text(&out)
}

#[tokio::test]
async fn a_folder_that_is_not_a_zone_says_what_it_expected() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().to_str().unwrap();
    // The CLI's --dir, for the local API.
    let (code, out) = hfx(
        tmp.path(),
        &[
            "status", "--dir", empty, "--node", XUZHOU, "--person", "op01",
        ],
    )
    .await;
    assert_eq!(code, Some(1), "{out}");
    for want in [
        "is not a zone folder",
        "trust/root.crt.pem",
        "trust/crl.pem",
        "people/",
        "hfx certs init --dir",
        "hfx demo --dir",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    assert_eq!(
        out.matches("is not a zone folder").count(),
        1,
        "once: {out}"
    );
    // The zone operator's commands.
    let (code, out) = hfx(
        tmp.path(),
        &[
            "certs", "person", "--dir", empty, "--centre", XUZHOU, "--role", "clerk", "--id",
            "ck01",
        ],
    )
    .await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("is not a zone operator's folder") && out.contains("root/root.crt.pem"),
        "{out}"
    );
    // A zone folder without the certificate the command needs names the file and how to get it.
    let zone = tmp.path().join("zone");
    let (code, out) = hfx(
        tmp.path(),
        &[
            "certs",
            "init",
            "--zone",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/zone.toml"),
            "--dir",
            zone.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = hfx(
        tmp.path(),
        &["status", "--dir", zone.to_str().unwrap(), "--node", XUZHOU],
    )
    .await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("certificate of role operator") && out.contains("hfx certs person"),
        "{out}"
    );
}

#[tokio::test]
async fn adapter_check_refuses_a_missing_or_empty_core() {
    let tmp = tempfile::tempdir().unwrap();
    let core = tmp.path().join("core.db");
    let cfg = crate::common::adapter_only_config(
        tmp.path(),
        XUZHOU,
        "[adapter]\nkind = \"sqlite\"\npath = \"core.db\"\n",
    );
    let cfg = cfg.to_str().unwrap();
    // Missing: an error naming the setting, and no file made.
    let (code, out) = hfx(tmp.path(), &["adapter", "check", "--config", cfg]).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("adapter.path") && out.contains(core.to_str().unwrap()),
        "{out}"
    );
    assert!(out.contains("FAILED: connectivity"), "{out}");
    assert!(!core.exists(), "a check must not create the core database");
    // Asked to create it: an empty core, which fails the check by name.
    let cfg = crate::common::adapter_only_config(
        tmp.path(),
        XUZHOU,
        "[adapter]\nkind = \"sqlite\"\npath = \"core.db\"\ncreate = true\n",
    );
    let cfg = cfg.to_str().unwrap();
    let (code, out) = hfx(tmp.path(), &["adapter", "check", "--config", cfg]).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(core.is_file());
    assert!(out.contains("FAILED: sample read"), "{out}");
    assert!(out.contains(hfx_adapters::EMPTY_CORE), "{out}");
    // Seeded (as only a test zone is), it passes.
    let (code, out) = hfx(tmp.path(), &["seed", "--config", cfg, "--members", "5"]).await;
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = hfx(tmp.path(), &["adapter", "check", "--config", cfg]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("all checks passed"), "{out}");
}

#[test]
fn the_runbook_blocks_are_found_and_use_only_the_documented_variables() {
    let blocks = blocks(README);
    assert!(blocks.len() >= 8, "{blocks:?}");
    // Every variable a block uses is in the README's table (or one the block sets itself).
    let documented = [
        "ZONE",
        "XUZHOU_ENDPOINT",
        "LIANYUNGANG_ENDPOINT",
        "CENTRE",
        "ETC",
        "VAR",
        "PEER_ADDR",
        "LOCAL_ADDR",
        "DESK",
        "PEER",
        "ID_NUMBER",
        "NAME",
    ];
    let table: String = README
        .lines()
        .filter(|l| l.starts_with("| `"))
        .collect::<Vec<_>>()
        .join("\n");
    for d in documented {
        assert!(table.contains(&format!("`{d}`")), "{d} is not in the table");
    }
    for b in &blocks {
        let mut rest = b.text.as_str();
        while let Some(i) = rest.find('$') {
            rest = &rest[i + 1..];
            let name: String = rest
                .trim_start_matches('{')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let own = ["c", "f"];
            assert!(
                documented.contains(&name.as_str()) || own.contains(&name.as_str()),
                "deploy/README.md line {}: ${name} is not a documented variable",
                b.line
            );
        }
    }
}
