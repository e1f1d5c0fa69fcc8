//! The backup record: what a backup holds, in canonical bytes whose BLAKE3 is its id.

use std::collections::{BTreeMap, BTreeSet};

use atoll_registry::Hash;
use serde::{Deserialize, Serialize};

use crate::error::BackupError;

/// The record format this code writes and reads.
pub const FORMAT: u32 = 1;

/// Why a backup was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// Asked for by the operator.
    Manual,
    /// Taken before an update (restored when the update rolls back).
    PreUpdate,
    /// Taken by the schedule (`[backups] every`).
    Scheduled,
    /// The last backup an uninstall left.
    Uninstall,
    /// The data a restore replaced.
    PreRestore,
}

impl Reason {
    /// Is it one the node made by itself and prunes (`[backups] keep`)?
    pub fn is_automatic(self) -> bool {
        matches!(self, Self::Scheduled | Self::PreUpdate)
    }

    /// The name used in the API and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::PreUpdate => "pre-update",
            Self::Scheduled => "scheduled",
            Self::Uninstall => "uninstall",
            Self::PreRestore => "pre-restore",
        }
    }
}

/// How the snapshot was kept consistent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Consistency {
    /// The app was stopped for the snapshot and started again.
    Stopped,
    /// The app was not running.
    NotRunning,
    /// The manifest's `backup.command` ran in its containers; the app kept running.
    Hook,
}

/// One file, directory or symlink of the app's volumes. (Unknown fields are refused by
/// the canonical-form check of [`BackupRecord::from_bytes`].)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path under the app's `volumes/` dir, starting with the volume's name.
    pub path: String,
    /// What it is.
    #[serde(flatten)]
    pub kind: FileKind,
    /// Permission bits (with setuid/setgid/sticky).
    pub mode: u32,
    /// Owner as the container sees it.
    pub uid: u32,
    /// Group as the container sees it.
    pub gid: u32,
    /// Modification time, Unix seconds.
    pub mtime: u64,
}

/// The kind of a [`FileEntry`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum FileKind {
    /// A directory.
    Dir,
    /// A regular file: its bytes are the blob.
    File {
        /// BLAKE3 of the bytes.
        blob: Hash,
        /// Their length.
        size: u64,
    },
    /// A symbolic link.
    Symlink {
        /// Where it points (as written, never followed by a restore).
        target: String,
    },
}

/// One generated secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretEntry {
    /// The secret's name.
    pub name: String,
    /// BLAKE3 of its file.
    pub blob: Hash,
    /// Its length.
    pub size: u64,
}

/// One backup of one app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupRecord {
    /// [`FORMAT`].
    pub format: u32,
    /// Install name of the app.
    pub app: String,
    /// `<did>/<app>` it was installed from, if from a signed entry.
    pub source: Option<String>,
    /// The manifest's app id.
    pub app_id: String,
    /// The version that ran.
    pub version: semver::Version,
    /// BLAKE3 of its manifest.
    pub manifest_hash: Hash,
    /// Why it was made.
    pub reason: Reason,
    /// When, Unix seconds.
    pub created_at: u64,
    /// How it was kept consistent.
    pub consistency: Consistency,
    /// The install's settings.
    pub settings: BTreeMap<String, String>,
    /// The install's host-port overrides (the manifest's host port → the host port
    /// used): a restore that installs the app publishes the same ports.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ports: BTreeMap<u16, u16>,
    /// The volumes' contents, parents before children.
    pub files: Vec<FileEntry>,
    /// The generated secrets (and the markers of the credentials already shown).
    pub secrets: Vec<SecretEntry>,
    /// Paths not backed up (sockets, devices, fifos).
    pub skipped: Vec<String>,
}

impl BackupRecord {
    /// The canonical bytes (compact JSON, fields in declaration order, maps sorted).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The record's id: BLAKE3 of its canonical bytes.
    pub fn id(&self) -> Hash {
        Hash::of(&self.canonical_bytes())
    }

    /// Parse stored or imported bytes, which must be canonical and hash to `id` when given.
    pub fn from_bytes(bytes: &[u8], id: Option<&Hash>, what: &str) -> Result<Self, BackupError> {
        let invalid = |reason: String| BackupError::Invalid {
            what: what.to_owned(),
            reason,
        };
        let record: Self = serde_json::from_slice(bytes)
            .map_err(|e| invalid(format!("not a backup record: {e}")))?;
        if record.format != FORMAT {
            return Err(invalid(format!(
                "record format {} (this node reads {FORMAT})",
                record.format
            )));
        }
        if record.canonical_bytes() != bytes {
            return Err(invalid("the record is not in canonical form".into()));
        }
        if let Some(id) = id {
            let actual = Hash::of(bytes);
            if &actual != id {
                return Err(invalid(format!(
                    "its BLAKE3 is {actual}, not the id {id} it is stored under"
                )));
            }
        }
        record.check(what)?;
        Ok(record)
    }

    /// Every blob with its size (a blob held by two entries appears once).
    pub fn blobs(&self) -> BTreeMap<Hash, u64> {
        let mut out = BTreeMap::new();
        for f in &self.files {
            if let FileKind::File { blob, size } = &f.kind {
                out.insert(*blob, *size);
            }
        }
        for s in &self.secrets {
            out.insert(s.blob, s.size);
        }
        out
    }

    /// Bytes of the app's data it holds (files and secrets).
    pub fn data_bytes(&self) -> u64 {
        let files: u64 = self
            .files
            .iter()
            .map(|f| match f.kind {
                FileKind::File { size, .. } => size,
                _ => 0,
            })
            .sum();
        files + self.secrets.iter().map(|s| s.size).sum::<u64>()
    }

    /// Regular files it holds.
    pub fn file_count(&self) -> usize {
        self.files
            .iter()
            .filter(|f| matches!(f.kind, FileKind::File { .. }))
            .count()
    }

    /// The rules a restore relies on: the app name is a DNS label; paths are relative,
    /// without `.`/`..` or empty parts, unique, and every parent is a directory listed
    /// before (so no entry is written through a symlink); secret names are DNS labels.
    pub fn check(&self, what: &str) -> Result<(), BackupError> {
        let invalid = |reason: String| BackupError::Invalid {
            what: what.to_owned(),
            reason,
        };
        if !crate::labels::valid_app_name(&self.app) {
            return Err(invalid(format!(
                "app name {:?} is not a DNS label",
                self.app
            )));
        }
        let mut dirs = BTreeSet::new();
        let mut seen = BTreeSet::new();
        for (i, f) in self.files.iter().enumerate() {
            let bad = f.path.is_empty()
                || f.path.len() > 4096
                || f.path.starts_with('/')
                || f.path.contains('\0')
                || f.path
                    .split('/')
                    .any(|p| p.is_empty() || p == "." || p == "..");
            if bad {
                return Err(invalid(format!(
                    "files[{i}]: path {:?} is not a clean relative path",
                    clip(&f.path)
                )));
            }
            if !seen.insert(f.path.as_str()) {
                return Err(invalid(format!(
                    "files[{i}]: path {:?} is listed twice",
                    clip(&f.path)
                )));
            }
            match f.path.rsplit_once('/') {
                None if f.kind != FileKind::Dir => {
                    return Err(invalid(format!(
                        "files[{i}]: {:?} at the top must be a volume directory",
                        clip(&f.path)
                    )))
                }
                Some((parent, _)) if !dirs.contains(parent) => {
                    return Err(invalid(format!(
                        "files[{i}]: the parent of {:?} is not a directory listed before it",
                        clip(&f.path)
                    )))
                }
                _ => {}
            }
            if f.kind == FileKind::Dir {
                dirs.insert(f.path.as_str());
            }
            if let FileKind::Symlink { target } = &f.kind {
                if target.is_empty() || target.len() > 4096 || target.contains('\0') {
                    return Err(invalid(format!("files[{i}]: bad symlink target")));
                }
            }
            if f.mode > 0o7777 {
                return Err(invalid(format!(
                    "files[{i}]: mode {:o} is not a permission mode",
                    f.mode
                )));
            }
        }
        let mut names = BTreeSet::new();
        for (i, s) in self.secrets.iter().enumerate() {
            if !is_secret_file(&s.name) || !names.insert(s.name.as_str()) {
                return Err(invalid(format!(
                    "secrets[{i}]: name {:?} is not a unique DNS label",
                    clip(&s.name)
                )));
            }
        }
        Ok(())
    }
}

/// A file of the secrets dir a backup holds: a secret (its name, a DNS label) or the
/// marker that its credential was shown (`<name>.shown`).
pub(crate) fn is_secret_file(name: &str) -> bool {
    let base = name.strip_suffix(".shown").unwrap_or(name);
    atoll_registry::names::is_dns_label(base)
}

fn clip(s: &str) -> String {
    s.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> BackupRecord {
        BackupRecord {
            format: FORMAT,
            app: "notes".into(),
            source: None,
            app_id: "notes".into(),
            version: semver::Version::new(1, 0, 0),
            manifest_hash: Hash::of(b"m"),
            reason: Reason::Manual,
            created_at: 1,
            consistency: Consistency::Stopped,
            settings: BTreeMap::new(),
            ports: BTreeMap::new(),
            files: vec![
                FileEntry {
                    path: "data".into(),
                    kind: FileKind::Dir,
                    mode: 0o700,
                    uid: 0,
                    gid: 0,
                    mtime: 1,
                },
                FileEntry {
                    path: "data/a".into(),
                    kind: FileKind::File {
                        blob: Hash::of(b"a"),
                        size: 1,
                    },
                    mode: 0o644,
                    uid: 1000,
                    gid: 1000,
                    mtime: 1,
                },
            ],
            secrets: vec![],
            skipped: vec![],
        }
    }

    #[test]
    fn ids_are_the_hash_of_the_canonical_bytes_and_are_checked() {
        let r = record();
        let bytes = r.canonical_bytes();
        let id = r.id();
        assert_eq!(BackupRecord::from_bytes(&bytes, Some(&id), "r").unwrap(), r);
        let mut tampered = bytes.clone();
        let at = tampered.iter().rposition(|b| *b == b'1').unwrap();
        tampered[at] = b'2';
        let e = BackupRecord::from_bytes(&tampered, Some(&id), "r").unwrap_err();
        assert!(e.to_string().contains("BLAKE3"), "{e}");
    }

    #[test]
    fn paths_that_climb_or_pass_through_symlinks_are_refused() {
        for bad in ["../x", "data/../../x", "/etc/passwd", "data//a", "nodir/a"] {
            let mut r = record();
            r.files[1].path = bad.into();
            assert!(r.check("r").is_err(), "{bad} was accepted");
        }
        let mut r = record();
        r.files[1] = FileEntry {
            path: "data/link".into(),
            kind: FileKind::Symlink {
                target: "/etc".into(),
            },
            ..r.files[1].clone()
        };
        let mut through = r.files[0].clone();
        through.path = "data/link/passwd".into();
        r.files.push(through);
        let e = r.check("r").unwrap_err();
        assert!(e.to_string().contains("parent"), "{e}");
    }
}
