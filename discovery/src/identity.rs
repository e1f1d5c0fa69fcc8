//! The node key: one ed25519 seed in `<data>/node.key` (mode 0600) gives the iroh node id,
//! the did:key that signs mirror announcements (the same public key) and the Nostr key
//! that carries them (derived with its own context).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use atoll_registry::{Did, Keypair};

/// File name of the node key in the data dir.
pub const NODE_KEY_FILE: &str = "node.key";

/// Why the node key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeKeyError {
    /// File system error.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was done.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is readable by others.
    #[error("node key {path} has mode {mode:o}; fix it with `chmod 600 {path}`")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its mode.
        mode: u32,
    },
    /// The key file is not a small regular file (a link, a FIFO, too large).
    #[error("node key: {source}")]
    File {
        /// Why it could not be read.
        source: atoll_registry::fsread::FileError,
    },
    /// The file does not hold 64 hex characters.
    #[error("node key {0} is not 64 hex characters")]
    Malformed(PathBuf),
    /// No randomness.
    #[error("cannot create a node key: {0}")]
    Key(#[from] atoll_registry::KeyError),
}

/// A node's identity.
pub struct NodeKey {
    seed: [u8; 32],
    keypair: Keypair,
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeKey({}, secret redacted)", self.keypair.did())
    }
}

impl Clone for NodeKey {
    fn clone(&self) -> Self {
        Self::from_seed(self.seed)
    }
}

impl NodeKey {
    /// The key of a seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            seed,
            keypair: Keypair::from_seed(seed),
        }
    }

    /// Load `<dir>/node.key`, creating it (0600) on first use.
    pub fn load_or_create(dir: &Path) -> Result<Self, NodeKeyError> {
        let path = dir.join(NODE_KEY_FILE);
        let io = |action: &'static str, path: &Path| {
            let path = path.to_owned();
            move |source| NodeKeyError::Io {
                action,
                path,
                source,
            }
        };
        match std::fs::metadata(&path) {
            Ok(meta) => {
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(NodeKeyError::Permissions { path, mode });
                }
                // A seed in hex is 64 bytes; a node key file is never more than a line.
                let text = atoll_registry::fsread::open_regular(&path, 4096)
                    .and_then(|f| f.read_string())
                    .map_err(|source| NodeKeyError::File { source })?;
                let mut seed = [0u8; 32];
                hex::decode_to_slice(text.trim(), &mut seed)
                    .map_err(|_| NodeKeyError::Malformed(path.clone()))?;
                Ok(Self::from_seed(seed))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
                let mut seed = [0u8; 32];
                getrandom_seed(&mut seed)?;
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(io("creating", &path))?;
                f.write_all(format!("{}\n", hex::encode(seed)).as_bytes())
                    .map_err(io("writing", &path))?;
                f.sync_all().map_err(io("syncing", &path))?;
                Ok(Self::from_seed(seed))
            }
            Err(e) => Err(io("reading", &path)(e)),
        }
    }

    /// The did:key of the node key (signs mirror announcements).
    pub fn did(&self) -> Did {
        self.keypair.did()
    }

    /// The signing key.
    pub fn keypair(&self) -> &Keypair {
        &self.keypair
    }

    /// The iroh secret key (same public key as [`NodeKey::did`]).
    pub fn iroh_secret(&self) -> iroh::SecretKey {
        iroh::SecretKey::from_bytes(&self.seed)
    }

    /// The Nostr key that carries the node's announcements.
    pub fn nostr_keys(&self) -> Result<nostr_sdk::Keys, NodeKeyError> {
        Ok(self.keypair.nostr_keys()?)
    }
}

fn getrandom_seed(seed: &mut [u8; 32]) -> Result<(), NodeKeyError> {
    getrandom::fill(seed).map_err(|e| NodeKeyError::Key(atoll_registry::KeyError::Random(e)))
}
