//! Canonical bytes (RFC 8785, JSON Canonicalization Scheme): the only bytes ever signed.
//!
//! All canonicalisation goes through this module so that encoding lives in one place.

use serde::Serialize;

/// Why a value has no canonical form.
#[derive(Debug, thiserror::Error)]
#[error("cannot canonicalise JSON (RFC 8785): {0}")]
pub struct CanonicalError(#[from] serde_json::Error);

/// The RFC 8785 canonical JSON bytes of a value.
pub fn to_canonical_bytes<T: Serialize>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    Ok(serde_json_canonicalizer::to_vec(value)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_strips_space_and_normalises_numbers() {
        let v = json!({"b": [1, 2.50, {"z": null, "a": true}], "a": "é\u{1}\n", "c": 1e3});
        let out = String::from_utf8(to_canonical_bytes(&v).unwrap()).unwrap();
        assert_eq!(
            out,
            "{\"a\":\"é\\u0001\\n\",\"b\":[1,2.5,{\"a\":true,\"z\":null}],\"c\":1000}"
        );
    }

    #[test]
    fn keys_sort_by_utf16_code_units() {
        // U+1F600 (surrogates D83D..) sorts before U+FB01 in UTF-16, after it in UTF-8.
        let v = json!({"\u{fb01}": 1, "\u{1f600}": 2});
        let out = String::from_utf8(to_canonical_bytes(&v).unwrap()).unwrap();
        assert_eq!(out, "{\"\u{1f600}\":2,\"\u{fb01}\":1}");
    }
}
