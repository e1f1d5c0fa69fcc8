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

/// CPU time and resident memory of a process and all its descendants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TreeSample {
    /// User plus system time, in clock ticks.
    pub ticks: u64,
    /// Resident memory (`VmRSS`), in bytes; pages shared between the processes count once
    /// per process.
    pub rss_bytes: u64,
    /// Processes counted.
    pub processes: usize,
}

/// `(ppid, utime + stime)` from a `/proc/<pid>/stat` line.
fn parse_ticks(text: &str) -> Option<(i64, u64)> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the comm: state (3), ppid (4), …, utime (14), stime (15).
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((ppid, utime + stime))
}

/// `VmRSS` of a `/proc/<pid>/status`, in bytes (kernel threads have none).
fn parse_rss(status: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Sample `pid` and its descendants; `None` when `pid` does not run.
pub fn tree(pid: i64) -> Option<TreeSample> {
    if !state(pid).alive() {
        return None;
    }
    let mut procs: Vec<(i64, i64, u64)> = Vec::new();
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<i64>() else {
            continue;
        };
        if let Some((ppid, ticks)) = std::fs::read_to_string(e.path().join("stat"))
            .ok()
            .as_deref()
            .and_then(parse_ticks)
        {
            procs.push((p, ppid, ticks));
        }
    }
    let mut members = vec![pid];
    let mut i = 0;
    while i < members.len() {
        let parent = members[i];
        members.extend(procs.iter().filter(|p| p.1 == parent).map(|p| p.0));
        i += 1;
    }
    let mut out = TreeSample::default();
    for m in members {
        let Some(&(_, _, ticks)) = procs.iter().find(|p| p.0 == m) else {
            continue;
        };
        out.ticks += ticks;
        out.processes += 1;
        let status = Path::new("/proc").join(m.to_string()).join("status");
        out.rss_bytes += std::fs::read_to_string(status)
            .map(|s| parse_rss(&s))
            .unwrap_or(0);
    }
    Some(out)
}

/// Ticks spent by all CPUs together and the number of CPUs, from `/proc/stat`: with
/// [`tree`] sampled twice, a process tree's share of one CPU is its ticks over the CPUs'
/// ticks divided by their count.
pub fn cpu_total() -> Option<(u64, u32)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    parse_cpu_total(&text)
}

fn parse_cpu_total(text: &str) -> Option<(u64, u32)> {
    let total = text
        .lines()
        .find(|l| l.starts_with("cpu "))?
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    let cpus = text
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count();
    Some((total, u32::try_from(cpus).ok()?.max(1)))
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

    #[test]
    fn ticks_memory_and_cpu_totals_parse() {
        let stat = "7 (a b) c) S 1 7 7 0 -1 4194560 100 0 0 0 25 17 0 0 20 0 1 0 5 100 3";
        assert_eq!(parse_ticks(stat), Some((1, 42)));
        assert_eq!(parse_ticks("garbage"), None);
        assert_eq!(parse_rss("Name:\tx\nVmRSS:\t    1234 kB\n"), 1234 * 1024);
        assert_eq!(parse_rss("Name:\tkthreadd\n"), 0);
        let proc_stat = "cpu  10 0 20 70 0 0 0 0 0 0\ncpu0 5 0 10 35\ncpu1 5 0 10 35\nintr 1\n";
        assert_eq!(parse_cpu_total(proc_stat), Some((100, 2)));
        let me = tree(i64::from(std::process::id())).unwrap();
        assert!(me.processes >= 1 && me.rss_bytes > 0, "{me:?}");
        assert!(tree(0).is_none());
    }
}
