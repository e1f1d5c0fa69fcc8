//! Trust that lives, on two real node processes (embedded relays, iroh, SQLite): keys of
//! the first node's home endorse and report through the CLI (signed here, sent through
//! the running node) and the API (the node signs; admin token); scores change on both
//! nodes without a restart, the second one receiving the endorsements over the first's
//! relay (the debounced recompute); bad input is refused with its reason; who endorses
//! whom is listed; both nodes publish a demo app with the same id, so the second warns
//! before installing or updating the first's (API, CLI); and the UI in Chromium shows the
//! warning, who endorses whom, and endorses with the token.

use super::*;

fn did_of(node: &Node, key: &str) -> String {
    let out = node.cli(&["key", "new", key, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["did"].as_str().unwrap().to_owned()
}

/// The score of `did` on `node` (0 for a DID it does not know yet: 404).
fn score(node: &Node, did: &str) -> f64 {
    let (s, x) = node.get(&format!("/api/v1/trust/{did}/explain"));
    assert!(s == 200 || s == 404, "{s}: {x}");
    x["score"].as_f64().unwrap_or(0.0)
}

/// Wait (bounded) until `did`'s score on `node` is `want`: the recompute after a change
/// is debounced, so it comes a moment later. Returns the explanation.
fn score_becomes(node: &Node, did: &str, want: f64, what: &str) -> Value {
    for _ in 0..600 {
        let (_, x) = node.get(&format!("/api/v1/trust/{did}/explain"));
        if (x["score"].as_f64().unwrap_or(-1.0) - want).abs() < 1e-6 {
            return x;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "{what}: the score of {did} never became {want} (is {})",
        score(node, did)
    );
}

fn endorse_cli(node: &Node, args: &[&str]) -> Output {
    let mut all = vec!["--node", node.url.as_str(), "trust"];
    all.extend_from_slice(args);
    node.cli(&all)
}

fn api_endorse(node: &Node, token: Option<&str>, body: Value) -> (u16, Value) {
    node.post("/api/v1/trust/endorse", token, &body.to_string())
}

/// The ref of `node`'s own demo app `app` (its demo publisher's).
fn own_ref(node: &Node, app: &str) -> String {
    for _ in 0..600 {
        let (_, apps) = node.get("/api/v1/apps");
        if let Some(a) = apps["items"]
            .as_array()
            .and_then(|i| i.iter().find(|a| a["app"] == app && a["demo"] == true))
        {
            return a["ref"].as_str().unwrap().to_owned();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "{app} of the demo publisher never reached the catalog of {}",
        node.url
    );
}

fn warnings(node: &Node, r: &str) -> Vec<Value> {
    let (_, detail) = node.get(&format!("/api/v1/apps/{r}"));
    detail["warnings"].as_array().cloned().unwrap_or_default()
}

fn wait_for_ref(node: &Node, r: &str) {
    for _ in 0..600 {
        let (s, _) = node.get(&format!("/api/v1/apps/{r}"));
        if s == 200 {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{r} never reached {}", node.url);
}

#[test]
fn endorsements_change_scores_without_a_restart_and_look_alikes_warn() {
    let _podman = podman_user();
    let first = Node::start(third_party_app, &[]);
    let (_, info) = first.get("/api/v1/node");
    let relay = info["embedded_relay"].as_str().unwrap().to_owned();
    let second = Node::start(third_party_app, std::slice::from_ref(&relay));
    let t1 = Some(first.token.as_str());
    let t2 = Some(second.token.as_str());
    let (alice, bob, carol) = (
        did_of(&first, "alice"),
        did_of(&first, "bob"),
        did_of(&first, "carol"),
    );
    for (node, t) in [(&first, t1), (&second, t2)] {
        let (s, x) = node.post("/api/v1/trust/pin", t, &json!({ "did": alice }).to_string());
        assert_eq!(s, 200, "{x}");
    }
    assert_eq!(score(&second, &bob), 0.0);

    // The CLI signs with alice's key and sends it through the running node (her profile
    // first, which the node needs to accept her Nostr key).
    let out = endorse_cli(
        &first,
        &[
            "endorse",
            &bob,
            "--weight",
            "0.9",
            "--reason",
            "ships good apps",
            "--key",
            "alice",
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sent["weight"], 0.9, "{sent}");
    assert!(sent["profile_event"].is_string(), "{sent}");
    let bob_score = 0.9 * 0.85;
    score_becomes(&first, &bob, bob_score, "endorsed through the CLI");
    // The second node gets it over the first's relay: scores change there too, no restart.
    score_becomes(
        &second,
        &bob,
        bob_score,
        "endorsement received over the relay",
    );

    // The API: the node signs with bob's key (admin token needed).
    let body = json!({ "key": "bob", "did": carol, "weight": 0.5, "reason": "<b>helpful</b>" });
    let (s, v) = api_endorse(&first, None, body.clone());
    assert_eq!(s, 401, "{v}");
    let (s, v) = api_endorse(&first, t1, body);
    assert_eq!(s, 200, "{v}");
    let carol_score = bob_score * 0.5 * 0.85;
    score_becomes(
        &first,
        &carol,
        carol_score,
        "a third DID, endorsed through the API",
    );
    score_becomes(
        &second,
        &carol,
        carol_score,
        "the third DID on the other node",
    );

    // A report through the CLI takes a positive strength; alice's standing is 1.
    let out = endorse_cli(
        &first,
        &["report", &carol, "--weight", "-0.5", "--key", "alice"],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("from 0 to 1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = endorse_cli(
        &first,
        &[
            "report", &carol, "--weight", "0.5", "--reason", "spam", "--key", "alice",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("alice reported"), "{stdout}");
    let x = score_becomes(
        &second,
        &carol,
        carol_score * 0.5,
        "reported, on the other node",
    );
    assert!(x["penalties"].to_string().contains("spam"), "{x}");

    // Who endorses whom, with signer names (from the signed profiles) and reasons.
    let (s, e) = first.get(&format!("/api/v1/trust/{carol}/endorsements"));
    assert_eq!(s, 200, "{e}");
    let received = e["received"].as_array().unwrap();
    assert_eq!(received.len(), 2, "{e}");
    assert_eq!(received[0]["signer_name"], "alice", "{e}");
    assert_eq!(received[0]["kind"], "report", "{e}");
    assert_eq!(received[1]["signer_name"], "bob", "{e}");
    assert_eq!(received[1]["reason"], "<b>helpful</b>", "{e}");
    let (_, e) = second.get(&format!("/api/v1/trust/{bob}/endorsements"));
    assert_eq!(e["given"][0]["subject"], carol.as_str(), "{e}");
    assert_eq!(e["received"][0]["signer"], alice.as_str(), "{e}");
    let out = first.cli(&["trust", "endorsements", &carol]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("received (2)")
            && text.contains("-0.50  from alice")
            && text.contains("+0.50  from bob"),
        "{text}"
    );
    // Every key of the home: the three above and the demo publisher's.
    let (_, keys) = first.get("/api/v1/trust/keys");
    assert_eq!(keys.as_array().unwrap().len(), 4, "{keys}");
    assert!(
        keys.to_string().contains(&alice) && !keys.to_string().contains("keys/"),
        "{keys}"
    );

    // Bad input: refused with its reason, nothing stored, the node keeps syncing.
    let long = "x".repeat(2000);
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({ "key": "alice", "did": alice, "weight": 0.5 }),
            400,
            "cannot endorse itself",
        ),
        (
            json!({ "key": "alice", "did": bob, "weight": 1.5 }),
            400,
            "outside [-1, 1]",
        ),
        (
            json!({ "key": "alice", "did": bob, "weight": "NaN" }),
            400,
            "weight",
        ),
        (
            json!({ "key": "alice", "did": bob, "weight": 0.5, "reason": long }),
            400,
            "reason",
        ),
        (
            json!({ "key": "mallory", "did": bob, "weight": 0.5 }),
            404,
            "no key named",
        ),
        (
            json!({ "key": "../alice", "did": bob, "weight": 0.5 }),
            400,
            "invalid key name",
        ),
        (
            json!({ "key": "alice", "did": "did:key:zzz", "weight": 0.5 }),
            400,
            "did",
        ),
    ];
    for (body, status, says) in cases {
        let (s, v) = api_endorse(&first, t1, body.clone());
        assert_eq!(s, status, "{body}: {v}");
        let m = v["error"]["message"].as_str().unwrap_or("");
        assert!(m.contains(says), "{body}: {m:?} does not say {says:?}");
    }
    let out = endorse_cli(&first, &["endorse", &alice, "--key", "alice"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nobody can endorse themselves"));
    let (_, e) = first.get(&format!("/api/v1/trust/{bob}/endorsements"));
    assert_eq!(
        e["received"].as_array().unwrap().len(),
        1,
        "nothing refused was stored: {e}"
    );
    // Withdrawing: weight 0 replaces the endorsement and counts for nothing.
    let out = endorse_cli(
        &first,
        &["endorse", &bob, "--weight", "0", "--key", "alice"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    score_becomes(&second, &bob, 0.0, "withdrawn, on the other node");
    score_becomes(&second, &carol, 0.0, "and the one bob endorsed");

    // An older endorsement signed by alice (sequence 1, below the stored one) sent to the
    // node is refused by its pipeline with the reason, and never reaches a relay.
    let key = atoll_registry::KeyStore::new(first.home.path())
        .load("alice")
        .unwrap();
    let old = atoll_registry::Endorsement {
        kind: atoll_registry::objects::EndorseType,
        signer: key.did(),
        subject: bob.parse().unwrap(),
        weight: 1.0,
        reason: "replayed".into(),
        sequence: 1,
        created_at: 1,
    };
    let verified = atoll_registry::Envelope::sign(&old, &key)
        .unwrap()
        .verify_rotated::<atoll_registry::Endorsement>()
        .unwrap();
    let event = atoll_discovery::publish::sign_event(
        &atoll_discovery::codec::Object::Endorsement(verified),
        &key.nostr_keys().unwrap(),
        atoll_discovery::now_secs(),
    )
    .unwrap();
    let (s, v) = first.post(
        "/api/v1/publish/event",
        t1,
        &atoll_discovery::codec::event_json(&event),
    );
    assert_eq!(s, 409, "an older endorsement is refused: {v}");
    let m = v["error"]["message"].as_str().unwrap_or("");
    assert!(m.contains("rollback"), "{m}");
    score_becomes(
        &second,
        &bob,
        0.0,
        "the replayed endorsement counts for nothing",
    );

    // Both nodes publish a demo app with the id `elsewhere`. On the second, whichever of
    // the two it saw later (its own at start-up, or the first's over the relay) names the
    // other, and the marketplace and the CLI warn before installing or updating it.
    let mine = own_ref(&second, "elsewhere");
    let other = own_ref(&first, "elsewhere");
    assert_ne!(mine, other);
    wait_for_ref(&second, &other);
    let (later, earlier) = if warnings(&second, &other).is_empty() {
        (mine.clone(), other.clone())
    } else {
        (other.clone(), mine.clone())
    };
    let w = warnings(&second, &later);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0]["kind"], "same-app-id");
    assert_eq!(w[0]["other"], earlier.as_str());
    assert!(
        w[0]["message"]
            .as_str()
            .unwrap()
            .contains("different publisher"),
        "{w:?}"
    );
    let out = second.cli(&["--node", &second.url, "update", &later]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: [same-app-id]") && stderr.contains("different publisher"),
        "{stderr}"
    );

    // The UI: the warning before install, who endorses whom, the endorse form (token)
    // with a key of the second node's home.
    let operator = did_of(&second, "operator");
    let shots = repo().join("test-artifacts");
    let browser = Command::new("node")
        .arg(repo().join("tests/browser/trust.mjs"))
        .env(
            "ATOLL_URL",
            format!("{}/ui/#token={}", second.url, second.token),
        )
        .env("ATOLL_SHOTS", &shots)
        .env("ATOLL_LOOKALIKE", &later)
        .env("ATOLL_SUBJECT", &bob)
        .env("ATOLL_ENDORSER", &operator)
        .current_dir(repo().join("tests/browser"))
        .status()
        .expect("running node (Node.js) for the browser test: run .ci/run to install it");
    assert!(
        browser.success(),
        "trust browser test failed; screenshots in {}",
        shots.display()
    );
    // The UI's endorsement (with a key of the second node's home) reached the catalog.
    let (_, e) = second.get(&format!("/api/v1/trust/{bob}/endorsements"));
    assert!(e["received"].to_string().contains("<i>reliable</i>"), "{e}");
}
