//! The manifest parsers: the author's YAML ([`manifest::parse`]: the yaml-rust2 guard,
//! serde_yaml, the policy) and the strict canonical JSON blob from the network
//! ([`Manifest::from_blob`]).
//!
//! Properties: no panic; a refusal is `TooLarge`, `Schema` (a decode or YAML problem,
//! with its line where the parser knows it) or `Policy` (every problem names its field);
//! whatever is accepted round-trips: its canonical bytes are a blob that `from_blob`
//! accepts as the same manifest, and the YAML parser reads that JSON the same way.

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::Value;

use super::kit;
use crate::manifest::{self, Manifest, ManifestError, ProblemKind};

/// Cases per property in CI (`PROPTEST_CASES` overrides).
const CASES: u32 = 3000;

/// Every field name of the schema (for edits that add real fields in the wrong place).
pub const FIELDS: &[&str] = &[
    "app",
    "archive",
    "bind",
    "capabilities",
    "categories",
    "command",
    "container",
    "containers",
    "cpus",
    "dependencies",
    "depends_on",
    "description",
    "entrypoint",
    "env",
    "health",
    "host",
    "http",
    "icon",
    "id",
    "image",
    "init",
    "interval",
    "ipc",
    "length",
    "license",
    "links",
    "memory",
    "name",
    "network",
    "path",
    "pid",
    "port",
    "ports",
    "privileged",
    "protocol",
    "publisher",
    "read_only",
    "reference",
    "retries",
    "secrets",
    "start_period",
    "stop_grace",
    "tcp",
    "timeout",
    "user",
    "version",
    "volumes",
    "web",
];

/// A manifest that uses every part of the schema (beyond the sample apps).
const RICH: &str = r#"id: rich-app
name: Rich App
version: 1.2.3-rc.1+b5
description: Every field of the schema.
icon: icon.svg
categories: [web, demo]
links:
  homepage: https://example.org
license: MIT
containers:
  - name: api
    image:
      archive: images/api.oci.tar
    command: ["httpd", "-f", "-p", "8080"]
    entrypoint: ["/bin/sh", "-c"]
    env:
      GREETING: "héllo 😀"
    secrets:
      - name: api-key
        env: API_KEY
        length: 32
    ports:
      - container: 8080
        host: 18080
        protocol: tcp
        web: true
      - container: 53
        host: 18053
        protocol: udp
    volumes:
      - name: data
        path: /data
    health:
      http:
        port: 8080
        path: /
      interval: 5s
      timeout: 2s
      retries: 3
      start_period: 5s
    stop_grace: 5s
    init: true
    read_only: true
    user: "1000"
    capabilities: [NET_BIND_SERVICE]
    memory: 32Mi
    cpus: 0.5
  - name: web
    image:
      reference: "docker.io/library/busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    depends_on: [api]
    health:
      tcp: { port: 80 }
      interval: 10s
      timeout: 1s
      retries: 1
dependencies:
  - publisher: did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp
    app: other
    version: ">=1.0, <2"
"#;

/// The seeds: the sample apps' manifests and [`RICH`].
pub fn seeds() -> Vec<String> {
    vec![
        include_str!("../../../apps/hello-static/manifest.yml").to_owned(),
        include_str!("../../../apps/two-tier/manifest.yml").to_owned(),
        include_str!("../../../apps/notebook/manifest.yml").to_owned(),
        RICH.to_owned(),
    ]
}

fn path() -> &'static Path {
    Path::new("apps/fuzz/manifest.yml")
}

/// The seeds as parsed manifests, as JSON trees (for structural edits).
fn seed_trees() -> Vec<Value> {
    seeds()
        .iter()
        .map(|s| {
            let m = manifest::parse(s, path()).expect("every seed is a valid manifest");
            serde_json::to_value(&m).expect("a manifest is JSON")
        })
        .collect()
}

/// How a tree is written out for the YAML parser.
fn render(v: &Value, style: u8) -> String {
    match style % 3 {
        0 => serde_yaml::to_string(v).unwrap_or_default(),
        1 => serde_json::to_string_pretty(v).unwrap_or_default(),
        _ => serde_json::to_string(v).unwrap_or_default(),
    }
}

/// The author YAML path: refusals are typed and placed, acceptances round-trip.
pub fn check_yaml(text: &str) -> Result<(), TestCaseError> {
    match manifest::parse(text, path()) {
        Ok(m) => check_accepted(&m),
        Err(e) => check_yaml_refusal(text, &e),
    }
}

/// The last line a YAML parser can name (the guard's count).
fn last_line(text: &str) -> usize {
    crate::manifest::yaml_last_line(text)
}

/// Does YAML read this JSON text as JSON does? Not when it holds raw DEL, C1 controls or
/// the noncharacters U+FFFE/U+FFFF (libyaml refuses them), nor NEL, LS or PS (line breaks
/// in YAML 1.1, folded inside quoted scalars), all of which canonical JSON leaves raw.
fn yaml_printable(text: &str) -> bool {
    text.chars().all(|c| {
        matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{a0}'..='\u{2027}' | '\u{202a}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
    })
}

fn check_yaml_refusal(text: &str, e: &ManifestError) -> Result<(), TestCaseError> {
    let lines = last_line(text);
    match e {
        ManifestError::TooLarge { size, .. } => {
            prop_assert!(*size > crate::objects::MAX_MANIFEST_BYTES);
        }
        ManifestError::Schema { problem, .. } => {
            prop_assert!(
                matches!(problem.kind, ProblemKind::Decode(_) | ProblemKind::Yaml(_)),
                "a YAML manifest refused as {:?}",
                problem.kind
            );
            if let ProblemKind::Yaml(_) = problem.kind {
                prop_assert!(problem.line.is_some(), "a YAML problem without a line: {e}");
            }
            if let Some(l) = problem.line {
                prop_assert!((1..=lines).contains(&l), "line {l} of {lines}: {e}");
            }
            prop_assert!(!problem.kind.to_string().is_empty(), "an empty message");
        }
        ManifestError::Policy { problems, .. } => {
            prop_assert!(!problems.is_empty(), "a policy refusal with no problem");
            for p in problems {
                prop_assert!(matches!(p.kind, ProblemKind::Rule(_)), "{:?}", p.kind);
                prop_assert!(!p.field.is_empty(), "a policy problem names no field: {p}");
                if let Some(l) = p.line {
                    prop_assert!((1..=lines).contains(&l), "line {l} of {lines}: {p}");
                }
            }
        }
        other => prop_assert!(false, "a manifest text refused as {other:?}"),
    }
    prop_assert!(!e.problems().is_empty());
    Ok(())
}

/// What is accepted re-encodes: its blob is accepted by `from_blob` as the same manifest,
/// and the YAML path reads the blob (JSON is YAML) as the same manifest too.
fn check_accepted(m: &Manifest) -> Result<(), TestCaseError> {
    let blob = m
        .canonical_bytes()
        .map_err(|e| TestCaseError::fail(format!("an accepted manifest has no blob: {e}")))?;
    let back = Manifest::from_blob(&blob)
        .map_err(|e| TestCaseError::fail(format!("its own blob is refused: {e}")))?;
    prop_assert_eq!(&back, m, "the blob reads back as another manifest");
    prop_assert_eq!(back.canonical_bytes().ok(), Some(blob.clone()));
    let text = String::from_utf8(blob).map_err(|e| TestCaseError::fail(e.to_string()))?;
    if !yaml_printable(&text) {
        // Canonical JSON writes these raw; YAML cannot read them raw (the author wrote
        // them escaped). Nothing reads a blob as YAML.
        return Ok(());
    }
    let again = manifest::parse(&text, path())
        .map_err(|e| TestCaseError::fail(format!("its blob as YAML is refused: {e}")))?;
    prop_assert_eq!(&again, m, "the blob read as YAML is another manifest");
    Ok(())
}

/// The network path: only the exact canonical JSON of a valid manifest is accepted.
pub fn check_blob(bytes: &[u8]) -> Result<(), TestCaseError> {
    match Manifest::from_blob(bytes) {
        Ok(m) => {
            let again = m.canonical_bytes().ok();
            prop_assert_eq!(again.as_deref(), Some(bytes));
            check_accepted(&m)
        }
        Err(ManifestError::TooLarge { size, .. }) => {
            prop_assert!(size > crate::objects::MAX_MANIFEST_BYTES);
            Ok(())
        }
        Err(ManifestError::Schema { problem, .. }) => {
            prop_assert!(
                matches!(
                    problem.kind,
                    ProblemKind::BlobDecode(_)
                        | ProblemKind::Trailing(_)
                        | ProblemKind::NotCanonical
                ),
                "a blob refused as {:?}",
                problem.kind
            );
            Ok(())
        }
        Err(ManifestError::Policy { problems, .. }) => {
            prop_assert!(!problems.is_empty());
            prop_assert!(problems.iter().all(|p| !p.field.is_empty()));
            Ok(())
        }
        Err(other) => Err(TestCaseError::fail(format!("a blob refused as {other:?}"))),
    }
}

fn run<S: Strategy>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>) {
    let mut runner = TestRunner::new(kit::config(CASES, file!()));
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{name}: {e}");
    }
}

#[test]
fn fuzz_manifest_yaml_text_mutations() {
    run(
        "manifest YAML, mutated text",
        kit::mutated_text(seeds()),
        |t| check_yaml(&t),
    );
}

#[test]
fn fuzz_manifest_yaml_field_edits() {
    let trees = seed_trees();
    let strategy = (kit::edited(trees, FIELDS), any::<u8>());
    run("manifest YAML, edited fields", strategy, |(v, style)| {
        check_yaml(&render(&v, style))
    });
}

#[test]
fn fuzz_manifest_blob_mutations() {
    let blobs: Vec<Vec<u8>> = seeds()
        .iter()
        .map(|s| {
            let m = manifest::parse(s, path()).expect("a valid seed");
            m.canonical_bytes().expect("a blob")
        })
        .collect();
    run("manifest blob, mutated bytes", kit::mutated(blobs), |b| {
        check_blob(&b)
    });
}

#[test]
fn fuzz_manifest_blob_field_edits() {
    let strategy = (kit::edited(seed_trees(), FIELDS), any::<bool>());
    run(
        "manifest blob, edited fields",
        strategy,
        |(v, canonical)| {
            let bytes = if canonical {
                crate::canonical::to_canonical_bytes(&v).unwrap_or_default()
            } else {
                serde_json::to_vec_pretty(&v).unwrap_or_default()
            };
            check_blob(&bytes)
        },
    );
}
