//! The atoll home directory: `--home`, else `$ATOLL_HOME`, else the XDG data dir.

use std::path::PathBuf;

use anyhow::{Context, Result};

/// Resolve the data directory.
pub fn resolve(flag: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p);
    }
    if let Some(p) = std::env::var_os("ATOLL_HOME").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    dirs::data_dir()
        .map(|d| d.join("atoll"))
        .context("cannot find a data directory: set ATOLL_HOME or pass --home")
}
