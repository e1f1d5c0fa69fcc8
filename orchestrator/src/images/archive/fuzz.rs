//! Fuzzing the image archive reader ([`super::image_id`]) with proptest: archives as a
//! publisher could craft them (the bytes are only known to hash right, nothing more).
//!
//! Cases: valid OCI and docker archives (GNU and ustar headers, `./` names, long names,
//! nested indexes) with their bytes broken (flips, truncation, splices, tokens); archives
//! made of arbitrary members (path tricks: `../`, `/`, NUL, long names; symlinks, GNU
//! long-name and pax members; huge, base-256 and garbage declared sizes; JSON edited
//! field by field); the real sample archive truncated and corrupted.
//!
//! Properties: no panic; the answer is a 64-hex image id, or `ImageError::Archive` (a
//! reason) or `ImageError::Io` of a truncated member; a valid archive gives its config
//! digest; a member is only ever found under its exact name (`../index.json` is not
//! `index.json`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../../registry/src/fuzz/kit.rs"]
mod kit;

use std::io::Write as _;
use std::path::Path;

use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::TestRunner;
use serde_json::{json, Value};

use super::image_id;
use crate::error::ImageError;

/// Cases per property in CI (`PROPTEST_CASES` overrides).
const CASES: u32 = 2500;
/// Cases over the real sample archive (each writes a copy of it).
const REAL_CASES: u32 = 200;

const FIELDS: &[&str] = &[
    "schemaVersion",
    "mediaType",
    "manifests",
    "digest",
    "size",
    "config",
    "layers",
    "Config",
    "RepoTags",
    "Layers",
    "annotations",
];

fn hex(seed: &str) -> String {
    blake3::hash(seed.as_bytes()).to_hex().to_string()
}

/// One member of a hand-made archive.
#[derive(Debug, Clone)]
struct Member {
    name: Vec<u8>,
    kind: u8,
    /// The size field as written (octal digits, or anything).
    size_field: Vec<u8>,
    data: Vec<u8>,
    /// Write the name into the ustar prefix field (and mark the header ustar).
    ustar_prefix: Option<Vec<u8>>,
}

impl Member {
    fn file(name: &str, data: Vec<u8>) -> Self {
        Self {
            name: name.as_bytes().to_vec(),
            kind: b'0',
            size_field: format!("{:011o}", data.len()).into_bytes(),
            data,
            ustar_prefix: None,
        }
    }
}

/// A tar stream of `members` (headers written by hand, so they can be anything).
fn tar(members: &[Member]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in members {
        let mut h = [0u8; 512];
        let name = &m.name[..m.name.len().min(100)];
        h[..name.len()].copy_from_slice(name);
        h[100..107].copy_from_slice(b"0000644");
        let size = &m.size_field[..m.size_field.len().min(12)];
        h[124..124 + size.len()].copy_from_slice(size);
        h[156] = m.kind;
        if let Some(prefix) = &m.ustar_prefix {
            h[257..263].copy_from_slice(b"ustar\0");
            let p = &prefix[..prefix.len().min(155)];
            h[345..345 + p.len()].copy_from_slice(p);
        }
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(&m.data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// The parts of a valid OCI layout: (index, manifest, config id).
fn oci_docs(tag: &str) -> (Value, Value, String) {
    let config = hex(&format!("config {tag}"));
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{config}"), "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": format!("sha256:{}", hex("layer")), "size": 3}],
    });
    let mhex = hex(&manifest.to_string());
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{mhex}"), "size": 10}],
    });
    (index, manifest, config)
}

/// Valid archives and the image id each holds.
fn seeds() -> Vec<(Vec<u8>, String)> {
    let mut out = Vec::new();
    // OCI, plain names.
    let (index, manifest, config) = oci_docs("a");
    let mhex = hex(&manifest.to_string());
    let oci = |prefix: &str, index: &Value| {
        vec![
            Member::file(
                &format!("{prefix}oci-layout"),
                br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
            ),
            Member::file(
                &format!("{prefix}index.json"),
                index.to_string().into_bytes(),
            ),
            Member::file(
                &format!("{prefix}blobs/sha256/{mhex}"),
                manifest.to_string().into_bytes(),
            ),
            Member::file(&format!("{prefix}blobs/sha256/{config}"), b"{}".to_vec()),
            Member::file(
                &format!("{prefix}blobs/sha256/{}", hex("layer")),
                b"abc".to_vec(),
            ),
        ]
    };
    out.push((tar(&oci("", &index)), config.clone()));
    out.push((tar(&oci("./", &index)), config.clone()));
    // OCI with a GNU long-name member before the manifest blob, and a ustar prefix.
    let mut long = oci("", &index);
    let blob_name = format!("blobs/sha256/{mhex}");
    long[2] = Member {
        name: b"././@LongLink".to_vec(),
        kind: b'L',
        size_field: format!("{:011o}", blob_name.len() + 1).into_bytes(),
        data: format!("{blob_name}\0").into_bytes(),
        ustar_prefix: None,
    };
    long.insert(
        3,
        Member::file("truncated-name", manifest.to_string().into_bytes()),
    );
    long[1].ustar_prefix = Some(Vec::new());
    let mut split = Member::file(&mhex, manifest.to_string().into_bytes());
    split.ustar_prefix = Some(b"blobs/sha256".to_vec());
    long.push(split);
    out.push((tar(&long), config.clone()));
    // OCI with a nested index.
    let nested = json!({"schemaVersion": 2, "manifests": [{"digest": format!("sha256:{mhex}")}]});
    let nhex = hex(&nested.to_string());
    let top = json!({"schemaVersion": 2, "manifests": [{"digest": format!("sha256:{nhex}")}]});
    let mut members = oci("", &top);
    members.push(Member::file(
        &format!("blobs/sha256/{nhex}"),
        nested.to_string().into_bytes(),
    ));
    out.push((tar(&members), config.clone()));
    // docker archive.
    let dconfig = hex("docker config");
    let docker = json!([{"Config": format!("{dconfig}.json"), "RepoTags": ["localhost/x:1"], "Layers": ["l/layer.tar"]}]);
    out.push((
        tar(&[
            Member::file("manifest.json", docker.to_string().into_bytes()),
            Member::file(&format!("{dconfig}.json"), b"{}".to_vec()),
            Member::file("l/layer.tar", vec![0; 1024]),
        ]),
        dconfig,
    ));
    out
}

/// The answer of the reader on `bytes` (written to a temporary file).
fn read(bytes: &[u8]) -> Result<String, ImageError> {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(bytes).unwrap();
    f.flush().unwrap();
    image_id(f.path())
}

/// The properties of any answer.
fn check(answer: &Result<String, ImageError>) -> Result<(), TestCaseError> {
    match answer {
        Ok(id) => {
            prop_assert_eq!(id.len(), 64, "{}", id);
            prop_assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{}", id);
        }
        Err(ImageError::Archive { reason, .. }) => prop_assert!(!reason.is_empty()),
        Err(ImageError::Io { source, .. }) => prop_assert_eq!(
            source.kind(),
            std::io::ErrorKind::UnexpectedEof,
            "an archive refused with {:?}",
            source
        ),
        Err(other) => prop_assert!(false, "an archive refused as {other:?}"),
    }
    Ok(())
}

fn run<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let mut runner = TestRunner::new(kit::config(cases, file!()));
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{name}: {e}");
    }
}

#[test]
fn every_seed_archive_gives_its_config_digest() {
    for (bytes, id) in seeds() {
        assert_eq!(read(&bytes).unwrap(), id);
    }
}

#[test]
fn fuzz_archive_bytes_mutated() {
    let seeds: Vec<Vec<u8>> = seeds().into_iter().map(|(b, _)| b).collect();
    run("archive bytes", CASES, kit::mutated(seeds), |b| {
        check(&read(&b))
    });
}

/// Names a member may have: the ones the reader looks for, spelled every way.
fn names() -> impl Strategy<Value = Vec<u8>> {
    let (_, manifest, config) = oci_docs("a");
    let m = hex(&manifest.to_string());
    let plain: Vec<String> = vec![
        "index.json".into(),
        "./index.json".into(),
        "././index.json".into(),
        "../index.json".into(),
        "/index.json".into(),
        "index.json/".into(),
        "INDEX.JSON".into(),
        "manifest.json".into(),
        "oci-layout".into(),
        format!("blobs/sha256/{m}"),
        format!("./blobs/sha256/{m}"),
        format!("blobs/sha256/../sha256/{m}"),
        format!("blobs/sha256/{config}"),
        format!("{config}.json"),
        "x".repeat(100),
        "y".repeat(300),
    ];
    prop_oneof![
        6 => select(plain).prop_map(String::into_bytes),
        1 => kit::text().prop_map(String::into_bytes),
        1 => proptest::collection::vec(any::<u8>(), 0..120),
        1 => Just(b"index.json\0trailing".to_vec()),
    ]
}

/// Size fields: the true one mostly, else huge, base-256, signed or garbage.
fn size_field(len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => Just(format!("{len:011o}").into_bytes()),
        1 => Just(b"77777777777".to_vec()),
        1 => Just(b"777777777777".to_vec()),
        1 => Just(b"00020000000".to_vec()),
        1 => Just(vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]),
        1 => Just(b"-1".to_vec()),
        1 => Just(b"+7".to_vec()),
        1 => Just(b" 12 ".to_vec()),
        1 => Just(b"9".to_vec()),
        1 => Just(Vec::new()),
        1 => proptest::collection::vec(any::<u8>(), 0..12),
    ]
}

/// Member data: the seeds' JSON documents edited, or arbitrary bytes.
fn data() -> impl Strategy<Value = Vec<u8>> {
    let (index, manifest, _) = oci_docs("a");
    let docker = json!([{"Config": format!("{}.json", hex("d")), "Layers": []}]);
    let docs = vec![index, manifest, docker];
    prop_oneof![
        2 => select(docs.clone()).prop_map(|v| v.to_string().into_bytes()),
        3 => kit::edited(docs, FIELDS).prop_map(|v| v.to_string().into_bytes()),
        1 => proptest::collection::vec(any::<u8>(), 0..600),
        1 => (0..8usize).prop_map(|n| vec![b'['; n * 1000]),
    ]
}

fn member() -> impl Strategy<Value = Member> {
    (
        names(),
        prop_oneof![5 => Just(b'0'), 1 => Just(0u8), 1 => Just(b'L'), 1 => Just(b'2'), 1 => Just(b'5'), 1 => Just(b'x'), 1 => Just(b'g'), 1 => any::<u8>()],
        data(),
        any::<Index>(),
        proptest::option::weighted(0.2, select(vec![b"".to_vec(), b".".to_vec(), b"blobs/sha256".to_vec(), b"..".to_vec()])),
    )
        .prop_flat_map(|(name, kind, data, _, prefix)| {
            size_field(data.len()).prop_map(move |size_field| Member {
                name: name.clone(),
                kind,
                size_field,
                data: data.clone(),
                ustar_prefix: prefix.clone(),
            })
        })
}

#[test]
fn fuzz_archive_members_crafted() {
    let strategy = proptest::collection::vec(member(), 0..8);
    run("crafted archives", CASES, strategy, |members| {
        let answer = read(&tar(&members));
        check(&answer)?;
        // A member counts only under its exact name (after `./`): an archive with no
        // member named exactly index.json or manifest.json has no image id.
        let exact = |m: &Member| {
            let mut name = m
                .name
                .split(|b| *b == 0)
                .next()
                .unwrap_or_default()
                .to_vec();
            if let Some(p) = &m.ustar_prefix {
                if !p.is_empty() {
                    name = [p.as_slice(), b"/", name.as_slice()].concat();
                }
            }
            let s = String::from_utf8_lossy(&name).into_owned();
            let s = s.trim_start_matches("./").to_owned();
            s == "index.json" || s == "manifest.json"
        };
        if answer.is_ok() {
            prop_assert!(
                members.iter().any(|m| exact(m) || m.kind == b'L'),
                "an image id from an archive without index.json or manifest.json"
            );
        }
        Ok(())
    });
}

#[test]
fn fuzz_archive_real_sample_truncated_and_corrupted() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../apps/hello-static/images/web.oci.tar");
    let real = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}: run scripts/build-images.sh", path.display()));
    let id = read(&real).unwrap();
    // Mutations inside the first 64 KiB (headers and JSON members) or a truncation.
    let head = real.len().min(64 * 1024);
    let strategy = prop_oneof![
        any::<Index>().prop_map(|i| (Some(i), vec![])),
        proptest::collection::vec((0..head, 1..=255u8), 1..8).prop_map(|flips| (None, flips)),
    ];
    run("real archive", REAL_CASES, strategy, |(cut, flips)| {
        let mut bytes = real.clone();
        if let Some(i) = cut {
            bytes.truncate(i.index(real.len()));
        }
        for (at, x) in &flips {
            bytes[*at] ^= x;
        }
        let answer = read(&bytes);
        check(&answer)?;
        if let Ok(found) = &answer {
            // A change either leaves the id alone or hits the JSON that names it.
            prop_assert!(
                found == &id || !flips.is_empty(),
                "truncation changed the id"
            );
        }
        Ok(())
    });
}
