//! Signed bundles on disk: `atoll app sign` writes `entry.json` (the signed entry
//! envelope) beside the manifest blob and artifact blobs, each file named by its BLAKE3
//! hex; `atoll app verify` checks all of it.
//!
//! Every file is read through [`crate::fsread`]: files of the app dir must be regular files
//! inside it (a link may not leave it), files of a bundle dir regular files inside that
//! one, each within its size limit, checked before reading.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::envelope::{Envelope, EnvelopeError, Verified, MAX_ENVELOPE_BYTES};
use crate::fsread::{self, Bounded, FileError};
use crate::hash::Hash;
use crate::keys::Keypair;
use crate::manifest::{self, Manifest, ManifestError, Problem, ProblemKind};
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
        /// Which file.
        what: Part,
        /// Expected path.
        path: PathBuf,
        /// How to fix it, if known.
        hint: &'static str,
    },
    /// A file is larger than allowed.
    #[error("{what}: {path} is {size} bytes, more than the limit of {max}")]
    TooLarge {
        /// Which file.
        what: Part,
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
        /// Which file.
        what: Part,
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
        /// Which file.
        what: Part,
        /// The file.
        path: PathBuf,
        /// Size in the signed entry.
        expected: u64,
        /// Size on disk.
        actual: u64,
    },
    /// The entry and its manifest disagree.
    #[error("entry and manifest disagree: {0}")]
    Inconsistent(#[source] Mismatch),
    /// A file changed between hashing it and copying it into the bundle.
    #[error("{what} (changed while signing): {path} does not match its hash: the signed entry says {expected}, the bytes hash to {actual}")]
    Changed {
        /// Which file.
        what: Part,
        /// The file.
        path: PathBuf,
        /// Hash in the signed entry.
        expected: Hash,
        /// Hash of the bytes copied.
        actual: Hash,
    },
    /// A file could not be read safely: a link leaving its directory, not a regular file,
    /// grown past its limit.
    #[error("{what}: {error}")]
    File {
        /// Which file.
        what: Part,
        /// Why.
        error: FileError,
    },
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

/// Which file of an app dir or a bundle an error is about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Part {
    /// The bundle's `entry.json`.
    Entry,
    /// The manifest's canonical blob.
    ManifestBlob,
    /// The app's icon.
    Icon,
    /// An image archive, by the path the manifest gives it.
    ImageArchive(String),
    /// An artifact of the entry, by its path.
    Artifact(String),
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Entry => f.write_str("entry"),
            Self::ManifestBlob => f.write_str("manifest blob"),
            Self::Icon => f.write_str("icon"),
            Self::ImageArchive(rel) => write!(f, "image archive {rel}"),
            Self::Artifact(path) => write!(f, "artifact {path}"),
        }
    }
}

/// How a bundle's entry and its manifest disagree.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Mismatch {
    /// The manifest's id is not a valid app id.
    #[error("the manifest's id is not an app id: {0}")]
    AppId(#[source] crate::names::NameError),
    /// Different apps.
    #[error("entry is for app {entry:?}, manifest is {manifest:?}")]
    App {
        /// The entry's app id.
        entry: String,
        /// The manifest's id.
        manifest: String,
    },
    /// Different versions.
    #[error("entry is version {entry}, manifest is {manifest}")]
    Version {
        /// The entry's version.
        entry: semver::Version,
        /// The manifest's version.
        manifest: semver::Version,
    },
    /// A local file of the manifest has no artifact in the entry.
    #[error("manifest names {0:?}, but the entry has no artifact for it")]
    NoArtifact(String),
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

/// Scope names used in errors.
const APP_DIR: &str = "app directory";
const BUNDLE_DIR: &str = "bundle directory";

fn file_error(what: &Part, e: FileError) -> BundleError {
    match e {
        FileError::Missing { path } => BundleError::Missing {
            what: what.clone(),
            path,
            hint: "",
        },
        FileError::TooLarge { path, size, max } => BundleError::TooLarge {
            what: what.clone(),
            path,
            size,
            max,
        },
        error => BundleError::File {
            what: what.clone(),
            error,
        },
    }
}

/// Open `dir/rel` for a bounded read: a regular file inside `dir` (links may not leave
/// it), at most `max` bytes.
fn open(
    dir: &Path,
    rel: &str,
    scope: &'static str,
    what: &Part,
    max: u64,
) -> Result<Bounded, BundleError> {
    fsread::open_in(dir, Path::new(rel), scope, max).map_err(|e| file_error(what, e))
}

/// Hash the file `dir/rel` streamed, with a size limit; the file must be a regular file
/// inside `dir` (see [`fsread::open_in`]).
pub fn hash_file(dir: &Path, rel: &str, what: &Part, max: u64) -> Result<BlobRef, BundleError> {
    let (hash, size) = open(dir, rel, APP_DIR, what, max)?
        .hash(None)
        .map_err(|e| file_error(what, e))?;
    Ok(BlobRef { hash, size })
}

/// Create `path` afresh for writing (never through a link or over another file: a stale
/// temporary file is removed first, then the file is created exclusively).
fn create_fresh(path: &Path) -> Result<fs::File, BundleError> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("removing", path)(e)),
    }
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io("creating", path))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), BundleError> {
    let tmp = path.with_extension("tmp-write");
    let mut f = create_fresh(&tmp)?;
    f.write_all(bytes).map_err(io("writing", &tmp))?;
    f.sync_all().map_err(io("syncing", &tmp))?;
    fs::rename(&tmp, path).map_err(io("renaming into", path))
}

/// Copy the artifact `app_dir/a.path` into the bundle as `out/<hash>`, read through the
/// same checks as when it was hashed, and keep the copy only if its bytes hash to what the
/// signed entry says (a file changed meanwhile is an error, never a mismatched blob).
fn copy_blob(
    app_dir: &Path,
    a: &Artifact,
    out: &Path,
    what: &Part,
    max: u64,
) -> Result<PathBuf, BundleError> {
    let name = a.blob.hash.to_hex();
    let dst = out.join(&name);
    // Content-addressed: a regular file of that name in the bundle with the right bytes is
    // kept; anything else there is replaced.
    if let Ok(existing) = open(out, &name, BUNDLE_DIR, what, max) {
        if let Ok((hash, size)) = existing.hash(None) {
            if hash == a.blob.hash && size == a.blob.size {
                return Ok(dst);
            }
        }
    }
    let src = open(app_dir, &a.path, APP_DIR, what, max)?;
    let src_path = src.path().to_owned();
    let tmp = dst.with_extension("tmp-write");
    let mut f = create_fresh(&tmp)?;
    let copied = src.hash(Some(&mut f)).map_err(|e| file_error(what, e));
    let (hash, size) = match copied {
        Ok(v) => v,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    if hash != a.blob.hash || size != a.blob.size {
        let _ = fs::remove_file(&tmp);
        return Err(BundleError::Changed {
            what: what.clone(),
            path: src_path,
            expected: a.blob.hash,
            actual: hash,
        });
    }
    f.sync_all().map_err(io("syncing", &tmp))?;
    fs::rename(&tmp, &dst).map_err(io("renaming into", &dst))?;
    Ok(dst)
}

/// Read the file `path` of a bundle dir (at most `max` bytes), e.g. `entry.json`.
fn read_in_bundle(path: &Path, what: &Part, max: u64) -> Result<Vec<u8>, BundleError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().unwrap_or_default();
    fsread::open_in(dir, Path::new(name), BUNDLE_DIR, max)
        .and_then(Bounded::read_all)
        .map_err(|e| file_error(what, e))
}

fn previous_sequence(entry_path: &Path, entry: &Entry) -> Option<u64> {
    let bytes = read_in_bundle(entry_path, &Part::Entry, MAX_ENVELOPE_BYTES as u64).ok()?;
    let prev = Envelope::from_slice(&bytes)
        .ok()?
        .verify_rotated::<Entry>()
        .ok()?;
    (prev.publisher == entry.publisher && prev.app == entry.app).then_some(prev.sequence)
}

/// Check the local files a manifest names (icon, image archives) without reading them:
/// each that exists must be a regular file inside `app_dir` (no link leaving it) within its
/// size limit. A missing file is not a problem here (images are often built later; signing
/// names it). Each problem names the manifest field.
pub fn local_file_problems(app_dir: &Path, manifest: &Manifest) -> Vec<Problem> {
    let mut fields: Vec<(String, &str, u64)> = Vec::new();
    if let Some(icon) = &manifest.icon {
        fields.push(("icon".into(), icon, MAX_ICON_BYTES));
    }
    for (i, s) in manifest.screenshots.iter().enumerate() {
        fields.push((
            format!("screenshots[{i}].path"),
            &s.path,
            ArtifactKind::Screenshot.max_bytes(),
        ));
    }
    for (i, c) in manifest.containers.iter().enumerate() {
        if let Some(archive) = &c.image.archive {
            if !fields.iter().any(|(_, p, _)| p == archive) {
                fields.push((
                    format!("containers[{i}].image.archive"),
                    archive,
                    MAX_IMAGE_BYTES,
                ));
            }
        }
    }
    fields
        .into_iter()
        .filter_map(|(field, rel, max)| {
            match fsread::open_in(app_dir, Path::new(rel), APP_DIR, max) {
                Ok(_) | Err(FileError::Missing { .. }) => None,
                Err(e) => Some(Problem {
                    field,
                    line: None,
                    kind: ProblemKind::LocalFile(std::sync::Arc::new(e)),
                }),
            }
        })
        .collect()
}

/// `atoll app validate` of an app dir: load and check the manifest, then check the local
/// files it names with [`local_file_problems`]; those problems are reported as policy
/// violations ("icon and archive paths inside the app dir"), each with its line.
pub fn check_app(app_dir: &Path) -> Result<(Manifest, PathBuf), ManifestError> {
    let (manifest, file, text) = manifest::load_source(app_dir)?;
    let mut problems = local_file_problems(app_dir, &manifest);
    if !problems.is_empty() {
        for p in &mut problems {
            p.line = manifest::line_of(&text, &p.field);
        }
        return Err(ManifestError::Policy {
            path: file,
            problems,
        });
    }
    Ok((manifest, file))
}

/// Sign the app in `app_dir` with `key` and write the bundle to `out`.
pub fn sign_app(
    app_dir: &Path,
    key: &Keypair,
    out: &Path,
    opts: &SignOptions,
) -> Result<SignedBundle, BundleError> {
    let (mut manifest, _file) = manifest::load(app_dir)?;
    // An omitted dependency publisher means the signer: the signed form names it.
    manifest.name_dependency_publishers(&key.did());
    let mut artifacts = Vec::new();
    for (rel, kind) in manifest.local_files() {
        let what = match kind {
            ArtifactKind::Icon => Part::Icon,
            ArtifactKind::Image => Part::ImageArchive(rel.clone()),
            ArtifactKind::Screenshot => Part::Artifact(rel.clone()),
        };
        let max = kind.max_bytes();
        let blob = hash_file(app_dir, &rel, &what, max).map_err(|e| match e {
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
            what,
            max,
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
            .map_err(|e| BundleError::Inconsistent(Mismatch::AppId(e)))?,
        publisher: key.did(),
        version: manifest.version.clone(),
        sequence: 0,
        manifest: BlobRef {
            hash: Hash::of(&manifest_bytes),
            size: manifest_bytes.len() as u64,
        },
        artifacts: artifacts.iter().map(|(_, _, a)| a.clone()).collect(),
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
        .verify_rotated::<Entry>()
        .map_err(|source| BundleError::Envelope {
            path: entry_path.clone(),
            source,
        })?;
    fs::create_dir_all(out).map_err(io("creating", out))?;
    let mut blobs = Vec::new();
    let manifest_path = out.join(entry.manifest.hash.to_hex());
    write_atomic(&manifest_path, &manifest_bytes)?;
    blobs.push((entry.manifest.hash, manifest_path));
    for (what, max, a) in &artifacts {
        let dst = copy_blob(app_dir, a, out, what, *max)?;
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

fn check_blob(dir: &Path, what: &Part, blob: &BlobRef, max: u64) -> Result<PathBuf, BundleError> {
    let name = blob.hash.to_hex();
    let (hash, size) = open(dir, &name, BUNDLE_DIR, what, max)?
        .hash(None)
        .map_err(|e| file_error(what, e))?;
    compare(dir.join(name), what, blob, hash, size)
}

fn compare(
    path: PathBuf,
    what: &Part,
    blob: &BlobRef,
    hash: Hash,
    size: u64,
) -> Result<PathBuf, BundleError> {
    if size != blob.size {
        return Err(BundleError::SizeMismatch {
            what: what.clone(),
            path,
            expected: blob.size,
            actual: size,
        });
    }
    if hash != blob.hash {
        return Err(BundleError::HashMismatch {
            what: what.clone(),
            path,
            expected: blob.hash,
            actual: hash,
        });
    }
    Ok(path)
}

/// Verify `entry.json` and the blobs beside it. Every file must be a regular file inside
/// the entry's directory, within its limit.
pub fn verify_bundle(entry_path: &Path) -> Result<VerifiedBundle, BundleError> {
    let dir = match entry_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let bytes = read_in_bundle(entry_path, &Part::Entry, MAX_ENVELOPE_BYTES as u64)?;
    let envelope_err = |source| BundleError::Envelope {
        path: entry_path.to_owned(),
        source,
    };
    let entry = Envelope::from_slice(&bytes)
        .and_then(|e| e.verify_rotated::<Entry>())
        .map_err(envelope_err)?;
    // The manifest blob is read once, bounded, and the very bytes that were hashed are
    // parsed (a file swapped meanwhile cannot slip in).
    let name = entry.manifest.hash.to_hex();
    let manifest_bytes = open(
        dir,
        &name,
        BUNDLE_DIR,
        &Part::ManifestBlob,
        MAX_MANIFEST_BYTES,
    )?
    .read_all()
    .map_err(|e| file_error(&Part::ManifestBlob, e))?;
    compare(
        dir.join(&name),
        &Part::ManifestBlob,
        &entry.manifest,
        Hash::of(&manifest_bytes),
        manifest_bytes.len() as u64,
    )?;
    let manifest = Manifest::from_blob(&manifest_bytes)?;
    if manifest.id != entry.app.as_str() {
        return Err(BundleError::Inconsistent(Mismatch::App {
            entry: entry.app.as_str().to_owned(),
            manifest: manifest.id.clone(),
        }));
    }
    if manifest.version != entry.version {
        return Err(BundleError::Inconsistent(Mismatch::Version {
            entry: entry.version.clone(),
            manifest: manifest.version.clone(),
        }));
    }
    for (rel, kind) in manifest.local_files() {
        if !entry
            .artifacts
            .iter()
            .any(|a| a.path == rel && a.kind == kind)
        {
            return Err(BundleError::Inconsistent(Mismatch::NoArtifact(rel)));
        }
    }
    for a in &entry.artifacts {
        let max = a.kind.max_bytes();
        check_blob(dir, &Part::Artifact(a.path.clone()), &a.blob, max)?;
    }
    Ok(VerifiedBundle { entry, manifest })
}
