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
