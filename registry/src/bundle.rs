//! Signed bundles on disk: `atoll app sign` writes `entry.json` (the signed entry
//! envelope) beside the manifest blob and artifact blobs, each file named by its BLAKE3
//! hex; `atoll app verify` checks all of it.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::envelope::{Envelope, EnvelopeError, Verified, MAX_ENVELOPE_BYTES};
use crate::hash::Hash;
use crate::keys::Keypair;
use crate::manifest::{self, Manifest, ManifestError};
use crate::objects::{
    Artifact, ArtifactKind, BlobRef, Entry, EntryType, Origin, MAX_ICON_BYTES, MAX_IMAGE_BYTES,
    MAX_MANIFEST_BYTES,
};

/// File name of the signed entry in a bundle.
pub const ENTRY_FILE: &str = "entry.json";
/// Default lifetime of an entry before it is shown as stale: 90 days.
pub const DEFAULT_TTL_SECS: u64 = 90 * 24 * 3600;

/// What went wrong signing or verifying a bundle.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The manifest is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The signed entry is invalid.
    #[error("{path}: {source}")]
    Envelope {
        /// The entry file.
        path: PathBuf,
        /// Why.
        source: EnvelopeError,
    },
    /// A file the manifest or entry names is missing.
    #[error("{what}: {path} does not exist{hint}")]
    Missing {
        /// Which field or blob.
        what: String,
        /// Expected path.
        path: PathBuf,
        /// How to fix it, if known.
        hint: &'static str,
    },
    /// A file is larger than allowed.
    #[error("{what}: {path} is {size} bytes, more than the limit of {max}")]
    TooLarge {
        /// Which field or blob.
        what: String,
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// A blob's bytes do not match the hash the signed entry names.
    #[error("{what}: {path} does not match its hash: the signed entry says {expected}, the bytes hash to {actual}")]
    HashMismatch {
        /// Which blob.
        what: String,
        /// The file.
        path: PathBuf,
        /// Hash in the signed entry.
        expected: Hash,
        /// Hash of the bytes.
        actual: Hash,
    },
    /// A blob's size does not match the signed entry.
    #[error("{what}: {path} is {actual} bytes, the signed entry says {expected}")]
    SizeMismatch {
        /// Which blob.
        what: String,
        /// The file.
        path: PathBuf,
        /// Size in the signed entry.
        expected: u64,
        /// Size on disk.
        actual: u64,
    },
    /// The entry and its manifest disagree.
    #[error("entry and manifest disagree: {0}")]
    Inconsistent(String),
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

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BundleError {
    let path = path.to_owned();
    move |source| BundleError::Io {
        action,
        path,
        source,
    }
}

/// Settings of one signing.
#[derive(Debug, Clone, Default)]
pub struct SignOptions {
    /// Sequence to use; by default the current time in milliseconds, or one more than the
    /// entry already in the output dir, whichever is higher.
    pub sequence: Option<u64>,
    /// Unix seconds of signing; by default now.
    pub published_at: Option<u64>,
    /// Seconds until the entry is stale; by default [`DEFAULT_TTL_SECS`].
    pub ttl_secs: Option<u64>,
    /// Where the blobs will be served.
    pub origin: Origin,
}

/// A signed bundle written to disk.
#[derive(Debug)]
pub struct SignedBundle {
    /// The verified entry that was written.
    pub entry: Verified<Entry>,
    /// The manifest.
    pub manifest: Manifest,
    /// `entry.json`.
    pub entry_path: PathBuf,
    /// Every blob written (manifest first), as (hash, path).
    pub blobs: Vec<(Hash, PathBuf)>,
}

fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Hash a file in a streaming way, with a size limit.
pub fn hash_file(path: &Path, what: &str, max: u64) -> Result<BlobRef, BundleError> {
    let meta = fs::metadata(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            BundleError::Missing {
                what: what.to_owned(),
                path: path.to_owned(),
                hint: "",
            }
        } else {
            io("reading", path)(e)
        }
    })?;
    if meta.len() > max {
        return Err(BundleError::TooLarge {
            what: what.to_owned(),
            path: path.to_owned(),
            size: meta.len(),
            max,
        });
    }
    let mut hasher = blake3::Hasher::new();
    let file = fs::File::open(path).map_err(io("opening", path))?;
    hasher.update_reader(file).map_err(io("reading", path))?;
    Ok(BlobRef {
        hash: hasher.finalize().into(),
        size: hasher.count(),
    })
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), BundleError> {
    let tmp = path.with_extension("tmp-write");
    let mut f = fs::File::create(&tmp).map_err(io("creating", &tmp))?;
    f.write_all(bytes).map_err(io("writing", &tmp))?;
    f.sync_all().map_err(io("syncing", &tmp))?;
    fs::rename(&tmp, path).map_err(io("renaming into", path))
}

fn copy_blob(src: &Path, dst: &Path) -> Result<(), BundleError> {
    if dst.exists() {
        return Ok(()); // content-addressed: same name, same bytes (checked by verify)
    }
    let tmp = dst.with_extension("tmp-write");
    fs::copy(src, &tmp).map_err(io("copying", src))?;
    fs::rename(&tmp, dst).map_err(io("renaming into", dst))
}

fn previous_sequence(entry_path: &Path, entry: &Entry) -> Option<u64> {
    let bytes = fs::read(entry_path).ok()?;
    let prev = Envelope::from_slice(&bytes).ok()?.verify::<Entry>().ok()?;
    (prev.publisher == entry.publisher && prev.app == entry.app).then_some(prev.sequence)
}

/// Sign the app in `app_dir` with `key` and write the bundle to `out`.
pub fn sign_app(
    app_dir: &Path,
    key: &Keypair,
    out: &Path,
    opts: &SignOptions,
) -> Result<SignedBundle, BundleError> {
    let (manifest, _file) = manifest::load(app_dir)?;
    let mut artifacts = Vec::new();
    for (rel, kind) in manifest.local_files() {
        let what = match kind {
            ArtifactKind::Icon => "icon".to_owned(),
            ArtifactKind::Image => format!("image archive {rel}"),
        };
        let max = match kind {
            ArtifactKind::Icon => MAX_ICON_BYTES,
            ArtifactKind::Image => MAX_IMAGE_BYTES,
        };
        let path = app_dir.join(&rel);
        let blob = hash_file(&path, &what, max).map_err(|e| match e {
            BundleError::Missing { what, path, .. } if kind == ArtifactKind::Image => {
                BundleError::Missing {
                    what,
                    path,
                    hint: " (build the sample images with scripts/build-images.sh)",
                }
            }
            other => other,
        })?;
        artifacts.push((
            path,
            Artifact {
                path: rel,
                kind,
                blob,
            },
        ));
    }
    let manifest_bytes = manifest.canonical_bytes().map_err(ManifestError::from)?;
    let published_at = opts.published_at.unwrap_or(now_millis() / 1000);
    let mut entry = Entry {
        kind: EntryType,
        app: manifest
            .id
            .parse()
            .map_err(|e: crate::names::NameError| BundleError::Inconsistent(e.to_string()))?,
        publisher: key.did(),
        version: manifest.version.clone(),
        sequence: 0,
        manifest: BlobRef {
            hash: Hash::of(&manifest_bytes),
            size: manifest_bytes.len() as u64,
        },
        artifacts: artifacts.iter().map(|(_, a)| a.clone()).collect(),
        origin: opts.origin.clone(),
        published_at,
        expires_at: published_at.saturating_add(opts.ttl_secs.unwrap_or(DEFAULT_TTL_SECS)),
        yanked: None,
    };
    let entry_path = out.join(ENTRY_FILE);
    entry.sequence = match opts.sequence {
        Some(s) => s,
        None => {
            let prev = previous_sequence(&entry_path, &entry).unwrap_or(0);
            now_millis().max(prev.saturating_add(1))
        }
    };
    let envelope = Envelope::sign(&entry, key).map_err(|source| BundleError::Envelope {
        path: entry_path.clone(),
        source,
    })?;
    let verified = envelope
        .verify::<Entry>()
        .map_err(|source| BundleError::Envelope {
            path: entry_path.clone(),
            source,
        })?;
    fs::create_dir_all(out).map_err(io("creating", out))?;
    let mut blobs = Vec::new();
    let manifest_path = out.join(entry.manifest.hash.to_hex());
    write_atomic(&manifest_path, &manifest_bytes)?;
    blobs.push((entry.manifest.hash, manifest_path));
    for (src, a) in &artifacts {
        let dst = out.join(a.blob.hash.to_hex());
        copy_blob(src, &dst)?;
        blobs.push((a.blob.hash, dst));
    }
    let mut body = envelope
        .to_canonical_bytes()
        .map_err(|source| BundleError::Envelope {
            path: entry_path.clone(),
            source,
        })?;
    body.push(b'\n');
    write_atomic(&entry_path, &body)?;
    Ok(SignedBundle {
        entry: verified,
        manifest,
        entry_path,
        blobs,
    })
}

/// A bundle whose signature, blobs and manifest all checked out.
#[derive(Debug)]
pub struct VerifiedBundle {
    /// The verified entry.
    pub entry: Verified<Entry>,
    /// The manifest, parsed from its verified blob and checked against policy.
    pub manifest: Manifest,
}

fn check_blob(dir: &Path, what: &str, blob: &BlobRef, max: u64) -> Result<PathBuf, BundleError> {
    let path = dir.join(blob.hash.to_hex());
    let actual = hash_file(&path, what, max)?;
    if actual.size != blob.size {
        return Err(BundleError::SizeMismatch {
            what: what.to_owned(),
            path,
            expected: blob.size,
            actual: actual.size,
        });
    }
    if actual.hash != blob.hash {
        return Err(BundleError::HashMismatch {
            what: what.to_owned(),
            path,
            expected: blob.hash,
            actual: actual.hash,
        });
    }
    Ok(path)
}

/// Verify `entry.json` and the blobs beside it.
pub fn verify_bundle(entry_path: &Path) -> Result<VerifiedBundle, BundleError> {
    let dir = entry_path.parent().unwrap_or(Path::new("."));
    let size = fs::metadata(entry_path)
        .map_err(io("reading", entry_path))?
        .len();
    if size > MAX_ENVELOPE_BYTES as u64 {
        return Err(BundleError::TooLarge {
            what: "entry".into(),
            path: entry_path.to_owned(),
            size,
            max: MAX_ENVELOPE_BYTES as u64,
        });
    }
    let bytes = fs::read(entry_path).map_err(io("reading", entry_path))?;
    let envelope_err = |source| BundleError::Envelope {
        path: entry_path.to_owned(),
        source,
    };
    let entry = Envelope::from_slice(&bytes)
        .and_then(|e| e.verify::<Entry>())
        .map_err(envelope_err)?;
    let manifest_path = check_blob(dir, "manifest blob", &entry.manifest, MAX_MANIFEST_BYTES)?;
    let manifest_bytes = fs::read(&manifest_path).map_err(io("reading", &manifest_path))?;
    // The blob must be what was hashed right now (guards against a file swapped meanwhile).
    if Hash::of(&manifest_bytes) != entry.manifest.hash {
        return Err(BundleError::HashMismatch {
            what: "manifest blob".into(),
            path: manifest_path,
            expected: entry.manifest.hash,
            actual: Hash::of(&manifest_bytes),
        });
    }
    let manifest = Manifest::from_blob(&manifest_bytes)?;
    if manifest.id != entry.app.as_str() {
        return Err(BundleError::Inconsistent(format!(
            "entry is for app {:?}, manifest is {:?}",
            entry.app.as_str(),
            manifest.id
        )));
    }
    if manifest.version != entry.version {
        return Err(BundleError::Inconsistent(format!(
            "entry is version {}, manifest is {}",
            entry.version, manifest.version
        )));
    }
    for (rel, kind) in manifest.local_files() {
        if !entry
            .artifacts
            .iter()
            .any(|a| a.path == rel && a.kind == kind)
        {
            return Err(BundleError::Inconsistent(format!(
                "manifest names {rel:?}, but the entry has no artifact for it"
            )));
        }
    }
    for a in &entry.artifacts {
        let max = match a.kind {
            ArtifactKind::Icon => MAX_ICON_BYTES,
            ArtifactKind::Image => MAX_IMAGE_BYTES,
        };
        check_blob(dir, &format!("artifact {}", a.path), &a.blob, max)?;
    }
    Ok(VerifiedBundle { entry, manifest })
}
