//! The install/update guard on a real node (relay, iroh, SQLite, rootless podman,
//! Chromium): releases signed here and uploaded to the running node make heads that are
//! stale, yanked, equivocated, of a blocked publisher and below the trust threshold.
//! Install and update refuse each with its reason in the JSON error (and the CLI says
//! it); only `override_stale` and `override_trust` lift a refusal, and each override used
//! is a row of the audit log (`GET /audit`, `atoll sync audit`); the UI shows the badges,
//! disables what cannot be overridden and installs after an explicit confirmation.

use super::*;
use atoll_discovery::codec::{self, Object};
use atoll_discovery::publish as sign;
use atoll_registry::bundle::{self, SignOptions};
use atoll_registry::objects::{Origin, Yank};
use atoll_registry::{Entry, Envelope, Keypair};

/// An app dir with hello-static's image, served on `port`.
fn app_dir(dir: &Path, id: &str, name: &str, version: &str, port: u16) -> PathBuf {
    let app = dir.join(format!("{id}-{version}"));
    fs::create_dir_all(app.join("images")).unwrap();
    fs::copy(
        repo().join("apps/hello-static/images/web.oci.tar"),
        app.join("images/web.oci.tar"),
    )
    .unwrap();
    fs::write(
        app.join("manifest.yml"),
        format!(
            "id: {id}\nname: {name}\nversion: {version}\ndescription: Guarded on install.\n\
             categories: [test]\ncontainers:\n  - name: web\n    image:\n      archive: images/web.oci.tar\n\
             \x20   command: [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n\
             \x20   ports: [ {{ container: 8080, host: {port}, web: true }} ]\n"
        ),
    )
    .unwrap();
    app
}

/// The publisher side: a key, signing here and uploading to the node.
pub(super) struct Publisher<'a> {
    node: &'a Node,
    node_id: String,
    key: Keypair,
    /// The last `created_at` used: each event of a replaceable kind gets a later second
    /// than the one before (a relay keeps one event per second and address).
    clock: std::cell::Cell<u64>,
}

impl<'a> Publisher<'a> {
    pub(super) fn new(node: &'a Node, node_id: &str, seed: u8) -> Self {
        Publisher {
            node,
            node_id: node_id.to_owned(),
            key: Keypair::from_seed([seed; 32]),
            clock: std::cell::Cell::new(0),
        }
    }

    fn tick(&self) -> u64 {
        let t = atoll_discovery::now_secs().max(self.clock.get() + 1);
        self.clock.set(t);
        t
    }

    pub(super) fn did(&self) -> String {
        self.key.did().to_string()
    }

    fn profile_event(&self) -> String {
        let profile =
            sign::profile_for(&self.key, "guarded", self.node_id.clone(), Vec::new()).unwrap();
        let p = sign::sign_event(
            &Object::Publisher(profile),
            &self.key.nostr_keys().unwrap(),
            self.tick(),
        )
        .unwrap();
        codec::event_json(&p)
    }

    /// Sign `app` with `sequence`, `published_at` and `ttl` and upload it: the node's
    /// answer and the signed entry. A stale head or an equivocation is stored (and
    /// flagged) but answered as refused.
    pub(super) fn release(
        &self,
        app: &Path,
        sequence: u64,
        published_at: u64,
        ttl: u64,
    ) -> (u16, Value, Entry) {
        let out = tempfile::tempdir().unwrap();
        let opts = SignOptions {
            origin: Origin {
                node_id: Some(self.node_id.clone()),
                ..Default::default()
            },
            sequence: Some(sequence),
            published_at: Some(published_at),
            ttl_secs: Some(ttl),
        };
        let signed = bundle::sign_app(app, &self.key, out.path(), &opts).unwrap();
        let mut members = vec![(
            "entry.json".to_owned(),
            fs::read(&signed.entry_path).unwrap(),
        )];
        for (hash, path) in &signed.blobs {
            members.push((hash.to_hex(), fs::read(path).unwrap()));
        }
        let e = sign::sign_event(
            &Object::Entry(signed.entry.clone()),
            &self.key.nostr_keys().unwrap(),
            self.tick(),
        )
        .unwrap();
        members.push((
            "entry.event.json".into(),
            codec::event_json(&e).into_bytes(),
        ));
        members.push((
            "profile.event.json".into(),
            self.profile_event().into_bytes(),
        ));
        let body = publish::tar_of(&members);
        let (s, v) = publish::upload(self.node, body.into());
        (s, v, signed.entry.payload().clone())
    }

    /// Withdraw `head` (the app's head entry) with a yank entry of `sequence`.
    fn yank(&self, head: &Entry, sequence: u64) {
        let mut entry = head.clone();
        entry.sequence = sequence;
        entry.published_at = atoll_discovery::now_secs();
        entry.expires_at = entry.published_at + 3600;
        entry.yanked = Some(Yank {
            reason: "broken build".into(),
        });
        let v = Envelope::sign(&entry, &self.key)
            .unwrap()
            .verify::<Entry>()
            .unwrap();
        let ev = sign::sign_event(
            &Object::Entry(v),
            &self.key.nostr_keys().unwrap(),
            self.tick(),
        )
        .unwrap();
        let (s, v) = self.node.post(
            "/api/v1/publish/event",
            Some(&self.node.token),
            &codec::event_json(&ev),
        );
        assert_eq!(s, 200, "yank of {}: {v}", entry.app_ref());
    }
}

/// Wait (bounded) until `GET /apps/{app}` shows `badges` and the head `version` (any if
/// empty: after an equivocation either version may count).
pub(super) fn wait_badges(node: &Node, app: &str, version: &str, badges: &[&str]) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        let (s, d) = node.get(&format!("/api/v1/apps/{app}"));
        if s == 200
            && (version.is_empty() || d["version"] == version)
            && d["badges"] == json!(badges)
        {
            return d;
        }
        last = d;
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "{app} never showed {version} with badges {badges:?}: {} {}",
        last["version"], last["badges"]
    );
}

/// POST an action; returns (status, body).
pub(super) fn act(node: &Node, action: &str, body: Value) -> (u16, Value) {
    node.post(
        &format!("/api/v1/actions/{action}"),
        Some(&node.token),
        &body.to_string(),
    )
}

/// The refusal's `reason` codes (and check its shape: 403, a message naming each).
fn refused(node: &Node, action: &str, body: Value) -> (Vec<String>, Value) {
    let (s, v) = act(node, action, body.clone());
    assert_eq!(s, 403, "{action} {body}: {v}");
    assert_eq!(v["error"]["code"], "forbidden", "{v}");
    let reasons: Vec<String> = v["error"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap().to_owned())
        .collect();
    let message = v["error"]["message"].as_str().unwrap();
    for r in v["error"]["reasons"].as_array().unwrap() {
        assert!(message.contains(r["message"].as_str().unwrap()), "{v}");
    }
    (reasons, v["error"]["overrides"].clone())
}

fn overrides_audited(node: &Node) -> Vec<Value> {
    let (s, rows) = node.get("/api/v1/audit?kind=override");
    assert_eq!(s, 200, "{rows}");
    rows.as_array().unwrap().clone()
}

#[test]
fn install_and_update_guards_with_audited_overrides() {
    let _podman = podman_user();
    build_images();
    let image_size = fs::metadata(repo().join("apps/hello-static/images/web.oci.tar"))
        .unwrap()
        .len();
    let demo_apps = tempfile::tempdir().unwrap();
    third_party_app(demo_apps.path());
    let node = Node::start_configured(
        Arc::new(tempfile::tempdir().unwrap()),
        Arc::new(demo_apps),
        &[],
        None,
        None,
        // Below the 0.5 a pinned publisher keeps after one equivocation penalty (× 0.5).
        &format!(
            "[api]\nmax_upload_bytes = {}\n[trust]\ninstall_threshold = 0.4\n",
            image_size + (1 << 20)
        ),
    );
    let (_, info) = node.get("/api/v1/node");
    let node_id = info["node_id"].as_str().unwrap().to_owned();
    let pinned = Publisher::new(&node, &node_id, 71);
    let other = Publisher::new(&node, &node_id, 72);
    let src = tempfile::tempdir().unwrap();
    let now = atoll_discovery::now_secs();
    let t = Some(node.token.as_str());

    // A yanked app and an equivocated one from a pinned publisher.
    let yanked = format!("{}/guard-yanked", pinned.did());
    let dir = app_dir(src.path(), "guard-yanked", "Guard Yanked", "1.0.0", 18095);
    let (s, v, head) = pinned.release(&dir, 10, now, 3600);
    assert_eq!(s, 200, "{v}");
    let (s, v) = node.post(
        "/api/v1/trust/pin",
        t,
        &json!({ "did": pinned.did() }).to_string(),
    );
    assert_eq!(s, 200, "{v}");
    wait_badges(&node, &yanked, "1.0.0", &[]);
    pinned.yank(&head, 11);
    wait_badges(&node, &yanked, "1.0.0", &["yanked"]);

    let equivocal = format!("{}/guard-equivocal", pinned.did());
    let a = app_dir(
        src.path(),
        "guard-equivocal",
        "Guard Equivocal",
        "1.0.0",
        18096,
    );
    let b = app_dir(
        src.path(),
        "guard-equivocal",
        "Guard Equivocal",
        "1.0.1",
        18096,
    );
    let (s, v, _) = pinned.release(&a, 20, now, 3600);
    assert_eq!(s, 200, "{v}");
    let (s, v, _) = pinned.release(&b, 20, now, 3600);
    assert!(
        s >= 400,
        "an equivocating release is answered as refused: {s} {v}"
    );
    wait_badges(&node, &equivocal, "", &["equivocated"]);

    // An app of an unpinned publisher (below the threshold) whose head is stale: the
    // same manifest as its fresh first release (so its blobs are held), signed again with
    // an expiry in the past.
    let guarded = format!("{}/guard-overridable", other.did());
    let v1 = app_dir(
        src.path(),
        "guard-overridable",
        "Guard Overridable",
        "1.0.0",
        18097,
    );
    let (s, v, _) = other.release(&v1, 30, now, 3600);
    assert_eq!(s, 200, "{v}");
    let (s, v, _) = other.release(&v1, 31, now - 7200, 60);
    assert!(
        s >= 400,
        "a stale release is stored but answered as refused: {s} {v}"
    );
    let detail = wait_badges(&node, &guarded, "1.0.0", &["stale", "below-threshold"]);
    assert_eq!(detail["guard"]["allowed"], false, "{}", detail["guard"]);
    assert_eq!(detail["guard"]["overridable"], true);
    assert_eq!(
        detail["guard"]["overrides"],
        json!(["override_stale", "override_trust"])
    );

    // Refusals on install, each with its reason; overrides lift only stale and trust.
    let both = |app: &str| json!({ "app": app, "override_stale": true, "override_trust": true });
    let (r, o) = refused(&node, "install", json!({ "app": yanked }));
    assert_eq!((r, o), (vec!["yanked".to_owned()], json!([])));
    let (r, _) = refused(&node, "install", both(&yanked));
    assert_eq!(r, vec!["yanked"], "no override lifts a yank");
    let (r, o) = refused(&node, "install", both(&equivocal));
    assert_eq!((r, o), (vec!["equivocated".to_owned()], json!([])));
    let (r, o) = refused(&node, "install", json!({ "app": guarded }));
    assert_eq!(r, vec!["stale", "below-threshold"]);
    assert_eq!(o, json!(["override_stale", "override_trust"]));
    let (r, _) = refused(
        &node,
        "install",
        json!({ "app": guarded, "override_stale": true }),
    );
    assert_eq!(r, vec!["below-threshold"]);
    let (r, _) = refused(
        &node,
        "install",
        json!({ "app": guarded, "override_trust": true }),
    );
    assert_eq!(r, vec!["stale"]);
    // There is no override for the others at all: the body is refused as malformed.
    let (s, v) = act(
        &node,
        "install",
        json!({ "app": yanked, "override_yanked": true }),
    );
    assert_eq!(s, 400, "{v}");
    let (s, v) = act(
        &node,
        "install",
        json!({ "app": guarded, "override_stale": true, "override_trust": true, "note": "a\nb" }),
    );
    assert_eq!(s, 400, "a note with a newline: {v}");
    // The CLI says why and what to do.
    let out = node.cli(&["--node", &node.url, "install", &guarded]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("stale")
            && err.contains("--override-stale")
            && err.contains("--override-trust"),
        "{err}"
    );
    assert!(
        overrides_audited(&node).is_empty(),
        "nothing was overridden yet"
    );

    // The UI: badges, a disabled Install with the reason, the override confirmation.
    let shots = repo().join("test-artifacts");
    let browse = |phase: &str| {
        Command::new("node")
            .arg(repo().join("tests/browser/guards.mjs"))
            .env(
                "ATOLL_URL",
                format!("{}/ui/#token={}", node.url, node.token),
            )
            .env("ATOLL_SHOTS", &shots)
            .env("GUARD_YANKED", &yanked)
            .env("GUARD_EQUIVOCATED", &equivocal)
            .env("GUARD_OVERRIDABLE", &guarded)
            .env("GUARD_PHASE", phase)
            .current_dir(repo().join("tests/browser"))
            .status()
            .expect("running node (Node.js) for the browser test: run .ci/run to install it")
    };
    let browser = browse("install");
    let cleanup = |node: &Node| {
        let (s, job) = act(node, "uninstall", json!({ "app": guarded, "purge": true }));
        if s == 202 {
            follow(node, job["events"].as_str().unwrap());
        }
    };
    if !browser.success() {
        cleanup(&node);
    }
    assert!(
        browser.success(),
        "guard browser test failed; screenshots in {}",
        shots.display()
    );

    // The browser's override: two audit rows, who, what, which guard and the note.
    let rows = overrides_audited(&node);
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (row, guard) in rows.iter().rev().zip(["stale", "below-threshold"]) {
        assert_eq!(row["kind"], "override");
        assert_eq!(row["subject"], guarded.as_str());
        assert_eq!(row["source"], "local: api (admin token)");
        let reason = row["reason"].as_str().unwrap();
        assert!(
            reason.contains(&format!("install {guarded} 1.0.0: guard {guard} overridden; note: browser test: <b>override</b>")),
            "{reason}"
        );
    }
    let out = node.cli(&["--node", &node.url, "sync", "audit", "--kind", "override"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        listed.matches("overridden; note: browser test").count(),
        2,
        "{listed}"
    );
    // Overrides are not counted as rejected input.
    let (_, net) = node.get("/api/v1/network");
    assert!(
        net["rejected"]["by_reason"].get("override").is_none(),
        "{}",
        net["rejected"]
    );

    // Update: pin the publisher; a stale newer head is refused, then allowed by
    // override_stale (audited), on the installed app.
    let (s, v) = node.post(
        "/api/v1/trust/pin",
        t,
        &json!({ "did": other.did() }).to_string(),
    );
    assert_eq!(s, 200, "{v}");
    let v11 = app_dir(
        src.path(),
        "guard-overridable",
        "Guard Overridable",
        "1.1.0",
        18097,
    );
    let (s, v, _) = other.release(&v11, 32, now, 3600);
    assert_eq!(s, 200, "{v}");
    let (_, _, stale_head) = other.release(&v11, 33, now - 7200, 60);
    wait_badges(&node, &guarded, "1.1.0", &["stale"]);
    let (_, installed) = node.get("/api/v1/installed");
    let row = installed
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["ref"] == guarded.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["update_available"], "1.1.0", "{row}");
    assert_eq!(row["badges"], json!(["stale"]), "{row}");
    assert_eq!(
        row["update_guard"]["overrides"],
        json!(["override_stale"]),
        "{row}"
    );
    let (r, o) = refused(&node, "update", json!({ "app": guarded }));
    assert_eq!(
        (r, o),
        (vec!["stale".to_owned()], json!(["override_stale"]))
    );
    let browser = browse("update");
    if !browser.success() {
        cleanup(&node);
    }
    assert!(
        browser.success(),
        "guard browser test (update) failed; screenshots in {}",
        shots.display()
    );
    let out = node.cli(&["--node", &node.url, "update", &guarded]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--override-stale"));
    let out = node.cli(&[
        "--node",
        &node.url,
        "update",
        &guarded,
        "--override-stale",
        "--note",
        "cli update",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, installed) = node.get("/api/v1/installed");
    let row = installed
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["ref"] == guarded.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["version"], "1.1.0", "{row}");
    let rows = overrides_audited(&node);
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(
        rows[0]["reason"].as_str().unwrap().contains(&format!(
            "update {guarded} 1.1.0: guard stale overridden; note: cli update"
        )),
        "{}",
        rows[0]
    );

    // A yanked head, then an equivocated one: refused on update, overrides or not.
    other.yank(&stale_head, 34);
    wait_badges(&node, &guarded, "1.1.0", &["yanked"]);
    let (r, o) = refused(&node, "update", both(&guarded));
    assert_eq!((r, o), (vec!["yanked".to_owned()], json!([])));
    let v12 = app_dir(
        src.path(),
        "guard-overridable",
        "Guard Overridable",
        "1.2.0",
        18097,
    );
    let v13 = app_dir(
        src.path(),
        "guard-overridable",
        "Guard Overridable",
        "1.3.0",
        18097,
    );
    other.release(&v12, 35, now, 3600);
    other.release(&v13, 35, now, 3600);
    let d = wait_badges(&node, &guarded, "", &["equivocated"]);
    assert_eq!(d["guard"]["overridable"], false, "{}", d["guard"]);
    let (r, _) = refused(&node, "update", both(&guarded));
    assert_eq!(r, vec!["equivocated"]);

    // A blocked publisher: refused first of all, and override_trust does not help.
    let (s, v) = node.post(
        "/api/v1/trust/block",
        t,
        &json!({ "did": pinned.did() }).to_string(),
    );
    assert_eq!(s, 200, "{v}");
    let (r, o) = refused(&node, "install", both(&equivocal));
    assert_eq!(r, vec!["blocked", "equivocated"]);
    assert_eq!(o, json!([]));
    let (_, d) = node.get(&format!("/api/v1/apps/{equivocal}"));
    assert_eq!(d["badges"], json!(["blocked", "equivocated"]));
    assert_eq!(
        overrides_audited(&node).len(),
        3,
        "no refused request was audited as an override"
    );

    cleanup(&node);
    let (_, installed) = node.get("/api/v1/installed");
    assert!(installed.as_array().unwrap().is_empty(), "{installed}");
    drop((pinned, other));
    let mut node = node;
    let status = node.terminate();
    assert!(status.success(), "node exited with {status}");
    node.assert_no_podman_left();
}
