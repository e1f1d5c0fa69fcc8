//! Publisher keys: an ed25519 seed that names a did:key and, derived from the same seed,
//! the Nostr transport key.
//!
//! Rotation (docs/design.md, "Key rotation"): the seed in a key file is the *root secret*.
//! k0's DID names the identity forever. A new key ([`Derivation::Separated`]) derives
//! every key, k0 included, from the root ([`derive_separated_seed`]); an older file's
//! seed is k0 itself and only k_i (i ≥ 1) is derived ([`derive_seed`]). Either way one
//! secret restores every key. The file records the current index (no index: 0). The Nostr key follows the current key; the iroh key stays
//! derived from the root so a publisher's node id never changes. Key files live in `<home>/keys/<name>.key`, mode 0600, in a
//! directory of mode 0700. A key file or key directory that other users can reach is
//! refused, and so is a key file that is a symbolic link, not a regular file, or larger
//! than [`MAX_KEY_FILE_BYTES`] (read through [`crate::fsread`]).

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Serialize};

use crate::did::Did;
use crate::fsread::{self, FileError};

/// Largest key file accepted (a real one is about 250 bytes).
pub const MAX_KEY_FILE_BYTES: u64 = 4096;

/// Domain-separation context for deriving the Nostr (secp256k1) key from the ed25519 seed.
const NOSTR_CONTEXT: &str = "atoll 2026-11 nostr transport key from ed25519 seed v1";
/// Domain-separation context for deriving the iroh node key from the ed25519 seed.
const IROH_CONTEXT: &str = "atoll 2026-11 iroh node key from ed25519 seed v1";
/// Domain-separation context for deriving rotation key k_i (i ≥ 1) from the root seed.
const ROTATION_CONTEXT: &str = "atoll 2026-12 rotation key v1";
/// Domain-separation context for deriving every key, k0 included, of a root whose first
/// key is derived too ([`Derivation::Separated`]).
const SEPARATED_CONTEXT: &str = "atoll 2026-12 identity key from root secret v1";
/// Type tag of a key file.
const KEY_FILE_TYPE: &str = "atoll/key/v1";

/// The seed of key `index` of the identity whose root secret (k0's seed) is `root`:
/// `root` itself for index 0, else `BLAKE3-derive_key("atoll 2026-12 rotation key v1",
/// root ‖ index as 8 bytes big-endian)`.
pub fn derive_seed(root: &[u8; 32], index: u64) -> [u8; 32] {
    if index == 0 {
        return *root;
    }
    let mut h = blake3::Hasher::new_derive_key(ROTATION_CONTEXT);
    h.update(root);
    h.update(&index.to_be_bytes());
    *h.finalize().as_bytes()
}

/// How an identity's keys come from its root secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Derivation {
    /// k0 is the root secret itself ([`derive_seed`]): key files written before the
    /// separated derivation, and [`Keypair::from_seed`]. A stolen k0 is a stolen root
    /// (its holder derives k1 and can rotate), so rotation recovers from the theft of
    /// k1 and later keys only.
    #[default]
    RootIsFirst,
    /// Every key, k0 included, is derived from the root ([`derive_separated_seed`]), so
    /// a stolen current key, k0 as any other, reveals nothing of the next one: what
    /// `atoll key new` makes.
    Separated,
}

impl Derivation {
    /// The seed of key `index` under this derivation.
    pub fn seed(self, root: &[u8; 32], index: u64) -> [u8; 32] {
        match self {
            Self::RootIsFirst => derive_seed(root, index),
            Self::Separated => derive_separated_seed(root, index),
        }
    }
}

/// The seed of key `index` (0 included) of a root under [`Derivation::Separated`]:
/// `BLAKE3-derive_key("atoll 2026-12 identity key from root secret v1", root ‖ index as 8
/// bytes big-endian)`.
pub fn derive_separated_seed(root: &[u8; 32], index: u64) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key(SEPARATED_CONTEXT);
    h.update(root);
    h.update(&index.to_be_bytes());
    *h.finalize().as_bytes()
}

/// What went wrong with a key or the key store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key name is not usable as a file name.
    #[error(
        "invalid key name {0:?}: use 1-64 characters from a-z A-Z 0-9 . _ -, not starting with '.'"
    )]
    InvalidName(String),
    /// A key with that name already exists; keys are never overwritten.
    #[error(
        "key {name:?} already exists at {path}; keys are never overwritten (pick another name)"
    )]
    Exists {
        /// Key name.
        name: String,
        /// Where it is.
        path: PathBuf,
    },
    /// No key with that name.
    #[error("no key named {name:?} (looked for {path}); create one with `atoll key new {name}`")]
    NotFound {
        /// Key name.
        name: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The key file can be read by other users.
    #[error("key file {path} has mode {mode:o}, readable by other users; refusing to use it. Fix it with `chmod 600 {path}`")]
    Permissions {
        /// Key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key directory can be reached by other users (group or other permission bits).
    #[error("key directory {path} has mode {mode:o}, open to other users; refusing to use it. Fix it with `chmod 700 {path}`")]
    DirPermissions {
        /// Key directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key directory is not a directory.
    #[error("key directory {path} is not a directory")]
    NotADir {
        /// Where the key directory should be.
        path: PathBuf,
    },
    /// The key file could not be read safely (a symbolic link, not a regular file, too
    /// large, unreadable).
    #[error("key file: {0}")]
    File(FileError),
    /// The key file is not a valid atoll key file.
    #[error("key file {path} is malformed: {problem}")]
    Malformed {
        /// Key file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        problem: KeyFileProblem,
    },
    /// The key file's rotation index changed while a rotation was being prepared.
    #[error(
        "key {name:?} is at index {found}, expected {expected}: another rotation ran meanwhile"
    )]
    IndexMoved {
        /// Key name.
        name: String,
        /// The index the rotation started from.
        expected: u64,
        /// The index in the file now.
        found: u64,
    },
    /// The operating system's random source failed.
    #[error("no randomness available from the operating system: {0}")]
    Random(#[source] getrandom::Error),
    /// Deriving the Nostr key failed (never expected: probability about 2^-128 per try).
    #[error("could not derive a Nostr key from the seed")]
    Derivation,
    /// File system error.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// What is wrong inside a key file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileProblem {
    /// Not JSON of the key file's shape.
    #[error("{0}")]
    Json(#[source] serde_json::Error),
    /// Another file type.
    #[error("type is {0:?}, expected {KEY_FILE_TYPE:?}")]
    WrongType(String),
    /// The seed is not 32 bytes of hex.
    #[error("seed is not 64 hex characters")]
    Seed,
    /// The derivation is not one this version knows.
    #[error("derivation is {0:?}; this version knows only \"separated\" (or none)")]
    Derivation(String),
    /// The seed does not produce the DID the file names.
    #[error("the seed belongs to {seed}, but the file says {file}")]
    WrongDid {
        /// The DID of the seed.
        seed: Box<Did>,
        /// The DID written in the file.
        file: Box<Did>,
    },
}

/// An ed25519 signing key: the secret behind a publisher's did:key, at a rotation index.
///
/// [`Keypair::did`] is the identity (k0's DID, forever); [`Keypair::key_did`] is the key
/// that signs now (k_index). They are the same until the first rotation.
pub struct Keypair {
    /// The current key, k_index.
    signing: SigningKey,
    /// The root secret (k0's seed under [`Derivation::RootIsFirst`]).
    root: SigningKey,
    /// The first key's public half: the identity.
    first: ed25519_dalek::VerifyingKey,
    index: u64,
    derivation: Derivation,
}

impl Keypair {
    /// A new identity from the operating system's random source: a random root, every
    /// key derived from it ([`Derivation::Separated`]).
    pub fn generate() -> Result<Self, KeyError> {
        let mut root = [0u8; 32];
        getrandom::fill(&mut root).map_err(KeyError::Random)?;
        Ok(Self::derived(root, 0, Derivation::Separated))
    }

    /// The key of a 32-byte seed (deterministic; used by tests and key files).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self::from_root(seed, 0)
    }

    /// Key `index` of the identity whose root secret is `root` and whose k0 is the root
    /// (see [`derive_seed`]).
    pub fn from_root(root: [u8; 32], index: u64) -> Self {
        Self::derived(root, index, Derivation::RootIsFirst)
    }

    /// Key `index` of the identity of `root` under `derivation`.
    pub fn derived(root: [u8; 32], index: u64, derivation: Derivation) -> Self {
        Self {
            signing: SigningKey::from_bytes(&derivation.seed(&root, index)),
            first: SigningKey::from_bytes(&derivation.seed(&root, 0)).verifying_key(),
            root: SigningKey::from_bytes(&root),
            index,
            derivation,
        }
    }

    /// How this identity's keys come from its root.
    pub fn derivation(&self) -> Derivation {
        self.derivation
    }

    /// The current key alone, as a thief who stole it (and not the root) holds it: it
    /// signs as this key does, but derives no later key of this identity. For tests and
    /// the attack suite.
    pub fn current_key_only(&self) -> Self {
        Self::from_seed(self.signing.to_bytes())
    }

    /// The publisher identity: the DID of k0, whatever the rotation index.
    pub fn did(&self) -> Did {
        Did::from_verifying_key(self.first)
    }

    /// The DID of the key that signs now (k_index; the identity's DID at index 0).
    pub fn key_did(&self) -> Did {
        Did::from_verifying_key(self.signing.verifying_key())
    }

    /// The rotation index of the current key.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The same identity at the next rotation index (k_{index+1} current).
    pub fn next(&self) -> Self {
        Self::derived(
            self.root.to_bytes(),
            self.index.saturating_add(1),
            self.derivation,
        )
    }

    /// The commitment to the next key (k_{index+1}) that this key's profiles and
    /// rotations carry as `next_key`.
    pub fn next_key_commitment(&self) -> String {
        crate::rotation::key_commitment(&self.next().key_did())
    }

    /// Sign raw bytes (callers sign canonical bytes only; see [`crate::envelope`]).
    pub fn sign(&self, message: &[u8]) -> ed25519_dalek::Signature {
        self.signing.sign(message)
    }

    /// The Nostr transport keys derived deterministically from the same seed.
    pub fn nostr_keys(&self) -> Result<nostr::Keys, KeyError> {
        (0u8..=255)
            .find_map(|counter| {
                let mut h = blake3::Hasher::new_derive_key(NOSTR_CONTEXT);
                h.update(self.signing.as_bytes());
                h.update(&[counter]);
                nostr::SecretKey::from_slice(h.finalize().as_bytes()).ok()
            })
            .map(nostr::Keys::new)
            .ok_or(KeyError::Derivation)
    }

    /// Secret bytes for this publisher's iroh node key, derived with its own context so the
    /// node id is not the DID key (key separation). Derived from the root, so it survives
    /// rotations.
    pub fn iroh_secret_bytes(&self) -> [u8; 32] {
        blake3::derive_key(IROH_CONTEXT, self.root.as_bytes())
    }

    /// The root secret (k0's seed): what a key file and a backup hold.
    fn seed(&self) -> [u8; 32] {
        self.root.to_bytes()
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Keypair({}, key {} at index {}, secret redacted)",
            self.did(),
            self.key_did(),
            self.index
        )
    }
}

/// On-disk form of a key file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    did: Did,
    seed: String,
    /// The current rotation index (absent in files written before rotation: 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    index: u64,
    /// `"separated"`: every key, k0 included, is derived from the seed (the root).
    /// Absent: k0 is the seed itself (files written before; [`Derivation::RootIsFirst`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    derivation: Option<String>,
}

/// The key file's word for [`Derivation::Separated`].
const SEPARATED: &str = "separated";

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Public facts about a stored key (never the secret).
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    /// Key name.
    pub name: String,
    /// The did:key of the identity (k0, forever).
    pub did: Did,
    /// The did:key that signs now (k_index).
    pub key_did: Did,
    /// The current rotation index (0 before the first rotation).
    pub index: u64,
    /// Nostr public key (of the current key), hex (x-only, BIP-340).
    pub nostr_pubkey: String,
    /// Nostr public key, NIP-19 `npub`.
    pub npub: String,
    /// Key file.
    pub path: PathBuf,
}

/// The directory of named publisher keys.
#[derive(Debug, Clone)]
pub struct KeyStore {
    dir: PathBuf,
}

impl KeyStore {
    /// The key store under an atoll home directory (`<home>/keys`).
    pub fn new(home: &Path) -> Self {
        Self {
            dir: home.join("keys"),
        }
    }

    /// Where the keys live.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_of(&self, name: &str) -> Result<PathBuf, KeyError> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !ok {
            return Err(KeyError::InvalidName(name.chars().take(80).collect()));
        }
        Ok(self.dir.join(format!("{name}.key")))
    }

    /// Create a new random key; fails if the name is taken.
    pub fn create(&self, name: &str) -> Result<KeyInfo, KeyError> {
        self.insert(name, &Keypair::generate()?)
    }

    /// Store a given key under a new name (file created 0600, never overwritten).
    pub fn insert(&self, name: &str, key: &Keypair) -> Result<KeyInfo, KeyError> {
        let path = self.path_of(name)?;
        self.ensure_dir()?;
        let body = file_body(name, key, &path)?;
        write_new(&path, &body).map_err(|e| match e {
            KeyError::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists => {
                KeyError::Exists {
                    name: name.to_owned(),
                    path: path.clone(),
                }
            }
            other => other,
        })?;
        info(name, key, path)
    }

    /// Make key `index + 1` current in the key file of `name`, atomically (a new file
    /// 0600 written beside it and renamed over it). Refuses when the file's index is no
    /// longer `expected` (another rotation ran meanwhile). Returns the key now current.
    pub fn advance(&self, name: &str, expected: u64) -> Result<Keypair, KeyError> {
        let key = self.load(name)?;
        if key.index() != expected {
            return Err(KeyError::IndexMoved {
                name: name.to_owned(),
                expected,
                found: key.index(),
            });
        }
        let next = key.next();
        let path = self.path_of(name)?;
        let tmp = self.dir.join(format!(".{name}.key.rotate"));
        let io = |action: &'static str, path: &Path| {
            let path = path.to_owned();
            move |source| KeyError::Io {
                action,
                path,
                source,
            }
        };
        let _ = fs::remove_file(&tmp);
        write_new(&tmp, &file_body(name, &next, &path)?)?;
        fs::rename(&tmp, &path).map_err(io("replacing key file", &path))?;
        if let Ok(dir) = fs::File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(next)
    }

    /// Write the one secret of key `name` (root seed and current index: every derived key
    /// comes back from it) to `out`, mode 0600. Never overwrites a file.
    pub fn export(&self, name: &str, out: &Path) -> Result<KeyInfo, KeyError> {
        let key = self.load(name)?;
        write_new(out, &file_body(name, &key, out)?).map_err(|e| match e {
            KeyError::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists => {
                KeyError::Exists {
                    name: name.to_owned(),
                    path: out.to_owned(),
                }
            }
            other => other,
        })?;
        info(name, &key, out.to_owned())
    }

    /// Store the backup `file` (written by [`KeyStore::export`]) as key `name`. Refuses a
    /// backup other users can read, and never overwrites a key.
    pub fn import(&self, name: &str, file: &Path) -> Result<KeyInfo, KeyError> {
        self.path_of(name)?;
        let key = load_file(file, name)?;
        self.insert(name, &key)
    }

    /// Create the key directory (mode 0700) if it does not exist, else check it.
    fn ensure_dir(&self) -> Result<(), KeyError> {
        let io = |action| {
            let path = self.dir.clone();
            move |source| KeyError::Io {
                action,
                path,
                source,
            }
        };
        if let Some(parent) = self.dir.parent() {
            fs::create_dir_all(parent).map_err(io("creating the parent of"))?;
        }
        match fs::DirBuilder::new().mode(0o700).create(&self.dir) {
            Ok(()) => fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
                .map_err(io("restricting")),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => self.check_dir().map(|_| ()),
            Err(e) => Err(io("creating")(e)),
        }
    }

    /// Check the key directory: `Ok(false)` when it does not exist, an error when it is
    /// not a directory or other users can reach it (group/other bits set).
    fn check_dir(&self) -> Result<bool, KeyError> {
        let meta = match fs::metadata(&self.dir) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(source) => {
                return Err(KeyError::Io {
                    action: "inspecting key directory",
                    path: self.dir.clone(),
                    source,
                })
            }
        };
        if !meta.is_dir() {
            return Err(KeyError::NotADir {
                path: self.dir.clone(),
            });
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::DirPermissions {
                path: self.dir.clone(),
                mode,
            });
        }
        Ok(true)
    }

    /// Load a key by name, refusing a key file or key directory other users can reach.
    pub fn load(&self, name: &str) -> Result<Keypair, KeyError> {
        let path = self.path_of(name)?;
        self.check_dir()?;
        load_file(&path, name)
    }

    /// Public facts about a key by name.
    pub fn show(&self, name: &str) -> Result<KeyInfo, KeyError> {
        let key = self.load(name)?;
        info(name, &key, self.path_of(name)?)
    }

    /// Every key in the store, sorted by name. Unreadable files are reported as errors.
    pub fn list(&self) -> Result<Vec<Result<KeyInfo, KeyError>>, KeyError> {
        if !self.check_dir()? {
            return Ok(Vec::new());
        }
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(KeyError::Io {
                    action: "listing keys in",
                    path: self.dir.clone(),
                    source,
                })
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".key"))
                    .map(str::to_owned)
            })
            .collect();
        names.sort();
        Ok(names.iter().map(|n| self.show(n)).collect())
    }
}

/// The key file of `key` under `name`, as bytes.
fn file_body(name: &str, key: &Keypair, path: &Path) -> Result<Vec<u8>, KeyError> {
    let file = KeyFile {
        kind: KEY_FILE_TYPE.to_owned(),
        name: name.to_owned(),
        did: key.did(),
        seed: hex::encode(key.seed()),
        index: key.index(),
        derivation: (key.derivation() == Derivation::Separated).then(|| SEPARATED.to_owned()),
    };
    let mut body = serde_json::to_vec_pretty(&file).map_err(|e| KeyError::Malformed {
        path: path.to_owned(),
        problem: KeyFileProblem::Json(e),
    })?;
    body.push(b'\n');
    Ok(body)
}

/// Create `path` (mode 0600, never over an existing file) holding `body`, synced.
fn write_new(path: &Path, body: &[u8]) -> Result<(), KeyError> {
    let io = |action: &'static str| {
        let path = path.to_owned();
        move |source| KeyError::Io {
            action,
            path,
            source,
        }
    };
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io("creating key file"))?;
    f.write_all(body).map_err(io("writing key file"))?;
    f.sync_all().map_err(io("syncing key file"))
}

fn info(name: &str, key: &Keypair, path: PathBuf) -> Result<KeyInfo, KeyError> {
    let nostr = key.nostr_keys()?.public_key();
    let npub = nostr::nips::nip19::ToBech32::to_bech32(&nostr).map_err(|_| KeyError::Derivation)?;
    Ok(KeyInfo {
        name: name.to_owned(),
        did: key.did(),
        key_did: key.key_did(),
        index: key.index(),
        nostr_pubkey: nostr.to_hex(),
        npub,
        path,
    })
}

fn load_file(path: &Path, name: &str) -> Result<Keypair, KeyError> {
    let opened = match fsread::open_regular(path, MAX_KEY_FILE_BYTES) {
        Ok(f) => f,
        Err(FileError::Missing { .. }) => {
            return Err(KeyError::NotFound {
                name: name.to_owned(),
                path: path.to_owned(),
            })
        }
        Err(e) => return Err(KeyError::File(e)),
    };
    // The mode of the opened handle (fstat), not of whatever the path names a moment later.
    let mode = opened.metadata().permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions {
            path: path.to_owned(),
            mode,
        });
    }
    let malformed = |problem: KeyFileProblem| KeyError::Malformed {
        path: path.to_owned(),
        problem,
    };
    let body = opened.read_all().map_err(KeyError::File)?;
    let file: KeyFile =
        serde_json::from_slice(&body).map_err(|e| malformed(KeyFileProblem::Json(e)))?;
    if file.kind != KEY_FILE_TYPE {
        return Err(malformed(KeyFileProblem::WrongType(file.kind)));
    }
    let mut seed = [0u8; 32];
    hex::decode_to_slice(file.seed.trim(), &mut seed)
        .map_err(|_| malformed(KeyFileProblem::Seed))?;
    let derivation = match file.derivation.as_deref() {
        None => Derivation::RootIsFirst,
        Some(SEPARATED) => Derivation::Separated,
        Some(other) => return Err(malformed(KeyFileProblem::Derivation(other.to_owned()))),
    };
    let key = Keypair::derived(seed, file.index, derivation);
    if key.did() != file.did {
        return Err(malformed(KeyFileProblem::WrongDid {
            seed: Box::new(key.did()),
            file: Box::new(file.did),
        }));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn create_is_0600_and_never_overwrites() {
        let home = tempfile::tempdir().unwrap();
        let store = KeyStore::new(home.path());
        let info = store.create("alice").unwrap();
        let mode = fs::metadata(&info.path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let before = fs::read(&info.path).unwrap();
        assert!(matches!(
            store.create("alice"),
            Err(KeyError::Exists { .. })
        ));
        assert_eq!(fs::read(&info.path).unwrap(), before);
        assert_eq!(store.load("alice").unwrap().did(), info.did);
        let listed = store.list().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].as_ref().unwrap().did, info.did);
    }

    #[test]
    fn group_or_world_readable_key_is_refused_with_the_fix() {
        let home = tempfile::tempdir().unwrap();
        let store = KeyStore::new(home.path());
        let info = store.create("bob").unwrap();
        fs::set_permissions(&info.path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = store.load("bob").unwrap_err();
        assert!(matches!(err, KeyError::Permissions { mode: 0o644, .. }));
        assert!(err.to_string().contains("chmod 600"));
    }

    #[test]
    fn a_key_directory_open_to_others_is_refused_with_the_fix() {
        let home = tempfile::tempdir().unwrap();
        let store = KeyStore::new(home.path());
        store.create("dave").unwrap();
        let mode = fs::metadata(store.dir()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        for bad in [0o777, 0o750, 0o702] {
            fs::set_permissions(store.dir(), fs::Permissions::from_mode(bad)).unwrap();
            let err = store.load("dave").unwrap_err();
            assert!(
                matches!(err, KeyError::DirPermissions { mode, .. } if mode == bad),
                "{err}"
            );
            assert!(
                err.to_string()
                    .contains(&format!("chmod 700 {}", store.dir().display())),
                "{err}"
            );
            assert!(matches!(store.list(), Err(KeyError::DirPermissions { .. })));
            // Creating a key does not quietly repair (and so hide) an open directory.
            assert!(matches!(
                store.create("erin"),
                Err(KeyError::DirPermissions { .. })
            ));
            assert!(!store.dir().join("erin.key").exists());
        }
        fs::set_permissions(store.dir(), fs::Permissions::from_mode(0o700)).unwrap();
        store.load("dave").unwrap();
    }

    #[test]
    fn key_files_that_are_links_fifos_or_huge_are_refused() {
        let home = tempfile::tempdir().unwrap();
        let store = KeyStore::new(home.path());
        let info = store.create("frank").unwrap();
        let elsewhere = home.path().join("frank.key");
        fs::rename(&info.path, &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &info.path).unwrap();
        let err = store.load("frank").unwrap_err();
        assert!(err.to_string().contains("is a symbolic link"), "{err}");

        fs::remove_file(&info.path).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &info.path,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let err = store.load("frank").unwrap_err();
        assert!(
            err.to_string().contains("is a FIFO, not a regular file"),
            "{err}"
        );

        fs::remove_file(&info.path).unwrap();
        let f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&info.path)
            .unwrap();
        f.set_len(1 << 30).unwrap();
        let err = store.load("frank").unwrap_err();
        assert!(
            matches!(
                err,
                KeyError::File(FileError::TooLarge {
                    max: MAX_KEY_FILE_BYTES,
                    ..
                })
            ),
            "{err}"
        );
    }

    #[test]
    fn bad_names_and_tampered_files_are_rejected() {
        let home = tempfile::tempdir().unwrap();
        let store = KeyStore::new(home.path());
        for bad in ["", "../x", ".hidden", "a/b", &"n".repeat(65)] {
            assert!(
                matches!(store.create(bad), Err(KeyError::InvalidName(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            store.load("nobody"),
            Err(KeyError::NotFound { .. })
        ));
        let info = store.create("carol").unwrap();
        let text = fs::read_to_string(&info.path).unwrap();
        let other = Keypair::from_seed([7; 32]).did().to_string();
        fs::write(&info.path, text.replace(&info.did.to_string(), &other)).unwrap();
        assert!(matches!(
            store.load("carol"),
            Err(KeyError::Malformed { .. })
        ));
    }

    #[test]
    fn nostr_key_is_deterministic_and_distinct_from_the_did_key() {
        let a = Keypair::from_seed([1; 32]);
        let b = Keypair::from_seed([1; 32]);
        let na = a.nostr_keys().unwrap().public_key();
        assert_eq!(na, b.nostr_keys().unwrap().public_key());
        assert_ne!(na.to_bytes(), a.did().public_bytes());
        assert_ne!(a.iroh_secret_bytes(), [1; 32]);
        assert!(!format!("{a:?}").contains("0101"));
    }

    #[test]
    fn rotation_advances_the_file_and_old_files_without_index_still_load() {
        let home = tempfile::tempdir().unwrap();
        let store = KeyStore::new(home.path());
        let info = store.create("rot").unwrap();
        // A file written before rotation existed: no index field.
        let text = fs::read_to_string(&info.path).unwrap();
        assert!(!text.contains("index"), "{text}");
        // A new key derives k0 from its root too (a stolen k0 does not reveal k1).
        assert!(text.contains("\"derivation\": \"separated\""), "{text}");
        let k0 = store.load("rot").unwrap();
        assert_eq!((k0.index(), k0.key_did()), (0, info.did));
        let k1 = store.advance("rot", 0).unwrap();
        assert_eq!(k1.index(), 1);
        assert_eq!(k1.did(), info.did);
        assert_ne!(k1.key_did(), info.did);
        let mode = fs::metadata(&info.path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = store.load("rot").unwrap();
        assert_eq!((again.index(), again.key_did()), (1, k1.key_did()));
        // A second rotation prepared from index 0 is refused: the file moved on.
        assert!(matches!(
            store.advance("rot", 0),
            Err(KeyError::IndexMoved { found: 1, .. })
        ));
        // Export keeps the index; import restores the same keys.
        let backup = home.path().join("backup");
        store.export("rot", &backup).unwrap();
        let restored = store.import("back", &backup).unwrap();
        assert_eq!(
            (restored.did, restored.key_did, restored.index),
            (info.did, k1.key_did(), 1)
        );
        assert!(matches!(
            store.export("rot", &backup),
            Err(KeyError::Exists { .. })
        ));
    }
}
