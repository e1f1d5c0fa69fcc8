//! `atoll node [--config F] [--listen ADDR] [--demo]`, `atoll node token` and
//! `atoll node admin-id`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use crate::node::{self, NodeConfig, NodeOptions};

/// Run the node.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct NodeArgs {
    /// TOML configuration file (see docs/atoll.example.toml) [default: <home>/atoll.toml
    /// if it exists, else the built-in defaults].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// HTTP API and web UI address [default: 127.0.0.1:7878].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Publish the sample apps with a local demo publisher and trust it.
    #[arg(long)]
    pub demo: bool,
    /// With --demo, also publish the sample apps' other versions (`apps/<id>/versions/
    /// <version>.yml`, e.g. hello-static 1.1.0 with release notes and a 1.2.0 whose health
    /// check fails), so updates, a failed update and a rollback can be tried.
    #[arg(long, requires = "demo")]
    pub demo_versions: bool,
    /// Sample apps for --demo.
    #[arg(long, value_name = "DIR", default_value = "apps")]
    pub apps: PathBuf,
    #[command(subcommand)]
    pub command: Option<NodeCommand>,
}

/// Node subcommands.
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Print the admin token (for scripts and the web UI's mutating actions).
    Token,
    /// Print this CLI's iroh endpoint id (made on first use, in <home>/cli-iroh.key): a
    /// node whose `[admin] iroh_keys` lists it may be administered from here with
    /// `--node iroh://…`.
    AdminId,
}

/// Run `atoll node`.
pub fn run(home: &Path, args: NodeArgs) -> Result<()> {
    if let Some(NodeCommand::AdminId) = args.command {
        let key = super::remote::load_or_create_key(home)?;
        println!("{}", super::remote::id_hex(&key.public()));
        return Ok(());
    }
    let found = NodeConfig::find(home, args.config.as_deref())?;
    let (mut config, data_dir) = (found.config, found.data_dir);
    if let Some(NodeCommand::Token) = args.command {
        let path = node::token::path(&data_dir);
        let t = node::token::read(&path).with_context(|| {
            format!(
                "no admin token at {}: start the node on this data dir once (`atoll node`)",
                path.display()
            )
        })?;
        println!("{t}");
        return Ok(());
    }
    if let Some(l) = args.listen {
        config.listen = l;
    }
    let opts = NodeOptions {
        config,
        data_dir,
        demo: args.demo,
        demo_versions: args.demo_versions,
        apps_dir: args.apps,
    };
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(node::run(opts, node::shutdown_signal(), None))
}
