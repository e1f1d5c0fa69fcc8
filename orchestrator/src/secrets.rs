//! Generated secrets: made once per install (random alphanumerics, file mode 0600 under
//! `<data>/apps/<app>/secrets/<name>`) and reused on every later create, restart and update.
//! Values never reach logs: [`SecretString`]'s `Debug` is redacted.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use atoll_registry::manifest::Secret;
use serde::{Serialize, Serializer};

use crate::error::DataError;

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A secret value. Serialises as the plain string (into the container spec only).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// The value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

impl Serialize for SecretString {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// An operator credential (a secret marked `show: true`) that an install generated: shown
/// once to the operator, never logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Credential {
    /// The secret's name.
    pub name: String,
    /// The container that declares it (`show: true`) first.
    pub container: String,
    /// The value.
    pub value: SecretString,
}

/// Of an app's `show` secrets, those not shown yet (as credentials to show) and the names
/// of those an earlier install or update showed already (kept, not shown again). A secret
/// counts as shown once an operation that returned it succeeded ([`mark_shown`]), so an
/// install that failed after generating it shows it on the retry that succeeds.
pub fn credentials(
    manifest: &atoll_registry::manifest::Manifest,
    app_dir: &Path,
    values: &std::collections::BTreeMap<String, SecretString>,
) -> (Vec<Credential>, Vec<String>) {
    let mut shown = Vec::new();
    let mut kept = Vec::new();
    for (s, show) in manifest.app_secrets() {
        if !show {
            continue;
        }
        match values.get(&s.name) {
            Some(value) if !was_shown(app_dir, &s.name) => {
                let container = manifest
                    .containers
                    .iter()
                    .find(|c| c.secrets.iter().any(|x| x.name == s.name && x.show))
                    .map(|c| c.name.clone())
                    .unwrap_or_default();
                shown.push(Credential {
                    name: s.name.clone(),
                    container,
                    value: value.clone(),
                });
            }
            _ => kept.push(s.name.clone()),
        }
    }
    (shown, kept)
}

fn shown_marker(app_dir: &Path, name: &str) -> PathBuf {
    // A secret name is a DNS label: it has no '.', so no marker is a secret's file.
    dir(app_dir).join(format!("{name}.shown"))
}

/// Was the secret `name` returned by an operation that succeeded?
pub fn was_shown(app_dir: &Path, name: &str) -> bool {
    shown_marker(app_dir, name).exists()
}

/// Record that these credentials were returned by an operation that succeeded.
pub fn mark_shown(app_dir: &Path, credentials: &[Credential]) -> Result<(), DataError> {
    for c in credentials {
        let path = shown_marker(app_dir, &c.name);
        std::fs::write(&path, b"").map_err(|source| DataError::Io {
            op: "write",
            path,
            source,
        })?;
    }
    Ok(())
}

/// `<app dir>/secrets`.
pub fn dir(app_dir: &Path) -> PathBuf {
    app_dir.join("secrets")
}

/// The stored value of the secret `name`, if one was generated (never generates one).
pub fn read(app_dir: &Path, name: &str) -> Result<Option<SecretString>, DataError> {
    let path = dir(app_dir).join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&path, &text).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(DataError::Io {
            op: "read",
            path,
            source,
        }),
    }
}

/// The secret's value: read from its file, or generated and written (0600) the first time.
pub fn ensure(app_dir: &Path, secret: &Secret) -> Result<SecretString, DataError> {
    let dir = dir(app_dir);
    let io = |op: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| DataError::Io { op, path, source }
    };
    if !dir.is_dir() {
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io("chmod", &dir))?;
    }
    let path = dir.join(&secret.name);
    match std::fs::read_to_string(&path) {
        Ok(text) => return parse(&path, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("read", &path)(e)),
    }
    let value = generate(secret.length.clamp(8, 4096) as usize)?;
    // Write to a temporary file and link it in: a crash never leaves a half-written secret,
    // and of two racing writers the first one wins.
    let tmp = dir.join(format!(".{}.{}.tmp", secret.name, std::process::id()));
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io("create", &tmp))?;
        f.write_all(value.as_bytes()).map_err(io("write", &tmp))?;
        f.sync_all().map_err(io("sync", &tmp))?;
    }
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(SecretString(value)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(&path).map_err(io("read", &path))?;
            parse(&path, &text)
        }
        Err(e) => Err(io("link", &path)(e)),
    }
}

fn parse(path: &Path, text: &str) -> Result<SecretString, DataError> {
    let value = text.trim_end_matches(['\n', '\r']);
    if value.is_empty() || value.chars().any(char::is_control) {
        return Err(DataError::BadSecret {
            path: path.to_owned(),
        });
    }
    Ok(SecretString(value.to_owned()))
}

fn generate(len: usize) -> Result<String, DataError> {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).map_err(|e| DataError::Io {
            op: "generate random bytes for",
            path: PathBuf::from("secret"),
            source: std::io::Error::other(e.to_string()),
        })?;
        // Rejection sampling keeps the distribution uniform (248 = 4 * 62).
        for b in buf {
            if b < 248 && out.len() < len {
                out.push(ALPHABET[(b % 62) as usize] as char);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn secrets_are_made_once_0600_and_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Secret {
            name: "key".into(),
            env: Some("KEY".into()),
            length: 32,
            show: true,
        };
        let a = ensure(tmp.path(), &s).unwrap();
        assert_eq!(a.expose().len(), 32);
        assert!(a.expose().chars().all(|c| c.is_ascii_alphanumeric()));
        let meta = std::fs::metadata(tmp.path().join("secrets/key")).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        let b = ensure(tmp.path(), &s).unwrap();
        assert_eq!(a, b);
        assert_eq!(format!("{a:?}"), "SecretString(<redacted>)");
        let other = ensure(
            tmp.path(),
            &Secret {
                name: "other".into(),
                ..s
            },
        )
        .unwrap();
        assert_ne!(a, other);
    }

    #[test]
    fn a_credential_is_shown_until_an_operation_that_returned_it_succeeded() {
        let text = r#"
id: demo
name: Demo
version: 1.0.0
description: d
containers:
  - name: web
    image: { archive: images/web.oci.tar }
    secrets:
      - { name: admin-password, length: 24, show: true }
      - { name: internal, env: KEY, length: 32 }
  - name: db
    image: { archive: images/db.oci.tar }
    secrets: [ { name: admin-password, length: 24 } ]
"#;
        let m = atoll_registry::manifest::parse(text, "m.yml".as_ref()).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let mut values = std::collections::BTreeMap::new();
        for (s, _) in m.app_secrets() {
            values.insert(s.name.clone(), ensure(tmp.path(), s).unwrap());
        }
        let (shown, kept) = credentials(&m, tmp.path(), &values);
        assert_eq!(shown.len(), 1);
        assert_eq!(
            (shown[0].name.as_str(), shown[0].container.as_str()),
            ("admin-password", "web")
        );
        assert_eq!(shown[0].value.expose().len(), 24);
        assert!(kept.is_empty());
        // Not marked (the operation failed): shown again next time.
        assert_eq!(credentials(&m, tmp.path(), &values).0.len(), 1);
        mark_shown(tmp.path(), &shown).unwrap();
        let (shown, kept) = credentials(&m, tmp.path(), &values);
        assert!(shown.is_empty());
        assert_eq!(kept, ["admin-password"]);
        // The marker is not a secret: the value is unchanged.
        assert_eq!(
            values["admin-password"],
            ensure(tmp.path(), m.app_secrets()[0].0).unwrap()
        );
    }
}
