//! One backup as one file: a tar of `atoll-backup/record.json` followed by
//! `atoll-backup/blobs/<hash>` for every blob it holds. [`import`] verifies the record's
//! rules, every blob's BLAKE3 and size and that none is missing or extra before it stores
//! anything: a truncated or tampered file is refused, naming what is wrong.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;

use atoll_registry::Hash;

use super::record::BackupRecord;
use super::store::BackupStore;
use crate::error::BackupError;

const RECORD: &str = "atoll-backup/record.json";
const BLOBS: &str = "atoll-backup/blobs/";
/// Largest record accepted on import.
pub const MAX_RECORD: u64 = 64 * 1024 * 1024;

/// Write `record` and its blobs as one tar stream to `out`; returns the bytes of data.
pub fn export(
    store: &BackupStore,
    record: &BackupRecord,
    out: impl Write,
) -> Result<u64, BackupError> {
    store.complete(record)?;
    let broken = |e: std::io::Error| BackupError::Io {
        op: "write the export",
        path: PathBuf::from("-"),
        source: e,
    };
    let mut b = tar::Builder::new(out);
    let bytes = record.canonical_bytes();
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o600);
    h.set_size(bytes.len() as u64);
    h.set_mtime(record.created_at);
    b.append_data(&mut h, RECORD, bytes.as_slice())
        .map_err(broken)?;
    let mut total = 0;
    for (hash, size) in record.blobs() {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o600);
        h.set_size(size);
        h.set_mtime(record.created_at);
        let file = store.open_blob(&hash)?;
        b.append_data(&mut h, format!("{BLOBS}{}", hash.to_hex()), file.take(size))
            .map_err(broken)?;
        total += size;
    }
    b.into_inner().map_err(broken)?.flush().map_err(broken)?;
    Ok(total)
}

/// Read an export from `input`, verify all of it, then store it. Returns the record.
pub fn import(store: &BackupStore, input: impl Read) -> Result<BackupRecord, BackupError> {
    let mut staged: Vec<(Hash, PathBuf)> = Vec::new();
    let result = read_verified(store, input, &mut staged);
    let record = match result {
        Ok(r) => r,
        Err(e) => {
            for (_, p) in &staged {
                let _ = std::fs::remove_file(p);
            }
            return Err(e);
        }
    };
    let _lock = store.lock();
    let mut added = Vec::new();
    let moved = (|| {
        for (hash, tmp) in &staged {
            let dst = store.blob_path(hash);
            if dst.exists() {
                let _ = std::fs::remove_file(tmp);
                continue;
            }
            std::fs::rename(tmp, &dst).map_err(|e| BackupError::io("store", &dst, e))?;
            added.push(*hash);
        }
        store.save(&record)
    })();
    if let Err(e) = moved {
        for (_, p) in &staged {
            let _ = std::fs::remove_file(p);
        }
        store.discard(&added);
        return Err(e);
    }
    Ok(record)
}

fn invalid(what: impl Into<String>, reason: impl Into<String>) -> BackupError {
    BackupError::Invalid {
        what: what.into(),
        reason: reason.into(),
    }
}

fn read_verified(
    store: &BackupStore,
    input: impl Read,
    staged: &mut Vec<(Hash, PathBuf)>,
) -> Result<BackupRecord, BackupError> {
    let broken = |e: std::io::Error| {
        invalid(
            "the backup file",
            format!("is truncated or not a backup export ({e})"),
        )
    };
    let mut archive = tar::Archive::new(input);
    let mut entries = archive.entries().map_err(broken)?;
    let mut first = entries
        .next()
        .ok_or_else(|| invalid("the backup file", "is empty"))?
        .map_err(broken)?;
    let name = first.path().map_err(broken)?.to_string_lossy().into_owned();
    if name != RECORD {
        return Err(invalid(
            "the backup file",
            format!("starts with {name:?}, not {RECORD}"),
        ));
    }
    let size = first.header().size().map_err(broken)?;
    if size > MAX_RECORD {
        return Err(invalid(
            RECORD,
            format!("{size} bytes, at most {MAX_RECORD}"),
        ));
    }
    let mut bytes = Vec::new();
    first.read_to_end(&mut bytes).map_err(broken)?;
    if bytes.len() as u64 != size {
        return Err(broken(std::io::ErrorKind::UnexpectedEof.into()));
    }
    drop(first);
    let record = BackupRecord::from_bytes(&bytes, None, RECORD)?;
    let mut wanted: BTreeMap<Hash, u64> = record.blobs();
    for entry in entries {
        let mut entry = entry.map_err(broken)?;
        let name = entry.path().map_err(broken)?.to_string_lossy().into_owned();
        let hash = name
            .strip_prefix(BLOBS)
            .and_then(|h| h.parse::<Hash>().ok())
            .ok_or_else(|| invalid(format!("member {name:?}"), "is not a blob of the backup"))?;
        let Some(size) = wanted.remove(&hash) else {
            return Err(invalid(
                format!("member {name:?}"),
                "is not named by the record, or comes twice",
            ));
        };
        let declared = entry.header().size().map_err(broken)?;
        if declared != size {
            return Err(invalid(
                format!("blob {hash}"),
                format!("is {declared} bytes, the record says {size}"),
            ));
        }
        let (tmp, mut file) = store.temp_file()?;
        staged.push((hash, tmp.clone()));
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut got = 0u64;
        loop {
            let n = entry.read(&mut buf).map_err(broken)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n])
                .map_err(|e| BackupError::io("write", &tmp, e))?;
            got += n as u64;
        }
        if got != size {
            return Err(invalid(
                format!("blob {hash}"),
                format!("ends after {got} of {size} bytes: the file is truncated"),
            ));
        }
        let actual = Hash::from(hasher.finalize());
        if actual != hash {
            return Err(invalid(
                format!("blob {hash}"),
                format!("its bytes hash to {actual}: the file was altered"),
            ));
        }
        file.sync_all()
            .map_err(|e| BackupError::io("sync", &tmp, e))?;
    }
    if let Some((hash, size)) = wanted.into_iter().next() {
        return Err(invalid(
            format!("blob {hash} ({size} bytes)"),
            "is missing: the file is truncated",
        ));
    }
    Ok(record)
}
