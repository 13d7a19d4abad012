//! Every flag and argument of every command says what it is for in `--help`.

use super::Cli;
use clap::CommandFactory;

/// `path` of every argument under `cmd` (recursively) that has no help text; clap's own
/// `--help` and `--version` are excepted.
fn without_help(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        if matches!(id, "help" | "version") {
            continue;
        }
        let has = |s: Option<&clap::builder::StyledStr>| {
            s.is_some_and(|s| !s.to_string().trim().is_empty())
        };
        if !has(arg.get_help()) && !has(arg.get_long_help()) {
            out.push(format!(
                "{path} {}",
                arg.get_long()
                    .map_or_else(|| id.to_string(), |l| format!("--{l}"))
            ));
        }
    }
    for sub in cmd.get_subcommands() {
        without_help(sub, &format!("{path} {}", sub.get_name()), out);
    }
}

#[test]
fn every_argument_of_every_command_has_help_text() {
    let cmd = Cli::command();
    cmd.clone().debug_assert();
    let mut missing = Vec::new();
    without_help(&cmd, "hfx", &mut missing);
    assert!(
        missing.is_empty(),
        "arguments without help text ({}):\n  {}",
        missing.len(),
        missing.join("\n  ")
    );
}

#[test]
fn the_walk_sees_flattened_and_nested_arguments() {
    // The check above must look where arguments hide: a flattened struct (Conn) two levels
    // down, and a subcommand group's own Args struct.
    let cmd = Cli::command();
    let query = cmd
        .find_subcommand("member")
        .and_then(|m| m.find_subcommand("query"))
        .expect("hfx member query");
    assert!(
        query
            .get_arguments()
            .any(|a| a.get_long() == Some("endpoint"))
    );
    let mut all = Vec::new();
    let mut bare = clap::Command::new("t").arg(clap::Arg::new("x").long("x"));
    bare = bare.subcommand(clap::Command::new("s").arg(clap::Arg::new("y").long("y")));
    without_help(&bare, "t", &mut all);
    assert_eq!(all, ["t --x", "t s --y"]);
}

#[test]
fn audit_export_help_describes_the_file() {
    let mut cmd = Cli::command();
    let export = cmd
        .find_subcommand_mut("audit")
        .and_then(|a| a.find_subcommand_mut("export"))
        .expect("hfx audit export");
    let help = export.render_long_help().to_string();
    for word in [
        "hfx-log-export 1",
        "entries <N>",
        "checkpoints <K>",
        "cosignatures <C>",
        "disclosures <D>",
        "payloads <P>",
        "one record a line",
    ] {
        assert!(
            help.contains(word),
            "`hfx audit export --help` never says {word}:\n{help}"
        );
    }
}
