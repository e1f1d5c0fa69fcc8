//! The HTTP API's request bodies, through the real router ([`crate::api::router`], its
//! Host and token guard, body limits and extractors) with `tower::ServiceExt::oneshot`,
//! in process, over a real catalog (SQLite file) and a real discovery node (embedded
//! relay, iroh endpoint, pipeline) on OS-chosen ports; apps are not run (no runtime).
//!
//! Cases: the bodies of `POST /actions/{action}`, `POST /trust/{op}`, `POST
//! /trust/endorse`, `POST|DELETE
//! /relays`, `POST /publish/event` (signed events, edited or broken) and `POST /publish`
//! (release tar streams, broken), and read paths with odd segments and query strings;
//! valid bodies edited field by field (wrong types, unknown fields, huge numbers, deep
//! nesting), bytes broken, odd or missing content types, sometimes no token.
//!
//! Properties: the node never answers 5xx and never panics; every refusal is a 4xx in the
//! one shape `{"error":{"code","message"}}` (code matching the status, a message); a body
//! that is not JSON at all is refused naming the body; every success is JSON.

use std::collections::BTreeMap;
use std::sync::Arc;

use atoll_discovery::codec;
use atoll_discovery::{Discovery, DiscoveryConfig, EmbeddedRelayConfig};
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use nostr_sdk::{JsonUtil, Timestamp};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{TestCaseError, TestRunner};
use serde_json::{json, Value};
use tower::ServiceExt as _;

use super::kit;
use super::objects;
use crate::api::{self, ApiState, UploadConfig};

/// Cases per property in CI (`PROPTEST_CASES` overrides).
const CASES: u32 = 2000;
/// Cases of release uploads (each unpacks into a temporary directory).
const UPLOAD_CASES: u32 = 500;

const TOKEN: &str = "fuzz-admin-token";
const HOST: &str = "127.0.0.1:7878";

const FIELDS: &[&str] = &[
    "app",
    "purge",
    "override_trust",
    "override_stale",
    "did",
    "note",
    "url",
    "weight",
    "reason",
    "key",
    "id",
    "pubkey",
    "created_at",
    "kind",
    "tags",
    "content",
    "sig",
];

/// A node's API over real parts, for the length of one test.
struct TestApi {
    router: Router,
    discovery: Discovery,
    node_id: String,
    _dir: tempfile::TempDir,
}

impl TestApi {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_owned();
        let catalog = tokio::task::spawn_blocking(move || crate::node::open_catalog(&data))
            .await
            .unwrap()
            .unwrap();
        let mut cfg = DiscoveryConfig::test(dir.path().join("swarm"), vec![]);
        cfg.embedded_relay = Some(EmbeddedRelayConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            ..EmbeddedRelayConfig::default()
        });
        // An app the actions find (its publisher below the install threshold).
        let (entry, manifest) = objects::catalog_app();
        catalog
            .write(move |c| {
                c.ingest(&entry, &atoll_catalog::Provenance::Local("fuzz".into()))?;
                c.attach_manifest(&manifest).map(|_| ())
            })
            .await
            .unwrap();
        // The key `POST /trust/endorse` signs with.
        let keys = atoll_registry::KeyStore::new(dir.path());
        keys.insert("fuzz", objects::publisher()).unwrap();
        let port = crate::node::catalog_port::SwarmCatalog::new(catalog.clone());
        let discovery = Discovery::start(cfg, Arc::new(port)).await.unwrap();
        let relays =
            crate::node::relays::NodeRelays::new(discovery.clone(), catalog.clone(), &[], 0.5);
        let state = ApiState {
            catalog: catalog.clone(),
            jobs: api::jobs::Jobs::default(),
            admin_token: Arc::new(TOKEN.to_owned()),
            listen: HOST.parse().unwrap(),
            demo: false,
            demo_publisher: None,
            blob_dirs: Arc::new(vec![]),
            ops: Arc::new(crate::node::NoRuntime::new("fuzzing".into())),
            net: Arc::new(crate::node::Swarm::new(discovery.clone(), catalog).with_keys(keys)),
            relays,
            install_threshold: 0.5,
            upload: UploadConfig {
                tmp_dir: dir.path().join("tmp"),
                max_bytes: 1 << 20,
            },
            auto_update: Arc::new(BTreeMap::new()),
            backups: None,
        };
        Self {
            router: api::router(state),
            node_id: discovery.node_id(),
            discovery,
            _dir: dir,
        }
    }

    async fn send(&self, r: &Req) -> (StatusCode, Option<String>, Vec<u8>) {
        let mut b = Request::builder()
            .method(r.method.clone())
            .uri(&r.uri)
            .header(header::HOST, HOST);
        if r.token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
        }
        if let Some(ct) = &r.content_type {
            b = b.header(header::CONTENT_TYPE, ct.as_str());
        }
        let req = b.body(Body::from(r.body.0.clone())).unwrap();
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let ct = res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        (status, ct, body)
    }
}

/// One request.
#[derive(Debug, Clone)]
struct Req {
    method: Method,
    uri: String,
    content_type: Option<String>,
    token: bool,
    body: kit::Bytes,
    /// The route takes a JSON body (so a body that is no JSON names the body).
    json_route: bool,
}

/// The `code` the one error shape has for `status` (as `api::error::code_for`).
fn code_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        409 => "conflict",
        413 => "payload_too_large",
        414 => "uri_too_long",
        415 => "unsupported_media_type",
        502 | 503 => "unavailable",
        _ => "bad_request",
    }
}

/// The properties of one answer.
fn check(
    r: &Req,
    (status, ct, body): &(StatusCode, Option<String>, Vec<u8>),
) -> Result<(), TestCaseError> {
    let text = String::from_utf8_lossy(body);
    prop_assert!(
        !status.is_server_error(),
        "{} {} answered {}: {}",
        r.method,
        r.uri,
        status,
        text
    );
    let json: Option<Value> = serde_json::from_slice(body).ok();
    if status.is_client_error() {
        prop_assert!(
            ct.as_deref()
                .is_some_and(|c| c.starts_with("application/json")),
            "a {} that is not JSON: {:?}",
            status,
            ct
        );
        let v = json.ok_or_else(|| {
            TestCaseError::fail(format!("a {status} whose body is not JSON: {text}"))
        })?;
        let obj = v.as_object().filter(|o| o.len() == 1);
        let err = obj.and_then(|o| o.get("error")).and_then(Value::as_object);
        let err = err.ok_or_else(|| TestCaseError::fail(format!("not the error shape: {text}")))?;
        // `code` and `message`, and maybe more about the refusal (a guard's `reasons`).
        prop_assert_eq!(
            err.get("code").and_then(Value::as_str),
            Some(code_for(*status)),
            "{}",
            text
        );
        let message = err.get("message").and_then(Value::as_str).unwrap_or("");
        prop_assert!(!message.is_empty(), "an error without a message");
        // A body that is not JSON at all, sent as JSON with the token to a JSON route
        // that exists, is refused as a bad body, saying so.
        let not_json = serde_json::from_slice::<Value>(&r.body).is_err();
        if r.json_route
            && r.token
            && not_json
            && r.content_type.as_deref() == Some("application/json")
            && *status == StatusCode::BAD_REQUEST
        {
            prop_assert!(
                message.starts_with("body: "),
                "a bad body refused as: {}",
                message
            );
        }
    } else {
        prop_assert!(
            json.is_some(),
            "a {} whose body is not JSON: {}",
            status,
            text
        );
    }
    Ok(())
}

fn content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        12 => Just(Some("application/json".to_owned())),
        1 => Just(None),
        1 => Just(Some("application/json; charset=utf-8".to_owned())),
        1 => Just(Some("text/plain".to_owned())),
        1 => Just(Some("application/x-www-form-urlencoded".to_owned())),
        1 => Just(Some("application/jsonx".to_owned())),
    ]
}

/// A body: a valid one edited field by field, or its bytes broken, or anything.
fn body(seeds: Vec<Value>) -> impl Strategy<Value = kit::Bytes> {
    let texts: Vec<Vec<u8>> = seeds.iter().map(|v| v.to_string().into_bytes()).collect();
    prop_oneof![
        2 => select(texts.clone()).prop_map(kit::Bytes),
        5 => kit::edited(seeds, FIELDS).prop_map(|v| kit::Bytes(v.to_string().into_bytes())),
        3 => kit::mutated(texts),
        1 => kit::text().prop_map(|t| kit::Bytes(t.into_bytes())),
        1 => (1..200usize)
            .prop_map(|n| kit::Bytes(format!("{}1{}", "[".repeat(n), "]".repeat(n)).into_bytes())),
        1 => Just(kit::Bytes(vec![b' '; 70 * 1024])),
    ]
}

fn post(
    path_words: Vec<&'static str>,
    prefix: &'static str,
    seeds: Vec<Value>,
) -> impl Strategy<Value = Req> {
    (
        prop_oneof![
            6 => select(path_words).prop_map(str::to_owned),
            1 => kit::text().prop_map(|t| urlencode(&t)),
        ],
        body(seeds),
        content_type(),
        prop_oneof![12 => Just(true), 1 => Just(false)],
        prop_oneof![12 => Just(Method::POST), 1 => Just(Method::DELETE), 1 => Just(Method::PUT)],
    )
        .prop_map(move |(word, body, content_type, token, method)| Req {
            method,
            uri: format!("{prefix}{word}"),
            content_type,
            token,
            body,
            json_route: true,
        })
}

/// Percent-encode what may not stand in a path segment.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn did() -> String {
    objects::publisher().did().to_string()
}

fn action_requests() -> impl Strategy<Value = Req> {
    let app = format!("{}/tiny", did());
    let seeds = vec![
        json!({"app": app}),
        json!({"app": app, "purge": true, "override_trust": true}),
        json!({"app": app, "override_trust": true}),
        json!({"app": app, "override_stale": true, "override_trust": true, "note": "fuzz"}),
        json!({"app": format!("{}/hello", did())}),
        json!({"app": "not-a-ref"}),
    ];
    post(
        vec![
            "install",
            "update",
            "start",
            "stop",
            "restart",
            "uninstall",
            "INSTALL",
            "x",
        ],
        "/api/v1/actions/",
        seeds,
    )
}

fn trust_requests() -> impl Strategy<Value = Req> {
    let d = did();
    let other = objects::other().did().to_string();
    let seeds = vec![
        json!({"did": d, "note": "mine"}),
        json!({"did": other}),
        json!({"did": other, "weight": 0.5, "reason": "good", "key": "default"}),
    ];
    post(
        vec![
            "pin", "unpin", "block", "unblock", "endorse", "report", "nope",
        ],
        "/api/v1/trust/",
        seeds,
    )
}

fn endorse_requests() -> impl Strategy<Value = Req> {
    let other = objects::other().did().to_string();
    let seeds = vec![
        json!({"key": "fuzz", "did": other, "weight": 0.5, "reason": "good apps"}),
        json!({"key": "fuzz", "did": other, "weight": -1.0}),
        json!({"key": "fuzz", "did": other, "weight": 0}),
        json!({"key": "fuzz", "did": did(), "weight": 0.5}),
        json!({"key": "nope", "did": other, "weight": 0.5}),
    ];
    post(vec!["endorse"], "/api/v1/trust/", seeds)
}

fn relay_requests() -> impl Strategy<Value = Req> {
    let seeds = vec![
        json!({"url": "ws://127.0.0.1:1"}),
        json!({"url": "wss://127.0.0.1:2/path"}),
        json!({"url": "http://127.0.0.1:3"}),
    ];
    post(vec![""], "/api/v1/relays", seeds)
}

fn event_requests(node_id: &str) -> impl Strategy<Value = Req> {
    let keys = objects::nostr_keys();
    let at = Some(Timestamp::from(1_700_000_000));
    let mut events: Vec<Value> = objects::seeds()
        .iter()
        .map(|o| serde_json::from_str(&codec::encode(o, keys, at).unwrap().as_json()).unwrap())
        .collect();
    // An entry whose origin is this node (the yank route's own case).
    let entry = objects::entry(Some(node_id.to_owned()), 5);
    let entry = atoll_registry::Envelope::sign(&entry, objects::publisher())
        .unwrap()
        .verify()
        .unwrap();
    let event = codec::encode(&codec::Object::Entry(entry), keys, at).unwrap();
    events.push(serde_json::from_str(&event.as_json()).unwrap());
    (
        body(events),
        content_type(),
        prop_oneof![12 => Just(true), 1 => Just(false)],
    )
        .prop_map(|(body, content_type, token)| Req {
            method: Method::POST,
            uri: "/api/v1/publish/event".into(),
            content_type,
            token,
            body,
            json_route: false,
        })
}

fn read_requests() -> impl Strategy<Value = Req> {
    let d = did();
    let segment = prop_oneof![
        3 => Just(d.clone()),
        1 => Just("hello".to_owned()),
        2 => kit::text().prop_map(|t| urlencode(&t)),
        1 => kit::text(),
    ];
    let query = prop_oneof![
        2 => Just(String::new()),
        3 => proptest::collection::vec(
            (
                select(vec!["q", "page", "category", "tail", "sort", "x", ""]),
                prop_oneof![kit::text().prop_map(|t| urlencode(&t)), kit::number().prop_map(|n| n.to_string()), kit::text()],
            ),
            1..4,
        )
        .prop_map(|kv| format!("?{}", kv.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&"))),
        1 => (0..3000usize).prop_map(|n| format!("?q={}", "a".repeat(n))),
    ];
    (
        select(vec![
            "apps",
            "apps/{}/{}",
            "installed/{}/{}/logs",
            "trust/{}/explain",
            "blobs/{}",
            "jobs/{}/events",
            "categories",
            "{}",
        ]),
        segment.clone(),
        segment,
        query,
    )
        .prop_map(|(shape, a, b, q)| {
            let path = shape.replacen("{}", &a, 1).replacen("{}", &b, 1);
            Req {
                method: Method::GET,
                uri: format!("/api/v1/{path}{q}"),
                content_type: None,
                token: false,
                body: kit::Bytes(Vec::new()),
                json_route: false,
            }
        })
        .prop_filter("a URI", |r| r.uri.parse::<axum::http::Uri>().is_ok())
}

/// Release uploads: a tar stream of the members `POST /publish` takes, broken.
fn upload_requests() -> impl Strategy<Value = Req> {
    let keys = objects::nostr_keys();
    let objs = objects::seeds();
    let at = Some(Timestamp::from(1_700_000_000));
    let entry_event = codec::encode(&objs[0], keys, at).unwrap().as_json();
    let profile_event = codec::encode(&objs[1], keys, at).unwrap().as_json();
    let entry_json = objs[0].envelope().to_canonical_bytes().unwrap();
    let blob = b"manifest".to_vec();
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    };
    add("entry.json", &entry_json);
    add(&atoll_registry::Hash::of(&blob).to_hex(), &blob);
    add("entry.event.json", entry_event.as_bytes());
    add("profile.event.json", profile_event.as_bytes());
    let seed = b.into_inner().unwrap();
    (
        kit::mutated(vec![seed]),
        prop_oneof![12 => Just(true), 1 => Just(false)],
    )
        .prop_map(|(body, token)| Req {
            method: Method::POST,
            uri: "/api/v1/publish".into(),
            content_type: Some("application/x-tar".into()),
            token,
            body,
            json_route: false,
        })
}

/// Run `cases` requests; `accepts`: some of them must succeed (the generator reaches
/// past every check), else only refusals are expected.
fn run<S: Strategy<Value = Req>>(
    rt: &tokio::runtime::Runtime,
    api: &TestApi,
    (name, cases, accepts): (&str, u32, bool),
    strategy: S,
) {
    let seen = std::sync::Mutex::new(BTreeMap::<u16, usize>::new());
    let mut runner = TestRunner::new(kit::config(cases, file!()));
    let result = runner.run(&strategy, |r| {
        let answer = rt.block_on(api.send(&r));
        *seen.lock().unwrap().entry(answer.0.as_u16()).or_default() += 1;
        check(&r, &answer)
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    let seen = seen.into_inner().unwrap();
    eprintln!("{name}: answers by status {seen:?}");
    // The cases reach past the guards: some are accepted, some refused as bad requests.
    if accepts {
        assert!(
            seen.keys().any(|s| (200..300).contains(s)),
            "{name}: nothing accepted: {seen:?}"
        );
    }
    assert!(
        seen.contains_key(&400),
        "{name}: nothing refused as a bad request: {seen:?}"
    );
}

/// One node for every route (starting one is the slow part), shut down at the end.
#[test]
fn fuzz_api_bodies_through_the_router() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let api = rt.block_on(TestApi::start());
    run(&rt, &api, ("POST /actions", CASES, true), action_requests());
    run(&rt, &api, ("POST /trust", CASES, true), trust_requests());
    let endorse = endorse_requests();
    run(&rt, &api, ("POST /trust/endorse", CASES, true), endorse);
    run(
        &rt,
        &api,
        ("POST|DELETE /relays", CASES, true),
        relay_requests(),
    );
    let events = event_requests(&api.node_id);
    run(&rt, &api, ("POST /publish/event", CASES, true), events);
    // The release seed is well-formed but no valid release (its blobs are not the
    // manifest and images an entry names): only refusals, each in the error shape.
    run(
        &rt,
        &api,
        ("POST /publish", UPLOAD_CASES, false),
        upload_requests(),
    );
    run(
        &rt,
        &api,
        ("GET paths and queries", CASES, true),
        read_requests(),
    );
    rt.block_on(api.discovery.shutdown());
}
