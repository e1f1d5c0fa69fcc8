//! The signed envelope `{ "payload": {...}, "signatures": [{ "did", "sig" }] }` and the
//! `Verified<T>` type: the only way to obtain one is [`Envelope::verify`], so code that
//! takes `Verified<T>` can never see unverified input.
//!
//! Signatures are ed25519 over the RFC 8785 canonical bytes of `payload`, base64url
//! without padding. The payload's `"type"` names its schema and version.

use std::ops::Deref;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::canonical::{to_canonical_bytes, CanonicalError};
use crate::did::Did;
use crate::hash::Hash;
use crate::keys::Keypair;
use crate::objects::PayloadProblem;

/// Largest envelope accepted from anywhere (bytes of its JSON).
pub const MAX_ENVELOPE_BYTES: usize = 64 * 1024;
/// Most signatures one envelope may carry.
pub const MAX_SIGNATURES: usize = 8;

/// A payload type that can travel in an envelope.
pub trait Payload: Serialize + DeserializeOwned {
    /// The `"type"` value, e.g. `atoll/entry/v1`.
    const TYPE: &'static str;
    /// The DID whose signature gives this payload its authority.
    fn authority(&self) -> &Did;
    /// Checks beyond the schema (ranges, sizes); returns what is wrong, with its field.
    fn check(&self) -> Result<(), PayloadProblem> {
        Ok(())
    }
}

/// One signature in an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureEntry {
    /// Who signed.
    pub did: Did,
    /// ed25519 signature over the canonical payload bytes, base64url without padding.
    pub sig: String,
}

/// A signed object as it travels: not yet trusted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// The signed payload, a JSON object with a `"type"`.
    pub payload: serde_json::Value,
    /// Signatures over the payload's canonical bytes.
    pub signatures: Vec<SignatureEntry>,
}

/// Why an envelope was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// Larger than [`MAX_ENVELOPE_BYTES`].
    #[error("envelope is {0} bytes, more than the limit of {MAX_ENVELOPE_BYTES}")]
    TooLarge(usize),
    /// Not JSON of the envelope shape.
    #[error("envelope is not valid JSON of the envelope shape: {0}")]
    Malformed(#[source] serde_json::Error),
    /// The payload's `"type"` is not the one expected.
    #[error("payload type is {}, expected {expected:?}", found.as_deref().map_or_else(|| "(missing)".to_owned(), |f| format!("{f:?}")))]
    WrongType {
        /// Expected type.
        expected: &'static str,
        /// Found type (as the payload has it), if any.
        found: Option<String>,
    },
    /// The payload does not match its schema.
    #[error("payload of type {kind} is invalid at `{path}`: {source}")]
    Schema {
        /// Payload type.
        kind: &'static str,
        /// Field path inside the payload (names from the payload itself).
        path: String,
        /// What the JSON decoder found wrong there.
        source: serde_json::Error,
    },
    /// The payload is not in its normal form (fields that would be dropped or rewritten).
    #[error("payload of type {0} is not in normal form: re-encoding it changes its bytes (unknown defaults, duplicate or non-normal values)")]
    NotNormal(&'static str),
    /// The payload fails a semantic check.
    #[error("payload of type {kind} is invalid: {problem}")]
    Invalid {
        /// Payload type.
        kind: &'static str,
        /// What is wrong, with the field.
        #[source]
        problem: Box<PayloadProblem>,
    },
    /// No signature, or too many.
    #[error("envelope has {0} signatures; it needs 1 to {MAX_SIGNATURES}")]
    SignatureCount(usize),
    /// The same DID signed twice.
    #[error("signatures[{0}]: {1} signed more than once")]
    DuplicateSigner(usize, Box<Did>),
    /// A signature is not 64 bytes of base64url.
    #[error("signatures[{0}].sig is not a base64url ed25519 signature")]
    SignatureEncoding(usize),
    /// A signature does not verify.
    #[error("signatures[{0}]: the signature of {1} does not match the payload")]
    BadSignature(usize, Box<Did>),
    /// The authority DID did not sign.
    #[error("the payload's authority {0} did not sign it")]
    MissingAuthority(Box<Did>),
    /// The signing key does not match the payload's authority.
    #[error("cannot sign: the key is {key}, but the payload's authority is {authority}")]
    WrongKey {
        /// The key's DID.
        key: Box<Did>,
        /// The payload's authority.
        authority: Box<Did>,
    },
    /// Canonicalisation failed.
    #[error(transparent)]
    Canonical(#[from] CanonicalError),
}

/// A payload whose signatures have been checked. Only [`Envelope::verify`] and
/// [`verify_batch`] make one.
#[derive(Debug, Clone)]
pub struct Verified<T> {
    payload: T,
    envelope: Envelope,
    canonical: Vec<u8>,
    signer: Did,
}

impl<T> Verified<T> {
    /// The key whose signature gives the payload its authority: the authority DID itself,
    /// or (only from [`Envelope::verify_rotated`]) another key that the identity's key
    /// state must vouch for.
    pub fn signer(&self) -> &Did {
        &self.signer
    }

    /// The verified payload.
    pub fn payload(&self) -> &T {
        &self.payload
    }

    /// The envelope it came in (for storing and forwarding the exact signed bytes).
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The canonical payload bytes that were signed.
    pub fn canonical_payload(&self) -> &[u8] {
        &self.canonical
    }

    /// BLAKE3 of the canonical payload: the identity of this signed object. Two objects with
    /// the same sequence but different ids are equivocation.
    pub fn payload_id(&self) -> Hash {
        Hash::of(&self.canonical)
    }

    /// The envelope as canonical JSON bytes (what is stored and sent).
    pub fn envelope_bytes(&self) -> Result<Vec<u8>, CanonicalError> {
        to_canonical_bytes(&self.envelope)
    }
}

impl<T> Deref for Verified<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.payload
    }
}

impl Envelope {
    /// Sign a payload with the key of its authority: the authority is the key's identity
    /// (signed by the identity's current key, which is k0 until a rotation) or the current
    /// key itself (a rotation).
    pub fn sign<T: Payload>(payload: &T, key: &Keypair) -> Result<Self, EnvelopeError> {
        let authority = *payload.authority();
        if key.did() != authority && key.key_did() != authority {
            return Err(EnvelopeError::WrongKey {
                key: Box::new(key.did()),
                authority: Box::new(authority),
            });
        }
        let value = serde_json::to_value(payload).map_err(EnvelopeError::Malformed)?;
        let canonical = to_canonical_bytes(&value)?;
        let sig = key.sign(&canonical);
        Ok(Self {
            payload: value,
            signatures: vec![SignatureEntry {
                did: key.key_did(),
                sig: URL_SAFE_NO_PAD.encode(sig.to_bytes()),
            }],
        })
    }

    /// Parse an envelope from untrusted bytes (size-limited).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(EnvelopeError::TooLarge(bytes.len()));
        }
        serde_json::from_slice(bytes).map_err(EnvelopeError::Malformed)
    }

    /// The envelope's canonical JSON bytes.
    pub fn to_canonical_bytes(&self) -> Result<Vec<u8>, EnvelopeError> {
        Ok(to_canonical_bytes(self)?)
    }

    /// The payload's `"type"`, if it has one.
    pub fn payload_type(&self) -> Option<&str> {
        self.payload.get("type").and_then(|t| t.as_str())
    }

    /// Check everything about this envelope as a `T` and return the verified payload. The
    /// payload's authority DID must have signed it.
    pub fn verify<T: Payload>(&self) -> Result<Verified<T>, EnvelopeError> {
        self.verify_as::<T>(false)
    }

    /// [`Envelope::verify`], except that the authority's signature may be replaced by the
    /// one signature of another key: a rotated key of the authority's identity. The
    /// [`Verified::signer`] names that key, and whoever accepts the object must check it
    /// against the identity's key state (the catalog does, for every object it stores).
    pub fn verify_rotated<T: Payload>(&self) -> Result<Verified<T>, EnvelopeError> {
        self.verify_as::<T>(true)
    }

    fn verify_as<T: Payload>(&self, rotated: bool) -> Result<Verified<T>, EnvelopeError> {
        let pre = self.precheck::<T>(rotated)?;
        for (i, key, sig) in &pre.sigs {
            key.verify_strict(&pre.canonical, sig).map_err(|_| {
                EnvelopeError::BadSignature(*i, Box::new(Did::from_verifying_key(*key)))
            })?;
        }
        Ok(pre.finish(self))
    }

    /// Everything but the signature arithmetic: type, schema, normal form, semantics,
    /// signature encoding and presence of the authority's signature.
    fn precheck<T: Payload>(&self, rotated: bool) -> Result<Prechecked<T>, EnvelopeError> {
        let found = self.payload_type();
        if found != Some(T::TYPE) {
            return Err(EnvelopeError::WrongType {
                expected: T::TYPE,
                found: found.map(str::to_owned),
            });
        }
        let payload: T =
            serde_path_to_error::deserialize(&self.payload).map_err(|e| EnvelopeError::Schema {
                kind: T::TYPE,
                path: e.path().to_string(),
                source: e.into_inner(),
            })?;
        let canonical = to_canonical_bytes(&self.payload)?;
        let normal = serde_json::to_value(&payload)
            .map_err(EnvelopeError::Malformed)
            .and_then(|v| Ok(to_canonical_bytes(&v)?))?;
        if normal != canonical {
            return Err(EnvelopeError::NotNormal(T::TYPE));
        }
        payload.check().map_err(|problem| EnvelopeError::Invalid {
            kind: T::TYPE,
            problem: Box::new(problem),
        })?;
        let n = self.signatures.len();
        if n == 0 || n > MAX_SIGNATURES {
            return Err(EnvelopeError::SignatureCount(n));
        }
        let mut sigs = Vec::with_capacity(n);
        for (i, entry) in self.signatures.iter().enumerate() {
            if self.signatures[..i].iter().any(|e| e.did == entry.did) {
                return Err(EnvelopeError::DuplicateSigner(i, Box::new(entry.did)));
            }
            let raw: [u8; 64] = URL_SAFE_NO_PAD
                .decode(&entry.sig)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or(EnvelopeError::SignatureEncoding(i))?;
            sigs.push((i, *entry.did.verifying_key(), Signature::from_bytes(&raw)));
        }
        let authority = *payload.authority();
        let signer = if self.signatures.iter().any(|e| e.did == authority) {
            authority
        } else if rotated && self.signatures.len() == 1 {
            self.signatures[0].did
        } else {
            return Err(EnvelopeError::MissingAuthority(Box::new(authority)));
        };
        Ok(Prechecked {
            payload,
            canonical,
            sigs,
            signer,
        })
    }
}

struct Prechecked<T> {
    payload: T,
    canonical: Vec<u8>,
    sigs: Vec<(usize, VerifyingKey, Signature)>,
    signer: Did,
}

impl<T> Prechecked<T> {
    fn finish(self, envelope: &Envelope) -> Verified<T> {
        Verified {
            payload: self.payload,
            envelope: envelope.clone(),
            canonical: self.canonical,
            signer: self.signer,
        }
    }
}

/// Verify many envelopes at once, checking all their ed25519 signatures in one batch
/// (several times faster than one by one). If the batch fails, each envelope is checked
/// alone so that one bad signature rejects only its own envelope.
pub fn verify_batch<T: Payload>(envelopes: &[Envelope]) -> Vec<Result<Verified<T>, EnvelopeError>> {
    let mut pre: Vec<Result<Prechecked<T>, EnvelopeError>> =
        envelopes.iter().map(|e| e.precheck::<T>(false)).collect();
    let mut messages: Vec<&[u8]> = Vec::new();
    let mut signatures = Vec::new();
    let mut keys = Vec::new();
    let mut weak = false;
    for p in pre.iter().flatten() {
        for (_, key, sig) in &p.sigs {
            weak |= key.is_weak();
            messages.push(&p.canonical);
            signatures.push(*sig);
            keys.push(*key);
        }
    }
    let batch_ok = !weak && ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok();
    pre.iter_mut()
        .zip(envelopes)
        .map(|(p, env)| {
            let p = std::mem::replace(p, Err(EnvelopeError::SignatureCount(0)))?;
            if !batch_ok {
                for (i, key, sig) in &p.sigs {
                    key.verify_strict(&p.canonical, sig).map_err(|_| {
                        EnvelopeError::BadSignature(*i, Box::new(Did::from_verifying_key(*key)))
                    })?;
                }
            }
            Ok(p.finish(env))
        })
        .collect()
}
