//! Names that travel in signed objects: app ids and app references (`<did>/<app>`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::did::Did;

/// Longest DNS label.
pub const MAX_LABEL: usize = 63;

/// True for a lowercase DNS label: 1-63 of `a-z 0-9 -`, not starting or ending with `-`.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_LABEL
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Why a name is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// Not a DNS label.
    #[error("{0:?} is not a valid app id: use 1-63 of a-z, 0-9 and '-', not starting or ending with '-'")]
    AppId(String),
    /// Not `<did>/<app>`.
    #[error("{0:?} is not an app reference: expected `<did:key:…>/<app-id>`")]
    AppRef(String),
    /// The DID part is wrong.
    #[error("app reference {0:?}: {1}")]
    Did(String, crate::did::DidError),
}

/// An app id, unique per publisher: a DNS label.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppId(String);

impl AppId {
    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for AppId {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if is_dns_label(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(NameError::AppId(s.chars().take(80).collect()))
        }
    }
}

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AppId({})", self.0)
    }
}

/// A globally unique app: publisher DID and app id, written `<did>/<app>`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct AppRef {
    /// The publisher.
    pub publisher: Did,
    /// The app id within the publisher's namespace.
    pub app: AppId,
}

impl fmt::Display for AppRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.publisher, self.app)
    }
}

impl FromStr for AppRef {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (did, app) = s
            .split_once('/')
            .ok_or_else(|| NameError::AppRef(s.chars().take(120).collect()))?;
        Ok(Self {
            publisher: did
                .parse()
                .map_err(|e| NameError::Did(s.chars().take(120).collect(), e))?,
            app: app.parse()?,
        })
    }
}

macro_rules! serde_via_str {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
serde_via_str!(AppId);
serde_via_str!(AppRef);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn app_ids_are_dns_labels() {
        for ok in ["a", "hello-static", "x1", &"a".repeat(63)] {
            assert!(ok.parse::<AppId>().is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", "Hello", "a_b", "a.b", &"a".repeat(64), "é"] {
            assert!(bad.parse::<AppId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn app_refs_round_trip() {
        let s = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp/hello-static";
        let r: AppRef = s.parse().unwrap();
        assert_eq!(r.to_string(), s);
        assert!("hello-static".parse::<AppRef>().is_err());
        assert!("did:key:zbad/hello".parse::<AppRef>().is_err());
    }
}
