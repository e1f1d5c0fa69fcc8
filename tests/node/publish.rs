//! Publishing to a running node: `atoll app publish|yank --node URL` while the node runs
//! (the app reaches its catalog, a second node finds it through the relay and fetches
//! its manifest over iroh from this node), and `POST /api/v1/publish` refusing a release
//! with a bad signature, a blob that does not match, an origin that is another node, an
//! entry event signed by a key the profile does not list, an oversized or a malformed
//! body: a 4xx that says why, and nothing of it kept (no catalog row, no blob in the
//! store, no temporary file).

use super::*;
use atoll_discovery::codec::{self, Object};
use atoll_discovery::publish as sign;
use atoll_registry::bundle::{self, SignOptions};
use atoll_registry::objects::{Origin, MAX_SAFE_INTEGER};
use atoll_registry::{Envelope, Keypair};

fn uploaded_app(dir: &Path, version: &str) -> PathBuf {
    let app = dir.join("uploaded");
    fs::create_dir_all(app.join("images")).unwrap();
    fs::copy(
        repo().join("apps/hello-static/images/web.oci.tar"),
        app.join("images/web.oci.tar"),
    )
    .unwrap();
    fs::write(
        app.join("manifest.yml"),
        format!(
            r#"id: uploaded
name: Uploaded
version: {version}
description: Published to a running node.
categories: [test]
containers:
  - name: web
    image:
      archive: images/web.oci.tar
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    ports: [ {{ container: 8080, host: 18093, web: true }} ]
"#
        ),
    )
    .unwrap();
    app
}

/// Uninstalls (purging) an app of a node when dropped, also after a failed assertion: no
/// container is left behind.
struct Installed<'a>(&'a Node, String);

impl Installed<'_> {
    /// The node's installed row of the app.
    fn row(&self) -> Value {
        let (_, installed) = self.0.get("/api/v1/installed");
        installed
            .as_array()
            .and_then(|a| a.iter().find(|a| a["ref"] == self.1.as_str()))
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// Run `action` on the app through the API and follow its job to success.
    fn act(&self, action: &str) {
        let body = if action == "uninstall" {
            json!({ "app": self.1, "purge": true })
        } else {
            json!({ "app": self.1 })
        };
        let (s, job) = self.0.post(
            &format!("/api/v1/actions/{action}"),
            Some(self.0.token.as_str()),
            &body.to_string(),
        );
        assert_eq!(s, 202, "{action}: {job}");
        let last = follow(self.0, job["events"].as_str().unwrap());
        assert!(last["error"].is_null(), "{action} failed: {last}");
    }
}

impl Drop for Installed<'_> {
    fn drop(&mut self) {
        let body = json!({ "app": self.1, "purge": true }).to_string();
        let (s, job) = self.0.post(
            "/api/v1/actions/uninstall",
            Some(self.0.token.as_str()),
            &body,
        );
        if s == 202 {
            if let Some(events) = job["events"].as_str() {
                follow(self.0, events);
            }
        }
    }
}

/// An app whose image archive is bytes of its own (so its blob is in no store yet).
fn refused_app(dir: &Path) -> PathBuf {
    let app = dir.join("refused");
    fs::create_dir_all(app.join("images")).unwrap();
    let seed = format!("{}-{:?}", std::process::id(), Instant::now());
    let mut bytes = Vec::new();
    let mut h = blake3::Hasher::new();
    h.update(seed.as_bytes());
    bytes.resize(100 * 1024, 0);
    h.finalize_xof().fill(&mut bytes);
    fs::write(app.join("images/web.oci.tar"), bytes).unwrap();
    fs::write(
        app.join("manifest.yml"),
        "id: refused\nname: Refused\nversion: 1.0.0\ndescription: Never stored.\n\
         containers:\n  - name: web\n    image:\n      archive: images/web.oci.tar\n",
    )
    .unwrap();
    app
}

/// A release as the CLI uploads it: (tar member name, bytes), and the image's hash.
fn release(
    app: &Path,
    key: &Keypair,
    node_id: &str,
    event_key: &Keypair,
    sequence: Option<u64>,
) -> (Vec<(String, Vec<u8>)>, String) {
    let out = tempfile::tempdir().unwrap();
    let opts = SignOptions {
        origin: Origin {
            node_id: Some(node_id.to_owned()),
            ..Default::default()
        },
        sequence,
        ..Default::default()
    };
    let signed = bundle::sign_app(app, key, out.path(), &opts).unwrap();
    let mut members = vec![(
        "entry.json".to_owned(),
        fs::read(&signed.entry_path).unwrap(),
    )];
    for (hash, path) in &signed.blobs {
        members.push((hash.to_hex(), fs::read(path).unwrap()));
    }
    let nostr = event_key.nostr_keys().unwrap();
    let now = atoll_discovery::now_secs();
    let profile = sign::profile_for(key, "refuser", node_id.to_owned(), Vec::new()).unwrap();
    let p = sign::sign_event(&Object::Publisher(profile), &key.nostr_keys().unwrap(), now).unwrap();
    let e = sign::sign_event(&Object::Entry(signed.entry.clone()), &nostr, now).unwrap();
    members.push((
        "entry.event.json".into(),
        codec::event_json(&e).into_bytes(),
    ));
    members.push((
        "profile.event.json".into(),
        codec::event_json(&p).into_bytes(),
    ));
    let image = signed.entry.artifacts[0].blob.hash.to_hex();
    (members, image)
}

pub(super) fn tar_of(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, bytes) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, bytes.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

pub(super) fn upload(node: &Node, body: reqwest::blocking::Body) -> (u16, Value) {
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/publish", node.url))
        .bearer_auth(&node.token)
        .header("content-type", "application/x-tar")
        .body(body)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

/// Files of the node's blob store named by `hash`.
fn in_store(home: &Path, hash: &str) -> bool {
    fn walk(dir: &Path, hash: &str) -> bool {
        fs::read_dir(dir).into_iter().flatten().flatten().any(|e| {
            let p = e.path();
            if p.is_dir() {
                walk(&p, hash)
            } else {
                e.file_name().to_string_lossy().starts_with(hash)
            }
        })
    }
    walk(&home.join("blobs"), hash)
}

fn wait_for_app(node: &Node, app: &str) -> Value {
    for _ in 0..600 {
        let (_, apps) = node.get("/api/v1/apps");
        if let Some(a) = apps["items"]
            .as_array()
            .and_then(|i| i.iter().find(|a| a["app"] == app && a["description"] != ""))
        {
            return a.clone();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{app} never reached the catalog of {}", node.url);
}

#[test]
fn publish_and_yank_through_a_running_node() {
    let _podman = podman_user();
    build_images();
    let image_size = fs::metadata(repo().join("apps/hello-static/images/web.oci.tar"))
        .unwrap()
        .len();
    let limit = image_size + (1 << 20);
    let demo_apps = tempfile::tempdir().unwrap();
    third_party_app(demo_apps.path());
    let node = Node::start_configured(
        Arc::new(tempfile::tempdir().unwrap()),
        Arc::new(demo_apps),
        &[],
        None,
        None,
        &format!("[api]\nmax_upload_bytes = {limit}\n"),
    );
    let (s, info) = node.get("/api/v1/node");
    assert_eq!(s, 200, "{info}");
    let node_id = info["node_id"].as_str().unwrap().to_owned();
    assert_eq!(info["relays"].as_array().unwrap().len(), 1, "{info}");

    // The CLI signs here and uploads through the running node.
    let src = tempfile::tempdir().unwrap();
    let app = uploaded_app(src.path(), "1.0.0");
    assert!(node.cli(&["key", "new", "pub"]).status.success());
    let out = node.cli(&[
        "--node",
        &node.url,
        "app",
        "publish",
        app.to_str().unwrap(),
        "--key",
        "pub",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let published: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(published["origin"], node_id.as_str(), "{published}");
    assert_eq!(
        published["relays"].as_array().unwrap().len(),
        1,
        "{published}"
    );
    let uploaded = wait_for_app(&node, "uploaded");
    // Blobs: the manifest (small, kept inline by the store), then the image archive.
    let stored = published["blobs"][1].as_str().unwrap();
    assert!(
        in_store(node.home.path(), stored),
        "the image blob {stored} is not in the node's store"
    );
    // A second node finds it through the first node's relay and fetches the manifest
    // over iroh from the first node (its origin).
    let relay = info["embedded_relay"].as_str().unwrap().to_owned();
    let other = Node::start(third_party_app, std::slice::from_ref(&relay));
    let seen = wait_for_app(&other, "uploaded");
    assert_eq!(seen["ref"], uploaded["ref"]);
    // The second node pins the publisher and installs the app (rootless podman) before
    // anything below happens.
    let app_ref = uploaded["ref"].as_str().unwrap().to_owned();
    let did = app_ref.rsplit_once('/').unwrap().0;
    let (s, v) = other.post(
        "/api/v1/trust/pin",
        Some(other.token.as_str()),
        &json!({ "did": did }).to_string(),
    );
    assert_eq!(s, 200, "{v}");
    let installed = Installed(&other, app_ref.clone());
    installed.act("install");
    let row = installed.row();
    assert_eq!(
        (&row["version"], &row["state"]),
        (&json!("1.0.0"), &json!("running")),
        "{row}"
    );

    // Yank while the node runs: signed here, sent as one event.
    let out = node.cli(&[
        "--node", &node.url, "app", "yank", "uploaded", "--key", "pub",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = uploaded["ref"].as_str().unwrap();
    let mut yanked = false;
    for _ in 0..300 {
        let (_, d) = node.get(&format!("/api/v1/apps/{r}"));
        if d["versions"].as_array().is_some_and(|v| {
            v.iter()
                .any(|v| v["yanked"] == "withdrawn by the publisher")
        }) {
            yanked = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(yanked, "the yank never reached the catalog");

    // A thief holding only k0 (the key file's seed) fast-forwards the app to 2^53−1,
    // carried by k0's Nostr key (which the profile binds), through POST /publish/event;
    // both nodes take it as the head.
    let k0 = atoll_registry::KeyStore::new(node.home.path())
        .load("pub")
        .unwrap();
    let (stolen, _) = release(&app, &k0, &node_id, &k0, Some(MAX_SAFE_INTEGER));
    // Dated after the yank's event at the same address (a relay keeps the later one).
    let stolen = Envelope::from_slice(&stolen[0].1)
        .unwrap()
        .verify::<atoll_registry::Entry>()
        .unwrap();
    let stolen = sign::sign_event(
        &Object::Entry(stolen),
        &k0.nostr_keys().unwrap(),
        atoll_discovery::now_secs() + 3,
    )
    .unwrap();
    let (s, v) = node.post(
        "/api/v1/publish/event",
        Some(node.token.as_str()),
        &codec::event_json(&stolen),
    );
    assert_eq!(s, 200, "{v}");
    for n in [&node, &other] {
        let mut head = false;
        for _ in 0..300 {
            let (_, d) = n.get(&format!("/api/v1/apps/{r}"));
            if d["versions"].as_array().is_some_and(|v| {
                v.iter()
                    .any(|v| v["sequence"].as_u64() == Some(MAX_SAFE_INTEGER))
            }) {
                head = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(head, "the thief's fast-forward never reached {}", n.url);
    }
    // The second node does not move to it (auto-update notifies only): it runs what the
    // publisher signed.
    let row = installed.row();
    assert_eq!(
        (&row["version"], &row["state"], &row["update_available"]),
        (&json!("1.0.0"), &json!("running"), &Value::Null),
        "{row}"
    );

    // The key rotates while the node runs: the rotation and the new key's profile go
    // through POST /publish/event; both nodes accept it, keep every version signed by the
    // old key within the rotation's `last` and void the thief's, with its reason.
    let out = node.cli(&["--node", &node.url, "key", "rotate", "pub", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rotation: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rotation["index"], 1, "{rotation}");
    assert!(
        rotation["last"]["entries"]["uploaded"].is_u64(),
        "{rotation}"
    );
    for n in [&node, &other] {
        let mut seen = Value::Null;
        for _ in 0..300 {
            let (_, d) = n.get(&format!("/api/v1/apps/{r}"));
            if d["rotated"] == true {
                seen = d;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(seen["key_history"]["index"], 1, "{seen}");
        assert!(
            seen["badges"]
                .as_array()
                .is_some_and(|b| b.iter().any(|b| b == "rotated")),
            "{seen}"
        );
        assert_eq!(
            seen["key_history"]["current_key"], rotation["key"],
            "{seen}"
        );
        let versions = seen["versions"].as_array().unwrap();
        for v in versions {
            if v["sequence"].as_u64() == Some(MAX_SAFE_INTEGER) {
                assert!(
                    v["void"]
                        .as_str()
                        .is_some_and(|w| w.starts_with("signed by retired key 0")),
                    "{seen}"
                );
            } else {
                assert!(v["void"].is_null(), "{seen}");
            }
        }
    }
    // The marketplace in Chromium (on the first node, which does not run the app: the
    // install warning): the rotated badge on the card and the app page, the key history,
    // the void version with its reason, the key-rotated warning.
    let shots = repo().join("test-artifacts");
    let browser = Command::new("node")
        .arg(repo().join("tests/browser/rotation.mjs"))
        .env(
            "ATOLL_URL",
            format!("{}/ui/#token={}", node.url, node.token),
        )
        .env("ATOLL_SHOTS", &shots)
        .env("ATOLL_APP", r)
        .env("ATOLL_KEY", rotation["key"].as_str().unwrap())
        .env("ATOLL_VOID_SEQ", MAX_SAFE_INTEGER.to_string())
        .current_dir(repo().join("tests/browser"))
        .status()
        .expect("running node (Node.js) for the browser test: run .ci/run to install it");
    assert!(
        browser.success(),
        "rotation browser test failed; screenshots in {}",
        shots.display()
    );
    let shown = node.cli(&["key", "show", "pub", "--json"]);
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["index"], 1, "{shown}");

    // The publisher's v2 under the new key, with an ordinary sequence: the second node
    // warns that the key changed since the version it runs, updates normally (API, job to
    // success), and runs v2.
    let src2 = tempfile::tempdir().unwrap();
    let v2 = uploaded_app(src2.path(), "2.0.0");
    let out = node.cli(&[
        "--node",
        &node.url,
        "app",
        "publish",
        v2.to_str().unwrap(),
        "--key",
        "pub",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut row = Value::Null;
    for _ in 0..600 {
        row = installed.row();
        if row["update_available"] == "2.0.0" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(row["update_available"], "2.0.0", "{row}");
    let (_, d) = other.get(&format!("/api/v1/apps/{r}"));
    let w = d["warnings"].as_array().cloned().unwrap_or_default();
    let w = w.iter().find(|w| w["kind"] == "key-rotated").unwrap();
    assert_eq!(
        (&w["installed_key"], &w["head_key"]),
        (&json!(0), &json!(1)),
        "{w}"
    );
    assert!(
        w["message"]
            .as_str()
            .unwrap()
            .contains("changed since the version you run: 1.0.0 was signed by key 0, the newest version 2.0.0 by key 1"),
        "{w}"
    );
    installed.act("update");
    let row = installed.row();
    assert_eq!(
        (&row["version"], &row["state"]),
        (&json!("2.0.0"), &json!("running")),
        "{row}"
    );
    // Running what key 1 signed, the rotation is no longer news to the second node.
    let (_, d) = other.get(&format!("/api/v1/apps/{r}"));
    assert!(
        !d["warnings"].to_string().contains("key-rotated"),
        "{}",
        d["warnings"]
    );
    installed.act("uninstall");
    assert_eq!(installed.row(), Value::Null);

    // Refusals: each a 4xx saying why, nothing kept.
    let key = Keypair::generate().unwrap();
    let refused = refused_app(src.path());
    let (good, image) = release(&refused, &key, &node_id, &key, None);
    let other_id = "ab".repeat(32);
    let (elsewhere, _) = release(&refused, &key, &other_id, &key, None);
    let (unbound, _) = release(
        &refused,
        &key,
        &node_id,
        &Keypair::generate().unwrap(),
        None,
    );
    let mut bad_sig = good.clone();
    let mut entry: Value = serde_json::from_slice(&bad_sig[0].1).unwrap();
    let sig = entry["signatures"][0]["sig"].as_str().unwrap().to_owned();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    entry["signatures"][0]["sig"] = format!("{flipped}{}", &sig[1..]).into();
    bad_sig[0].1 = serde_json::to_vec(&entry).unwrap();
    let mut mismatch = good.clone();
    let slot = mismatch.iter_mut().find(|(n, _)| *n == image).unwrap();
    slot.1[0] ^= 0xff;
    let cases: Vec<(&str, Vec<u8>, u16, String)> = vec![
        ("origin", tar_of(&elsewhere), 400, other_id.clone()),
        ("unbound", tar_of(&unbound), 400, "does not list".into()),
        ("signature", tar_of(&bad_sig), 400, "entry.json".into()),
        ("mismatch", tar_of(&mismatch), 400, image.clone()),
        ("malformed", vec![b'x'; 4096], 400, "tar".into()),
        (
            "oversized",
            vec![0; limit as usize + 1],
            413,
            "max_upload_bytes".into(),
        ),
    ];
    for (what, body, status, says) in cases {
        let (s, v) = upload(&node, reqwest::blocking::Body::from(body.clone()));
        assert_eq!(s, status, "{what}: {v}");
        let message = v["error"]["message"].as_str().unwrap_or("");
        assert!(
            message.contains(&says),
            "{what}: {message:?} does not say {says:?}"
        );
        if what == "origin" {
            assert!(message.contains(&node_id), "{message}");
        }
        if what == "oversized" {
            // Without a length up front: counted while it streams.
            let (s, v) = upload(
                &node,
                reqwest::blocking::Body::new(std::io::Cursor::new(body)),
            );
            assert_eq!(s, 413, "{v}");
        }
    }
    assert!(
        !in_store(node.home.path(), &image),
        "a refused blob was stored"
    );
    let tmp = node.home.path().join("tmp");
    let left: Vec<_> = fs::read_dir(&tmp)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "uploads left behind: {left:?}");
    let (_, apps) = node.get("/api/v1/apps?q=refused");
    assert_eq!(apps["items"].as_array().unwrap().len(), 0, "{apps}");
    // The good release is accepted after all that (the refusals kept nothing in its way).
    let (s, v) = upload(&node, reqwest::blocking::Body::from(tar_of(&good)));
    assert_eq!(s, 200, "{v}");
    assert!(in_store(node.home.path(), &image));
    wait_for_app(&node, "refused");
    // Refused only by the pipeline, after its blobs were stored: an older sequence than
    // the one the node holds. A 409 that says so, and the catalog keeps the newer one.
    let older_dir = tempfile::tempdir().unwrap();
    let older = refused_app(older_dir.path());
    let (stale, _) = release(&older, &key, &node_id, &key, Some(1));
    let (s, v) = upload(&node, reqwest::blocking::Body::from(tar_of(&stale)));
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("refused")),
        "{v}"
    );
    let (_, apps) = node.get("/api/v1/apps?q=refused");
    let r = apps["items"][0]["ref"].as_str().unwrap().to_owned();
    let (_, detail) = node.get(&format!("/api/v1/apps/{r}"));
    let sequences: Vec<u64> = detail["versions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["sequence"].as_u64())
        .collect();
    assert!(
        !sequences.is_empty() && !sequences.contains(&1),
        "the refused older release was stored: {detail}"
    );
}
