//! The signed payloads of DESIGN.md: catalog entry, publisher profile, endorsement and
//! curated list. Each has a versioned `"type"` and an authority DID.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::did::Did;
use crate::envelope::Payload;
use crate::hash::Hash;
use crate::names::{AppId, AppRef};

mod payload_problem;

pub use payload_problem::{Field, PayloadProblem};

/// Largest integer that survives every JSON implementation (I-JSON, RFC 7493).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
/// Largest manifest blob.
pub const MAX_MANIFEST_BYTES: u64 = 256 * 1024;
/// Largest icon blob.
pub const MAX_ICON_BYTES: u64 = 1024 * 1024;
/// Largest screenshot blob.
pub const MAX_SCREENSHOT_BYTES: u64 = 2 * 1024 * 1024;
/// Largest image archive blob.
pub const MAX_IMAGE_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Most artifacts per entry.
pub const MAX_ARTIFACTS: usize = 32;
/// Most iroh relay URLs one origin or mirror announcement names.
pub const MAX_RELAY_URLS: usize = 8;
/// Longest iroh relay URL.
pub const MAX_RELAY_URL_LEN: usize = 256;

macro_rules! type_tag {
    ($(#[$doc:meta])* $name:ident = $value:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct $name;
        impl $name {
            /// The tag's string.
            pub const VALUE: &'static str = $value;
        }
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str($value)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                if s == $value {
                    Ok($name)
                } else {
                    Err(serde::de::Error::custom(format!("expected type {:?}, found {:?}", $value, s)))
                }
            }
        }
    };
}

type_tag!(
    /// `atoll/entry/v1`
    EntryType = "atoll/entry/v1"
);
type_tag!(
    /// `atoll/publisher/v1`
    PublisherType = "atoll/publisher/v1"
);
type_tag!(
    /// `atoll/endorse/v1`
    EndorseType = "atoll/endorse/v1"
);
type_tag!(
    /// `atoll/list/v1`
    ListType = "atoll/list/v1"
);

mod rotation;

pub use rotation::{LastSigned, Rotation, RotationType, MAX_LAST_ITEMS};

/// A blob named by hash, with its exact size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobRef {
    /// BLAKE3 of the bytes.
    pub hash: Hash,
    /// Length in bytes.
    pub size: u64,
}

/// What an artifact is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArtifactKind {
    /// The app icon.
    Icon,
    /// An OCI or docker image archive.
    Image,
    /// A screenshot of the app (PNG, JPEG or WebP), shown on its page.
    Screenshot,
}

impl ArtifactKind {
    /// The largest blob of this kind.
    pub fn max_bytes(self) -> u64 {
        match self {
            Self::Icon => MAX_ICON_BYTES,
            Self::Image => MAX_IMAGE_BYTES,
            Self::Screenshot => MAX_SCREENSHOT_BYTES,
        }
    }
}

/// A file of the app (named by its path in the manifest) that travels as a blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    /// The path the manifest uses for it, relative to the app dir.
    pub path: String,
    /// Icon or image.
    pub kind: ArtifactKind,
    /// Hash and size.
    #[serde(flatten)]
    pub blob: BlobRef,
}

/// Where the publisher serves the blobs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Origin {
    /// The origin's iroh node id (hex public key), if it serves over iroh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// Direct socket addresses of the origin node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addrs: Vec<String>,
    /// HTTPS base URLs serving `<base>/<blake3-hex>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub https: Vec<String>,
    /// iroh relay server URLs (`http://` or `https://`) the origin node is reachable
    /// through, for nodes that cannot dial it directly (behind NAT).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relays: Vec<String>,
}

/// Why a version was withdrawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Yank {
    /// The publisher's reason.
    pub reason: String,
}

/// A catalog entry (`atoll/entry/v1`): one version of one app, signed by its publisher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Always `atoll/entry/v1`.
    #[serde(rename = "type")]
    pub kind: EntryType,
    /// The app id within the publisher's namespace.
    pub app: AppId,
    /// The publisher; only its signature counts.
    pub publisher: Did,
    /// The app's semver version.
    pub version: semver::Version,
    /// Strictly increasing per publisher + app; the highest wins.
    pub sequence: u64,
    /// The manifest's canonical JSON blob.
    pub manifest: BlobRef,
    /// Icon and image archives.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<Artifact>,
    /// Where the publisher serves the blobs.
    #[serde(default)]
    pub origin: Origin,
    /// Unix seconds when signed.
    pub published_at: u64,
    /// Unix seconds after which the entry is stale (freeze protection).
    pub expires_at: u64,
    /// Set when the publisher withdraws this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yanked: Option<Yank>,
}

impl Entry {
    /// `<did>/<app>`.
    pub fn app_ref(&self) -> AppRef {
        AppRef {
            publisher: self.publisher,
            app: self.app.clone(),
        }
    }

    /// Is the entry past its expiry at `now` (unix seconds)?
    pub fn is_expired(&self, now: u64) -> bool {
        now >= self.expires_at
    }
}

fn check_url_list<'a>(
    field: &'static str,
    urls: impl ExactSizeIterator<Item = &'a String>,
) -> Result<(), PayloadProblem> {
    if urls.len() > 16 {
        return Err(PayloadProblem::TooMany {
            field: Field::named(field),
            max: 16,
            found: urls.len(),
        });
    }
    for (i, u) in urls.enumerate() {
        if !u.starts_with("https://") || u.len() > 512 || u.chars().any(char::is_whitespace) {
            return Err(PayloadProblem::NotHttpsUrl {
                field: Field::at(field, i),
            });
        }
    }
    Ok(())
}

/// Is `url` acceptable as an iroh relay URL in a signed payload: `http://` or
/// `https://`, a non-empty host, at most [`MAX_RELAY_URL_LEN`] characters, no whitespace
/// or control characters. (Syntax only: the node parses it again before it dials.)
pub fn is_relay_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
    url.len() <= MAX_RELAY_URL_LEN
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
        && host.is_some_and(|h| !h.is_empty() && !h.starts_with(':') && !h.contains('@'))
}

/// A list of iroh relay URLs (`field`): at most [`MAX_RELAY_URLS`], each
/// [`is_relay_url`].
pub fn check_relay_urls(field: &'static str, urls: &[String]) -> Result<(), PayloadProblem> {
    if urls.len() > MAX_RELAY_URLS {
        return Err(PayloadProblem::TooMany {
            field: Field::named(field),
            max: MAX_RELAY_URLS,
            found: urls.len(),
        });
    }
    match urls.iter().position(|u| !is_relay_url(u)) {
        Some(i) => Err(PayloadProblem::NotIrohRelayUrl {
            field: Field::at(field, i),
            max_len: MAX_RELAY_URL_LEN,
        }),
        None => Ok(()),
    }
}

/// Every integer named must be at most 2^53−1.
fn check_safe(fields: &[(&'static str, u64)]) -> Result<(), PayloadProblem> {
    match fields.iter().find(|(_, v)| *v > MAX_SAFE_INTEGER) {
        Some(&(name, value)) => Err(PayloadProblem::UnsafeInteger {
            field: Field::named(name),
            value,
        }),
        None => Ok(()),
    }
}

fn check_len(
    field: Field,
    len: usize,
    min: usize,
    max: usize,
    unit: &'static str,
) -> Result<(), PayloadProblem> {
    if len < min || len > max {
        return Err(PayloadProblem::Length {
            field,
            min,
            max,
            unit,
        });
    }
    Ok(())
}

impl Payload for Entry {
    const TYPE: &'static str = EntryType::VALUE;
    fn authority(&self) -> &Did {
        &self.publisher
    }
    fn check(&self) -> Result<(), PayloadProblem> {
        check_safe(&[
            ("sequence", self.sequence),
            ("published_at", self.published_at),
            ("expires_at", self.expires_at),
        ])?;
        if self.sequence == 0 {
            return Err(PayloadProblem::Zero {
                field: Field::named("sequence"),
            });
        }
        if self.expires_at <= self.published_at {
            return Err(PayloadProblem::ExpiresBeforePublished);
        }
        if self.manifest.size == 0 || self.manifest.size > MAX_MANIFEST_BYTES {
            return Err(PayloadProblem::OutOfRange {
                field: Field::named("manifest.size"),
                value: self.manifest.size,
                min: 1,
                max: MAX_MANIFEST_BYTES,
            });
        }
        if self.artifacts.len() > MAX_ARTIFACTS {
            return Err(PayloadProblem::TooMany {
                field: Field::named("artifacts"),
                max: MAX_ARTIFACTS,
                found: self.artifacts.len(),
            });
        }
        for (i, a) in self.artifacts.iter().enumerate() {
            let max = a.kind.max_bytes();
            if a.blob.size == 0 || a.blob.size > max {
                return Err(PayloadProblem::OutOfRange {
                    field: Field::item("artifacts", i, "size"),
                    value: a.blob.size,
                    min: 1,
                    max,
                });
            }
            check_len(
                Field::item("artifacts", i, "path"),
                a.path.len(),
                1,
                256,
                "characters",
            )?;
            if self.artifacts[..i].iter().any(|b| b.path == a.path) {
                return Err(PayloadProblem::Duplicate {
                    field: Field::item("artifacts", i, "path"),
                    value: a.path.clone(),
                });
            }
        }
        if self.origin.addrs.len() > 16 || self.origin.addrs.iter().any(|a| a.len() > 64) {
            return Err(PayloadProblem::Addresses {
                field: Field::named("origin.addrs"),
                max: 16,
                max_len: 64,
            });
        }
        if let Some(id) = &self.origin.node_id {
            if id.len() != 64 || hex::decode(id).is_err() {
                return Err(PayloadProblem::NotHex64 {
                    field: Field::named("origin.node_id"),
                    lowercase: false,
                });
            }
        }
        check_url_list("origin.https", self.origin.https.iter())?;
        check_relay_urls("origin.relays", &self.origin.relays)?;
        if let Some(y) = &self.yanked {
            check_len(
                Field::named("yanked.reason"),
                y.reason.len(),
                0,
                1024,
                "bytes",
            )?;
        }
        Ok(())
    }
}

/// A publisher profile (`atoll/publisher/v1`): the DID names its display name and the
/// transport keys (Nostr) and iroh nodes it uses. This signed statement is what binds a
/// Nostr key to the DID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublisherProfile {
    /// Always `atoll/publisher/v1`.
    #[serde(rename = "type")]
    pub kind: PublisherType,
    /// The publisher.
    pub did: Did,
    /// Display name.
    pub name: String,
    /// Links, name → https URL.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub links: BTreeMap<String, String>,
    /// Nostr x-only public keys (hex) that may carry this publisher's objects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nostr_keys: Vec<String>,
    /// iroh node ids (hex) run by this publisher.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub iroh_nodes: Vec<String>,
    /// The Nostr relays (`ws://` / `wss://`) this publisher writes to (its outbox, in the
    /// spirit of NIP-65): nodes that trust it read from them too. At most
    /// [`crate::relay_url::MAX_PROFILE_RELAYS`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relays: Vec<String>,
    /// The commitment to the identity's next key ([`crate::rotation::key_commitment`]
    /// of k_{n+1}, where k_n signs this profile): only a rotation revealing that key can
    /// change the identity's key. Every profile atoll signs carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_key: Option<String>,
    /// Strictly increasing; the highest profile wins.
    pub sequence: u64,
    /// Unix seconds when signed.
    pub updated_at: u64,
}

impl Payload for PublisherProfile {
    const TYPE: &'static str = PublisherType::VALUE;
    fn authority(&self) -> &Did {
        &self.did
    }
    fn check(&self) -> Result<(), PayloadProblem> {
        check_len(
            Field::named("name"),
            self.name.chars().count(),
            1,
            64,
            "characters",
        )?;
        check_safe(&[("sequence", self.sequence), ("updated_at", self.updated_at)])?;
        check_url_list("links", self.links.values())?;
        for (field, keys) in [
            ("nostr_keys", &self.nostr_keys),
            ("iroh_nodes", &self.iroh_nodes),
        ] {
            if keys.len() > 8 {
                return Err(PayloadProblem::TooMany {
                    field: Field::named(field),
                    max: 8,
                    found: keys.len(),
                });
            }
            for (i, k) in keys.iter().enumerate() {
                if k.len() != 64
                    || hex::decode(k).is_err()
                    || k.bytes().any(|b| b.is_ascii_uppercase())
                {
                    return Err(PayloadProblem::NotHex64 {
                        field: Field::at(field, i),
                        lowercase: true,
                    });
                }
            }
        }
        if let Some(c) = &self.next_key {
            check_commitment("next_key", c)?;
        }
        check_relays(&self.relays)
    }
}

/// A key commitment: 64 lowercase hex characters.
fn check_commitment(field: &'static str, value: &str) -> Result<(), PayloadProblem> {
    if value.len() != 64
        || !value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(PayloadProblem::NotHex64 {
            field: Field::named(field),
            lowercase: true,
        });
    }
    Ok(())
}

/// A profile's outbox relays: bounded count, each a valid relay URL, no repeats.
fn check_relays(relays: &[String]) -> Result<(), PayloadProblem> {
    use crate::relay_url::{check_relay_url, MAX_PROFILE_RELAYS};
    if relays.len() > MAX_PROFILE_RELAYS {
        return Err(PayloadProblem::TooMany {
            field: Field::named("relays"),
            max: MAX_PROFILE_RELAYS,
            found: relays.len(),
        });
    }
    for (i, url) in relays.iter().enumerate() {
        check_relay_url(url).map_err(|problem| PayloadProblem::RelayUrl {
            field: Field::at("relays", i),
            problem,
        })?;
        if relays[..i].contains(url) {
            return Err(PayloadProblem::Duplicate {
                field: Field::at("relays", i),
                value: url.clone(),
            });
        }
    }
    Ok(())
}

/// An endorsement (`atoll/endorse/v1`): `signer` vouches for (weight > 0) or reports
/// (weight < 0) `subject`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endorsement {
    /// Always `atoll/endorse/v1`.
    #[serde(rename = "type")]
    pub kind: EndorseType,
    /// Who vouches.
    pub signer: Did,
    /// For whom.
    pub subject: Did,
    /// In [-1, 1]: negative is a report.
    pub weight: f64,
    /// Why, in words.
    #[serde(default)]
    pub reason: String,
    /// Strictly increasing per signer + subject; the highest wins.
    pub sequence: u64,
    /// Unix seconds when signed.
    pub created_at: u64,
}

impl Payload for Endorsement {
    const TYPE: &'static str = EndorseType::VALUE;
    fn authority(&self) -> &Did {
        &self.signer
    }
    fn check(&self) -> Result<(), PayloadProblem> {
        if !self.weight.is_finite() || !(-1.0..=1.0).contains(&self.weight) {
            return Err(PayloadProblem::Weight(self.weight));
        }
        if self.signer == self.subject {
            return Err(PayloadProblem::SelfEndorsement);
        }
        check_len(Field::named("reason"), self.reason.len(), 0, 1024, "bytes")?;
        check_safe(&[("sequence", self.sequence), ("created_at", self.created_at)])
    }
}

/// A curated list (`atoll/list/v1`): a named set of apps chosen by `signer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CuratedList {
    /// Always `atoll/list/v1`.
    #[serde(rename = "type")]
    pub kind: ListType,
    /// The curator.
    pub signer: Did,
    /// List name (a DNS label).
    pub name: AppId,
    /// Title shown to people.
    pub title: String,
    /// The apps.
    pub apps: Vec<AppRef>,
    /// Strictly increasing per signer + name.
    pub sequence: u64,
}

impl Payload for CuratedList {
    const TYPE: &'static str = ListType::VALUE;
    fn authority(&self) -> &Did {
        &self.signer
    }
    fn check(&self) -> Result<(), PayloadProblem> {
        if self.apps.len() > 256 {
            return Err(PayloadProblem::TooMany {
                field: Field::named("apps"),
                max: 256,
                found: self.apps.len(),
            });
        }
        check_len(
            Field::named("title"),
            self.title.chars().count(),
            0,
            128,
            "characters",
        )?;
        // As every other payload's integers: above 2^53 the canonical bytes (RFC 8785
        // writes numbers as doubles) would sign another sequence than the payload has.
        check_safe(&[("sequence", self.sequence)])
    }
}
