//! What a payload's semantic checks (ranges, sizes, URLs) found wrong, as a typed value:
//! the field it is about and the rule it breaks. `Display` gives the message people read,
//! e.g. `artifacts[2].size: 0 is outside 1..=1048576`.

use std::fmt;

/// A field of a signed payload, with the position in a list and the member of a list item
/// where that applies: `artifacts[2].size` is `Field::item("artifacts", 2, "size")`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The payload's field.
    pub name: &'static str,
    /// The position in the list, when the field is a list.
    pub index: Option<usize>,
    /// The member of the list item.
    pub member: Option<&'static str>,
}

impl Field {
    /// A top-level field.
    pub const fn named(name: &'static str) -> Self {
        Self {
            name,
            index: None,
            member: None,
        }
    }

    /// One item of a list field.
    pub const fn at(name: &'static str, index: usize) -> Self {
        Self {
            name,
            index: Some(index),
            member: None,
        }
    }

    /// A member of one item of a list field.
    pub const fn item(name: &'static str, index: usize, member: &'static str) -> Self {
        Self {
            name,
            index: Some(index),
            member: Some(member),
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)?;
        if let Some(i) = self.index {
            write!(f, "[{i}]")?;
        }
        if let Some(m) = self.member {
            write!(f, ".{m}")?;
        }
        Ok(())
    }
}

/// Why a payload that matches its schema is still invalid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadProblem {
    /// An integer above 2^53−1, which not every JSON stack reads the same.
    #[error("{field}: {value} is larger than 2^53-1")]
    UnsafeInteger {
        /// The field.
        field: Field,
        /// Its value.
        value: u64,
    },
    /// A number outside its range.
    #[error("{field}: {value} is outside {min}..={max}")]
    OutOfRange {
        /// The field.
        field: Field,
        /// Its value.
        value: u64,
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
    /// A sequence of 0.
    #[error("{field}: must be at least 1")]
    Zero {
        /// The field.
        field: Field,
    },
    /// An entry that expires before (or when) it is published.
    #[error("expires_at: must be after published_at")]
    ExpiresBeforePublished,
    /// A list with too many items.
    #[error("{field}: at most {max}, found {found}")]
    TooMany {
        /// The list.
        field: Field,
        /// Most allowed.
        max: usize,
        /// How many there are.
        found: usize,
    },
    /// A text of the wrong length.
    #[error("{field}: {}", length_rule(*.min, *.max, .unit))]
    Length {
        /// The field.
        field: Field,
        /// Shortest allowed.
        min: usize,
        /// Longest allowed.
        max: usize,
        /// `characters` or `bytes`.
        unit: &'static str,
    },
    /// The same artifact path twice.
    #[error("{field}: {value:?} is listed twice")]
    Duplicate {
        /// The field.
        field: Field,
        /// The repeated value (from the payload).
        value: String,
    },
    /// A list with too few or too many items.
    #[error("{field}: {min} to {max}, found {found}")]
    Count {
        /// The list.
        field: Field,
        /// Fewest allowed.
        min: usize,
        /// Most allowed.
        max: usize,
        /// How many there are.
        found: usize,
    },
    /// Addresses beyond their count or length.
    #[error("{field}: at most {max} addresses of at most {max_len} characters")]
    Addresses {
        /// The list.
        field: Field,
        /// Most addresses.
        max: usize,
        /// Longest address.
        max_len: usize,
    },
    /// Not 64 hex characters (lowercase where `lowercase`).
    #[error("{field}: must be 64 {}hex characters", if *.lowercase { "lowercase " } else { "" })]
    NotHex64 {
        /// The field.
        field: Field,
        /// Lowercase is required.
        lowercase: bool,
    },
    /// Not an `https://` URL of at most 512 characters without whitespace.
    #[error("{field}: not an https:// URL of at most 512 characters")]
    NotHttpsUrl {
        /// The field.
        field: Field,
    },
    /// Not an iroh relay server URL: `http://` or `https://` with a host, at most `max_len`
    /// characters, no whitespace.
    #[error("{field}: not an http:// or https:// relay URL of at most {max_len} characters")]
    NotIrohRelayUrl {
        /// The field.
        field: Field,
        /// Longest allowed.
        max_len: usize,
    },
    /// A Nostr relay URL that is not one (see [`crate::relay_url::check_relay_url`]).
    #[error("{field}: not a relay URL: {problem}")]
    RelayUrl {
        /// The field.
        field: Field,
        /// What is wrong with it.
        problem: crate::relay_url::RelayUrlError,
    },
    /// An endorsement weight outside [−1, 1] (or not a number).
    #[error("weight: {0} is outside [-1, 1]")]
    Weight(f64),
    /// A publisher endorsing itself.
    #[error("subject: a publisher cannot endorse itself")]
    SelfEndorsement,
    /// A rotation that reveals the identity's own first key (k0).
    #[error("key: a rotation cannot reveal the identity's own first key (k0)")]
    KeyIsIdentity,
}

fn length_rule(min: usize, max: usize, unit: &str) -> String {
    if min == 0 {
        format!("at most {max} {unit}")
    } else {
        format!("must be {min}-{max} {unit}")
    }
}
