//! The atoll home directory: `--home`, else `$ATOLL_HOME`, else `/var/lib/atoll` for root
//! (a node run by root hands app data to the rootless podman user, which cannot enter
//! `/root`), else the XDG data dir (`~/.local/share/atoll`).

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use anyhow::{Context, Result};

/// Is this process running as root?
pub fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// Resolve the data directory.
pub fn resolve(flag: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p);
    }
    if let Some(p) = std::env::var_os("ATOLL_HOME").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    if is_root() {
        return Ok(PathBuf::from("/var/lib/atoll"));
    }
    dirs::data_dir()
        .map(|d| d.join("atoll"))
        .context("cannot find a data directory: set ATOLL_HOME or pass --home")
}

/// The home of a command that only reads it: it must exist already, so a mistyped
/// `--home` is an error naming the path instead of a new, empty home.
pub fn existing(home: &std::path::Path) -> Result<&std::path::Path> {
    match std::fs::metadata(home) {
        Ok(m) if m.is_dir() => Ok(home),
        Ok(_) => anyhow::bail!("the atoll home {} is not a directory", home.display()),
        Err(_) => anyhow::bail!(
            "the atoll home {} does not exist (check --home / $ATOLL_HOME); \
             `atoll node` creates a node's home on first start, `atoll key new <name>` a publisher's",
            home.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_missing_home_is_named_and_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let typo = dir.path().join("hoem");
        let err = existing(&typo).unwrap_err().to_string();
        assert!(
            err.contains("hoem") && err.contains("does not exist"),
            "{err}"
        );
        assert!(!typo.exists());
        assert_eq!(existing(dir.path()).unwrap(), dir.path());
        let file = dir.path().join("f");
        std::fs::write(&file, "").unwrap();
        assert!(existing(&file)
            .unwrap_err()
            .to_string()
            .contains("not a directory"));
    }
}
