//! The node's admin token: 32 random bytes, hex, in `<data>/admin.token` (mode 0600),
//! created on first start. Mutating API calls must carry it as `Authorization: Bearer`.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// File name of the token inside the data dir.
pub const TOKEN_FILE: &str = "admin.token";

/// Path of the token file.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(TOKEN_FILE)
}

/// Read the token, creating it (0600) if it does not exist yet.
pub fn load_or_create(data_dir: &Path) -> Result<String> {
    let p = path(data_dir);
    match read(&p) {
        Ok(t) => return Ok(t),
        Err(e) if p.exists() => return Err(e),
        Err(_) => {}
    }
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let token = hex::encode(raw);
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&p)
        .with_context(|| format!("creating {}", p.display()))?;
    f.write_all(token.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", p.display()))?;
    Ok(token)
}

/// Read an existing token, refusing one that others can read.
pub fn read(p: &Path) -> Result<String> {
    let meta = std::fs::metadata(p).with_context(|| format!("reading {}", p.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "{} has mode {mode:o}, readable by others; fix it with `chmod 600 {}`",
            p.display(),
            p.display()
        );
    }
    let t = atoll_registry::fsread::open_regular(p, 4096)
        .and_then(|f| f.read_string())
        .with_context(|| format!("reading {}", p.display()))?;
    let t = t.trim().to_owned();
    if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!(
            "{} does not hold an admin token (64 hex characters)",
            p.display()
        );
    }
    Ok(t)
}

/// Compare in constant time (the token guards every mutating call).
pub fn matches(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn created_once_0600_and_reused() {
        let d = tempfile::tempdir().unwrap();
        let t = load_or_create(d.path()).unwrap();
        let mode = std::fs::metadata(path(d.path()))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(load_or_create(d.path()).unwrap(), t);
        assert!(matches(&t, &t));
        assert!(!matches(&t, "x"));
        std::fs::set_permissions(path(d.path()), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(load_or_create(d.path())
            .unwrap_err()
            .to_string()
            .contains("chmod 600"));
    }
}
