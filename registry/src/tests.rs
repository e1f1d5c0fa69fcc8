//! Crate-level tests: signed envelopes, the pinned signature vector, signed bundles.

use std::fs;
use std::path::Path;

use crate::bundle::{sign_app, verify_bundle, BundleError, SignOptions};
use crate::envelope::{verify_batch, Envelope, EnvelopeError};
use crate::objects::{
    Artifact, ArtifactKind, BlobRef, Endorsement, Entry, EntryType, Origin, PayloadProblem,
};
use crate::{Hash, Keypair};

fn entry(key: &Keypair, sequence: u64) -> Entry {
    Entry {
        kind: EntryType,
        app: "hello".parse().unwrap(),
        publisher: key.did(),
        version: "1.0.0".parse().unwrap(),
        sequence,
        manifest: BlobRef {
            hash: Hash::of(b"{}"),
            size: 2,
        },
        artifacts: vec![],
        origin: Origin::default(),
        published_at: 1_700_000_000,
        expires_at: 1_800_000_000,
        yanked: None,
    }
}

/// Fixed seed → fixed DID → fixed canonical bytes → fixed signature. Any drift in
/// canonicalisation, encoding or signing breaks this test (and every signature in the swarm).
#[test]
fn pinned_vector_seed_did_canonical_bytes_signature() {
    let key = Keypair::from_seed([0u8; 32]);
    assert_eq!(
        key.did().to_string(),
        "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"
    );
    let env = Envelope::sign(&entry(&key, 7), &key).unwrap();
    let canonical = crate::canonical::to_canonical_bytes(&env.payload).unwrap();
    assert_eq!(String::from_utf8(canonical).unwrap(), PINNED_CANONICAL);
    assert_eq!(env.signatures[0].sig, PINNED_SIG);
    assert_eq!(
        key.nostr_keys().unwrap().public_key().to_hex(),
        PINNED_NOSTR
    );
    env.verify::<Entry>().unwrap();
}

const PINNED_CANONICAL: &str = concat!(
    r#"{"app":"hello","expires_at":1800000000,"manifest":{"hash":"#,
    r#""6e46dd10defc9b56c29a6ec56b508c21f54c08192194e4df25bf36f0c9c3c279","size":2},"#,
    r#""origin":{},"published_at":1700000000,"#,
    r#""publisher":"did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp","#,
    r#""sequence":7,"type":"atoll/entry/v1","version":"1.0.0"}"#
);
/// Cross-checked: Python's `cryptography` (OpenSSL) signs these bytes with seed 00…00 to the
/// same signature.
const PINNED_SIG: &str =
    "pVYllD4KTZPsj1-ouftPznW0IcSwgYBPDJGusZ6wNk3Bp3YfPz2IelAaRTIVQDWkfqqSRjA6mNm3rAau96LpAg";
const PINNED_NOSTR: &str = "c489d8f28aa69c2d9b22116f5c3a03452c43fb9dc9dd6eaa20bc278a796f0f77";

#[test]
fn tampering_with_payload_or_signature_is_caught() {
    let key = Keypair::from_seed([1; 32]);
    let env = Envelope::sign(&entry(&key, 1), &key).unwrap();
    env.verify::<Entry>().unwrap();

    let mut p = env.clone();
    p.payload["sequence"] = serde_json::json!(2);
    assert!(matches!(
        p.verify::<Entry>(),
        Err(EnvelopeError::BadSignature(0, _))
    ));

    let mut s = env.clone();
    let mut raw = s.signatures[0].sig.clone().into_bytes();
    raw[10] = if raw[10] == b'A' { b'B' } else { b'A' };
    s.signatures[0].sig = String::from_utf8(raw).unwrap();
    assert!(matches!(
        s.verify::<Entry>(),
        Err(EnvelopeError::BadSignature(0, _))
    ));

    // Signed by someone else than the publisher the payload names.
    let mallory = Keypair::from_seed([2; 32]);
    let mut forged = entry(&key, 1);
    assert!(matches!(
        Envelope::sign(&forged, &mallory),
        Err(EnvelopeError::WrongKey { .. })
    ));
    forged.publisher = mallory.did();
    let mut f = Envelope::sign(&forged, &mallory).unwrap();
    f.payload["publisher"] = serde_json::json!(key.did().to_string());
    assert!(matches!(
        f.verify::<Entry>(),
        Err(EnvelopeError::MissingAuthority(_))
    ));

    let mut wrong = env.clone();
    wrong.payload["type"] = serde_json::json!("atoll/publisher/v1");
    assert!(matches!(
        wrong.verify::<Entry>(),
        Err(EnvelopeError::WrongType { .. })
    ));

    let mut extra = env.clone();
    extra.payload["surprise"] = serde_json::json!(1);
    let err = extra.verify::<Entry>().unwrap_err();
    assert!(err.to_string().contains("surprise"), "{err}");

    let mut none = env.clone();
    none.signatures.clear();
    assert!(matches!(
        none.verify::<Entry>(),
        Err(EnvelopeError::SignatureCount(0))
    ));

    let mut dup = env.clone();
    dup.signatures.push(dup.signatures[0].clone());
    assert!(matches!(
        dup.verify::<Entry>(),
        Err(EnvelopeError::DuplicateSigner(1, _))
    ));

    let mut bad_range = entry(&key, 1);
    bad_range.expires_at = bad_range.published_at;
    let e = Envelope::sign(&bad_range, &key).unwrap();
    assert!(matches!(
        e.verify::<Entry>(),
        Err(EnvelopeError::Invalid { problem, .. }) if *problem == PayloadProblem::ExpiresBeforePublished
    ));

    // Each semantic problem is typed and names its field.
    let mut twice = entry(&key, 1);
    let mut icon = twice.artifacts.first().cloned().unwrap_or(Artifact {
        path: "icon.svg".into(),
        kind: ArtifactKind::Icon,
        blob: BlobRef {
            hash: Hash::of(b"icon"),
            size: 4,
        },
    });
    icon.path = "icon.svg".into();
    twice.artifacts = vec![icon.clone(), icon.clone()];
    let err = Envelope::sign(&twice, &key)
        .unwrap()
        .verify::<Entry>()
        .unwrap_err();
    match &err {
        EnvelopeError::Invalid { problem, .. } => match problem.as_ref() {
            PayloadProblem::Duplicate { field, value } => {
                assert_eq!(field.to_string(), "artifacts[1].path");
                assert_eq!(value, "icon.svg");
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string()
            .contains("artifacts[1].path: \"icon.svg\" is listed twice"),
        "{err}"
    );
    let mut empty = entry(&key, 1);
    icon.blob.size = 0;
    empty.artifacts = vec![icon];
    let err = Envelope::sign(&empty, &key)
        .unwrap()
        .verify::<Entry>()
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("artifacts[0].size: 0 is outside 1..=1048576"),
        "{err}"
    );

    assert!(matches!(
        Envelope::from_slice(&vec![b' '; 70_000]),
        Err(EnvelopeError::TooLarge(_))
    ));
    assert!(matches!(
        Envelope::from_slice(b"{\"payload\":1}"),
        Err(EnvelopeError::Malformed(_))
    ));
}

#[test]
fn non_normal_payloads_are_refused() {
    // A version written differently than its normal form would change meaning silently.
    let key = Keypair::from_seed([3; 32]);
    let mut e = entry(&key, 1);
    e.version = "1.0.0".parse().unwrap();
    let mut env = Envelope::sign(&e, &key).unwrap();
    env.payload["artifacts"] = serde_json::json!([]);
    let canonical = crate::canonical::to_canonical_bytes(&env.payload).unwrap();
    env.signatures[0].sig = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        key.sign(&canonical).to_bytes(),
    );
    assert!(matches!(
        env.verify::<Entry>(),
        Err(EnvelopeError::NotNormal(_))
    ));
}

#[test]
fn batch_verification_isolates_the_bad_envelope() {
    let keys: Vec<Keypair> = (0..8u8).map(|i| Keypair::from_seed([i + 10; 32])).collect();
    let mut envs: Vec<Envelope> = keys
        .iter()
        .map(|k| Envelope::sign(&entry(k, 5), k).unwrap())
        .collect();
    let all = verify_batch::<Entry>(&envs);
    assert!(all.iter().all(Result::is_ok));
    envs[3].payload["sequence"] = serde_json::json!(6);
    let mixed = verify_batch::<Entry>(&envs);
    for (i, r) in mixed.iter().enumerate() {
        assert_eq!(r.is_ok(), i != 3, "envelope {i}");
    }
}

#[test]
fn endorsement_weights_are_bounded() {
    let a = Keypair::from_seed([4; 32]);
    let b = Keypair::from_seed([5; 32]);
    let mut e = Endorsement {
        kind: Default::default(),
        signer: a.did(),
        subject: b.did(),
        weight: 0.75,
        reason: "ships good apps".into(),
        sequence: 1,
        created_at: 1_700_000_000,
    };
    let v = Envelope::sign(&e, &a)
        .unwrap()
        .verify::<Endorsement>()
        .unwrap();
    assert_eq!(v.weight, 0.75);
    e.weight = 1.5;
    let err = Envelope::sign(&e, &a)
        .unwrap()
        .verify::<Endorsement>()
        .unwrap_err();
    assert!(err.to_string().contains("weight"), "{err}");
}

fn sample_app(dir: &Path) {
    fs::create_dir_all(dir.join("images")).unwrap();
    fs::write(
        dir.join("manifest.yml"),
        "id: tiny\nname: Tiny\nversion: 0.1.0\ndescription: A tiny app.\nicon: icon.svg\n\
         containers:\n  - name: web\n    image:\n      archive: images/web.oci.tar\n\
         \x20   ports:\n      - { container: 8080, host: 18099, web: true }\n",
    )
    .unwrap();
    fs::write(
        dir.join("icon.svg"),
        "<svg xmlns='http://www.w3.org/2000/svg'/>",
    )
    .unwrap();
    fs::write(dir.join("images/web.oci.tar"), vec![7u8; 10_000]).unwrap();
}

fn flip_byte(path: &Path, at: usize) {
    let mut b = fs::read(path).unwrap();
    b[at] ^= 0x01;
    fs::write(path, b).unwrap();
}

#[test]
fn sign_then_verify_a_bundle_and_catch_every_tamper() {
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("app");
    sample_app(&app);
    let key = Keypair::from_seed([9; 32]);
    let out = tmp.path().join("out");
    let signed = sign_app(&app, &key, &out, &SignOptions::default()).unwrap();
    assert_eq!(signed.blobs.len(), 3);
    let ok = verify_bundle(&signed.entry_path).unwrap();
    assert_eq!(ok.manifest.id, "tiny");
    assert_eq!(ok.entry.publisher, key.did());

    // Re-signing raises the sequence.
    let again = sign_app(&app, &key, &out, &SignOptions::default()).unwrap();
    assert!(again.entry.sequence > signed.entry.sequence);

    let fresh = |name: &str| {
        let o = tmp.path().join(name);
        sign_app(&app, &key, &o, &SignOptions::default()).unwrap()
    };

    // One byte of the payload.
    let b = fresh("payload");
    let text = fs::read_to_string(&b.entry_path).unwrap();
    fs::write(&b.entry_path, text.replacen("\"tiny\"", "\"tinz\"", 1)).unwrap();
    let err = verify_bundle(&b.entry_path).unwrap_err();
    assert!(
        matches!(
            err,
            BundleError::Envelope {
                source: EnvelopeError::BadSignature(..),
                ..
            }
        ),
        "{err}"
    );

    // One byte of the signature.
    let b = fresh("sig");
    let text = fs::read_to_string(&b.entry_path).unwrap();
    let at = text.find("\"sig\":\"").unwrap() + 12;
    flip_byte(&b.entry_path, at);
    let err = verify_bundle(&b.entry_path).unwrap_err();
    assert!(err.to_string().contains("signature"), "{err}");

    // One byte of each blob beside it.
    for i in 0..3 {
        let b = fresh(&format!("blob{i}"));
        flip_byte(&b.blobs[i].1, 0);
        let err = verify_bundle(&b.entry_path).unwrap_err();
        assert!(matches!(err, BundleError::HashMismatch { .. }), "{err}");
        assert!(err.to_string().contains(&b.blobs[i].0.to_hex()), "{err}");
    }

    // A missing blob is named.
    let b = fresh("missing");
    fs::remove_file(&b.blobs[2].1).unwrap();
    let err = verify_bundle(&b.entry_path).unwrap_err();
    assert!(matches!(err, BundleError::Missing { .. }), "{err}");
}

#[test]
fn signing_refuses_a_missing_image_with_a_hint() {
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("app");
    sample_app(&app);
    fs::remove_file(app.join("images/web.oci.tar")).unwrap();
    let key = Keypair::from_seed([9; 32]);
    let err = sign_app(&app, &key, &tmp.path().join("out"), &SignOptions::default()).unwrap_err();
    assert!(err.to_string().contains("build-images.sh"), "{err}");
}

fn files_in(dir: &Path) -> Vec<std::path::PathBuf> {
    match fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn signing_refuses_links_leaving_the_app_dir_and_writes_nothing() {
    use std::os::unix::fs::symlink;
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("shadow");
    fs::write(&secret, b"root:$6$not-for-the-world").unwrap();
    let key = Keypair::from_seed([9; 32]);

    // The archive itself is a link out.
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("app");
    sample_app(&app);
    fs::remove_file(app.join("images/web.oci.tar")).unwrap();
    symlink(&secret, app.join("images/web.oci.tar")).unwrap();
    let out = tmp.path().join("out");
    let err = sign_app(&app, &key, &out, &SignOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("image archive images/web.oci.tar")
            && err
                .to_string()
                .contains("symbolic link leaving the app directory"),
        "{err}"
    );
    assert!(files_in(&out).is_empty(), "{:?}", files_in(&out));
    let m = crate::manifest::load(&app).unwrap().0;
    let problems = crate::bundle::local_file_problems(&app, &m);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].field, "containers[0].image.archive");

    // A parent directory is a link out (`images -> /etc`).
    fs::remove_dir_all(app.join("images")).unwrap();
    fs::copy(&secret, outside.path().join("web.oci.tar")).unwrap();
    symlink(outside.path(), app.join("images")).unwrap();
    let err = sign_app(&app, &key, &out, &SignOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("leaving the app directory"),
        "{err}"
    );
    assert!(files_in(&out).is_empty());

    // The icon is a FIFO: refused, not waited on.
    let app2 = tmp.path().join("app2");
    sample_app(&app2);
    fs::remove_file(app2.join("icon.svg")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        app2.join("icon.svg"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let err = sign_app(&app2, &key, &out, &SignOptions::default()).unwrap_err();
    assert!(err.to_string().contains("icon: "), "{err}");
    assert!(
        err.to_string().contains("is a FIFO, not a regular file"),
        "{err}"
    );
    assert!(files_in(&out).is_empty());
}

#[test]
fn links_inside_the_app_dir_are_followed_and_the_bundle_holds_plain_files() {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("app");
    sample_app(&app);
    fs::create_dir(app.join("build")).unwrap();
    fs::rename(
        app.join("images/web.oci.tar"),
        app.join("build/web.oci.tar"),
    )
    .unwrap();
    symlink("../build/web.oci.tar", app.join("images/web.oci.tar")).unwrap();
    let key = Keypair::from_seed([9; 32]);
    let out = tmp.path().join("out");
    // A stale link in the bundle where the image blob goes is replaced, never followed.
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    fs::write(&victim, b"keep me").unwrap();
    fs::create_dir_all(&out).unwrap();
    let image_hash = Hash::of(&[7u8; 10_000]).to_hex();
    symlink(&victim, out.join(&image_hash)).unwrap();
    symlink(&victim, out.join(format!("{image_hash}.tmp-write"))).unwrap();

    let signed = sign_app(&app, &key, &out, &SignOptions::default()).unwrap();
    for (_, path) in &signed.blobs {
        assert!(fs::symlink_metadata(path).unwrap().file_type().is_file());
    }
    assert_eq!(fs::read(&victim).unwrap(), b"keep me");
    verify_bundle(&signed.entry_path).unwrap();

    // A blob of a bundle that is a link out of the bundle dir is refused by verify.
    let blob = &signed.blobs[1].1;
    let moved = outside.path().join("icon");
    fs::rename(blob, &moved).unwrap();
    symlink(&moved, blob).unwrap();
    let err = verify_bundle(&signed.entry_path).unwrap_err();
    assert!(
        err.to_string().contains("leaving the bundle directory"),
        "{err}"
    );
}

#[test]
fn verify_refuses_a_fifo_entry_and_an_oversized_one_before_reading() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("entry.json");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let err = verify_bundle(&fifo).unwrap_err();
    assert!(
        err.to_string().contains("is a FIFO, not a regular file"),
        "{err}"
    );
    fs::remove_file(&fifo).unwrap();
    fs::File::create(&fifo).unwrap().set_len(1 << 30).unwrap();
    let err = verify_bundle(&fifo).unwrap_err();
    assert!(matches!(err, BundleError::TooLarge { .. }), "{err}");
}

#[test]
fn origin_relays_are_hostile_input_bounded_and_named() {
    let key = Keypair::from_seed([6; 32]);
    let check = |relays: Vec<String>| {
        let mut e = entry(&key, 1);
        e.origin.relays = relays;
        Envelope::sign(&e, &key).and_then(|env| env.verify::<Entry>().map(|_| ()))
    };
    check(vec![
        "http://127.0.0.1:3340".into(),
        "https://relay.example.org/".into(),
    ])
    .unwrap();
    // Omitted when empty: an entry without relays has the bytes it had before the field.
    let bytes = crate::canonical::to_canonical_bytes(&entry(&key, 1)).unwrap();
    assert!(!String::from_utf8(bytes).unwrap().contains("relays"));
    for (bad, field) in [
        (vec!["ws://127.0.0.1:3340".to_owned()], "origin.relays[0]"),
        (
            vec!["http://ok".to_owned(), "https://".to_owned()],
            "origin.relays[1]",
        ),
        (vec!["http://a b".to_owned()], "origin.relays[0]"),
        (
            vec![format!("https://{}", "x".repeat(300))],
            "origin.relays[0]",
        ),
        (vec!["http://r".to_owned(); 9], "origin.relays"),
    ] {
        let err = check(bad.clone()).unwrap_err();
        let EnvelopeError::Invalid { problem, .. } = &err else {
            panic!("{bad:?}: {err}");
        };
        assert!(
            matches!(
                &**problem,
                PayloadProblem::NotIrohRelayUrl { .. } | PayloadProblem::TooMany { .. }
            ),
            "{bad:?}: {problem:?}"
        );
        assert!(err.to_string().contains(field), "{bad:?}: {err}");
    }
}

/// A dependency authored without `publisher` means the manifest's own publisher: signing
/// writes the signer's DID into the signed manifest, and a blob that omits it is refused.
#[test]
fn signing_names_the_signer_as_an_omitted_dependency_publisher() {
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("app");
    sample_app(&app);
    let other = Keypair::from_seed([3; 32]).did();
    let text = fs::read_to_string(app.join("manifest.yml")).unwrap();
    fs::write(
        app.join("manifest.yml"),
        format!(
            "{text}dependencies:\n  - {{ app: base, version: \">=1\" }}\n  \
             - {{ publisher: \"{other}\", app: db, version: \"^2\" }}\n"
        ),
    )
    .unwrap();
    let (authored, _) = crate::manifest::load(&app).unwrap();
    assert_eq!(authored.dependencies[0].publisher, None);
    let blob = authored.canonical_bytes().unwrap();
    let err = crate::Manifest::from_blob(&blob).unwrap_err().to_string();
    assert!(
        err.contains("dependencies[0].publisher") && err.contains("names the publisher"),
        "{err}"
    );

    let key = Keypair::from_seed([9; 32]);
    let signed = sign_app(&app, &key, &tmp.path().join("out"), &SignOptions::default()).unwrap();
    let deps = &signed.manifest.dependencies;
    assert_eq!(deps[0].publisher, Some(key.did()), "omitted: the signer");
    assert_eq!(deps[1].publisher, Some(other), "named: kept");
    let ok = verify_bundle(&signed.entry_path).unwrap();
    assert_eq!(ok.manifest, signed.manifest, "the signed blob names both");
}
