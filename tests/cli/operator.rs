//! The operator's per-app commands (`atoll status`, `atoll logs`, `atoll credentials`) as
//! typed, without a node: what they offer (`--help`), what they refuse before asking a
//! node (a bad ref, a bad `--tail`, credentials without the admin token), and the answer
//! when no node listens. With a node on real podman: tests/node/operator.rs.

use super::*;

/// An address nothing listens on.
fn dead_node() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

const APP: &str = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp/notebook";

#[test]
fn operator_commands_say_what_they_do_and_refuse_clearly() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let help = ok(&atoll(h, &["logs", "--help"]));
    for words in ["--container <NAME>", "-f, --follow", "--tail <TAIL>"] {
        assert!(help.contains(words), "logs --help lacks {words:?}: {help}");
    }
    let help = ok(&atoll(h, &["status", "--help"]));
    assert!(help.contains("restarts and the last failure"), "{help}");
    assert!(
        help.contains("CPU, memory and disk use next to its limits"),
        "{help}"
    );
    let help = ok(&atoll(h, &["credentials", "--help"]));
    assert!(help.contains("Needs the admin token"), "{help}");

    // Refused by the command line itself (exit 2), naming the argument.
    fails(&atoll(h, &["status"]), 2, "<APP>");
    fails(&atoll(h, &["logs", APP, "--tail", "0"]), 2, "--tail");
    fails(&atoll(h, &["logs", APP, "--container"]), 2, "--container");

    // No node: each says where it looked and how to start one.
    let node = dead_node();
    for args in [
        vec!["status", APP],
        vec!["logs", APP],
        vec!["logs", APP, "-f", "--container", "web"],
    ] {
        let mut all = vec!["--node", node.as_str()];
        all.extend(args.iter().copied());
        let err = fails(&atoll(h, &all), 1, "no node answers at");
        assert!(err.contains("start one with `atoll node`"), "{err}");
    }
    // Credentials need the admin token: refused before anything is sent.
    let err = fails(
        &atoll(h, &["--node", node.as_str(), "credentials", APP]),
        1,
        "no admin token",
    );
    assert!(err.contains("--home / ATOLL_HOME"), "{err}");
}
