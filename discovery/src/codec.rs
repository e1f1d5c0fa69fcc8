//! The event codec: every signed object travels as one NIP-78 event (kind 30078,
//! addressable), content = the canonical signed envelope.
//!
//! | tag | value | for |
//! |---|---|---|
//! | `d` | `atoll:<type>:<did>[:<rest>]` | the address: newest per Nostr key + `d` |
//! | `t` | `atoll` | relays filter `{"kinds":[30078],"#t":["atoll"]}` |
//! | `i` | the authority DID | filter by publisher |
//! | `x` | manifest hash (entries), every blob hash (mirror announcements) | filter by blob |
//! | `v` | semver version (entries) | filter by version |
//! | `alt` | a sentence for people (NIP-31) | other Nostr clients |
//!
//! `<rest>` is the app id (entries), the subject DID (endorsements), the list name (lists),
//! the manifest hash (mirror announcements) or the rotation's index n (rotations, so that
//! relays keep every rotation: addressable events replace per Nostr key + `d`);
//! publisher profiles have none. A rotation's `<did>` is the identity's, and its event is
//! carried by the Nostr key of the key it reveals.
//!
//! Entries, profiles, endorsements and lists may be signed by a rotated key of their
//! authority's identity ([`atoll_registry::Envelope::verify_rotated`]); the catalog checks
//! that key against the identity's key state.
//!
//! [`decode`] runs the first stages of the pipeline on an event from anywhere: size,
//! Nostr id and signature, shape, envelope, DID signature and namespace.

use std::fmt;

use atoll_registry::objects::{CuratedList, Rotation};
use atoll_registry::{
    Did, Endorsement, Entry, Envelope, EnvelopeError, PublisherProfile, Verified,
};
use nostr_sdk::{
    Alphabet, Event, EventBuilder, EventId, Filter, JsonUtil, Keys, Kind, PublicKey,
    SingleLetterTag, Tag, TagKind, Timestamp,
};

use crate::announce::MirrorAnnouncement;
use crate::reject::{DTagProblem, Malformed, NamespaceMismatch, Reason, SharedError};

/// NIP-78 application-specific data (addressable).
pub const KIND: Kind = Kind::ApplicationSpecificData;
/// The `t` tag every atoll event carries.
pub const TOPIC: &str = "atoll";
/// Largest event accepted, as JSON (the envelope limit plus tags and escaping).
pub const MAX_EVENT_BYTES: usize = 128 * 1024;

/// The kind of signed object an event carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ObjectType {
    /// `atoll/entry/v1`
    Entry,
    /// `atoll/publisher/v1`
    Publisher,
    /// `atoll/endorse/v1`
    Endorse,
    /// `atoll/list/v1`
    List,
    /// `atoll/mirror/v1`
    Mirror,
    /// `atoll/rotation/v1`
    Rotation,
}

impl ObjectType {
    /// The word used in `d` tags.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Entry => "entry",
            Self::Publisher => "publisher",
            Self::Endorse => "endorse",
            Self::List => "list",
            Self::Mirror => "mirror",
            Self::Rotation => "rotation",
        }
    }

    /// The payload `"type"` it carries.
    pub fn payload_type(self) -> &'static str {
        match self {
            Self::Entry => atoll_registry::objects::EntryType::VALUE,
            Self::Publisher => atoll_registry::objects::PublisherType::VALUE,
            Self::Endorse => atoll_registry::objects::EndorseType::VALUE,
            Self::List => atoll_registry::objects::ListType::VALUE,
            Self::Mirror => crate::announce::MIRROR_TYPE,
            Self::Rotation => atoll_registry::objects::RotationType::VALUE,
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "entry" => Self::Entry,
            "publisher" => Self::Publisher,
            "endorse" => Self::Endorse,
            "list" => Self::List,
            "mirror" => Self::Mirror,
            "rotation" => Self::Rotation,
            _ => return None,
        })
    }
}

/// A parsed `d` tag: `atoll:<type>:<did>[:<rest>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DTag {
    /// The object type.
    pub kind: ObjectType,
    /// The authority DID.
    pub did: Did,
    /// App id, subject DID, list name or manifest hash.
    pub rest: Option<String>,
}

impl DTag {
    /// Parse a `d` value.
    pub fn parse(s: &str) -> Result<Self, Reason> {
        let bad = |problem: DTagProblem| {
            Reason::Malformed(Malformed::DTag {
                tag: truncate(s, 160),
                problem,
            })
        };
        if s.len() > 512 {
            return Err(bad(DTagProblem::TooLong));
        }
        let body = s
            .strip_prefix("atoll:")
            .ok_or_else(|| bad(DTagProblem::NotAtoll))?;
        let (kind, rest) = body
            .split_once(':')
            .ok_or_else(|| bad(DTagProblem::NoType))?;
        let kind = ObjectType::parse(kind).ok_or_else(|| bad(DTagProblem::UnknownType))?;
        let after = rest
            .strip_prefix("did:key:")
            .ok_or_else(|| bad(DTagProblem::NoDid))?;
        let (id, rest) = match after.split_once(':') {
            Some((id, rest)) => (id, Some(rest.to_owned())),
            None => (after, None),
        };
        let did: Did = format!("did:key:{id}")
            .parse()
            .map_err(|e: atoll_registry::DidError| bad(DTagProblem::BadDid(SharedError::new(e))))?;
        if rest.as_deref() == Some("") {
            return Err(bad(DTagProblem::EmptySuffix));
        }
        Ok(Self { kind, did, rest })
    }
}

impl fmt::Display for DTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "atoll:{}:{}", self.kind.as_str(), self.did)?;
        if let Some(rest) = &self.rest {
            write!(f, ":{rest}")?;
        }
        Ok(())
    }
}

/// A verified signed object of any atoll type.
#[derive(Debug, Clone)]
pub enum Object {
    /// A catalog entry.
    Entry(Verified<Entry>),
    /// A publisher profile.
    Publisher(Verified<PublisherProfile>),
    /// An endorsement or report.
    Endorsement(Verified<Endorsement>),
    /// A curated list.
    List(Verified<CuratedList>),
    /// A mirror announcement.
    Mirror(Verified<MirrorAnnouncement>),
    /// A key rotation.
    Rotation(Verified<Rotation>),
}

impl Object {
    /// Its type.
    pub fn kind(&self) -> ObjectType {
        match self {
            Self::Entry(_) => ObjectType::Entry,
            Self::Publisher(_) => ObjectType::Publisher,
            Self::Endorsement(_) => ObjectType::Endorse,
            Self::List(_) => ObjectType::List,
            Self::Mirror(_) => ObjectType::Mirror,
            Self::Rotation(_) => ObjectType::Rotation,
        }
    }

    /// The `d` tag this object must travel under.
    pub fn d_tag(&self) -> DTag {
        let (did, rest) = match self {
            Self::Entry(e) => (e.publisher, Some(e.app.to_string())),
            Self::Publisher(p) => (p.did, None),
            Self::Endorsement(e) => (e.signer, Some(e.subject.to_string())),
            Self::List(l) => (l.signer, Some(l.name.to_string())),
            Self::Mirror(m) => (m.node, Some(m.manifest.to_hex())),
            Self::Rotation(r) => (r.did, Some(r.index.to_string())),
        };
        DTag {
            kind: self.kind(),
            did,
            rest,
        }
    }

    /// The signed envelope.
    pub fn envelope(&self) -> &Envelope {
        match self {
            Self::Entry(v) => v.envelope(),
            Self::Publisher(v) => v.envelope(),
            Self::Endorsement(v) => v.envelope(),
            Self::List(v) => v.envelope(),
            Self::Mirror(v) => v.envelope(),
            Self::Rotation(v) => v.envelope(),
        }
    }

    fn alt(&self) -> String {
        match self {
            Self::Entry(e) => format!(
                "atoll app entry: {} {} by {}{}",
                e.app,
                e.version,
                e.publisher,
                if e.yanked.is_some() { " (yanked)" } else { "" }
            ),
            Self::Publisher(p) => format!("atoll publisher profile: {} ({})", p.name, p.did),
            Self::Endorsement(e) => format!("atoll endorsement of {} by {}", e.subject, e.signer),
            Self::List(l) => format!("atoll curated list: {}", l.title),
            Self::Mirror(m) => format!("atoll mirror: node holds {} blob(s)", m.blobs.len()),
            Self::Rotation(r) => format!(
                "atoll key rotation {} of {}: new key {}",
                r.index, r.did, r.key
            ),
        }
    }
}

/// Why an object could not be made into an event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The envelope could not be serialised.
    #[error("cannot encode the envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    /// The event is larger than [`MAX_EVENT_BYTES`].
    #[error("event would be {0} bytes, more than the limit of {MAX_EVENT_BYTES}")]
    TooLarge(usize),
    /// Signing the event failed.
    #[error("cannot sign the Nostr event: {0}")]
    Sign(String),
}

fn letter(c: Alphabet) -> TagKind<'static> {
    TagKind::SingleLetter(SingleLetterTag::lowercase(c))
}

/// The tags of an object's event.
pub fn tags(object: &Object) -> Vec<Tag> {
    let d = object.d_tag();
    let mut tags = vec![
        Tag::identifier(d.to_string()),
        Tag::hashtag(TOPIC),
        Tag::custom(letter(Alphabet::I), [d.did.to_string()]),
    ];
    match object {
        Object::Entry(e) => {
            tags.push(Tag::custom(letter(Alphabet::X), [e.manifest.hash.to_hex()]));
            tags.push(Tag::custom(letter(Alphabet::V), [e.version.to_string()]));
        }
        Object::Mirror(m) => {
            for h in &m.blobs {
                tags.push(Tag::custom(letter(Alphabet::X), [h.to_hex()]));
            }
        }
        _ => {}
    }
    tags.push(Tag::custom(TagKind::Alt, [object.alt()]));
    tags
}

/// Make the NIP-78 event of an object, signed with a Nostr transport key.
pub fn encode(
    object: &Object,
    keys: &Keys,
    created_at: Option<Timestamp>,
) -> Result<Event, EncodeError> {
    let content = String::from_utf8(object.envelope().to_canonical_bytes()?)
        .map_err(|e| EncodeError::Sign(e.to_string()))?;
    let mut builder = EventBuilder::new(KIND, content).tags(tags(object));
    if let Some(at) = created_at {
        builder = builder.custom_created_at(at);
    }
    let event = builder
        .sign_with_keys(keys)
        .map_err(|e| EncodeError::Sign(e.to_string()))?;
    let size = event.as_json().len();
    if size > MAX_EVENT_BYTES {
        return Err(EncodeError::TooLarge(size));
    }
    Ok(event)
}

/// The filter that selects every atoll event.
pub fn atoll_filter() -> Filter {
    Filter::new().kind(KIND).hashtag(TOPIC)
}

/// An event that passed the transport and signature stages.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// Nostr event id.
    pub event_id: EventId,
    /// Nostr key that signed the event (a transport key, not an authority).
    pub pubkey: PublicKey,
    /// Event time.
    pub created_at: Timestamp,
    /// The verified object.
    pub object: Object,
}

/// Is this an atoll event at all (kind 30078 with `t=atoll`)? Others are ignored, not
/// rejected: relays are shared with other applications.
pub fn is_atoll(event: &Event) -> bool {
    event.kind == KIND && event.tags.hashtags().any(|t| t == TOPIC)
}

/// A Nostr event, for callers that carry events signed elsewhere.
pub use nostr_sdk::Event as NostrEvent;

/// The event as JSON (the NIP-01 form relays take).
pub fn event_json(event: &Event) -> String {
    event.as_json()
}

/// Parse an event given as JSON, at most [`MAX_EVENT_BYTES`]; nothing is verified yet.
pub fn parse_event(json: &str) -> Result<Event, Reason> {
    if json.len() > MAX_EVENT_BYTES {
        return Err(Reason::Oversized {
            size: json.len(),
            max: MAX_EVENT_BYTES,
        });
    }
    Event::from_json(json).map_err(|e| Reason::Malformed(Malformed::Json(e.to_string())))
}

/// Parse and check an event given as JSON (size first, then shape).
pub fn decode_json(json: &str) -> Result<Option<Decoded>, Reason> {
    if json.len() > MAX_EVENT_BYTES {
        return Err(Reason::Oversized {
            size: json.len(),
            max: MAX_EVENT_BYTES,
        });
    }
    let event =
        Event::from_json(json).map_err(|e| Reason::Malformed(Malformed::Json(e.to_string())))?;
    decode(&event)
}

/// Run the event stages of the pipeline: size, Nostr id + signature, `d` tag, envelope,
/// DID signature, namespace. `Ok(None)` for events that are not atoll events.
pub fn decode(event: &Event) -> Result<Option<Decoded>, Reason> {
    let size = event.as_json().len();
    if size > MAX_EVENT_BYTES {
        return Err(Reason::Oversized {
            size,
            max: MAX_EVENT_BYTES,
        });
    }
    event.verify().map_err(|_| Reason::NostrSignature)?;
    decode_checked(event)
}

/// [`decode`] of an event whose size, id and signature were checked already (by the
/// relay transport, [`crate::relay::guard`]): `d` tag, envelope, DID signature, namespace.
pub fn decode_checked(event: &Event) -> Result<Option<Decoded>, Reason> {
    if !is_atoll(event) {
        return Ok(None);
    }
    let d = event
        .tags
        .identifier()
        .ok_or(Reason::Malformed(Malformed::NoDTag))?;
    let d = DTag::parse(d)?;
    let envelope = Envelope::from_slice(event.content.as_bytes()).map_err(|e| match e {
        EnvelopeError::TooLarge(size) => Reason::Oversized {
            size,
            max: atoll_registry::envelope::MAX_ENVELOPE_BYTES,
        },
        other => Reason::Malformed(Malformed::NotEnvelope(SharedError::new(other))),
    })?;
    let found = envelope.payload_type().unwrap_or("(none)");
    if found != d.kind.payload_type() {
        return Err(Reason::Namespace(NamespaceMismatch::PayloadType {
            tagged: d.kind.payload_type(),
            found: truncate(found, 64),
        }));
    }
    let object = match d.kind {
        ObjectType::Entry => Object::Entry(envelope.verify_rotated().map_err(envelope_reason)?),
        ObjectType::Publisher => {
            Object::Publisher(envelope.verify_rotated().map_err(envelope_reason)?)
        }
        ObjectType::Endorse => {
            Object::Endorsement(envelope.verify_rotated().map_err(envelope_reason)?)
        }
        ObjectType::List => Object::List(envelope.verify_rotated().map_err(envelope_reason)?),
        ObjectType::Mirror => Object::Mirror(envelope.verify().map_err(envelope_reason)?),
        ObjectType::Rotation => Object::Rotation(envelope.verify().map_err(envelope_reason)?),
    };
    let expected = object.d_tag();
    if expected != d {
        return Err(Reason::Namespace(NamespaceMismatch::Subject {
            tagged: d.to_string(),
            expected: expected.to_string(),
        }));
    }
    Ok(Some(Decoded {
        event_id: event.id,
        pubkey: event.pubkey,
        created_at: event.created_at,
        object,
    }))
}

fn envelope_reason(e: EnvelopeError) -> Reason {
    match e {
        EnvelopeError::BadSignature(..)
        | EnvelopeError::MissingAuthority(_)
        | EnvelopeError::SignatureEncoding(_)
        | EnvelopeError::SignatureCount(_)
        | EnvelopeError::DuplicateSigner(..) => Reason::DidSignature(SharedError::new(e)),
        EnvelopeError::TooLarge(size) => Reason::Oversized {
            size,
            max: atoll_registry::envelope::MAX_ENVELOPE_BYTES,
        },
        other => Reason::Envelope(SharedError::new(other)),
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}
