//! The pipeline's decision for one event, table-driven, without relays or catalog: every
//! event-stage rejection, every catalog verdict, a catalog failure, and the typed reasons
//! (codes, audit categories, blamed sources, texts) the decisions carry.

use atoll_discovery::blobs::SourceKind;
use atoll_discovery::pipeline::decide::{self, EntryFacts, EventDecision, EventFacts};
use atoll_discovery::reject::{
    BlobSizeProblem, DTagProblem, Malformed, ManifestMismatch, NamespaceMismatch, SharedError,
};
use atoll_discovery::relay::guard::event_key;
use atoll_discovery::{
    AuditCategory, EntryVerdict, ObjectVerdict, PortError, Reason, Rejection, RejectionSource,
};
use atoll_registry::{audit, Did, Envelope, Manifest};
use nostr_sdk::EventId;

const RELAY: &str = "ws://relay.test";

fn event_id() -> EventId {
    EventId::from_byte_array([7; 32])
}

fn event_facts(d_tag: Option<String>) -> EventFacts {
    EventFacts {
        event_id: event_id(),
        sig: [9; 64],
        d_tag,
        from: RejectionSource::Relay(RELAY.into()),
    }
}

fn entry_facts() -> EntryFacts {
    EntryFacts {
        event_id: event_id(),
        subject: "atoll:entry:did:key:z6Mk:app".into(),
        from: RejectionSource::Relay(RELAY.into()),
        expires_at: 1_000,
    }
}

fn storage_failure() -> PortError {
    PortError::Storage(Box::new(std::io::Error::other("disk full")))
}

fn envelope_error() -> SharedError<atoll_registry::EnvelopeError> {
    SharedError::new(Envelope::from_slice(b"not an envelope").unwrap_err())
}

fn manifest_error() -> Reason {
    Reason::manifest_policy(Manifest::from_blob(b"\0 not yaml").unwrap_err())
}

fn did_error() -> SharedError<atoll_registry::DidError> {
    SharedError::new("did:key:nonsense".parse::<Did>().unwrap_err())
}

fn mirror() -> RejectionSource {
    RejectionSource::Node {
        kind: SourceKind::Mirror,
        id: "ab".repeat(32),
    }
}

/// Every reason, with its stable code and audit category.
fn every_reason() -> Vec<(Reason, &'static str, AuditCategory)> {
    use AuditCategory as A;
    vec![
        (
            Reason::Oversized { size: 10, max: 5 },
            "oversized",
            A::Invalid,
        ),
        (Reason::NostrSignature, "nostr-signature", A::BadSignature),
        (
            Reason::Malformed(Malformed::NoDTag),
            "malformed",
            A::Invalid,
        ),
        (
            Reason::Malformed(Malformed::DTag {
                tag: "atoll:x".into(),
                problem: DTagProblem::BadDid(did_error()),
            }),
            "malformed",
            A::Invalid,
        ),
        (
            Reason::Malformed(Malformed::NotEnvelope(envelope_error())),
            "malformed",
            A::Invalid,
        ),
        (
            Reason::Namespace(NamespaceMismatch::PayloadType {
                tagged: "atoll.entry/v1",
                found: "atoll.publisher/v1".into(),
            }),
            "namespace",
            A::Invalid,
        ),
        (Reason::Envelope(envelope_error()), "envelope", A::Invalid),
        (
            Reason::DidSignature(envelope_error()),
            "did-signature",
            A::BadSignature,
        ),
        (
            Reason::Rollback { stored: 3, got: 2 },
            "rollback",
            A::Rollback,
        ),
        (
            Reason::Equivocation { sequence: 3 },
            "equivocation",
            A::Equivocation,
        ),
        (
            Reason::Expired {
                expires_at: 1,
                now: 2,
            },
            "expired",
            A::Invalid,
        ),
        (
            Reason::BlobCorrupt {
                hash: "h".into(),
                from: mirror(),
                detail: "hash mismatch".into(),
            },
            "blob-corrupt",
            A::BlobMismatch,
        ),
        (
            Reason::BlobSize {
                hash: "h".into(),
                problem: BlobSizeProblem::Differs { held: 9, signed: 8 },
            },
            "blob-size",
            A::BlobMismatch,
        ),
        (manifest_error(), "manifest-policy", A::RefusedEntry),
        (
            Reason::ManifestMismatch(ManifestMismatch::MissingArtifact("icon.svg".into())),
            "manifest-mismatch",
            A::RefusedEntry,
        ),
    ]
}

#[test]
fn every_reason_keeps_its_code_and_has_a_category() {
    for (reason, code, category) in every_reason() {
        assert_eq!(reason.code(), code, "{reason}");
        assert_eq!(reason.category(), category, "{reason}");
        let r = Rejection::new(&reason, RejectionSource::BlobStage);
        assert_eq!((r.code, r.category), (code, category));
        assert_eq!(r.reason, reason.to_string());
    }
}

#[test]
fn typed_reasons_keep_their_texts_and_sources() {
    let policy = manifest_error();
    assert!(policy
        .to_string()
        .starts_with("manifest refused by policy: "));
    assert!(std::error::Error::source(&policy).is_some());
    let did = Reason::DidSignature(envelope_error());
    assert!(did.to_string().starts_with("bad DID signature: "));
    assert!(std::error::Error::source(&did).is_some());
    let cases: Vec<(Reason, String)> = vec![
        (
            Reason::Malformed(Malformed::DTag {
                tag: "atoll:nope".into(),
                problem: DTagProblem::UnknownType,
            }),
            "malformed event: d tag \"atoll:nope\": unknown type".into(),
        ),
        (
            Reason::Namespace(NamespaceMismatch::Subject {
                tagged: "atoll:entry:a".into(),
                expected: "atoll:entry:b".into(),
            }),
            "namespace mismatch: d tag is atoll:entry:a, the signed payload belongs under atoll:entry:b"
                .into(),
        ),
        (
            Reason::BlobSize {
                hash: "h".into(),
                problem: BlobSizeProblem::SourceSentMore {
                    from: mirror(),
                    sent: 10,
                    signed: 5,
                },
            },
            format!(
                "blob h: mirror {} sent 10 bytes, more than the 5 the entry names",
                "ab".repeat(32)
            ),
        ),
        (
            Reason::ManifestMismatch(ManifestMismatch::Version {
                entry: "1.0.0".into(),
                manifest: "2.0.0".into(),
            }),
            "manifest does not match its entry: the entry is version 1.0.0, the manifest 2.0.0"
                .into(),
        ),
    ];
    for (reason, text) in cases {
        assert_eq!(reason.to_string(), text);
    }
}

#[test]
fn only_blob_sources_that_sent_bad_bytes_are_blamed() {
    let corrupt = Reason::BlobCorrupt {
        hash: "h".into(),
        from: mirror(),
        detail: "x".into(),
    };
    assert_eq!(corrupt.blamed(), Some(&mirror()));
    let more = Reason::BlobSize {
        hash: "h".into(),
        problem: BlobSizeProblem::SourceSentMore {
            from: RejectionSource::Https("https://o.test".into()),
            sent: 2,
            signed: 1,
        },
    };
    assert_eq!(
        more.blamed(),
        Some(&RejectionSource::Https("https://o.test".into()))
    );
    for (reason, _, _) in every_reason() {
        if !matches!(reason, Reason::BlobCorrupt { .. }) {
            assert_eq!(reason.blamed(), None, "{reason}");
        }
    }
}

#[test]
fn rejection_sources_read_as_before_and_are_bounded() {
    let cases = [
        (RejectionSource::Relay(RELAY.into()), RELAY.to_owned()),
        (mirror(), format!("mirror {}", "ab".repeat(32))),
        (
            RejectionSource::Node {
                kind: SourceKind::Origin,
                id: "cd".into(),
            },
            "origin cd".into(),
        ),
        (
            RejectionSource::Https("https://o.test".into()),
            "https https://o.test".into(),
        ),
        (RejectionSource::Local("local".into()), "local".into()),
        (RejectionSource::BlobStage, "blob pipeline".into()),
    ];
    for (source, text) in cases {
        assert_eq!(source.to_string(), text);
        assert_eq!(serde_json::to_value(&source).unwrap(), text.as_str());
    }
    let long = RejectionSource::Relay(format!("ws://{}", "x".repeat(1000)));
    let r = Rejection::new(&Reason::NostrSignature, long);
    assert_eq!(
        r.source.to_string().chars().count(),
        audit::MAX_SOURCE_CHARS
    );
}

#[test]
fn an_events_own_id_is_known_unless_its_signature_failed() {
    let ok: Result<(), Reason> = Ok(());
    assert!(decide::id_is_own(&ok, || panic!("not needed")));
    assert!(!decide::id_is_own(
        &Err::<(), _>(Reason::NostrSignature),
        || { panic!("not needed") }
    ));
    let oversized = Err::<(), _>(Reason::Oversized { size: 2, max: 1 });
    assert!(decide::id_is_own(&oversized, || true));
    assert!(!decide::id_is_own(&oversized, || false));
    for (reason, _, _) in every_reason() {
        if !matches!(reason, Reason::NostrSignature | Reason::Oversized { .. }) {
            let r = Err::<(), _>(reason);
            assert!(decide::id_is_own(&r, || panic!("not needed")));
        }
    }
}

#[test]
fn an_event_the_stages_refused_is_recorded_under_the_right_key() {
    let long_tag = "d".repeat(500);
    for (reason, code, category) in every_reason() {
        for own_id in [true, false] {
            let facts = event_facts(Some(long_tag.clone()));
            let EventDecision::Refuse {
                reason: got,
                rejection,
                in_catalog,
            } = decide::decode_refused(reason.clone(), &facts, own_id)
            else {
                panic!("{reason}: not refused");
            };
            assert_eq!(got, reason);
            assert!(!in_catalog, "the pipeline records it");
            assert_eq!((rejection.code, rejection.category), (code, category));
            let key = if own_id {
                event_key(&facts.event_id)
            } else {
                audit::key(
                    "unverified-event",
                    &[facts.event_id.as_bytes(), &facts.sig[..]],
                )
            };
            assert_eq!(rejection.key, Some(key));
            assert_eq!(rejection.event_id, Some(facts.event_id.to_hex()));
            assert_eq!(rejection.subject.as_deref().map(str::len), Some(200));
            assert_eq!(rejection.source, RejectionSource::Relay(RELAY.into()));
        }
    }
    let untagged = decide::decode_refused(Reason::NostrSignature, &event_facts(None), false);
    assert!(
        matches!(untagged, EventDecision::Refuse { rejection, .. } if rejection.subject.is_none())
    );
}

#[test]
fn every_catalog_verdict_maps_to_one_action() {
    let facts = entry_facts();
    let refused = |reason: Reason| {
        let mut r = Rejection::new(&reason, facts.from.clone());
        r.event_id = Some(facts.event_id.to_hex());
        r.subject = Some(facts.subject.clone());
        EventDecision::Refuse {
            reason,
            rejection: Box::new(r),
            in_catalog: true,
        }
    };
    let expired = Reason::Expired {
        expires_at: 1_000,
        now: 2_000,
    };
    let mut stale = Rejection::new(&expired, facts.from.clone()).keyed(event_key(&facts.event_id));
    stale.event_id = Some(facts.event_id.to_hex());
    stale.subject = Some(facts.subject.clone());
    let table: Vec<(Result<EntryVerdict, PortError>, EventDecision)> = vec![
        (Ok(EntryVerdict::Head), EventDecision::FetchBlobs),
        (Ok(EntryVerdict::EquivocationWon), EventDecision::FetchBlobs),
        (Ok(EntryVerdict::YankedHead), EventDecision::Record),
        (
            Ok(EntryVerdict::StaleHead),
            EventDecision::RecordStale {
                reason: expired.clone(),
                rejection: Box::new(stale),
            },
        ),
        (Ok(EntryVerdict::Duplicate), EventDecision::Skip),
        (
            Ok(EntryVerdict::Refused(Reason::Rollback {
                stored: 5,
                got: 4,
            })),
            refused(Reason::Rollback { stored: 5, got: 4 }),
        ),
        (
            Ok(EntryVerdict::Refused(Reason::Equivocation { sequence: 5 })),
            refused(Reason::Equivocation { sequence: 5 }),
        ),
        (Err(storage_failure()), EventDecision::Defer),
        (Err(PortError::Stopped), EventDecision::Defer),
    ];
    for (verdict, want) in table {
        assert_eq!(
            decide::entry_verdict(&verdict, &facts, 2_000),
            want,
            "{verdict:?}"
        );
    }
}

#[test]
fn other_objects_are_stored_skipped_or_refused() {
    let record =
        |reason: &Reason| Box::new(Rejection::new(reason, RejectionSource::Local("t".into())));
    assert_eq!(
        decide::object_stored(&Ok(ObjectVerdict::Stored), record),
        EventDecision::Record
    );
    assert_eq!(
        decide::object_stored(&Ok(ObjectVerdict::Known), record),
        EventDecision::Skip
    );
    assert_eq!(
        decide::object_stored(&Err(storage_failure()), record),
        EventDecision::Skip
    );
    // A refusal the catalog made (and audited): refused, not recorded twice.
    let reason = Reason::SignerLimit { max: 1000 };
    match decide::object_stored(&Ok(ObjectVerdict::Refused(reason.clone())), record) {
        EventDecision::Refuse {
            reason: got,
            rejection,
            in_catalog,
        } => {
            assert_eq!(got, reason);
            assert_eq!(rejection.code, "signer-limit");
            assert!(in_catalog);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_origin_upgrade_fetches_only_a_new_head() {
    let table: Vec<(Result<EntryVerdict, PortError>, bool)> = vec![
        (Ok(EntryVerdict::Head), true),
        (Ok(EntryVerdict::EquivocationWon), true),
        (Ok(EntryVerdict::YankedHead), false),
        (Ok(EntryVerdict::StaleHead), false),
        (Ok(EntryVerdict::Duplicate), false),
        (
            Ok(EntryVerdict::Refused(Reason::Equivocation { sequence: 1 })),
            false,
        ),
        (Err(storage_failure()), false),
    ];
    for (verdict, fetch) in table {
        assert_eq!(decide::origin_upgrade(&verdict), fetch, "{verdict:?}");
    }
}
