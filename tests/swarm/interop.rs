//! Interop with a relay that is not the project's own code: the PyPI package
//! `nostr-relay`, run as a separate process (installed by scripts/install-test-relay.sh),
//! and an independent BIP-340 verification of the events atoll publishes (coincurve).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use atoll_discovery::relay::SyncMode;
use atoll_registry::AppRef;
use nostr_sdk::JsonUtil;

use crate::support::{blobs_of, eventually, init_tracing, make_app, Node, Publisher};

/// The venv's bin dir, installing it on first use (idempotent, quick when cached).
pub fn relay_bin_dir() -> PathBuf {
    // Cargo sets CARGO_MANIFEST_DIR when it runs the test; the compile-time value is the
    // fallback (a build reused from another checkout would point there).
    let manifest = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    let script = Path::new(&manifest).join("scripts/install-test-relay.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/install-test-relay.sh");
    assert!(out.status.success(), "scripts/install-test-relay.sh failed");
    let dir = String::from_utf8(out.stdout).unwrap();
    PathBuf::from(dir.lines().last().unwrap().trim())
}

/// The Python relay in its own process group; stopped (TERM, then KILL) on drop.
pub struct PyRelay {
    child: Child,
    port: u16,
    dir: PathBuf,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PyRelay {
    /// Start the relay on `port` with its database and logs in `dir`, checking
    /// signatures and sizes as a public relay would.
    pub fn start(bin: &Path, dir: &Path, port: u16) -> Self {
        Self::start_with(
            bin,
            dir,
            port,
            &[
                "nostr_relay.validators.is_signed",
                "nostr_relay.validators.is_not_too_large",
            ],
        )
    }

    /// Start it with these storage validators (none: it stores whatever it is sent,
    /// bad signatures and dates in 2100 included — its own configuration allows that).
    pub fn start_with(bin: &Path, dir: &Path, port: u16, validators: &[&str]) -> Self {
        let config = dir.join("relay.yaml");
        let validators = if validators.is_empty() {
            " []\n".to_owned()
        } else {
            validators
                .iter()
                .map(|v| format!("\n    - {v}"))
                .collect::<String>()
                + "\n"
        };
        std::fs::write(
            &config,
            format!(
                "DEBUG: false\nrelay_name: atoll interop test\nstorage:\n  sqlalchemy.url: sqlite+aiosqlite:///{db}\n  \
                 validators:{validators}\
                 gunicorn:\n  bind: 127.0.0.1:{port}\n  workers: 1\n  loglevel: warning\n\
                 authentication:\n  enabled: false\nmax_event_size: 262144\nsubscription_limit: 64\n",
                db = dir.join("nostr.sqlite3").display()
            ),
        )
        .unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("relay.log"))
            .unwrap();
        let child = std::os::unix::process::CommandExt::process_group(
            Command::new(bin.join("nostr-relay"))
                .arg("-c")
                .arg(&config)
                .arg("serve")
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log),
            0,
        )
        .spawn()
        .expect("start nostr-relay");
        Self {
            child,
            port,
            dir: dir.to_owned(),
        }
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    pub async fn wait_listening(&mut self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "nostr-relay exited: {}",
                std::fs::read_to_string(self.dir.join("relay.log")).unwrap_or_default()
            );
            assert!(
                tokio::time::Instant::now() < deadline,
                "nostr-relay did not listen"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for PyRelay {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let quiet = |sig: &str| {
            let _ = Command::new("kill")
                .args([sig, "--", &group])
                .stderr(Stdio::null())
                .status();
        };
        quiet("-TERM");
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        quiet("-KILL");
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn third_party_relay_carries_the_catalog_and_events_verify_independently() {
    init_tracing();
    let bin = relay_bin_dir();
    let relay_dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut relay = PyRelay::start(&bin, relay_dir.path(), port);
    relay.wait_listening().await;

    let apps = tempfile::tempdir().unwrap();
    let publisher = Publisher::start(4, vec![relay.url()]).await;
    let node = Node::start("n1", vec![relay.url()]).await;
    let published = publisher
        .publish(&make_app(apps.path(), "omega", "1.0.0", 150_000))
        .await;
    assert_eq!(published.relays, vec![relay.url()]);
    let app: AppRef = published.app.parse().unwrap();
    let want = publisher.node.head(&app).await.unwrap();
    let blobs = blobs_of(&published);
    eventually("node syncs the app through the Python relay", || async {
        node.head(&app).await == Some((want.0, want.1, true)) && node.holds(&blobs).await
    })
    .await;
    let state = node.d.status().await.relays.remove(0);
    assert_eq!(
        state.mode,
        SyncMode::Since,
        "nostr-relay has no NIP-77: since cursors"
    );

    // The cursor of the relay is kept in the catalog (a restart resumes from it).
    let url = relay.url();
    assert!(node
        .catalog
        .read(move |c| c.sync_cursor(&url))
        .await
        .unwrap()
        .is_some());

    // Independent verification: every event the publisher sent (and one tampered copy,
    // which must fail) checked by coincurve's BIP-340 and a NIP-01 id recomputed in Python.
    let events = publisher.node.d.relays().stored_events().await;
    let ours: Vec<String> = events
        .iter()
        .filter(|e| {
            e.id.to_hex() == published.entry_event || e.id.to_hex() == published.profile_event
        })
        .map(|e| e.as_json())
        .collect();
    assert_eq!(ours.len(), 2);
    let mut tampered: serde_json::Value = serde_json::from_str(&ours[0]).unwrap();
    tampered["created_at"] = serde_json::json!(tampered["created_at"].as_u64().unwrap() + 1);
    let mut input = ours.join("\n");
    input.push('\n');
    input.push_str(&tampered.to_string());
    let verdicts = python_verify(&bin, &input);
    assert_eq!(verdicts, vec!["ok", "ok", "bad"], "coincurve verdicts");

    // The relay goes down and comes back on the same port and database: both nodes
    // reconnect (backoff), and the node catches up from its cursor.
    drop(relay);
    let mut relay = PyRelay::start(&bin, relay_dir.path(), port);
    relay.wait_listening().await;
    let v2 = publisher
        .publish(&make_app(apps.path(), "omega", "2.0.0", 150_000))
        .await;
    let want = publisher.node.head(&app).await.unwrap();
    assert_eq!(want.0, v2.sequence);
    eventually("node reconnects and gets omega 2.0.0", || async {
        node.head(&app).await == Some((want.0, want.1, true))
    })
    .await;
    let state = node.d.status().await.relays.remove(0);
    assert!(state.catch_ups >= 2, "{state:?}");

    node.stop().await;
    publisher.node.stop().await;
    drop(relay);
}

const VERIFY_PY: &str = r#"
import hashlib, json, sys
from coincurve import PublicKeyXOnly
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    e = json.loads(line)
    ser = json.dumps([0, e["pubkey"], e["created_at"], e["kind"], e["tags"], e["content"]],
                     separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(ser.encode("utf-8")).digest()
    ok = digest.hex() == e["id"] and PublicKeyXOnly(bytes.fromhex(e["pubkey"])).verify(
        bytes.fromhex(e["sig"]), digest)
    print("ok" if ok else "bad")
"#;

fn python_verify(bin: &Path, input: &str) -> Vec<String> {
    use std::io::Write;
    let mut child = Command::new(bin.join("python"))
        .args(["-c", VERIFY_PY])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}
