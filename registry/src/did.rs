//! `did:key` identifiers for ed25519 keys.
//!
//! A did:key for ed25519 is `did:key:z` + base58btc(`0xed 0x01` ‖ 32-byte public key).
//! The crate `did-key` is avoided on purpose (see docs/design.md): it pulls an old,
//! advisory-flagged ed25519 stack and panics on malformed input. These few lines are
//! checked against the W3C CCG test vectors in the tests below.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Prefix of every did:key using the base58btc multibase.
const PREFIX: &str = "did:key:z";
/// Multicodec varint for an ed25519 public key (0xed, as unsigned varint).
const ED25519_MULTICODEC: [u8; 2] = [0xed, 0x01];
/// Longest string we will even try to decode (a valid one is 56 characters).
const MAX_LEN: usize = 128;

/// Why a string is not an ed25519 did:key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DidError {
    /// The string does not start with `did:key:z`.
    #[error("not a did:key with base58btc multibase (expected prefix `did:key:z`): {0:?}")]
    Prefix(String),
    /// The string is absurdly long.
    #[error("did:key is too long ({0} characters, at most {MAX_LEN})")]
    TooLong(usize),
    /// The multibase body is not valid base58btc.
    #[error("did:key body is not valid base58btc: {0}")]
    Base58(#[source] bs58::decode::Error),
    /// The decoded bytes do not start with the ed25519 multicodec.
    #[error("did:key is not an ed25519 key (multicodec prefix {0:02x?}, expected [ed, 01])")]
    Multicodec(Vec<u8>),
    /// The key has the wrong number of bytes.
    #[error("did:key holds {0} key bytes, expected 32")]
    Length(usize),
    /// The bytes are not a valid ed25519 point.
    #[error("did:key bytes are not a valid ed25519 public key")]
    InvalidKey,
}

/// A publisher identity: an ed25519 public key named as a did:key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Did(VerifyingKey);

impl PartialOrd for Did {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Did {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.as_bytes().cmp(other.0.as_bytes())
    }
}

impl Did {
    /// The DID of an ed25519 public key.
    pub fn from_verifying_key(key: VerifyingKey) -> Self {
        Self(key)
    }

    /// The DID of raw public key bytes; fails if they are not a valid point.
    pub fn from_public_bytes(bytes: &[u8; 32]) -> Result<Self, DidError> {
        VerifyingKey::from_bytes(bytes)
            .map(Self)
            .map_err(|_| DidError::InvalidKey)
    }

    /// The ed25519 public key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.0
    }

    /// The raw 32 public key bytes.
    pub fn public_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// A short form for logs and tables: `did:key:z6Mk…` plus the last 6 characters.
    pub fn short(&self) -> String {
        let s = self.to_string();
        format!("{}…{}", &s[..14], &s[s.len() - 6..])
    }
}

impl fmt::Display for Did {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = Vec::with_capacity(34);
        bytes.extend_from_slice(&ED25519_MULTICODEC);
        bytes.extend_from_slice(self.0.as_bytes());
        write!(f, "{PREFIX}{}", bs58::encode(bytes).into_string())
    }
}

impl fmt::Debug for Did {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Did({self})")
    }
}

impl FromStr for Did {
    type Err = DidError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > MAX_LEN {
            return Err(DidError::TooLong(s.len()));
        }
        let body = s
            .strip_prefix(PREFIX)
            .ok_or_else(|| DidError::Prefix(s.chars().take(24).collect()))?;
        let bytes = bs58::decode(body).into_vec().map_err(DidError::Base58)?;
        if bytes.len() < 2 || bytes[..2] != ED25519_MULTICODEC {
            return Err(DidError::Multicodec(
                bytes.iter().take(2).copied().collect(),
            ));
        }
        let key: [u8; 32] = bytes[2..]
            .try_into()
            .map_err(|_| DidError::Length(bytes.len() - 2))?;
        Self::from_public_bytes(&key)
    }
}

impl Serialize for Did {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Did {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ed25519_dalek::SigningKey;

    /// The five ed25519 vectors of the W3C CCG did:key test suite
    /// (test-vectors/ed25519-x25519.json): seed byte → publicKeyBase58 → did.
    const VECTORS: [(u8, &str, &str); 5] = [
        (
            0,
            "4zvwRjXUKGfvwnParsHAS3HuSVzV5cA4McphgmoCtajS",
            "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp",
        ),
        (
            1,
            "6ASf5EcmmEHTgDJ4X4ZT5vT6iHVJBXPg5AN5YoTCpGWt",
            "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG",
        ),
        (
            2,
            "8pM1DN3RiT8vbom5u1sNryaNT1nyL8CTTW3b5PwWXRBH",
            "did:key:z6MknGc3ocHs3zdPiJbnaaqDi58NGb4pk1Sp9WxWufuXSdxf",
        ),
        (
            3,
            "HPYVwAQmskwT1qEEeRzhoomyfyupJGASQQtCXSNG8XS2",
            "did:key:z6MkvqoYXQfDDJRv8L4wKzxYeuKyVZBfi9Qo6Ro8MiLH3kDQ",
        ),
        (
            4,
            "J3qYF7YJMKCqQke47UQwiHizgFUXapHxRxKmxbkar89x",
            "did:key:z6MkwW6aqMnjgrhJXFUko3NnZPGzVpkNzhYK7yEhnsibmLwL",
        ),
    ];

    fn seed(last: u8) -> [u8; 32] {
        let mut s = [0u8; 32];
        s[31] = last;
        s
    }

    #[test]
    fn w3c_vectors_seed_to_did_and_back() {
        for (last, pk58, did) in VECTORS {
            let key = SigningKey::from_bytes(&seed(last)).verifying_key();
            assert_eq!(bs58::encode(key.as_bytes()).into_string(), pk58);
            let ours = Did::from_verifying_key(key);
            assert_eq!(ours.to_string(), did);
            let parsed: Did = did.parse().unwrap();
            assert_eq!(parsed, ours);
            let json = serde_json::to_string(&parsed).unwrap();
            assert_eq!(json, format!("\"{did}\""));
            let back: Did = serde_json::from_str(&json).unwrap();
            assert_eq!(back, ours);
        }
    }

    #[test]
    fn strict_decoding_names_what_is_wrong() {
        let good = VECTORS[0].2;
        assert!(matches!(
            "did:key:".parse::<Did>(),
            Err(DidError::Prefix(_))
        ));
        assert!(matches!(
            "did:web:example.org".parse::<Did>(),
            Err(DidError::Prefix(_))
        ));
        assert!(matches!(
            good.replacen(":z", ":f", 1).parse::<Did>(),
            Err(DidError::Prefix(_))
        ));
        // The empty body (the case that panics in the did-key crate).
        assert!(matches!(
            "did:key:z".parse::<Did>(),
            Err(DidError::Multicodec(_))
        ));
        // 0, O, I, l are not in the base58btc alphabet.
        assert!(matches!(
            format!("{good}0").parse::<Did>(),
            Err(DidError::Base58(_))
        ));
        // Truncated and extended keys.
        let with_len = |n: usize| {
            let mut b = vec![0xed, 0x01];
            b.extend(std::iter::repeat_n(9u8, n));
            format!("did:key:z{}", bs58::encode(b).into_string())
        };
        assert!(matches!(
            with_len(31).parse::<Did>(),
            Err(DidError::Length(31))
        ));
        assert!(matches!(
            with_len(33).parse::<Did>(),
            Err(DidError::Length(33))
        ));
        assert!(with_len(32).parse::<Did>().is_ok());
        // A secp256k1 did:key (multicodec 0xe7) is not ours.
        let secp = format!(
            "did:key:z{}",
            bs58::encode([0xe7, 0x01, 2, 3]).into_string()
        );
        assert!(matches!(secp.parse::<Did>(), Err(DidError::Multicodec(_))));
        assert!(matches!(
            "x".repeat(500).parse::<Did>(),
            Err(DidError::TooLong(500))
        ));
        assert!(serde_json::from_str::<Did>("\"did:key:zzz\"").is_err());
    }
}
