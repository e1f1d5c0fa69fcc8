//! The publisher CLI as a new user drives it: key new → app validate → app sign → app
//! verify on every sample app, and every tamper (payload, signature, blob) caught by
//! `app verify` with exit code 1 and a message that names what is wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "cli/conformance.rs"]
mod conformance;
#[path = "cli/install.rs"]
mod install;
#[path = "cli/operator.rs"]
mod operator;
#[path = "cli/updates.rs"]
mod updates;

const SAMPLES: [&str; 3] = ["hello-static", "notebook", "two-tier"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The sample apps' image archives are built offline by the project's script.
fn ensure_images() {
    let missing = SAMPLES
        .iter()
        .any(|a| !repo().join("apps").join(a).join("images").is_dir());
    if missing {
        let out = Command::new("bash")
            .arg(repo().join("scripts/build-images.sh"))
            .current_dir(repo())
            .output()
            .expect("running scripts/build-images.sh");
        assert!(
            out.status.success(),
            "build-images.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn atoll(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_atoll"))
        .args(args)
        .env("ATOLL_HOME", home)
        .env_remove("ATOLL_LOG")
        .output()
        .expect("running atoll")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "atoll failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn fails(out: &Output, code: i32, words: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(code), "expected exit {code}: {err}");
    assert!(err.contains(words), "stderr lacks {words:?}: {err}");
    err
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&ok(out)).expect("valid JSON on stdout")
}

#[test]
fn publisher_quickstart_on_every_sample_app() {
    ensure_images();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let key = json(&atoll(h, &["key", "new", "pub", "--json"]));
    let did = key["did"].as_str().unwrap().to_owned();
    assert!(did.starts_with("did:key:z6Mk"));
    let shown = json(&atoll(h, &["key", "show", "pub", "--json"]));
    assert_eq!(shown["did"], key["did"]);
    assert_eq!(shown["nostr_pubkey"].as_str().unwrap().len(), 64);
    let listed = json(&atoll(h, &["key", "list", "--json"]));
    assert_eq!(listed.as_array().unwrap().len(), 1);
    fails(&atoll(h, &["key", "new", "pub"]), 1, "already exists");

    for app in SAMPLES {
        let dir = repo().join("apps").join(app);
        let v = json(&atoll(
            h,
            &["app", "validate", dir.to_str().unwrap(), "--json"],
        ));
        assert_eq!(v["ok"], true, "{app}: {v}");
        let out = h.join("out").join(app);
        let s = json(&atoll(
            h,
            &[
                "app",
                "sign",
                dir.to_str().unwrap(),
                "--key",
                "pub",
                "--out",
                out.to_str().unwrap(),
                "--json",
            ],
        ));
        assert_eq!(s["publisher"], did.as_str());
        assert_eq!(s["app"], app);
        let entry = out.join("entry.json");
        let r = json(&atoll(
            h,
            &["app", "verify", entry.to_str().unwrap(), "--json"],
        ));
        assert_eq!(r["ok"], true);
        assert_eq!(r["app"], app);
        // Every blob beside the entry is named by its BLAKE3 hash.
        for b in s["blobs"].as_array().unwrap() {
            let name = b.as_str().unwrap();
            let bytes = fs::read(out.join(name)).unwrap();
            assert_eq!(blake3::hash(&bytes).to_hex().as_str(), name);
        }
    }
}

fn signed_copy(h: &Path, name: &str) -> (PathBuf, serde_json::Value) {
    let dir = repo().join("apps/hello-static");
    let out = h.join(name);
    let s = json(&atoll(
        h,
        &[
            "app",
            "sign",
            dir.to_str().unwrap(),
            "--key",
            "pub",
            "--out",
            out.to_str().unwrap(),
            "--json",
        ],
    ));
    (out.join("entry.json"), s)
}

#[test]
fn one_changed_byte_makes_verify_fail_naming_what() {
    ensure_images();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    ok(&atoll(h, &["key", "new", "pub"]));

    // Payload: change the version inside the signed payload.
    let (entry, _) = signed_copy(h, "payload");
    let text = fs::read_to_string(&entry).unwrap();
    fs::write(
        &entry,
        text.replacen("\"version\":\"1.0.0\"", "\"version\":\"1.0.1\"", 1),
    )
    .unwrap();
    fails(
        &atoll(h, &["app", "verify", entry.to_str().unwrap()]),
        1,
        "does not match the payload",
    );

    // Signature: flip one character of the signature.
    let (entry, _) = signed_copy(h, "sig");
    let text = fs::read_to_string(&entry).unwrap();
    let at = text.find("\"sig\":\"").unwrap() + 7 + 5;
    let mut bytes = text.into_bytes();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    fs::write(&entry, bytes).unwrap();
    fails(
        &atoll(h, &["app", "verify", entry.to_str().unwrap()]),
        1,
        "signature",
    );

    // Each blob beside it: one byte changed.
    let (entry, s) = signed_copy(h, "blobs");
    for b in s["blobs"].as_array().unwrap() {
        let path = entry.parent().unwrap().join(b.as_str().unwrap());
        let orig = fs::read(&path).unwrap();
        let mut bad = orig.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x20;
        fs::write(&path, &bad).unwrap();
        let err = fails(
            &atoll(h, &["app", "verify", entry.to_str().unwrap()]),
            1,
            "does not match its hash",
        );
        assert!(err.contains(b.as_str().unwrap()), "{err}");
        fs::write(&path, &orig).unwrap();
    }
    ok(&atoll(h, &["app", "verify", entry.to_str().unwrap()]));
}

#[test]
fn bad_input_gets_clear_errors_and_usage_exits_2() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    fails(&atoll(h, &["frobnicate"]), 2, "unrecognized subcommand");
    fails(&atoll(h, &["app", "sign", "apps/hello-static"]), 2, "--key");
    fails(
        &atoll(h, &["key", "show", "ghost"]),
        1,
        "atoll key new ghost",
    );
    fails(
        &atoll(h, &["key", "new", "../escape"]),
        1,
        "invalid key name",
    );

    // A world-readable key is refused with the fix.
    let info = json(&atoll(h, &["key", "new", "loose", "--json"]));
    let path = info["path"].as_str().unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).unwrap();
    fails(&atoll(h, &["key", "show", "loose"]), 1, "chmod 600");

    // A manifest that breaks policy: the file, line and field are named.
    let app = h.join("bad-app");
    fs::create_dir_all(&app).unwrap();
    fs::write(
        app.join("manifest.yml"),
        "id: bad\nname: Bad\nversion: 1.0.0\ndescription: x\ncontainers:\n  - name: web\n    image:\n      archive: x.tar\n    privileged: true\n",
    )
    .unwrap();
    let err = fails(
        &atoll(h, &["app", "validate", app.to_str().unwrap()]),
        1,
        "containers[0].privileged",
    );
    assert!(
        err.contains("manifest.yml") && err.contains("line 9"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_slice(
        &atoll(h, &["app", "validate", app.to_str().unwrap(), "--json"]).stdout,
    )
    .unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["problems"][0]["field"], "containers[0].privileged");
    assert_eq!(v["problems"][0]["line"], 9);

    // A config file template naming a secret the app lacks: the field, the template's line
    // and the manifest's line of it are named, at validate time (before any node sees it).
    fs::write(
        app.join("manifest.yml"),
        "id: bad\nname: Bad\nversion: 1.0.0\ndescription: x\nsettings:\n  - name: user\ncontainers:\n  - name: web\n    image:\n      archive: x.tar\n    files:\n      - path: /etc/app.conf\n        template: |\n          user = {{ settings.user }}\n          pass = {{ secrets.admin }}\n",
    )
    .unwrap();
    let err = fails(
        &atoll(h, &["app", "validate", app.to_str().unwrap()]),
        1,
        "containers[0].files[0].template: template line 2: {{ secrets.admin }} names no secret of this app",
    );
    assert!(err.contains("line 15: "), "{err}");

    // Garbage instead of an entry.
    let junk = h.join("entry.json");
    fs::write(&junk, b"\x00\x01 not json").unwrap();
    fails(
        &atoll(h, &["app", "verify", junk.to_str().unwrap()]),
        1,
        "not valid JSON",
    );
}

// ---- Issue 9: every file the publisher CLI reads is bounded, and stays in its directory.

/// Run atoll with its address space capped at 1 GiB (a regression that expands or slurps
/// aborts instead of eating the machine) and a bounded wait: a run still going after 60 s
/// (a FIFO being waited on) is killed and fails the test.
fn atoll_capped(home: &Path, args: &[&str]) -> Output {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let mut child = Command::new("prlimit")
        .arg("--as=1073741824")
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_atoll"))
        .args(args)
        .env("ATOLL_HOME", home)
        .env_remove("ATOLL_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running atoll under prlimit");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "atoll {args:?} did not finish in 60 s (blocked?): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn mkfifo(path: &Path) {
    let st = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(st.success());
}

/// A copy of hello-static's manifest and icon; the image archive is left to the test.
fn app_copy(root: &Path) -> PathBuf {
    let src = repo().join("apps/hello-static");
    let app = root.join("hello-static");
    fs::create_dir_all(&app).unwrap();
    fs::copy(src.join("manifest.yml"), app.join("manifest.yml")).unwrap();
    fs::copy(src.join("icon.svg"), app.join("icon.svg")).unwrap();
    fs::copy(src.join("screenshot.png"), app.join("screenshot.png")).unwrap();
    app
}

/// Every file under `dir` (recursively) that holds `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return found;
    };
    for e in entries {
        let path = e.unwrap().path();
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            found.extend(files_holding(&path, needle));
        } else if meta.is_file() {
            let bytes = fs::read(&path).unwrap();
            if bytes.windows(needle.len()).any(|w| w == needle) {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn a_yaml_alias_bomb_is_refused_at_its_first_anchor_within_a_memory_cap() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    ok(&atoll(h, &["key", "new", "pub"]));
    let app = h.join("bomb");
    fs::create_dir_all(&app).unwrap();
    // issue 9: ~5 GB once expanded (200 KB × 128 aliases × 200 containers).
    let mut yaml = String::from("id: bomb\nname: Bomb\nversion: 1.0.0\ndescription: &s \"");
    yaml.push_str(&"x".repeat(200 * 1024));
    yaml.push_str("\"\ncontainers:\n  - &c\n    name: web\n    image:\n      archive: a.tar\n");
    yaml.push_str("    command: [");
    yaml.push_str(&vec!["*s"; 128].join(", "));
    yaml.push_str("]\n");
    for _ in 0..200 {
        yaml.push_str("  - *c\n");
    }
    fs::write(app.join("manifest.yml"), &yaml).unwrap();
    let dir = app.to_str().unwrap();

    let err = fails(
        &atoll_capped(h, &["app", "validate", dir]),
        1,
        "line 4: YAML anchors (&s) are not allowed in a manifest",
    );
    assert!(err.contains("manifest.yml"), "{err}");
    assert!(
        err.len() < 2000,
        "the error echoes the input: {} bytes",
        err.len()
    );
    let v: serde_json::Value =
        serde_json::from_slice(&atoll_capped(h, &["app", "validate", dir, "--json"]).stdout)
            .unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["problems"][0]["line"], 4);
    let out = h.join("out");
    fails(
        &atoll_capped(
            h,
            &[
                "app",
                "sign",
                dir,
                "--key",
                "pub",
                "--out",
                out.to_str().unwrap(),
            ],
        ),
        1,
        "YAML anchors (&s) are not allowed",
    );
    assert!(!out.exists());
}

#[test]
fn sign_refuses_files_linked_out_of_the_app_dir_and_writes_none_of_their_bytes() {
    use std::os::unix::fs::symlink;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    ok(&atoll(h, &["key", "new", "pub"]));
    // A file outside the app dir standing in for /etc/shadow.
    let outside = tempfile::tempdir().unwrap();
    let secret = b"root:$6$issue-9-must-never-be-signed$0123456789:19000:0:99999:7:::\n";
    let shadow = outside.path().join("shadow");
    fs::write(&shadow, secret).unwrap();
    fs::write(outside.path().join("web.oci.tar"), secret).unwrap();

    let sign = |app: &Path, out: &Path| {
        atoll_capped(
            h,
            &[
                "app",
                "sign",
                app.to_str().unwrap(),
                "--key",
                "pub",
                "--out",
                out.to_str().unwrap(),
            ],
        )
    };

    // images/web.oci.tar -> the secret.
    let work = tempfile::tempdir().unwrap();
    let app = app_copy(work.path());
    fs::create_dir(app.join("images")).unwrap();
    symlink(&shadow, app.join("images/web.oci.tar")).unwrap();
    let err = fails(
        &atoll_capped(h, &["app", "validate", app.to_str().unwrap()]),
        1,
        "is a symbolic link leaving the app directory",
    );
    assert!(err.contains("containers[0].image.archive"), "{err}");
    let out = h.join("out-file-link");
    let err = fails(
        &sign(&app, &out),
        1,
        "is a symbolic link leaving the app directory",
    );
    assert!(err.contains("image archive images/web.oci.tar"), "{err}");
    assert!(!out.exists(), "sign wrote {out:?}");

    // images -> a directory outside (as `images -> /etc`).
    fs::remove_dir_all(app.join("images")).unwrap();
    symlink(outside.path(), app.join("images")).unwrap();
    fails(
        &atoll_capped(h, &["app", "validate", app.to_str().unwrap()]),
        1,
        "leaving the app directory",
    );
    let out = h.join("out-dir-link");
    fails(&sign(&app, &out), 1, "leaving the app directory");
    assert!(!out.exists(), "sign wrote {out:?}");
    // Neither the default bundle dir nor anything else in the home holds the secret.
    assert_eq!(files_holding(h, secret), Vec::<PathBuf>::new());

    // A link that stays inside the app dir is fine, and the bundle holds a plain copy.
    fs::remove_file(app.join("images")).unwrap();
    fs::create_dir_all(app.join("build")).unwrap();
    fs::create_dir(app.join("images")).unwrap();
    fs::write(app.join("build/web.oci.tar"), b"not really an image").unwrap();
    symlink("../build/web.oci.tar", app.join("images/web.oci.tar")).unwrap();
    ok(&atoll_capped(
        h,
        &["app", "validate", app.to_str().unwrap()],
    ));
    let out = h.join("out-inside");
    ok(&sign(&app, &out));
    ok(&atoll_capped(
        h,
        &["app", "verify", out.join("entry.json").to_str().unwrap()],
    ));
}

#[test]
fn special_files_as_manifest_or_icon_fail_fast_naming_what_they_are() {
    use std::os::unix::fs::symlink;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    ok(&atoll(h, &["key", "new", "pub"]));
    let work = tempfile::tempdir().unwrap();
    let app = app_copy(work.path());
    let dir = app.to_str().unwrap();
    let out = h.join("out");
    let sign_args = [
        "app",
        "sign",
        dir,
        "--key",
        "pub",
        "--out",
        out.to_str().unwrap(),
    ];
    let manifest = app.join("manifest.yml");
    let original = fs::read(&manifest).unwrap();

    // manifest.yml -> /dev/zero: refused without reading (it would never end).
    fs::remove_file(&manifest).unwrap();
    symlink("/dev/zero", &manifest).unwrap();
    fails(
        &atoll_capped(h, &["app", "validate", dir]),
        1,
        "is a symbolic link leaving the app directory",
    );
    fails(&atoll_capped(h, &sign_args), 1, "leaving the app directory");
    fails(
        &atoll_capped(h, &["app", "validate", "/dev/zero"]),
        1,
        "/dev/zero is a character device, not a regular file",
    );

    // manifest.yml is a FIFO nobody writes to: refused, not waited on.
    fs::remove_file(&manifest).unwrap();
    mkfifo(&manifest);
    fails(
        &atoll_capped(h, &["app", "validate", dir]),
        1,
        "manifest.yml is a FIFO, not a regular file",
    );
    fails(
        &atoll_capped(h, &sign_args),
        1,
        "is a FIFO, not a regular file",
    );

    // icon.svg is a FIFO.
    fs::remove_file(&manifest).unwrap();
    fs::write(&manifest, &original).unwrap();
    fs::create_dir(app.join("images")).unwrap();
    fs::write(app.join("images/web.oci.tar"), b"image").unwrap();
    fs::remove_file(app.join("icon.svg")).unwrap();
    mkfifo(&app.join("icon.svg"));
    let err = fails(
        &atoll_capped(h, &["app", "validate", dir]),
        1,
        "icon.svg is a FIFO, not a regular file",
    );
    assert!(err.contains("icon: "), "{err}");
    fails(&atoll_capped(h, &sign_args), 1, "icon.svg is a FIFO");
    assert!(!out.exists());

    // An entry.json that is a FIFO: verify refuses it too.
    let entry = work.path().join("entry.json");
    mkfifo(&entry);
    fails(
        &atoll_capped(h, &["app", "verify", entry.to_str().unwrap()]),
        1,
        "is a FIFO, not a regular file",
    );
}

#[test]
fn a_key_directory_open_to_other_users_is_refused_with_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let info = json(&atoll(h, &["key", "new", "pub", "--json"]));
    let keys = Path::new(info["path"].as_str().unwrap())
        .parent()
        .unwrap()
        .to_owned();
    let mode = fs::metadata(&keys).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    fs::set_permissions(&keys, fs::Permissions::from_mode(0o777)).unwrap();
    let fix = format!("chmod 700 {}", keys.display());
    let err = fails(&atoll(h, &["key", "show", "pub"]), 1, &fix);
    assert!(err.contains("mode 777"), "{err}");
    fails(&atoll(h, &["key", "list"]), 1, &fix);
    fails(&atoll(h, &["key", "new", "other"]), 1, &fix);
    assert!(!keys.join("other.key").exists());
    let app = repo().join("apps/hello-static");
    fails(
        &atoll(
            h,
            &[
                "app",
                "sign",
                app.to_str().unwrap(),
                "--key",
                "pub",
                "--out",
                "/nonexistent/x",
            ],
        ),
        1,
        &fix,
    );
    fs::set_permissions(&keys, fs::Permissions::from_mode(0o700)).unwrap();
    ok(&atoll(h, &["key", "show", "pub"]));
}

#[test]
fn sync_relay_edits_the_persisted_choices_when_no_node_runs() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    fs::write(
        h.join("atoll.toml"),
        "[relays]\nexternal = [\"ws://127.0.0.2:9\"]\n",
    )
    .unwrap();
    // Port 1 refuses connections: no node answers there.
    let relay = |args: &[&str]| {
        let mut all = vec!["--node", "http://127.0.0.1:1", "sync", "relay"];
        all.extend_from_slice(args);
        atoll(h, &all)
    };
    let out = ok(&relay(&["add", "ws://127.0.0.3:9"]));
    assert!(out.contains("added") && out.contains("next start"), "{out}");
    let out = ok(&relay(&["remove", "ws://127.0.0.2:9"]));
    assert!(out.contains("disabled"), "{out}");
    let list = json(&relay(&["list", "--json"]));
    let rows = list["relays"].as_array().unwrap();
    let find = |url: &str| rows.iter().find(|r| r["url"] == url).cloned().unwrap();
    assert_eq!(find("ws://127.0.0.3:9")["reason"], "operator", "{list}");
    assert_eq!(find("ws://127.0.0.2:9")["state"], "disabled", "{list}");
    // `sync status` shows the same sources.
    let status = json(&atoll(h, &["sync", "status", "--json"]));
    let rows = status["relays"].as_array().unwrap();
    assert!(
        rows.iter()
            .any(|r| r["url"] == "ws://127.0.0.3:9" && r["reason"] == "operator"),
        "{status}"
    );
    assert!(rows.iter().any(|r| r["reason"] == "embedded"), "{status}");
    // Bad input: exit 1, naming what is wrong; nothing stored.
    fails(&relay(&["add", "http://127.0.0.4:9"]), 1, "ws:// or wss://");
    fails(
        &relay(&["remove", "ws://127.0.0.1:7879"]),
        1,
        "embedded relay",
    );
    let out = ok(&relay(&["remove", "ws://127.0.0.3:9"]));
    assert!(out.contains("removed"), "{out}");
    let out = ok(&relay(&["add", "ws://127.0.0.2:9"]));
    assert!(out.contains("re-enabled"), "{out}");
    let list = json(&relay(&["list", "--json"]));
    assert_eq!(list["relays"].as_array().unwrap().len(), 2, "{list}");
}

#[test]
fn trust_endorse_and_report_offline_with_clear_refusals() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // Every port picked by the OS: no node runs here, so the CLI publishes offline.
    fs::write(
        h.join("atoll.toml"),
        "listen = \"127.0.0.1:0\"\n[relays]\nembedded_port = 0\n[iroh]\nbind = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let did = |name: &str| {
        json(&atoll(h, &["key", "new", name, "--json"]))["did"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (alice, bob) = (did("alice"), did("bob"));
    ok(&atoll(h, &["trust", "pin", &alice]));
    let out = ok(&atoll(
        h,
        &[
            "trust",
            "endorse",
            &bob,
            "--weight",
            "0.5",
            "--reason",
            "<b>kind</b>",
            "--key",
            "alice",
        ],
    ));
    assert!(
        out.contains("alice endorsed") && out.contains("weight 0.50"),
        "{out}"
    );
    let x = json(&atoll(h, &["trust", "explain", &bob, "--json"]));
    assert!(
        (x["score"].as_f64().unwrap() - 0.5 * 0.85).abs() < 1e-9,
        "{x}"
    );
    let out = ok(&atoll(
        h,
        &[
            "trust", "report", &bob, "--weight", "0.4", "--key", "alice", "--reason", "spam",
        ],
    ));
    assert!(out.contains("alice reported"), "{out}");
    let out = ok(&atoll(h, &["trust", "endorsements", &bob]));
    assert!(
        out.contains("received (1)") && out.contains("-0.40  from alice") && out.contains("spam"),
        "{out}"
    );
    let e = json(&atoll(h, &["trust", "endorsements", &alice, "--json"]));
    assert_eq!(e["given"][0]["reason"], "spam", "{e}");
    // Bad input: exit 1 naming what is wrong, nothing signed.
    fails(
        &atoll(
            h,
            &["trust", "report", &bob, "--weight", "2", "--key", "alice"],
        ),
        1,
        "from 0 to 1",
    );
    fails(
        &atoll(
            h,
            &[
                "trust", "report", &bob, "--weight", "-0.5", "--key", "alice",
            ],
        ),
        1,
        "from 0 to 1",
    );
    fails(
        &atoll(
            h,
            &["trust", "report", &bob, "--weight", "0", "--key", "alice"],
        ),
        1,
        "above 0",
    );
    fails(
        &atoll(
            h,
            &[
                "trust", "endorse", &bob, "--weight", "NaN", "--key", "alice",
            ],
        ),
        1,
        "from 0 to 1",
    );
    fails(
        &atoll(h, &["trust", "endorse", &alice, "--key", "alice"]),
        1,
        "nobody can endorse themselves",
    );
    fails(
        &atoll(h, &["trust", "endorse", &bob, "--key", "nobody"]),
        1,
        "no key named",
    );
    let long = "x".repeat(1025);
    fails(
        &atoll(
            h,
            &[
                "trust", "endorse", &bob, "--reason", &long, "--key", "alice",
            ],
        ),
        1,
        "reason",
    );
    let e = json(&atoll(h, &["trust", "endorsements", &bob, "--json"]));
    assert_eq!(e["received"].as_array().unwrap().len(), 1, "{e}");
    assert_eq!(e["received"][0]["weight"], -0.4, "{e}");
}

#[test]
fn key_export_then_import_restores_the_same_identity_and_refuses_unsafe_files() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let made = json(&atoll(&a, &["key", "new", "pub", "--json"]));
    assert_eq!(made["index"], 0, "{made}");
    assert_eq!(made["did"], made["key_did"], "{made}");
    let backup = dir.path().join("pub.backup");
    let out = ok(&atoll(
        &a,
        &["key", "export", "pub", "--out", backup.to_str().unwrap()],
    ));
    assert!(out.contains("exported"), "{out}");
    let mode = std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // Never overwrites: the backup stays as it was.
    let before = std::fs::read(&backup).unwrap();
    fails(
        &atoll(
            &a,
            &["key", "export", "pub", "--out", backup.to_str().unwrap()],
        ),
        1,
        "never overwritten",
    );
    assert_eq!(std::fs::read(&backup).unwrap(), before);
    // Restored in another home: the same DIDs and Nostr key.
    let restored = json(&atoll(
        &b,
        &["key", "import", "pub", backup.to_str().unwrap(), "--json"],
    ));
    let shown = json(&atoll(&b, &["key", "show", "pub", "--json"]));
    for field in ["did", "key_did", "index", "nostr_pubkey"] {
        assert_eq!(restored[field], made[field], "{field}: {restored}");
        assert_eq!(shown[field], made[field], "{field}: {shown}");
    }
    // Importing over an existing key is refused.
    fails(
        &atoll(&b, &["key", "import", "pub", backup.to_str().unwrap()]),
        1,
        "already exists",
    );
    // A backup other users can read is refused, with the fix.
    std::fs::set_permissions(&backup, std::fs::Permissions::from_mode(0o644)).unwrap();
    fails(
        &atoll(&b, &["key", "import", "other", backup.to_str().unwrap()]),
        1,
        "chmod 600",
    );
    assert!(!b.join("keys/other.key").exists());
}

#[test]
fn key_rotate_offline_signs_and_announces_the_rotation_then_advances_the_key_file() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // Every port picked by the OS; no node runs (nothing answers on the listen address).
    fs::write(
        h.join("atoll.toml"),
        "listen = \"127.0.0.1:1\"\n[relays]\nembedded_bind = \"127.0.0.1:0\"\n[iroh]\nbind = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let made = json(&atoll(h, &["key", "new", "pub", "--json"]));
    fails(
        &atoll(h, &["key", "rotate", "pub", "--last", "not an app=1"]),
        1,
        "--last",
    );
    let shown = json(&atoll(h, &["key", "show", "pub", "--json"]));
    assert_eq!(
        shown["index"], 0,
        "a refused rotation leaves the key file: {shown}"
    );
    let out = json(&atoll(
        h,
        &["key", "rotate", "pub", "--last", "hello=5", "--json"],
    ));
    assert_eq!(out["index"], 1, "{out}");
    assert_eq!(out["did"], made["did"], "{out}");
    assert_eq!(out["last"]["entries"]["hello"], 5, "{out}");
    assert!(!out["relays"].as_array().unwrap().is_empty(), "{out}");
    let shown = json(&atoll(h, &["key", "show", "pub", "--json"]));
    assert_eq!(shown["index"], 1, "{shown}");
    assert_eq!(shown["did"], made["did"]);
    assert_eq!(shown["key_did"], out["key"], "{shown}");
    assert_ne!(shown["key_did"], made["did"]);
    assert_ne!(shown["nostr_pubkey"], made["nostr_pubkey"]);
}
