//! App manifests: the YAML schema, loading with precise error locations, rootless policy,
//! and the canonical JSON that is signed and travels as a blob.

mod guard;
mod locate;
pub mod policy;
pub mod quantity;
mod rule;
mod schema;
pub mod template;

use std::fmt;
use std::path::{Path, PathBuf};

#[cfg(test)]
pub(crate) use guard::last_line as yaml_last_line;
pub use guard::{YamlProblem, MAX_DEPTH as MAX_YAML_DEPTH};
pub use locate::line_of;
pub use policy::Violation;
pub use rule::Rule;
pub use schema::{
    BackupHook, Container, Dependency, Health, HttpCheck, ImageSource, Manifest, Port, Protocol,
    Screenshot, Secret, Setting, TcpCheck, TemplateFile, Volume, DEFAULT_FILE_MODE,
};

use crate::canonical::{to_canonical_bytes, CanonicalError};
use crate::fsread::{self, FileError};
use crate::hash::Hash;
use crate::objects::MAX_MANIFEST_BYTES;

/// File name of a manifest inside an app dir.
pub const MANIFEST_FILE: &str = "manifest.yml";

/// A problem located in a manifest file.
#[derive(Debug, Clone)]
pub struct Problem {
    /// Field path, e.g. `containers[0].ports[1].host` (empty for the whole document).
    pub field: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub kind: ProblemKind,
}

/// What is wrong at a [`Problem`]'s place.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ProblemKind {
    /// Not the manifest schema (syntax, unknown field, wrong type), in the YAML or JSON
    /// parser's own words.
    #[error("{0}")]
    Decode(String),
    /// A manifest blob that is not the manifest schema in JSON (the parser's words).
    #[error("not a manifest in canonical JSON: {0}")]
    BlobDecode(String),
    /// Bytes after the blob's JSON document (the parser's words).
    #[error("trailing data: {0}")]
    Trailing(String),
    /// A manifest blob (the signed form) with a dependency that names no publisher: only
    /// an authored manifest may omit it (signing fills in the signer).
    #[error("a signed manifest names the publisher of every dependency; this one omits it (sign it with `atoll app sign`, which fills in the signer)")]
    UnnamedPublisher,
    /// A manifest blob that is valid but not in its canonical form.
    #[error("manifest blob is not in canonical JSON form (RFC 8785): the signed bytes must be exactly the canonical encoding of the manifest")]
    NotCanonical,
    /// YAML refused before it is parsed (anchors, aliases, depth, syntax).
    #[error(transparent)]
    Yaml(#[from] YamlProblem),
    /// A rule of the rootless policy.
    #[error(transparent)]
    Rule(#[from] Rule),
    /// A local file the manifest names cannot be used.
    #[error(transparent)]
    LocalFile(std::sync::Arc<FileError>),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        write!(f, "{}", self.kind)
    }
}

/// A problem as reported to people and scripts (`atoll app validate --json`): where, and
/// the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemReport {
    /// Field path (empty for the whole document).
    pub field: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong, in words.
    pub message: String,
}

impl fmt::Display for ProblemReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl From<&Problem> for ProblemReport {
    fn from(p: &Problem) -> Self {
        Self {
            field: p.field.clone(),
            line: p.line,
            message: p.kind.to_string(),
        }
    }
}

/// Why a manifest cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The file could not be read: missing, a link leaving the app dir, not a regular
    /// file, too large.
    #[error(transparent)]
    File(#[from] FileError),
    /// The file is larger than allowed.
    #[error("{path}: {size} bytes, more than the limit of {MAX_MANIFEST_BYTES}")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// Not valid YAML/JSON of the manifest schema (syntax, unknown field, wrong type).
    #[error("{path}: {problem}")]
    Schema {
        /// The file.
        path: PathBuf,
        /// Where and what.
        problem: Problem,
    },
    /// Valid schema, but the policy refuses it.
    #[error("{path}: {} policy violation(s):\n{}", problems.len(), list(problems))]
    Policy {
        /// The file.
        path: PathBuf,
        /// Every broken rule.
        problems: Vec<Problem>,
    },
    /// Canonicalisation failed.
    #[error(transparent)]
    Canonical(#[from] CanonicalError),
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl ManifestError {
    /// Every problem the error names, for reports (one for schema errors, all for
    /// policy; any other error as one problem of the whole document).
    pub fn problems(&self) -> Vec<ProblemReport> {
        match self {
            Self::Schema { problem, .. } => vec![problem.into()],
            Self::Policy { problems, .. } => problems.iter().map(ProblemReport::from).collect(),
            other => vec![ProblemReport {
                field: String::new(),
                line: None,
                message: other.to_string(),
            }],
        }
    }
}

/// Parse manifest text (YAML; JSON is YAML too) and apply the policy. `path` names the
/// source in errors.
pub fn parse(text: &str, path: &Path) -> Result<Manifest, ManifestError> {
    if text.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(ManifestError::TooLarge {
            path: path.to_owned(),
            size: text.len() as u64,
        });
    }
    // Anchors, aliases and deep nesting are refused before serde_yaml could expand them.
    guard::check(text).map_err(|problem| ManifestError::Schema {
        path: path.to_owned(),
        problem,
    })?;
    let de = serde_yaml::Deserializer::from_str(text);
    let manifest: Manifest = serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." { String::new() } else { field };
        let inner = e.into_inner();
        // libyaml's mark at the end of the input can be a line past the last one.
        let line = inner
            .location()
            .map(|l| l.line().min(guard::last_line(text)))
            .or_else(|| line_of(text, &field));
        // serde_yaml prefixes its own "at line X column Y"; keep the message plain.
        let message = inner.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message);
        let message = message
            .strip_prefix(&format!("{field}: "))
            .unwrap_or(message)
            .to_owned();
        ManifestError::Schema {
            path: path.to_owned(),
            problem: Problem {
                field,
                line,
                kind: ProblemKind::Decode(message),
            },
        }
    })?;
    let violations = policy::check(&manifest);
    if !violations.is_empty() {
        return Err(ManifestError::Policy {
            path: path.to_owned(),
            problems: violations
                .into_iter()
                .map(|v| Problem {
                    line: rule_line(text, &v),
                    field: v.field,
                    kind: ProblemKind::Rule(v.rule),
                })
                .collect(),
        });
    }
    Ok(manifest)
}

/// The line of the manifest a violation is on: its field's line, or for a problem on a
/// line of a block-scalar template (`template: |`), that line itself.
fn rule_line(text: &str, v: &Violation) -> Option<usize> {
    let key = line_of(text, &v.field)?;
    let in_template = match &v.rule {
        Rule::Template(e) => Some(e.line),
        Rule::UnknownPlaceholder { line, .. } => Some(*line),
        _ => None,
    };
    let block = text.lines().nth(key - 1).is_some_and(|l| {
        let l = l.trim_end();
        l.ends_with(": |") || l.ends_with(": |-") || l.ends_with(": |+")
    });
    match in_template {
        Some(line) if block => Some(key + line),
        _ => Some(key),
    }
}

/// Load and check `<dir>/manifest.yml` (or a manifest file given directly, which must then
/// be inside its own directory). Read with [`fsread::open_in`]: a regular file inside the
/// app dir (links may not leave it), at most [`MAX_MANIFEST_BYTES`], size checked before
/// reading.
pub fn load(path: &Path) -> Result<(Manifest, PathBuf), ManifestError> {
    load_source(path).map(|(m, file, _)| (m, file))
}

/// As [`load`], also returning the manifest's text (for locating fields with [`line_of`]).
pub fn load_source(path: &Path) -> Result<(Manifest, PathBuf, String), ManifestError> {
    let (dir, name) = if path.is_dir() {
        (path.to_owned(), PathBuf::from(MANIFEST_FILE))
    } else {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let name = path.file_name().map(PathBuf::from).unwrap_or_default();
        (dir, name)
    };
    let file = dir.join(&name);
    let text = match fsread::open_in(&dir, &name, "app directory", MAX_MANIFEST_BYTES) {
        Ok(f) => f.read_string()?,
        Err(FileError::TooLarge { path, size, .. }) => {
            return Err(ManifestError::TooLarge { path, size })
        }
        Err(e) => return Err(e.into()),
    };
    Ok((parse(&text, &file)?, file, text))
}

impl Manifest {
    /// The canonical JSON bytes of the manifest: the manifest blob.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, CanonicalError> {
        to_canonical_bytes(self)
    }

    /// Parse and check a manifest blob fetched from anywhere. A blob must be the strict
    /// canonical JSON that was signed: JSON only (no YAML, so no anchors or aliases to
    /// expand), at most [`MAX_MANIFEST_BYTES`], and byte for byte the canonical form of what
    /// it parses to. Parsing is linear in the input, so memory stays bounded by the size.
    pub fn from_blob(bytes: &[u8]) -> Result<Self, ManifestError> {
        let path = PathBuf::from("<manifest blob>");
        let schema =
            |field: String, line: Option<usize>, kind: ProblemKind| ManifestError::Schema {
                path: PathBuf::from("<manifest blob>"),
                problem: Problem { field, line, kind },
            };
        if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge {
                path,
                size: bytes.len() as u64,
            });
        }
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let manifest: Manifest = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let field = e.path().to_string();
            let field = if field == "." { String::new() } else { field };
            let inner = e.into_inner();
            let line = (inner.line() > 0).then_some(inner.line());
            let message = inner.to_string();
            let message = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_owned();
            schema(field, line, ProblemKind::BlobDecode(message))
        })?;
        de.end().map_err(|e| {
            schema(
                String::new(),
                Some(e.line()),
                ProblemKind::Trailing(e.to_string()),
            )
        })?;
        if manifest.canonical_bytes()? != bytes {
            return Err(schema(String::new(), None, ProblemKind::NotCanonical));
        }
        if let Some(i) = manifest
            .dependencies
            .iter()
            .position(|d| d.publisher.is_none())
        {
            return Err(schema(
                format!("dependencies[{i}].publisher"),
                None,
                ProblemKind::UnnamedPublisher,
            ));
        }
        let violations = policy::check(&manifest);
        if !violations.is_empty() {
            return Err(ManifestError::Policy {
                path,
                problems: violations
                    .into_iter()
                    .map(|v| Problem {
                        line: None,
                        field: v.field,
                        kind: ProblemKind::Rule(v.rule),
                    })
                    .collect(),
            });
        }
        Ok(manifest)
    }

    /// BLAKE3 of the canonical bytes.
    pub fn hash(&self) -> Result<Hash, CanonicalError> {
        Ok(Hash::of(&self.canonical_bytes()?))
    }
}

#[cfg(test)]
mod tests;
