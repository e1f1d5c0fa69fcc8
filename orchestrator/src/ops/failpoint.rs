//! Failpoints at the step boundaries of install, update and uninstall, for the crash tests:
//! `ATOLL_FAILPOINT=install:after-record` (a comma-separated list) makes the process log
//! [`MARKER`] with the failpoint's name and wait there forever, so a test can SIGKILL it at
//! exactly that point. Compiled in always; inert unless the variable names the point.

/// The line written to stderr when a failpoint is reached: `ATOLL_FAILPOINT reached <name>`.
pub const MARKER: &str = "ATOLL_FAILPOINT reached";

/// Every failpoint, in the order an operation passes them.
pub const ALL: &[&str] = &[
    "install:after-record",
    "install:after-images",
    "install:after-prepared",
    "install:after-containers",
    "update:after-record",
    "update:after-images",
    "update:after-prepared",
    "update:after-containers",
    "uninstall:after-record",
    "uninstall:before-forget",
];

/// Is `name` switched on in this process's environment?
fn armed(name: &str) -> bool {
    std::env::var("ATOLL_FAILPOINT").is_ok_and(|v| v.split(',').any(|p| p.trim() == name))
}

/// Stop here forever if the failpoint `name` is switched on; return at once otherwise.
pub(crate) async fn hit(name: &'static str) {
    debug_assert!(ALL.contains(&name), "unknown failpoint {name}");
    if armed(name) {
        tracing::warn!(failpoint = name, "failpoint reached; waiting to be killed");
        eprintln!("{MARKER} {name}");
        std::future::pending::<()>().await;
    }
}
