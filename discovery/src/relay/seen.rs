//! The events the pipeline has processed, as `(id, created_at)`: the node's side of every
//! NIP-77 reconciliation. Kept in `<data>/nostr/seen.log` (40-byte records, appended).
//!
//! Only processed events are written, so an event received but not processed before a
//! crash is simply fetched again. Losing the tail of the file costs the same, nothing more.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use nostr_sdk::{EventId, Timestamp};

const RECORD: usize = 40;

/// The seen log. Not thread-safe by itself; the pool shares it behind a mutex.
#[derive(Debug)]
pub(crate) struct SeenLog {
    path: PathBuf,
    items: HashMap<EventId, Timestamp>,
    pending: Vec<(EventId, Timestamp)>,
}

impl SeenLog {
    /// Read the log (a missing file is empty; a torn last record is dropped).
    pub(crate) fn open(path: &Path) -> std::io::Result<Self> {
        let mut items = HashMap::new();
        match std::fs::File::open(path) {
            Ok(mut f) => {
                let mut bytes = Vec::new();
                f.read_to_end(&mut bytes)?;
                for rec in bytes.chunks_exact(RECORD) {
                    let mut id = [0u8; 32];
                    id.copy_from_slice(&rec[..32]);
                    let mut at = [0u8; 8];
                    at.copy_from_slice(&rec[32..]);
                    items.insert(
                        EventId::from_byte_array(id),
                        Timestamp::from(u64::from_le_bytes(at)),
                    );
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(Self {
            path: path.to_owned(),
            items,
            pending: Vec::new(),
        })
    }

    /// Remember a processed event.
    pub(crate) fn record(&mut self, id: EventId, at: Timestamp) {
        if self.items.insert(id, at).is_none() {
            self.pending.push((id, at));
        }
    }

    /// Append what was recorded since the last flush.
    pub(crate) fn flush(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(self.pending.len() * RECORD);
        for (id, at) in &self.pending {
            buf.extend_from_slice(id.as_bytes());
            buf.extend_from_slice(&at.as_secs().to_le_bytes());
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        f.write_all(&buf)?;
        self.pending.clear();
        Ok(())
    }

    /// Every processed event, for a reconciliation.
    pub(crate) fn items(&self) -> Vec<(EventId, Timestamp)> {
        self.items.iter().map(|(id, at)| (*id, *at)).collect()
    }

    /// Number of events known.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }
}
