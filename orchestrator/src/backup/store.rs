//! Where backups live: `<data>/backups/{blobs,records,tmp}`, each 0700. Blobs and records
//! are written to `tmp/`, synced and renamed into place, so a crash or a full disk never
//! leaves a half-written blob or record under its name.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use atoll_registry::Hash;
use serde::Serialize;

use super::record::{BackupRecord, Consistency, Reason};
use crate::error::BackupError;

/// The backups of one node.
#[derive(Debug)]
pub struct BackupStore {
    root: PathBuf,
    /// Held while a backup adds blobs and while blobs are collected, so a collection never
    /// removes a blob a backup being written already counts on.
    writing: Mutex<()>,
}

/// One backup as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupSummary {
    /// The record's id (BLAKE3 of its canonical bytes, hex).
    pub id: String,
    /// Install name of the app.
    pub app: String,
    /// `<did>/<app>` it was installed from.
    pub source: Option<String>,
    /// The version that ran.
    pub version: String,
    /// Why it was made.
    pub reason: Reason,
    /// When, Unix seconds.
    pub created_at: u64,
    /// How it was kept consistent.
    pub consistency: Consistency,
    /// Regular files in the volumes.
    pub files: usize,
    /// Secrets.
    pub secrets: usize,
    /// Bytes of data (files and secrets).
    pub bytes: u64,
    /// Is the app installed on this node (false: an uninstalled app left it)?
    pub installed: bool,
}

impl BackupSummary {
    /// The summary of a record; `installed`: is its app installed on this node.
    pub fn of(record: &BackupRecord, installed: bool) -> Self {
        Self {
            id: record.id().to_hex(),
            app: record.app.clone(),
            source: record.source.clone(),
            version: record.version.to_string(),
            reason: record.reason,
            created_at: record.created_at,
            consistency: record.consistency,
            files: record.file_count(),
            secrets: record.secrets.len(),
            bytes: record.data_bytes(),
            installed,
        }
    }
}

static TMP: AtomicU64 = AtomicU64::new(0);

impl BackupStore {
    /// The store under `<data>/backups`.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            root: data_dir.join("backups"),
            writing: Mutex::new(()),
        }
    }

    /// `<data>/backups`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, ()> {
        self.writing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn blobs(&self) -> PathBuf {
        self.root.join("blobs")
    }

    fn records_dir(&self) -> PathBuf {
        self.root.join("records")
    }

    /// The file of a blob.
    pub fn blob_path(&self, hash: &Hash) -> PathBuf {
        self.blobs().join(hash.to_hex())
    }

    fn ensure_dirs(&self) -> Result<(), BackupError> {
        for d in [
            self.root.clone(),
            self.blobs(),
            self.records_dir(),
            self.root.join("tmp"),
        ] {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&d)
                .map_err(|e| BackupError::io("create", &d, e))?;
        }
        Ok(())
    }

    /// A new temporary file under `tmp/` (0600).
    pub(crate) fn temp_file(&self) -> Result<(PathBuf, std::fs::File), BackupError> {
        self.ensure_dirs()?;
        let path = self.root.join("tmp").join(format!(
            "{}.{}",
            std::process::id(),
            TMP.fetch_add(1, Ordering::SeqCst)
        ));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| BackupError::io("create", &path, e))?;
        Ok((path, file))
    }

    /// Store the bytes `from` yields as a blob; returns its hash and size. A blob that is
    /// new is added to `added` (removed again if the backup fails).
    pub(crate) fn put_blob(
        &self,
        from: &mut dyn Read,
        added: &mut Vec<Hash>,
    ) -> Result<(Hash, u64), BackupError> {
        let (tmp, mut file) = self.temp_file()?;
        let result = (|| {
            let mut hasher = blake3::Hasher::new();
            let mut buf = vec![0u8; 256 * 1024];
            let mut size = 0u64;
            loop {
                let n = from
                    .read(&mut buf)
                    .map_err(|e| BackupError::io("read the data for", &tmp, e))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                file.write_all(&buf[..n])
                    .map_err(|e| BackupError::io("write", &tmp, e))?;
                size += n as u64;
            }
            file.sync_all()
                .map_err(|e| BackupError::io("sync", &tmp, e))?;
            Ok((Hash::from(hasher.finalize()), size))
        })();
        drop(file);
        let (hash, size) = match result {
            Ok(x) => x,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        let dst = self.blob_path(&hash);
        if dst.exists() {
            let _ = std::fs::remove_file(&tmp);
        } else {
            std::fs::rename(&tmp, &dst).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                BackupError::io("store", &dst, e)
            })?;
            added.push(hash);
        }
        Ok((hash, size))
    }

    /// Store a record (after all its blobs): from now on it is listed.
    pub(crate) fn save(&self, record: &BackupRecord) -> Result<Hash, BackupError> {
        let bytes = record.canonical_bytes();
        let id = record.id();
        let (tmp, mut file) = self.temp_file()?;
        let written = file
            .write_all(&bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| BackupError::io("write", &tmp, e));
        drop(file);
        let dst = self.records_dir().join(format!("{}.json", id.to_hex()));
        let result = written.and_then(|()| {
            std::fs::rename(&tmp, &dst).map_err(|e| BackupError::io("store", &dst, e))
        });
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result?;
        if let Ok(d) = std::fs::File::open(self.records_dir()) {
            let _ = d.sync_all();
        }
        Ok(id)
    }

    /// Remove blobs a failed backup added (none of them is in a record).
    pub(crate) fn discard(&self, added: &[Hash]) {
        for h in added {
            let _ = std::fs::remove_file(self.blob_path(h));
        }
    }

    /// Every stored backup, newest first. A record that does not verify is skipped with a
    /// warning (and kept, for a person to look at).
    pub fn records(&self) -> Result<Vec<BackupRecord>, BackupError> {
        let dir = self.records_dir();
        let read = match std::fs::read_dir(&dir) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(BackupError::io("list", &dir, e)),
        };
        let mut out = Vec::new();
        for item in read {
            let item = item.map_err(|e| BackupError::io("list", &dir, e))?;
            let name = item.file_name().to_string_lossy().into_owned();
            let Some(id) = name
                .strip_suffix(".json")
                .and_then(|h| h.parse::<Hash>().ok())
            else {
                continue;
            };
            match self.load(&id) {
                Ok(r) => out.push(r),
                Err(e) => {
                    tracing::warn!(record = %name, error = %e, "skipping a backup record that does not verify")
                }
            }
        }
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.app.cmp(&b.app)));
        Ok(out)
    }

    fn load(&self, id: &Hash) -> Result<BackupRecord, BackupError> {
        let path = self.records_dir().join(format!("{}.json", id.to_hex()));
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BackupError::NotFound(id.to_hex()))
            }
            Err(e) => return Err(BackupError::io("read", &path, e)),
        };
        BackupRecord::from_bytes(&bytes, Some(id), &format!("backup {id}"))
    }

    /// One backup by its id (hex) or a unique prefix of at least 8 hex digits.
    pub fn get(&self, id: &str) -> Result<BackupRecord, BackupError> {
        if let Ok(h) = id.parse::<Hash>() {
            return self.load(&h);
        }
        let valid = id.len() >= 8 && id.len() < 64 && id.bytes().all(|b| b.is_ascii_hexdigit());
        if !valid {
            return Err(BackupError::NotFound(id.chars().take(64).collect()));
        }
        let id = id.to_ascii_lowercase();
        let mut found = self
            .records()?
            .into_iter()
            .filter(|r| r.id().to_hex().starts_with(&id));
        match (found.next(), found.next()) {
            (Some(r), None) => Ok(r),
            (Some(_), Some(_)) => Err(BackupError::Invalid {
                what: format!("backup id {id}"),
                reason: "more than one backup starts with it; give more digits".into(),
            }),
            _ => Err(BackupError::NotFound(id)),
        }
    }

    /// Is every blob of `record` present with its size?
    pub fn complete(&self, record: &BackupRecord) -> Result<(), BackupError> {
        for (hash, size) in record.blobs() {
            let path = self.blob_path(&hash);
            let len = std::fs::metadata(&path)
                .map_err(|e| BackupError::io("find blob", &path, e))?
                .len();
            if len != size {
                return Err(BackupError::Invalid {
                    what: format!("blob {hash}"),
                    reason: format!("{len} bytes stored, {size} expected"),
                });
            }
        }
        Ok(())
    }

    /// Open a blob for reading.
    pub fn open_blob(&self, hash: &Hash) -> Result<std::fs::File, BackupError> {
        let path = self.blob_path(hash);
        std::fs::File::open(&path).map_err(|e| BackupError::io("open blob", &path, e))
    }

    /// Delete a backup, then every blob no backup holds any more.
    pub fn delete(&self, record: &BackupRecord) -> Result<(), BackupError> {
        let _lock = self.lock();
        let path = self
            .records_dir()
            .join(format!("{}.json", record.id().to_hex()));
        std::fs::remove_file(&path).map_err(|e| BackupError::io("delete", &path, e))?;
        self.collect()
    }

    /// Remove unreferenced blobs and stale temporary files (caller holds the lock).
    fn collect(&self) -> Result<(), BackupError> {
        let held: BTreeSet<Hash> = self
            .records()?
            .iter()
            .flat_map(|r| r.blobs().into_keys())
            .collect();
        let dir = self.blobs();
        let Ok(read) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        for item in read.flatten() {
            let name = item.file_name().to_string_lossy().into_owned();
            if name.parse::<Hash>().is_ok_and(|h| !held.contains(&h)) {
                let _ = std::fs::remove_file(item.path());
            }
        }
        Ok(())
    }
}
