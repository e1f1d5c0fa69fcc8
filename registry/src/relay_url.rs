//! Nostr relay URLs as atoll accepts them from outside the process (a publisher's signed
//! profile, the operator's API call): `ws://` or `wss://`, a host, bounded length, no
//! credentials, no whitespace or control characters. One rule for every place.

/// Longest relay URL accepted, in bytes.
pub const MAX_RELAY_URL_LEN: usize = 256;

/// Most relays a publisher profile may name.
pub const MAX_PROFILE_RELAYS: usize = 8;

/// Why a relay URL is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RelayUrlError {
    /// Not `ws://` or `wss://`.
    #[error("must start with ws:// or wss://")]
    Scheme,
    /// Longer than [`MAX_RELAY_URL_LEN`].
    #[error("longer than {MAX_RELAY_URL_LEN} bytes")]
    TooLong,
    /// Whitespace or a control character.
    #[error("holds whitespace or a control character")]
    Whitespace,
    /// No host after the scheme.
    #[error("has no host")]
    NoHost,
    /// `user:password@` or a fragment.
    #[error("must not carry credentials (user@) or a fragment (#)")]
    Credentials,
}

/// Check one relay URL (see the module).
pub fn check_relay_url(url: &str) -> Result<(), RelayUrlError> {
    if url.len() > MAX_RELAY_URL_LEN {
        return Err(RelayUrlError::TooLong);
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(RelayUrlError::Whitespace);
    }
    let rest = url
        .strip_prefix("wss://")
        .or_else(|| url.strip_prefix("ws://"))
        .ok_or(RelayUrlError::Scheme)?;
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.contains('@') || url.contains('#') {
        return Err(RelayUrlError::Credentials);
    }
    let host = host_of(authority);
    if host.is_empty() {
        return Err(RelayUrlError::NoHost);
    }
    Ok(())
}

/// The host of `host[:port]` or `[v6][:port]`.
fn host_of(authority: &str) -> &str {
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

/// Does the relay URL name this machine only (a loopback or unspecified address, or
/// `localhost`)? Such a relay is useless to another host, so it is never put into a
/// signed profile by default.
pub fn is_local_relay(url: &str) -> bool {
    let rest = url
        .strip_prefix("wss://")
        .or_else(|| url.strip_prefix("ws://"))
        .unwrap_or(url);
    let host = host_of(rest.split(['/', '?']).next().unwrap_or(""));
    if host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost") {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback() || ip.is_unspecified(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_urls_are_checked_as_hostile_input() {
        for ok in [
            "ws://127.0.0.1:7777",
            "wss://relay.example.org",
            "wss://relay.example.org/path?x=1",
            "ws://[::1]:7777/",
        ] {
            assert_eq!(check_relay_url(ok), Ok(()), "{ok}");
        }
        assert_eq!(check_relay_url("http://x.org"), Err(RelayUrlError::Scheme));
        assert_eq!(check_relay_url("ws://"), Err(RelayUrlError::NoHost));
        assert_eq!(check_relay_url("ws://:80"), Err(RelayUrlError::NoHost));
        assert_eq!(
            check_relay_url("ws://a b.org"),
            Err(RelayUrlError::Whitespace)
        );
        assert_eq!(
            check_relay_url("ws://u:p@x.org"),
            Err(RelayUrlError::Credentials)
        );
        assert_eq!(
            check_relay_url(&format!("wss://{}.org", "a".repeat(300))),
            Err(RelayUrlError::TooLong)
        );
    }

    #[test]
    fn local_relays_are_recognised() {
        assert!(is_local_relay("ws://127.0.0.1:7879"));
        assert!(is_local_relay("ws://0.0.0.0:7879"));
        assert!(is_local_relay("ws://[::1]:7879"));
        assert!(is_local_relay("ws://localhost:7879"));
        assert!(!is_local_relay("ws://10.0.0.1:7879"));
        assert!(!is_local_relay("wss://relay.example.org"));
    }

    #[test]
    fn a_profile_names_at_most_eight_valid_distinct_relays() {
        use crate::envelope::Payload;
        use crate::objects::{PayloadProblem, PublisherProfile};
        let key = crate::Keypair::from_seed([3; 32]);
        let profile = |relays: Vec<String>| PublisherProfile {
            kind: Default::default(),
            did: key.did(),
            name: "p".into(),
            links: Default::default(),
            next_key: None,
            nostr_keys: vec![],
            iroh_nodes: vec![],
            relays,
            sequence: 1,
            updated_at: 1,
        };
        let ok: Vec<String> = (0..8).map(|i| format!("wss://r{i}.example.org")).collect();
        assert_eq!(profile(ok.clone()).check(), Ok(()));
        let mut many = ok.clone();
        many.push("wss://r9.example.org".into());
        let err = profile(many).check().unwrap_err();
        assert_eq!(err.to_string(), "relays: at most 8, found 9");
        let err = profile(vec!["wss://a.org".into(), "https://b.org".into()])
            .check()
            .unwrap_err();
        assert!(matches!(err, PayloadProblem::RelayUrl { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "relays[1]: not a relay URL: must start with ws:// or wss://"
        );
        let err = profile(vec!["wss://a.org".into(), "wss://a.org".into()])
            .check()
            .unwrap_err();
        assert!(err.to_string().starts_with("relays[1]:"), "{err}");
        // Old profiles (no `relays`) read and write as before.
        let v = serde_json::to_value(profile(vec![])).unwrap();
        assert!(v.get("relays").is_none());
    }
}
