//! Printing helpers shared by commands: JSON for machines, aligned text for people.

use std::io::Write;

use anyhow::{Context, Result};
use serde::Serialize;

/// Print a value as pretty JSON on stdout. A closed pipe (`atoll … --json | head`) is not
/// an error: the reader has what it wanted.
pub fn json<T: Serialize>(value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).context("encoding JSON output")?;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}
