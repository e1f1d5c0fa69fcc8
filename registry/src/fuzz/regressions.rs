//! Inputs the fuzzer found that once crashed or were misjudged, minimized, each a named
//! test (beside the seeds proptest keeps in `proptest-regressions/`).

use std::path::Path;

use crate::manifest::{self, Manifest, ManifestError};
use crate::objects::{CuratedList, PayloadProblem};
use crate::{Envelope, EnvelopeError, Keypair};

/// Found by `fuzz_envelopes_edited_signed_and_mutated`: a curated list with a sequence
/// above 2^53 was accepted, though RFC 8785 writes numbers as doubles, so the signed
/// canonical bytes said 27795027733147911 while the payload said …910. Now refused as
/// every other payload's integers are.
#[test]
fn a_curated_list_with_a_sequence_above_2_53_is_refused() {
    let key = Keypair::from_seed([1; 32]);
    let list = CuratedList {
        kind: Default::default(),
        signer: key.did(),
        name: "favourites".parse().unwrap(),
        title: "Favourites".into(),
        apps: vec![],
        sequence: 27_795_027_733_147_910,
    };
    let err = Envelope::sign(&list, &key)
        .unwrap()
        .verify::<CuratedList>()
        .unwrap_err();
    match err {
        EnvelopeError::Invalid { problem, .. } => assert!(
            matches!(
                *problem,
                PayloadProblem::UnsafeInteger {
                    value: 27_795_027_733_147_910,
                    ..
                }
            ),
            "{problem}"
        ),
        other => panic!("{other:?}"),
    }
}

/// Found by `fuzz_manifest_yaml_text_mutations`: with a lone `\r` (a YAML line break) and
/// a syntax error at the end, the problem is on the line after the last `\n`, which
/// `str::lines` does not count. The line is YAML's (editors that honour `\r` agree).
#[test]
fn a_yaml_error_at_the_end_names_the_line_after_the_last_break() {
    let text = "id: x\nversion:\r 1.0.0\ncpus; 0.25\n";
    let err = manifest::parse(text, Path::new("m.yml")).unwrap_err();
    let ManifestError::Schema { problem, .. } = err else {
        panic!("{err:?}")
    };
    assert_eq!(problem.line, Some(5), "{problem}");
}

/// Found by `fuzz_manifest_blob_mutations`: canonical JSON writes DEL and C1 controls raw,
/// which YAML cannot read raw; such a blob is still a valid manifest (an env value may
/// hold them; display texts may not), read as JSON only.
#[test]
fn a_blob_with_a_raw_del_in_an_env_value_is_valid_json_only() {
    let yaml = "id: x\nname: X\nversion: 1.0.0\ndescription: d\ncontainers:\n  - name: web\n    image:\n      archive: images/web.oci.tar\n    env: { K: \"a\\x7fb\" }\n";
    let m = manifest::parse(yaml, Path::new("m.yml")).unwrap();
    let blob = m.canonical_bytes().unwrap();
    assert!(blob.contains(&0x7f));
    assert_eq!(Manifest::from_blob(&blob).unwrap(), m);
    assert!(manifest::parse(std::str::from_utf8(&blob).unwrap(), Path::new("b")).is_err());
}

/// Found by `fuzz_manifest_yaml_text_mutations`: a text cut inside a flow sequence, with
/// no final line break, was refused naming line 3 of a 2-line text (yaml-rust2's mark at
/// the end of the input). The guard now names the last line.
#[test]
fn a_yaml_error_at_the_end_of_a_text_without_a_final_break_names_its_last_line() {
    let err = manifest::parse("id: x\nports: [", Path::new("m.yml")).unwrap_err();
    let ManifestError::Schema { problem, .. } = err else {
        panic!("{err:?}")
    };
    assert_eq!(problem.line, Some(2), "{problem}");
}

/// Found by `fuzz_manifest_yaml_field_edits`: a memory limit above 2^53 was accepted, and
/// its blob (a JSON number, written as a double by RFC 8785) read back as another limit
/// (…860 became …861). Memory is now at most 1Ti.
#[test]
fn a_memory_limit_above_1ti_is_refused() {
    let yaml = "id: x\nname: X\nversion: 1.0.0\ndescription: d\ncontainers:\n  - name: web\n    image:\n      archive: images/web.oci.tar\n    memory: 40716031195728860\n";
    let err = manifest::parse(yaml, Path::new("m.yml")).unwrap_err();
    let problems = err.problems();
    assert_eq!(problems.len(), 1, "{err}");
    assert_eq!(problems[0].field, "containers[0].memory");
    assert_eq!(problems[0].line, Some(9));
    assert!(manifest::parse(
        &yaml.replace("40716031195728860", "1Ti"),
        Path::new("m.yml")
    )
    .is_ok());
}

/// Found by `fuzz_manifest_yaml_text_mutations`: with a NEL (U+0085, a line break to
/// libyaml under serde_yaml, not to the guard) and a text cut without a final break,
/// serde_yaml named line 7 of a 6-line text. Its line is now clamped too.
#[test]
fn a_serde_yaml_error_at_the_end_names_the_last_line() {
    let text =
        "id: notebook\nname: Notebook\nversion: 1.0.0\ndescription: >-\n  \u{85}A visitor log";
    let err = manifest::parse(text, Path::new("m.yml")).unwrap_err();
    let ManifestError::Schema { problem, .. } = err else {
        panic!("{err:?}")
    };
    assert_eq!(problem.line, Some(6), "{problem}");
}
