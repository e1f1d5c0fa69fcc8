//! `atoll`: the one binary — publisher CLI, operator CLI and the node.

use std::process::ExitCode;

use atoll::cli;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    // At debug, nostr-sdk's relay pool logs every message it receives whole (up to 1 MiB
    // from a stranger's relay): keep it at info even with --verbose.
    // The attack suite makes its throwaway node warn on purpose: its table is the output.
    let quiet = matches!(args.command, cli::Command::Conformance(_));
    let filter = tracing_subscriber::EnvFilter::try_from_env("ATOLL_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(match (args.verbose, quiet) {
            (true, _) => "debug,nostr_relay_pool=info,nostr_sdk=info",
            (false, true) => "off",
            (false, false) => "warn",
        })
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}
