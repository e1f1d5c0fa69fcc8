//! Process liveness from `/proc`, for zombie detection: podman keeps saying `running` after
//! the container's process and its conmon were killed (PODMAN-NOTES.md).

use std::path::Path;

/// What `/proc` says about a PID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcState {
    /// Running or sleeping.
    Alive,
    /// Exited but not reaped (state `Z`) or dead (`X`).
    Zombie,
    /// No such process.
    Missing,
}

impl ProcState {
    /// Alive?
    pub fn alive(self) -> bool {
        self == Self::Alive
    }
}

/// The state of `pid` (0 or negative: missing).
pub fn state(pid: i64) -> ProcState {
    if pid <= 0 {
        return ProcState::Missing;
    }
    state_at(&Path::new("/proc").join(pid.to_string()).join("stat"))
}

fn state_at(stat: &Path) -> ProcState {
    match std::fs::read_to_string(stat) {
        Ok(text) => parse_stat(&text),
        Err(_) => ProcState::Missing,
    }
}

/// `pid (comm) S …`: the state follows the last `)` (comm may hold spaces and parentheses).
fn parse_stat(text: &str) -> ProcState {
    let state = text
        .rfind(')')
        .and_then(|i| text[i + 1..].trim_start().chars().next());
    match state {
        Some('Z') | Some('X') | Some('x') => ProcState::Zombie,
        Some(_) => ProcState::Alive,
        None => ProcState::Missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse() {
        assert_eq!(parse_stat("12 (httpd) S 1 2 3"), ProcState::Alive);
        assert_eq!(parse_stat("12 (a) b) Z 1 2"), ProcState::Zombie);
        assert_eq!(parse_stat("garbage"), ProcState::Missing);
        assert_eq!(state(0), ProcState::Missing);
        assert_eq!(state(i64::from(std::process::id())), ProcState::Alive);
    }
}
