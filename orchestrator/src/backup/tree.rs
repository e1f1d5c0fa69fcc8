//! Reading an app's data into a backup and writing a backup back, through
//! `podman unshare tar` for the volumes (see the module docs of [`crate::backup`]).

use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use atoll_registry::Hash;
use serde::Serialize;

use super::record::{BackupRecord, FileEntry, FileKind, SecretEntry};
use super::store::BackupStore;
use crate::error::BackupError;
use crate::host::PodmanHost;

/// What a snapshot read from an app's data dir.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    pub files: Vec<FileEntry>,
    pub secrets: Vec<SecretEntry>,
    pub skipped: Vec<String>,
}

/// The app's data as it is now (what a restore would replace).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CurrentData {
    /// Regular files in the volumes.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// The newest modification time among them (and their dirs), Unix seconds.
    pub newest_mtime: Option<u64>,
    /// Secret files.
    pub secrets: u64,
}

/// What a restore replaces: the current data against the backup's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Replaces {
    /// The data there now.
    pub current: CurrentData,
    /// When the backup was made.
    pub backup_time: u64,
    /// Files in the backup.
    pub backup_files: usize,
    /// Bytes in the backup.
    pub backup_bytes: u64,
    /// The current data holds changes made after the backup.
    pub current_is_newer: bool,
}

impl Replaces {
    pub(crate) fn new(current: CurrentData, record: &BackupRecord) -> Self {
        Self {
            current_is_newer: current.newest_mtime.is_some_and(|m| m > record.created_at),
            current,
            backup_time: record.created_at,
            backup_files: record.file_count(),
            backup_bytes: record.data_bytes(),
        }
    }
}

/// A child that is killed and reaped if it is dropped before it was waited for.
struct Reaped(Option<Child>);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn stderr_reader(child: &mut Child) -> std::thread::JoinHandle<String> {
    let mut err = child.stderr.take();
    std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = err.as_mut() {
            let _ = e.take(64 * 1024).read_to_string(&mut s);
        }
        s
    })
}

fn finish(
    mut child: Reaped,
    stderr: std::thread::JoinHandle<String>,
    what: &str,
    ok_codes: &[i32],
) -> Result<(), BackupError> {
    let status = child
        .0
        .take()
        .map(|mut c| c.wait())
        .transpose()
        .map_err(|e| BackupError::Tool {
            what: what.to_owned(),
            detail: e.to_string(),
        })?;
    let err = stderr.join().unwrap_or_default();
    match status.and_then(|s| s.code()) {
        Some(0) => Ok(()),
        Some(c) if ok_codes.contains(&c) => {
            tracing::warn!(%what, code = c, stderr = %err.trim(), "finished with warnings");
            Ok(())
        }
        other => Err(BackupError::Tool {
            what: what.to_owned(),
            detail: format!("exit {other:?}: {}", err.trim()),
        }),
    }
}

/// The volume dirs of an app (names, sorted).
fn volume_names(app_dir: &Path) -> Result<Vec<String>, BackupError> {
    let dir = app_dir.join("volumes");
    let read = match std::fs::read_dir(&dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(BackupError::io("list", &dir, e)),
    };
    let mut names: Vec<String> = read
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| atoll_registry::names::is_dns_label(n))
        .collect();
    names.sort();
    Ok(names)
}

/// Read the app's volumes and secrets into blobs of `store`; new blobs go to `added`.
pub(crate) fn snapshot_data(
    host: &PodmanHost,
    app_dir: &Path,
    store: &BackupStore,
    added: &mut Vec<Hash>,
) -> Result<Snapshot, BackupError> {
    let mut snap = Snapshot::default();
    let volumes = volume_names(app_dir)?;
    if !volumes.is_empty() {
        read_volumes(host, app_dir, &volumes, store, added, &mut snap)?;
    }
    let dir = crate::secrets::dir(app_dir);
    if let Ok(read) = std::fs::read_dir(&dir) {
        let mut names: Vec<String> = read
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| super::record::is_secret_file(n))
            .collect();
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let mut f =
                std::fs::File::open(&path).map_err(|e| BackupError::io("read", &path, e))?;
            let (blob, size) = store.put_blob(&mut f, added)?;
            snap.secrets.push(SecretEntry { name, blob, size });
        }
    }
    Ok(snap)
}

fn read_volumes(
    host: &PodmanHost,
    app_dir: &Path,
    volumes: &[String],
    store: &BackupStore,
    added: &mut Vec<Hash>,
    snap: &mut Snapshot,
) -> Result<(), BackupError> {
    let what = "podman unshare tar --create (reading the volumes)";
    let mut cmd = host.std_command();
    cmd.args([
        "unshare",
        "tar",
        "--create",
        "--file=-",
        "--numeric-owner",
        "--hard-dereference",
        "--",
    ])
    .args(volumes)
    // The volumes dir itself may be the node's (0711): entered, not opened, so the
    // podman user reaches the volume dirs beneath it by name.
    .current_dir(app_dir.join("volumes"))
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| BackupError::Tool {
        what: what.to_owned(),
        detail: e.to_string(),
    })?;
    let stderr = stderr_reader(&mut child);
    let stdout = child.stdout.take();
    let child = Reaped(Some(child));
    let Some(stdout) = stdout else {
        return Err(BackupError::Tool {
            what: what.to_owned(),
            detail: "no output".into(),
        });
    };
    let bad = |e: std::io::Error| BackupError::Tool {
        what: what.to_owned(),
        detail: format!("reading its tar stream: {e}"),
    };
    let mut archive = tar::Archive::new(stdout);
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let path = entry.path().map_err(bad)?.to_string_lossy().into_owned();
        let path = path.trim_end_matches('/').to_owned();
        let header = entry.header();
        let mode = header.mode().map_err(bad)? & 0o7777;
        let uid = u32::try_from(header.uid().map_err(bad)?).unwrap_or(u32::MAX);
        let gid = u32::try_from(header.gid().map_err(bad)?).unwrap_or(u32::MAX);
        let mtime = header.mtime().map_err(bad)?;
        let kind = match header.entry_type() {
            tar::EntryType::Directory => FileKind::Dir,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let (blob, size) = store.put_blob(&mut entry, added)?;
                FileKind::File { blob, size }
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(bad)?
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                FileKind::Symlink { target }
            }
            other => {
                tracing::warn!(%path, kind = ?other, "not backed up: not a file, dir or symlink");
                snap.skipped.push(path);
                continue;
            }
        };
        snap.files.push(FileEntry {
            path,
            kind,
            mode,
            uid,
            gid,
            mtime,
        });
    }
    drop(archive);
    // GNU tar exits 1 when a file changed while it was read (only possible with a hook).
    finish(child, stderr, what, &[1])
}

/// Remove a tree of the app's data dir (owned by container users).
fn remove_tree(host: &PodmanHost, path: &Path) -> Result<(), BackupError> {
    if !path.exists() && path.symlink_metadata().is_err() {
        return Ok(());
    }
    if host.switches_user() {
        return std::fs::remove_dir_all(path).map_err(|e| BackupError::io("remove", path, e));
    }
    let what = format!("podman unshare rm -rf {}", path.display());
    let out = host
        .std_command()
        .args(["unshare", "rm", "-rf", "--"])
        .arg(path)
        .output()
        .map_err(|e| BackupError::Tool {
            what: what.clone(),
            detail: e.to_string(),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(BackupError::Tool {
            what,
            detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

fn make_dir(path: &Path, mode: u32) -> Result<(), BackupError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .map_err(|e| BackupError::io("create", path, e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| BackupError::io("chmod", path, e))
}

/// Reads a blob and checks its hash and size at the end.
struct Checked<R> {
    inner: R,
    hasher: blake3::Hasher,
    read: u64,
}

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

fn check_blob<R>(c: &Checked<R>, blob: &Hash, size: u64) -> Result<(), BackupError> {
    let actual = Hash::from(c.hasher.finalize());
    if &actual != blob || c.read != size {
        return Err(BackupError::Invalid {
            what: format!("blob {blob}"),
            reason: format!("stored copy has {} bytes hashing to {actual}", c.read),
        });
    }
    Ok(())
}

/// Put the data of `record` back into `app_dir`, replacing its volumes and secrets. The
/// backup's copy is written completely beside the current data first (checking every
/// blob), then swapped in; the data it replaced is deleted only after the swap.
pub(crate) fn restore_data(
    host: &PodmanHost,
    app_dir: &Path,
    record: &BackupRecord,
    store: &BackupStore,
) -> Result<(), BackupError> {
    store.complete(record)?;
    for d in [app_dir.parent().unwrap_or(app_dir), app_dir] {
        if !d.is_dir() {
            make_dir(d, 0o711)?;
        }
    }
    let staged_volumes = app_dir.join(".restore-volumes");
    let staged_secrets = app_dir.join(".restore-secrets");
    remove_tree(host, &staged_volumes)?;
    remove_tree(host, &staged_secrets)?;
    let result = stage(host, record, store, &staged_volumes, &staged_secrets);
    if let Err(e) = result {
        let _ = remove_tree(host, &staged_volumes);
        let _ = remove_tree(host, &staged_secrets);
        return Err(e);
    }
    for (staged, live) in [
        (staged_volumes, app_dir.join("volumes")),
        (staged_secrets, crate::secrets::dir(app_dir)),
    ] {
        let name = live
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let old = app_dir.join(format!(".replaced-{name}"));
        remove_tree(host, &old)?;
        if live.symlink_metadata().is_ok() {
            std::fs::rename(&live, &old).map_err(|e| BackupError::io("move aside", &live, e))?;
        }
        std::fs::rename(&staged, &live)
            .map_err(|e| BackupError::io("move into place", &live, e))?;
        remove_tree(host, &old)?;
    }
    Ok(())
}

fn stage(
    host: &PodmanHost,
    record: &BackupRecord,
    store: &BackupStore,
    volumes: &Path,
    secrets: &Path,
) -> Result<(), BackupError> {
    make_dir(volumes, 0o711)?;
    if host.switches_user() {
        // The user namespace's root (the podman user) writes the tree.
        std::os::unix::fs::chown(volumes, Some(host.uid()), Some(host.gid()))
            .map_err(|e| BackupError::io("chown", volumes, e))?;
    }
    if !record.files.is_empty() {
        write_volumes(host, record, store, volumes)?;
    }
    make_dir(secrets, 0o700)?;
    for s in &record.secrets {
        let path = secrets.join(&s.name);
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| BackupError::io("create", &path, e))?;
        let mut from = Checked {
            inner: store.open_blob(&s.blob)?,
            hasher: blake3::Hasher::new(),
            read: 0,
        };
        std::io::copy(&mut from, &mut out).map_err(|e| BackupError::io("write", &path, e))?;
        check_blob(&from, &s.blob, s.size)?;
        out.sync_all()
            .map_err(|e| BackupError::io("sync", &path, e))?;
    }
    Ok(())
}

fn write_volumes(
    host: &PodmanHost,
    record: &BackupRecord,
    store: &BackupStore,
    into: &Path,
) -> Result<(), BackupError> {
    let what = "podman unshare tar --extract (writing the volumes)";
    let mut cmd = host.std_command();
    cmd.args([
        "unshare",
        "tar",
        "--extract",
        "--file=-",
        "--numeric-owner",
        "--same-owner",
        "--same-permissions",
        "--directory",
    ])
    .arg(into)
    .stdin(Stdio::piped())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| BackupError::Tool {
        what: what.to_owned(),
        detail: e.to_string(),
    })?;
    let stderr = stderr_reader(&mut child);
    let stdin = child.stdin.take();
    let child = Reaped(Some(child));
    let Some(stdin) = stdin else {
        return Err(BackupError::Tool {
            what: what.to_owned(),
            detail: "no input".into(),
        });
    };
    let broken = |e: std::io::Error| BackupError::Tool {
        what: what.to_owned(),
        detail: format!("writing its tar stream: {e}"),
    };
    let mut builder = tar::Builder::new(stdin);
    for f in &record.files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(f.mode);
        h.set_uid(u64::from(f.uid));
        h.set_gid(u64::from(f.gid));
        h.set_mtime(f.mtime);
        match &f.kind {
            FileKind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                builder
                    .append_data(&mut h, &f.path, std::io::empty())
                    .map_err(broken)?;
            }
            FileKind::File { blob, size } => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(*size);
                let mut from = Checked {
                    inner: store.open_blob(blob)?.take(*size),
                    hasher: blake3::Hasher::new(),
                    read: 0,
                };
                builder
                    .append_data(&mut h, &f.path, &mut from)
                    .map_err(broken)?;
                check_blob(&from, blob, *size)?;
            }
            FileKind::Symlink { target } => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                builder
                    .append_link(&mut h, &f.path, target)
                    .map_err(broken)?;
            }
        }
    }
    let mut stdin = builder.into_inner().map_err(broken)?;
    stdin.flush().map_err(broken)?;
    drop(stdin);
    finish(child, stderr, what, &[])
}

/// Count the app's current data (through `podman unshare find`).
pub(crate) fn current_data(host: &PodmanHost, app_dir: &Path) -> Result<CurrentData, BackupError> {
    let mut out = CurrentData::default();
    let volumes = volume_names(app_dir)?;
    if !volumes.is_empty() {
        let what = "podman unshare find (counting the current data)";
        let dirs: Vec<PathBuf> = volumes
            .iter()
            .map(|v| app_dir.join("volumes").join(v))
            .collect();
        let run = host
            .std_command()
            .args(["unshare", "find"])
            .args(&dirs)
            .args(["-printf", "%y %s %T@\\n"])
            .output()
            .map_err(|e| BackupError::Tool {
                what: what.to_owned(),
                detail: e.to_string(),
            })?;
        if !run.status.success() {
            return Err(BackupError::Tool {
                what: what.to_owned(),
                detail: String::from_utf8_lossy(&run.stderr).trim().to_owned(),
            });
        }
        for line in String::from_utf8_lossy(&run.stdout).lines() {
            let mut f = line.split(' ');
            let (Some(kind), Some(size), Some(mtime)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            let mtime = mtime.split('.').next().and_then(|m| m.parse::<u64>().ok());
            out.newest_mtime = out.newest_mtime.max(mtime);
            if kind == "f" {
                out.files += 1;
                out.bytes += size.parse::<u64>().unwrap_or(0);
            }
        }
    }
    if let Ok(read) = std::fs::read_dir(crate::secrets::dir(app_dir)) {
        out.secrets = read
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .count() as u64;
    }
    Ok(out)
}
