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

/// Text from the network or a file, made safe to print on a terminal: control
/// characters (escape sequences, carriage returns, newlines) are shown escaped, and at
/// most `max` characters are kept.
pub fn plain(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_escapes_control_characters_and_clips() {
        assert_eq!(plain("ok", 10), "ok");
        assert_eq!(plain("a\u{1b}[2Jb\n", 20), "a\\u{1b}[2Jb\\n");
        assert_eq!(plain("abcdef", 3), "abc…");
    }
}
