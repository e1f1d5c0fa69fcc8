//! The publisher CLI as a new user drives it: key new → app validate → app sign → app
//! verify on every sample app, and every tamper (payload, signature, blob) caught by
//! `app verify` with exit code 1 and a message that names what is wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

    // Garbage instead of an entry.
    let junk = h.join("entry.json");
    fs::write(&junk, b"\x00\x01 not json").unwrap();
    fails(
        &atoll(h, &["app", "verify", junk.to_str().unwrap()]),
        1,
        "not valid JSON",
    );
}
