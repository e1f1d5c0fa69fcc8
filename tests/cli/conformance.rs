//! `atoll conformance --json`, the real binary: every attack of the suite is present and
//! refused (PASS), the command exits 0, and the throwaway node leaves nothing in its
//! temporary directory.

use std::process::Command;

/// Every attack the suite must run: removing one from the suite fails this test.
const ATTACKS: [&str; 15] = [
    "arbitrary-installation",
    "endless-data",
    "extraneous-dependencies",
    "fast-forward",
    "indefinite-freeze",
    "key-compromise",
    "malicious-mirrors",
    "mix-and-match",
    "rollback",
    "slow-retrieval",
    "wrong-software",
    "equivocation",
    "oversized-event",
    "malformed-event",
    "replay-other-publisher",
];

#[test]
fn conformance_refuses_every_attack_and_leaves_nothing_behind() {
    let home = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_atoll"))
        .args(["conformance", "--json"])
        .env("ATOLL_HOME", home.path())
        .env("TMPDIR", tmp.path())
        .env_remove("ATOLL_LOG")
        .output()
        .expect("running atoll conformance");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "atoll conformance failed ({:?}):\n{stdout}\n{stderr}",
        out.status.code()
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let rows = report["attacks"].as_array().unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ATTACKS, "{stdout}");
    for row in rows {
        assert_eq!(row["status"], "PASS", "{row}");
        assert!(
            row["happened"]
                .as_str()
                .unwrap()
                .contains("nothing else stored"),
            "{row}"
        );
    }
    assert_eq!(report["failed"], 0, "{stdout}");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "the throwaway node left {left:?}");
    assert_eq!(
        std::fs::read_dir(home.path()).unwrap().count(),
        0,
        "conformance wrote into the atoll home"
    );
}
