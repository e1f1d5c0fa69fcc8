//! Config files from manifest templates. At container create each file is rendered (its
//! placeholders filled from the app's secrets, its settings and the app's identity) into
//! `<app dir>/files/<container>/` and bind-mounted read-only at its path in the container.
//!
//! Host side: the per-container dir is mode 0700 and owned by the podman user, so no other
//! host user can reach the files; each file belongs to the host uid the container user maps
//! to, with the manifest's mode. A file's name carries the BLAKE3 of what it holds (content,
//! mode and owner), so a changed value gives a new mount source, which changes the
//! container's config hash: the container is recreated with the new file. Files no
//! template produces any more are deleted.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use atoll_registry::manifest::template::{self, Placeholder};
use atoll_registry::manifest::Container;

use crate::error::DataError;
use crate::host::PodmanHost;
use crate::secrets::SecretString;
use crate::store::AppRecord;

/// One rendered file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Path inside the container.
    pub destination: String,
    /// The file on the host.
    pub source: PathBuf,
}

/// `<app dir>/files/<container>`.
pub fn dir(app_dir: &Path, container: &str) -> PathBuf {
    app_dir.join("files").join(container)
}

/// What fills the placeholders of one app's templates.
#[derive(Debug)]
pub struct Values<'a> {
    /// The record (install name, manifest).
    pub record: &'a AppRecord,
    /// Every secret of the app, by name.
    pub secrets: &'a BTreeMap<String, SecretString>,
    /// Every setting's value (given or default).
    pub settings: &'a BTreeMap<String, String>,
}

/// Fill one template (pure).
pub fn fill(text: &str, values: &Values<'_>) -> Result<String, template::RenderError> {
    let m = &values.record.release.manifest;
    let version = m.version.to_string();
    template::render(text, |p| match p {
        Placeholder::Secret(n) => values.secrets.get(n).map(SecretString::expose),
        Placeholder::Setting(n) => values.settings.get(n).map(String::as_str),
        Placeholder::AppId => Some(m.id.as_str()),
        Placeholder::AppVersion => Some(version.as_str()),
        Placeholder::AppName => Some(values.record.name.as_str()),
    })
}

fn file_name(index: usize, path: &str, digest: &str) -> String {
    let base: String = path
        .rsplit('/')
        .next()
        .unwrap_or("file")
        .chars()
        .take(48)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{index:02}-{base}-{digest}")
}

/// Render every file of container `c` and return where each is; writes only what changed.
pub async fn render(
    host: &PodmanHost,
    app_dir: &Path,
    c: &Container,
    values: &Values<'_>,
) -> Result<Vec<Rendered>, DataError> {
    if c.files.is_empty() {
        return Ok(Vec::new());
    }
    let io = |op: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| DataError::Io { op, path, source }
    };
    let dir = dir(app_dir, &c.name);
    for d in [
        app_dir.parent().unwrap_or(app_dir),
        app_dir,
        &app_dir.join("files"),
    ] {
        if !d.is_dir() {
            std::fs::create_dir_all(d).map_err(io("create", d))?;
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o711))
                .map_err(io("chmod", d))?;
        }
    }
    if !dir.is_dir() {
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io("chmod", &dir))?;
        if host.switches_user() {
            std::os::unix::fs::chown(&dir, Some(host.uid()), Some(host.gid()))
                .map_err(io("chown", &dir))?;
        }
    }
    let user = c.user.as_deref();
    let mut out = Vec::with_capacity(c.files.len());
    let mut keep = BTreeSet::new();
    for (j, f) in c.files.iter().enumerate() {
        let text = fill(&f.template, values).map_err(|reason| DataError::Template {
            container: c.name.clone(),
            path: f.path.clone(),
            reason,
        })?;
        let mode = f
            .mode_bits()
            .unwrap_or(atoll_registry::manifest::DEFAULT_FILE_MODE);
        let mut h = blake3::Hasher::new();
        h.update(format!("{mode:o}\0{}\0", user.unwrap_or("")).as_bytes());
        h.update(text.as_bytes());
        let digest = h.finalize().to_hex()[..16].to_owned();
        let name = file_name(j, &f.path, &digest);
        let path = dir.join(&name);
        keep.insert(name.clone());
        if std::fs::symlink_metadata(&path).is_err() {
            let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
            let _ = std::fs::remove_file(&tmp);
            {
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&tmp)
                    .map_err(io("create", &tmp))?;
                file.write_all(text.as_bytes()).map_err(io("write", &tmp))?;
                file.sync_all().map_err(io("sync", &tmp))?;
            }
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
                .map_err(io("chmod", &tmp))?;
            crate::volumes::give_to_container_user(host, &tmp, user).await?;
            std::fs::rename(&tmp, &path).map_err(io("rename", &path))?;
        }
        out.push(Rendered {
            destination: f.path.clone(),
            source: path,
        });
    }
    // What no template produces any more (an older value, a removed file) goes.
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !keep.contains(&name) && !name.starts_with('.') {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{record, secret};

    #[test]
    fn templates_are_filled_from_secrets_settings_and_the_app() {
        let mut rec = record("hello-static");
        rec.name = "my-site".into();
        let mut secrets = BTreeMap::new();
        secrets.insert("pw".to_owned(), secret("s3cret-value-123456"));
        let mut settings = BTreeMap::new();
        settings.insert("admin-user".to_owned(), "alice".to_owned());
        let values = Values {
            record: &rec,
            secrets: &secrets,
            settings: &settings,
        };
        let out = fill(
            "{{ settings.admin-user }}:{{ secrets.pw }}\n{{app.id}} {{ app.version }} {{ app.name }}\n",
            &values,
        )
        .unwrap();
        let version = rec.release.manifest.version.to_string();
        assert_eq!(
            out,
            format!("alice:s3cret-value-123456\nhello-static {version} my-site\n")
        );
        let err = fill("{{ settings.nope }}", &values).unwrap_err();
        assert_eq!(err.to_string(), "{{ settings.nope }} has no value");
    }

    #[test]
    fn file_names_are_safe_and_carry_the_digest() {
        assert_eq!(
            file_name(3, "/etc/radicale/config", "ab12"),
            "03-config-ab12"
        );
        assert_eq!(file_name(0, "/etc/a b;c", "ff"), "00-a_b_c-ff");
    }
}
