//! Command-line interface: one file per command group under `cli/`.

mod app;
mod backup;
mod catalog;
mod client;
mod conformance;
mod data;
mod endorse;
mod inspect;
mod key;
mod node;
mod ops;
mod output;
mod relay;
mod remote;
mod resolve;
mod rotate;
mod sync;
mod trust;
mod updates;
mod upload;
mod warnings;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// atoll — publish, discover, trust and run signed container apps, with no central store.
#[derive(Debug, Parser)]
#[command(name = "atoll", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Data directory (keys, catalog, blobs). Default: $ATOLL_HOME, else /var/lib/atoll for
    /// root, else ~/.local/share/atoll.
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Log more (or set ATOLL_LOG, e.g. ATOLL_LOG=atoll=debug).
    #[arg(long, short, global = true)]
    pub verbose: bool,
    #[command(flatten)]
    pub node: client::NodeAddr,
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage publisher keys (did:key identities).
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Validate, sign and verify apps.
    #[command(subcommand)]
    App(app::AppCommand),
    /// Run the node: sync, catalog, orchestrator, HTTP API and web UI.
    Node(node::NodeArgs),
    /// Browse, search and import into the local catalog.
    #[command(subcommand)]
    Catalog(catalog::CatalogCommand),
    /// Pin, block and explain publisher trust.
    #[command(subcommand)]
    Trust(trust::TrustCommand),
    /// Swarm sync: relays, cursors, counters, rejections.
    #[command(subcommand)]
    Sync(sync::SyncCommand),
    /// Run the attack suite on a throwaway node with hostile peers; exit 1 on any FAIL.
    Conformance(conformance::ConformanceArgs),
    /// Back up, restore, export and import an app's data on the running node.
    #[command(subcommand)]
    Backup(backup::BackupCommand),
    /// Data kept from uninstalled apps on the running node: list, delete.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Operate apps on the running node (install, start, stop, …).
    #[command(flatten)]
    Op(ops::OpCommand),
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let home = crate::home::resolve(cli.home)?;
    match cli.command {
        Command::Key(cmd) => key::run(&home, &cli.node, cmd),
        Command::App(cmd) => app::run(&home, &cli.node, cmd),
        Command::Node(args) => node::run(&home, args),
        Command::Catalog(cmd) => catalog::run(&home, cmd),
        Command::Trust(cmd) => trust::run(&home, &cli.node, cmd),
        Command::Sync(cmd) => sync::run(&home, &cli.node, cmd),
        Command::Conformance(args) => conformance::run(args),
        Command::Backup(cmd) => backup::run(&home, &cli.node, cmd),
        Command::Data(cmd) => data::run(&home, &cli.node, cmd),
        Command::Op(cmd) => ops::run(&home, &cli.node, cmd),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use clap::CommandFactory;

    /// Every command line definition is consistent (clap checks names and flags), and
    /// install/update take `--version X` next to atoll's own `--version`.
    #[test]
    fn commands_are_consistent_and_take_a_version() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "atoll",
            "update",
            "did:key:z6Mk/x",
            "--version",
            "1.0.0",
            "--downgrade",
            "--yes",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Op(ops::OpCommand::Update { version: Some(ref v), downgrade: true, yes: true, .. }) if v == "1.0.0"
        ));
        assert!(Cli::try_parse_from(["atoll", "update", "--all", "x"]).is_err());
        assert!(Cli::try_parse_from(["atoll", "update", "x", "--downgrade"]).is_err());
        assert!(Cli::try_parse_from(["atoll", "auto-update", "x", "sometimes"]).is_err());
        assert!(
            Cli::try_parse_from(["atoll", "--version"]).is_err(),
            "prints atoll's version"
        );
    }
}
