//! `atoll key new|list|show|rotate|export|import`.

use std::path::{Path, PathBuf};

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
    /// Show a key's identity DID, its current key DID and rotation index, and the Nostr
    /// public key derived from the current key.
    Show {
        /// Key name.
        name: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make the identity's next key current: sign a rotation with it (revealing it and
    /// committing to the one after) and a new profile, publish both (through the running
    /// node when one answers, else offline), then advance the key file.
    Rotate(super::rotate::RotateArgs),
    /// Write the key's one secret (root seed and current index: it restores every derived
    /// key) to a new file, mode 0600. Never overwrites.
    Export {
        /// Key name.
        name: String,
        /// The backup file to create.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Restore a key from a backup written by `atoll key export` (refused if other users
    /// can read the file; never overwrites a key).
    Import {
        /// Key name to store it under.
        name: String,
        /// The backup file.
        file: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Run a key command.
pub fn run(home: &Path, addr: &super::client::NodeAddr, cmd: KeyCommand) -> Result<()> {
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
            println!("key:          {} (index {})", info.key_did, info.index);
            println!("nostr pubkey: {}", info.nostr_pubkey);
            println!("npub:         {}", info.npub);
            println!("file:         {}", info.path.display());
            Ok(())
        }
        KeyCommand::Rotate(args) => super::rotate::run(home, addr, &args),
        KeyCommand::Export { name, out, json } => {
            let info = store
                .export(&name, &out)
                .with_context(|| format!("exporting key {name:?}"))?;
            if json {
                return output::json(&info);
            }
            println!(
                "exported key {:?} to {} (mode 0600)",
                info.name,
                out.display()
            );
            println!("  did:   {}", info.did);
            println!("  index: {}", info.index);
            println!("  it restores every key of this identity: keep it offline");
            Ok(())
        }
        KeyCommand::Import { name, file, json } => {
            let info = store
                .import(&name, &file)
                .with_context(|| format!("importing {}", file.display()))?;
            if json {
                return output::json(&info);
            }
            println!("imported key {:?}", info.name);
            println!("  did:   {}", info.did);
            println!("  key:   {} (index {})", info.key_did, info.index);
            Ok(())
        }
    }
}
