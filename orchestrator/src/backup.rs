//! Backups of an app's data: its volumes (every file with its mode, container owner,
//! mtime; directories; symlinks) and its generated secrets, with the release it ran.
//!
//! Content-addressed with BLAKE3: each file's bytes are one blob under
//! `<data>/backups/blobs/<hash>`, stored once however many backups hold them; a backup is a
//! [`BackupRecord`] under `<data>/backups/records/<id>.json` whose id is the BLAKE3 of its
//! canonical bytes. A record is written last, so a backup that failed half-way (a full
//! disk) is never listed, and the blobs it had added are removed again.
//!
//! Volumes are read and written through `podman unshare tar` as the podman user, whose
//! user namespace maps the container uids: that works for a node running as root (which
//! switches to the podman user) and for a node running as the podman user itself, and the
//! owners recorded are container uids, so a backup restores on another node whose
//! subordinate id range differs. Secrets are the node's own files and read directly.
//!
//! [`archive`] exports a backup to one tar file and imports it, verifying every hash and
//! size before it stores anything.

pub mod archive;
mod record;
mod store;
mod tree;

pub use record::{BackupRecord, Consistency, FileEntry, FileKind, Reason, SecretEntry, FORMAT};
pub use store::{BackupStore, BackupSummary};
pub(crate) use tree::{current_data, restore_data, snapshot_data};
pub use tree::{CurrentData, Replaces};
