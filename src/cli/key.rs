//! `atoll key new|list|show`.

use std::path::Path;

use anyhow::{Context, Result};
use atoll_registry::KeyStore;
use clap::Subcommand;

use super::output;

/// Key commands.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a new publisher key (file mode 0600, never overwritten).
    New {
        /// Key name (a-z A-Z 0-9 . _ -).
        name: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the keys in the data directory.
    List {
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a key's DID and the Nostr public key derived from the same seed.
    Show {
        /// Key name.
        name: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Run a key command.
pub fn run(home: &Path, cmd: KeyCommand) -> Result<()> {
    let store = KeyStore::new(home);
    match cmd {
        KeyCommand::New { name, json } => {
            let info = store.create(&name)?;
            if json {
                return output::json(&info);
            }
            println!("created key {:?}", info.name);
            println!("  did:   {}", info.did);
            println!("  nostr: {}", info.npub);
            println!(
                "  file:  {} (mode 0600; back it up, it is your identity)",
                info.path.display()
            );
            Ok(())
        }
        KeyCommand::List { json } => {
            let keys = store.list().context("listing keys")?;
            let mut good = Vec::new();
            for k in keys {
                match k {
                    Ok(info) => good.push(info),
                    Err(e) => eprintln!("warning: {e}"),
                }
            }
            if json {
                return output::json(&good);
            }
            if good.is_empty() {
                println!(
                    "no keys in {}; create one with `atoll key new <name>`",
                    store.dir().display()
                );
            }
            let width = good.iter().map(|k| k.name.len()).max().unwrap_or(0);
            for k in &good {
                println!("{:width$}  {}", k.name, k.did);
            }
            Ok(())
        }
        KeyCommand::Show { name, json } => {
            let info = store.show(&name)?;
            if json {
                return output::json(&info);
            }
            println!("name:         {}", info.name);
            println!("did:          {}", info.did);
            println!("nostr pubkey: {}", info.nostr_pubkey);
            println!("npub:         {}", info.npub);
            println!("file:         {}", info.path.display());
            Ok(())
        }
    }
}
