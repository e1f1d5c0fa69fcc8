//! The release upload of `POST /api/v1/publish`: a tar stream holding `entry.json`, the
//! blobs (each named by its BLAKE3 hex hash), `entry.event.json` and
//! `profile.event.json` (the Nostr events the publisher signed). The body is counted
//! while it streams (at most the configured bound, 413 beyond) and never held whole in
//! memory: each blob is written to a file in a temporary directory under the data dir
//! while it is hashed, and a blob whose bytes do not hash to its name is refused at once.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use atoll_discovery::codec::MAX_EVENT_BYTES;
use atoll_registry::bundle::ENTRY_FILE;
use atoll_registry::envelope::MAX_ENVELOPE_BYTES;
use atoll_registry::Hash;
use axum::body::{Body, Bytes};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;

use super::error::{clip, ApiError};

/// Member holding the entry's signed Nostr event.
pub const ENTRY_EVENT: &str = "entry.event.json";
/// Member holding the publisher profile's signed Nostr event.
pub const PROFILE_EVENT: &str = "profile.event.json";
/// Bytes past the bound still read (and dropped) so the client gets its 413; beyond,
/// the connection is closed.
pub const DRAIN_SLACK: u64 = 1 << 20;
/// Time the upload may go without delivering a byte.
pub const UPLOAD_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// An unpacked upload: the bundle in `dir`, the two events as JSON.
pub struct Unpacked {
    /// The temporary bundle directory (removed when dropped).
    pub dir: tempfile::TempDir,
    /// `entry.event.json`.
    pub entry_event: String,
    /// `profile.event.json`.
    pub profile_event: String,
}

/// How the body stream ended.
enum Fed {
    Done,
    TooLarge,
    Stalled,
    Broken(String),
}

/// A `Read` over the chunks the async side hands over (blocking; in a blocking task).
struct Chunks {
    rx: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.current = b,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Read the body into a new temporary directory under `tmp_root`: at most `max` bytes,
/// every member checked as it arrives. On any error the directory is removed.
pub async fn receive(body: Body, tmp_root: &Path, max: u64) -> Result<Unpacked, ApiError> {
    std::fs::create_dir_all(tmp_root).map_err(ApiError::internal)?;
    let dir = tempfile::Builder::new()
        .prefix("upload-")
        .tempdir_in(tmp_root)
        .map_err(ApiError::internal)?;
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    // The body is read to its end even after the unpacker stopped (a refused member) or
    // the bound was passed, so the client gets the answer instead of a reset; past the
    // bound by more than DRAIN_SLACK the connection is dropped.
    let feed = async move {
        let mut stream = body.into_data_stream();
        let mut total: u64 = 0;
        let mut outcome = None;
        let mut tx = Some(tx);
        loop {
            let chunk = match tokio::time::timeout(UPLOAD_IDLE_TIMEOUT, stream.next()).await {
                Err(_) => return outcome.unwrap_or(Fed::Stalled),
                Ok(None) => return outcome.unwrap_or(Fed::Done),
                Ok(Some(Err(e))) => return outcome.unwrap_or(Fed::Broken(e.to_string())),
                Ok(Some(Ok(c))) => c,
            };
            total = total.saturating_add(chunk.len() as u64);
            if total > max.saturating_add(DRAIN_SLACK) {
                return Fed::TooLarge;
            }
            if total > max && outcome.is_none() {
                outcome = Some(Fed::TooLarge);
                tx = None;
            }
            if let Some(t) = &tx {
                if t.send(chunk).await.is_err() {
                    // The unpacker stopped (an error it reports): drain the rest.
                    tx = None;
                }
            }
        }
    };
    let path = dir.path().to_owned();
    let unpack = tokio::task::spawn_blocking(move || {
        unpack(
            Chunks {
                rx,
                current: Bytes::new(),
            },
            &path,
        )
    });
    let (fed, unpacked) = tokio::join!(feed, unpack);
    match fed {
        Fed::TooLarge => {
            return Err(ApiError::too_large(format!(
                "body: the upload is larger than {max} bytes, the most this node accepts ([api] max_upload_bytes)"
            )))
        }
        Fed::Stalled => {
            return Err(ApiError::new(
                axum::http::StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!("body: nothing arrived for {UPLOAD_IDLE_TIMEOUT:?}"),
            ))
        }
        Fed::Broken(e) => return Err(ApiError::bad_request(format!("body: cannot be read: {e}"))),
        Fed::Done => {}
    }
    let (entry_event, profile_event) = unpacked
        .map_err(ApiError::internal)?
        .map_err(ApiError::bad_request)?;
    Ok(Unpacked {
        dir,
        entry_event,
        profile_event,
    })
}

fn is_hash_name(name: &str) -> bool {
    name.len() == 64
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn read_small(member: &mut impl Read, name: &str, max: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    member
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("tar member {name}: {e}"))?;
    if out.len() > max {
        return Err(format!("tar member {name}: larger than {max} bytes"));
    }
    Ok(out)
}

/// Write `member` to `path` while hashing it; its hash must be `name`.
fn write_blob(member: &mut impl Read, name: &str, path: &Path) -> Result<(), String> {
    let io = |e: std::io::Error| format!("tar member {name}: {e}");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io)?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = member.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(io)?;
    }
    file.sync_all().map_err(io)?;
    let actual = Hash::from_bytes(*hasher.finalize().as_bytes()).to_hex();
    if actual != name {
        return Err(format!(
            "blob {name} does not match its bytes: they hash to {actual}"
        ));
    }
    Ok(())
}

/// Unpack the tar stream into `dir`; returns the two events' JSON. Only flat regular
/// files with the names above are accepted, each once.
fn unpack(reader: impl Read, dir: &Path) -> Result<(String, String), String> {
    let malformed = |e: std::io::Error| format!("malformed tar stream: {e}");
    let mut archive = tar::Archive::new(reader);
    let mut seen = std::collections::BTreeSet::new();
    let (mut entry_event, mut profile_event, mut has_entry) = (None, None, false);
    for member in archive.entries().map_err(malformed)? {
        let mut member = member.map_err(malformed)?;
        let raw = member.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let shown = clip(&name, 80);
        if !member.header().entry_type().is_file() {
            return Err(format!(
                "tar member {shown}: a {:?}, only regular files are accepted",
                member.header().entry_type()
            ));
        }
        if !seen.insert(name.clone()) {
            return Err(format!("tar member {shown}: given twice"));
        }
        match name.as_str() {
            ENTRY_FILE => {
                let bytes = read_small(&mut member, ENTRY_FILE, MAX_ENVELOPE_BYTES)?;
                std::fs::write(dir.join(ENTRY_FILE), bytes)
                    .map_err(|e| format!("writing {ENTRY_FILE}: {e}"))?;
                has_entry = true;
            }
            ENTRY_EVENT | PROFILE_EVENT => {
                let bytes = read_small(&mut member, &name, MAX_EVENT_BYTES)?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| format!("tar member {name}: not UTF-8"))?;
                if name == ENTRY_EVENT {
                    entry_event = Some(text);
                } else {
                    profile_event = Some(text);
                }
            }
            n if is_hash_name(n) => write_blob(&mut member, n, &dir.join(n))?,
            _ => {
                return Err(format!(
                    "tar member {shown}: not {ENTRY_FILE}, {ENTRY_EVENT}, {PROFILE_EVENT} or a blob named by its BLAKE3 hex hash"
                ))
            }
        }
    }
    let missing = |n: &str| format!("the tar stream has no {n}");
    if !has_entry {
        return Err(missing(ENTRY_FILE));
    }
    Ok((
        entry_event.ok_or_else(|| missing(ENTRY_EVENT))?,
        profile_event.ok_or_else(|| missing(PROFILE_EVENT))?,
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn tar_of(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, bytes) in members {
            let mut h = tar::Header::new_gnu();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *bytes).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn unpacked(body: Vec<u8>) -> Result<(String, String), String> {
        let dir = tempfile::tempdir().unwrap();
        unpack(std::io::Cursor::new(body), dir.path())
    }

    #[test]
    fn members_are_checked_as_they_arrive() {
        let blob = b"some blob";
        let hash = Hash::of(blob).to_hex();
        let good = tar_of(&[
            ("entry.json", b"{}"),
            (&hash, blob),
            (ENTRY_EVENT, b"e"),
            (PROFILE_EVENT, b"p"),
        ]);
        assert_eq!(unpacked(good).unwrap(), ("e".into(), "p".into()));
        let wrong = Hash::of(b"other").to_hex();
        let e = unpacked(tar_of(&[(&wrong, blob)])).unwrap_err();
        assert!(e.contains(&wrong) && e.contains(&hash), "{e}");
        let e = unpacked(tar_of(&[("sub/entry.json", b"{}")])).unwrap_err();
        assert!(e.contains("sub/entry.json"), "{e}");
        let e = unpacked(tar_of(&[("entry.json", b"{}"), ("entry.json", b"{}")])).unwrap_err();
        assert!(e.contains("twice"), "{e}");
        let e = unpacked(tar_of(&[("entry.json", b"{}")])).unwrap_err();
        assert!(e.contains(ENTRY_EVENT), "{e}");
        let e = unpacked(vec![b'x'; 1024]).unwrap_err();
        assert!(e.contains("malformed tar"), "{e}");
    }

    #[test]
    fn a_link_member_is_refused() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "entry.json", "/etc/passwd").unwrap();
        let e = unpacked(b.into_inner().unwrap()).unwrap_err();
        assert!(e.contains("only regular files"), "{e}");
    }
}
