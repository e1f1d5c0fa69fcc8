//! Nostr event decoding (`atoll_discovery::codec::{decode_json, decode}`): the first
//! stages of the pipeline, for events from any relay.
//!
//! Cases: (1) the JSON of valid events of every object type with its bytes broken;
//! (2) events signed properly by a Nostr key (so they pass the Nostr stage) whose kind,
//! tags and content are anything: the real `d` tag or a broken one, `t=atoll` or not,
//! the envelope field-edited and signed again by its DID or not, arbitrary or oversized
//! content; (3) valid events changed after signing (content, tags, kind, time, key).
//!
//! Properties: no panic; a refusal is one of the event-stage reasons (never a later
//! stage's: rollback, blobs, manifest); a properly signed event is never refused for its
//! Nostr signature and a tampered one always is; nothing is accepted that its DID did not
//! sign; an accepted object travels under its own `d` tag and re-encodes to an event
//! that decodes to the same object.

use atoll_discovery::codec::{self, DTag, Decoded, Object, MAX_EVENT_BYTES};
use atoll_discovery::Reason;
use atoll_registry::canonical::to_canonical_bytes;
use atoll_registry::envelope::{SignatureEntry, MAX_ENVELOPE_BYTES};
use atoll_registry::{Envelope, Hash};
use base64::Engine as _;
use nostr_sdk::{Event, EventBuilder, JsonUtil, Keys, Kind, Tag, Timestamp};
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::{TestCaseError, TestRunner};
use serde_json::Value;

use super::kit;
use super::objects;

/// Cases per property in CI (`PROPTEST_CASES` overrides).
const CASES: u32 = 2000;

const FIELDS: &[&str] = &[
    "type",
    "app",
    "publisher",
    "version",
    "sequence",
    "manifest",
    "hash",
    "size",
    "artifacts",
    "origin",
    "node_id",
    "addrs",
    "did",
    "name",
    "nostr_keys",
    "signer",
    "subject",
    "weight",
    "title",
    "apps",
    "node",
    "blobs",
    "announced_at_ms",
    "payload",
    "signatures",
    "sig",
    "id",
    "pubkey",
    "created_at",
    "kind",
    "tags",
    "content",
    "index",
    "key",
    "next_key",
    "last",
    "entries",
    "profile",
    "endorsements",
];

/// The Nostr transport key of every case.
fn nostr_keys() -> &'static Keys {
    objects::nostr_keys()
}

fn seed_events() -> Vec<Event> {
    let keys = nostr_keys();
    objects::seeds()
        .iter()
        .map(|o| codec::encode(o, keys, Some(Timestamp::from(1_700_000_000))).expect("encodes"))
        .collect()
}

/// Canonical payloads the DID really signed (the seeds').
fn signed_payloads() -> Vec<Vec<u8>> {
    objects::seeds()
        .iter()
        .map(|o| to_canonical_bytes(&o.envelope().payload).expect("canonical"))
        .collect()
}

fn payload_id(o: &Object) -> Hash {
    match o {
        Object::Entry(v) => v.payload_id(),
        Object::Publisher(v) => v.payload_id(),
        Object::Endorsement(v) => v.payload_id(),
        Object::List(v) => v.payload_id(),
        Object::Mirror(v) => v.payload_id(),
        Object::Rotation(v) => v.payload_id(),
    }
}

/// The properties of one answer of the decoder, for an event signed properly or not.
fn check_answer(
    event: Option<&Event>,
    answer: &Result<Option<Decoded>, Reason>,
    signed: &[Vec<u8>],
    nostr_valid: bool,
) -> Result<(), TestCaseError> {
    match answer {
        Err(reason) => {
            prop_assert!(
                matches!(
                    reason,
                    Reason::Oversized { .. }
                        | Reason::NostrSignature
                        | Reason::Malformed(_)
                        | Reason::Namespace(_)
                        | Reason::Envelope(_)
                        | Reason::DidSignature(_)
                ),
                "an event refused at a later stage: {reason:?}"
            );
            if nostr_valid {
                prop_assert!(
                    !matches!(reason, Reason::NostrSignature),
                    "a properly signed event refused for its Nostr signature"
                );
            }
            if let (Some(e), Reason::Oversized { size, max }) = (event, reason) {
                prop_assert!(size > max);
                prop_assert!(
                    e.as_json().len() > MAX_EVENT_BYTES || e.content.len() > MAX_ENVELOPE_BYTES
                );
            }
            prop_assert!(!reason.to_string().is_empty());
        }
        Ok(None) => {
            if let Some(e) = event {
                prop_assert!(!codec::is_atoll(e), "an atoll event decoded to nothing");
            }
        }
        Ok(Some(d)) => {
            let e = event.ok_or_else(|| TestCaseError::fail("decoded without an event"))?;
            prop_assert!(codec::is_atoll(e));
            let canonical = to_canonical_bytes(&d.object.envelope().payload)
                .map_err(|x| TestCaseError::fail(x.to_string()))?;
            prop_assert!(
                signed.contains(&canonical),
                "accepted an object its DID never signed"
            );
            let tagged = e.tags.identifier().map(DTag::parse);
            prop_assert_eq!(
                tagged.and_then(Result::ok),
                Some(d.object.d_tag()),
                "an object under another d tag"
            );
            let again =
                codec::encode(&d.object, nostr_keys(), Some(e.created_at)).map_err(|x| {
                    TestCaseError::fail(format!("an accepted object does not re-encode: {x}"))
                })?;
            let back = codec::decode(&again)
                .map_err(|r| TestCaseError::fail(format!("its re-encoding is refused: {r}")))?
                .ok_or_else(|| TestCaseError::fail("its re-encoding is not an atoll event"))?;
            prop_assert_eq!(payload_id(&back.object), payload_id(&d.object));
        }
    }
    Ok(())
}

#[test]
fn fuzz_event_json_mutated() {
    let seeds: Vec<String> = seed_events().iter().map(JsonUtil::as_json).collect();
    let signed = signed_payloads();
    let mut runner = TestRunner::new(kit::config(CASES, file!()));
    let result = runner.run(&kit::mutated_text(seeds), |json| {
        let answer = codec::decode_json(&json);
        // The event itself, when it parses, to check the answer against.
        let event = codec::parse_event(&json).ok();
        check_answer(event.as_ref(), &answer, &signed, false)
    });
    if let Err(e) = result {
        panic!("event JSON: {e}");
    }
}

/// What an event's content is.
#[derive(Debug, Clone)]
enum Content {
    /// The seed's envelope.
    Seed,
    /// The seed's payload edited and signed again by the DID (`resign`) or not.
    Edited(Vec<kit::Edit>, bool),
    /// The seed's envelope text with its bytes broken.
    Mutated(Vec<kit::Mutation>),
    /// Anything.
    Text(String),
    /// Larger than any envelope may be.
    Huge(usize),
}

/// What an event's tags are.
#[derive(Debug, Clone)]
enum Tags {
    /// The seed's.
    Seed,
    /// The seed's with the `d` value broken.
    BrokenD(Vec<kit::Mutation>),
    /// The `d` tag of another seed (namespace and type confusion).
    OtherD(Index),
    /// The seed's without the tag at this index.
    Drop(Index),
    /// The seed's and more (a second `d`, `t`, anything).
    Extra(Vec<Vec<String>>),
}

fn tag_values() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(
        prop_oneof![
            select(vec!["d", "t", "i", "x", "v", "alt", "atoll", ""]).prop_map(str::to_owned),
            kit::text(),
        ],
        0..4,
    )
}

fn content() -> impl Strategy<Value = Content> {
    prop_oneof![
        2 => Just(Content::Seed),
        4 => (proptest::collection::vec(kit::edit(FIELDS), 1..=3), any::<bool>())
            .prop_map(|(e, r)| Content::Edited(e, r)),
        2 => proptest::collection::vec(kit::mutation(), 1..=3).prop_map(Content::Mutated),
        1 => kit::text().prop_map(Content::Text),
        1 => (MAX_ENVELOPE_BYTES - 10..MAX_EVENT_BYTES + 10).prop_map(Content::Huge),
    ]
}

fn tags() -> impl Strategy<Value = Tags> {
    prop_oneof![
        4 => Just(Tags::Seed),
        2 => proptest::collection::vec(kit::mutation(), 1..=3).prop_map(Tags::BrokenD),
        2 => any::<Index>().prop_map(Tags::OtherD),
        1 => any::<Index>().prop_map(Tags::Drop),
        1 => proptest::collection::vec(tag_values(), 1..3).prop_map(Tags::Extra),
    ]
}

/// Build the event of one case, signed by the Nostr key; also what the DID signed.
fn build(
    seeds: &[Event],
    i: &Index,
    kind: u16,
    content: &Content,
    tags: &Tags,
    signed: &mut Vec<Vec<u8>>,
) -> Option<Event> {
    let seed = &seeds[i.index(seeds.len())];
    let text = match content {
        Content::Seed => seed.content.clone(),
        Content::Edited(edits, resign) => {
            let env: Envelope = serde_json::from_str(&seed.content).ok()?;
            let payload = kit::edit_tree(&env.payload, edits);
            let signatures = if *resign {
                let canonical = to_canonical_bytes(&payload).ok()?;
                let key = objects::publisher();
                let sig = key.sign(&canonical).to_bytes();
                signed.push(canonical);
                vec![SignatureEntry {
                    did: key.did(),
                    sig: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig),
                }]
            } else {
                env.signatures.clone()
            };
            let out = Envelope {
                payload,
                signatures,
            };
            String::from_utf8(out.to_canonical_bytes().ok()?).ok()?
        }
        Content::Mutated(ms) => {
            String::from_utf8_lossy(&kit::apply(seed.content.as_bytes(), ms)).into_owned()
        }
        Content::Text(t) => t.clone(),
        Content::Huge(n) => format!("{{\"payload\":\"{}\"}}", "x".repeat(*n)),
    };
    let seed_tags: Vec<Vec<String>> = seed.tags.iter().map(|t| t.as_slice().to_vec()).collect();
    let mut tag_list = seed_tags.clone();
    match tags {
        Tags::Seed => {}
        Tags::BrokenD(ms) => {
            for t in &mut tag_list {
                if t.first().map(String::as_str) == Some("d") && t.len() > 1 {
                    t[1] = String::from_utf8_lossy(&kit::apply(t[1].as_bytes(), ms)).into_owned();
                }
            }
        }
        Tags::OtherD(j) => {
            let other = &seeds[j.index(seeds.len())];
            let d = other.tags.identifier().unwrap_or_default().to_owned();
            for t in &mut tag_list {
                if t.first().map(String::as_str) == Some("d") && t.len() > 1 {
                    t[1] = d.clone();
                }
            }
        }
        Tags::Drop(j) => {
            if !tag_list.is_empty() {
                tag_list.remove(j.index(tag_list.len()));
            }
        }
        Tags::Extra(more) => tag_list.extend(more.iter().cloned()),
    }
    let tags: Vec<Tag> = tag_list
        .iter()
        .filter_map(|t| Tag::parse(t.iter().map(String::as_str)).ok())
        .collect();
    EventBuilder::new(Kind::from(kind), text)
        .tags(tags)
        .custom_created_at(Timestamp::from(1_700_000_000))
        .sign_with_keys(nostr_keys())
        .ok()
}

#[test]
fn fuzz_events_signed_with_arbitrary_kind_tags_and_content() {
    let seeds = seed_events();
    let strategy = (
        any::<Index>(),
        prop_oneof![8 => Just(30078u16), 1 => any::<u16>(), 1 => Just(1u16)],
        content(),
        tags(),
    );
    let seed_signed = signed_payloads();
    let mut runner = TestRunner::new(kit::config(CASES, file!()));
    let result = runner.run(&strategy, |(i, kind, content, tags)| {
        let mut signed = seed_signed.clone();
        let Some(event) = build(&seeds, &i, kind, &content, &tags, &mut signed) else {
            return Ok(());
        };
        let answer = codec::decode(&event);
        check_answer(Some(&event), &answer, &signed, true)?;
        // The JSON path agrees with the event path.
        let json = codec::decode_json(&event.as_json());
        prop_assert_eq!(
            json.as_ref()
                .map(|d| d.as_ref().map(|d| payload_id(&d.object)))
                .map_err(ToString::to_string),
            answer
                .as_ref()
                .map(|d| d.as_ref().map(|d| payload_id(&d.object)))
                .map_err(ToString::to_string)
        );
        Ok(())
    });
    if let Err(e) = result {
        panic!("signed events: {e}");
    }
}

#[test]
fn fuzz_events_tampered_after_signing() {
    let seeds = seed_events();
    let values: Vec<Value> = seeds
        .iter()
        .map(|e| serde_json::from_str(&e.as_json()).expect("event JSON"))
        .collect();
    let strategy = kit::edited(values, FIELDS);
    let signed = signed_payloads();
    let mut runner = TestRunner::new(kit::config(CASES, file!()));
    let result = runner.run(&strategy, |v| {
        let json = v.to_string();
        let Ok(event) = codec::parse_event(&json) else {
            return Ok(());
        };
        let answer = codec::decode(&event);
        check_answer(Some(&event), &answer, &signed, false)?;
        if answer.is_ok() {
            // Accepted: then it is one of the seeds, unchanged in every signed part.
            prop_assert!(
                seeds.iter().any(|s| s.id == event.id
                    && s.pubkey == event.pubkey
                    && s.created_at == event.created_at
                    && s.kind == event.kind
                    && s.tags == event.tags
                    && s.content == event.content),
                "a changed event passed the Nostr signature"
            );
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("tampered events: {e}");
    }
}

#[test]
fn every_seed_event_decodes_to_its_object() {
    let signed = signed_payloads();
    for e in seed_events() {
        let d = codec::decode(&e).unwrap().unwrap();
        check_answer(Some(&e), &Ok(Some(d)), &signed, true).unwrap();
    }
}
