//! Warnings shown before an install or update (`warnings` in `GET /apps/{did}/{app}`, and
//! printed by `atoll install|update`): a list of typed items, each `{kind, message, …}`,
//! so that new kinds (a publisher's rotated key) slot in beside the existing ones. They
//! warn; they do not refuse (the install guards refuse).

use atoll_catalog::{Catalog, DesiredRun, EntryRecord, EntryStatus, KeyHistory, SameAppId};
use atoll_registry::AppRef;
use serde::Serialize;

/// One warning about installing or updating an app.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum InstallWarning {
    /// Another publisher has an app with the same id, installed here or seen first: this
    /// one may be a look-alike (or the other one is).
    SameAppId {
        /// In words, for the UI and the CLI.
        message: String,
        /// The other app's ref (`<did>/<app>`).
        other: String,
        /// Its publisher's display name, if known.
        publisher_name: Option<String>,
        /// This node has the other one installed.
        installed: bool,
    },
    /// Installing: the publisher's key rotated (when, and what that voided). Updating:
    /// the key that signs the newest version is not the one that signed the installed
    /// version. Either: a profile tried to change the key commitment (flagged). Check the
    /// key history before installing or updating.
    KeyRotated {
        /// In words, for the UI and the CLI.
        message: String,
        /// The publisher's current key index.
        index: u64,
        /// Versions of this publisher voided by its rotations (signed by a retired key).
        voided: usize,
        /// The identity is flagged as possibly compromised.
        flagged: bool,
        /// Updating: the index of the key that signed the installed version.
        #[serde(skip_serializing_if = "Option::is_none")]
        installed_key: Option<u64>,
        /// Updating: the index of the key that signed the newest version.
        #[serde(skip_serializing_if = "Option::is_none")]
        head_key: Option<u64>,
    },
}

impl InstallWarning {
    fn same_app_id(app: &AppRef, o: &SameAppId) -> Self {
        let other = format!("{}/{}", o.publisher, app.app);
        let who = match &o.publisher_name {
            Some(n) => format!("{n:?} ({})", o.publisher.short()),
            None => o.publisher.short(),
        };
        let what = if o.installed {
            "is installed here"
        } else {
            "was seen here first"
        };
        Self::SameAppId {
            message: format!(
                "another publisher, {who}, has an app with the same id {:?}, which {what}: this is a different app from a different publisher",
                app.app.as_str()
            ),
            other,
            publisher_name: o.publisher_name.clone(),
            installed: o.installed,
        }
    }
}

/// The warnings for installing or updating `app`.
pub fn install_warnings(
    c: &Catalog,
    app: &AppRef,
) -> Result<Vec<InstallWarning>, atoll_catalog::CatalogError> {
    let mut out: Vec<InstallWarning> = c
        .same_app_id(app)?
        .iter()
        .map(|o| InstallWarning::same_app_id(app, o))
        .collect();
    if let Some(h) = c.key_history(&app.publisher)? {
        let update = match c.app(app)? {
            Some(view) => installed_and_head(c, app, &view.entries)?,
            None => None,
        };
        if let Some(w) = InstallWarning::key_rotated(&h, update.as_ref()) {
            out.push(w);
        }
    }
    Ok(out)
}

/// An update's two versions: the installed one and the newest (head), as signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateSigners {
    /// The installed version.
    pub installed_version: String,
    /// The key DID that signed it.
    pub installed_signer: String,
    /// The newest version.
    pub head_version: String,
    /// The key DID that signed it.
    pub head_signer: String,
}

/// The installed version of `app` (by its manifest) and the head, if this node runs it.
fn installed_and_head(
    c: &Catalog,
    app: &AppRef,
    entries: &[EntryRecord],
) -> Result<Option<UpdateSigners>, atoll_catalog::CatalogError> {
    let Some(row) = c
        .installed_apps()?
        .into_iter()
        .find(|r| r.app.as_ref() == Some(app) && r.wanted != DesiredRun::Removed)
    else {
        return Ok(None);
    };
    let signer = |e: &EntryRecord| {
        e.signer
            .clone()
            .unwrap_or_else(|| app.publisher.to_string())
    };
    // Entries are highest sequence first: the newest valid one with the installed manifest.
    let installed = entries
        .iter()
        .find(|e| e.manifest == row.manifest_hash && e.void.is_none());
    let head = entries.iter().find(|e| e.status == EntryStatus::Head);
    Ok(match (installed, head) {
        (Some(i), Some(h)) => Some(UpdateSigners {
            installed_version: i.version.clone(),
            installed_signer: signer(i),
            head_version: h.version.clone(),
            head_signer: signer(h),
        }),
        _ => None,
    })
}

/// The index of `key` in the history (0: the identity's own first key), if it is one.
fn key_index(h: &KeyHistory, key: &str) -> Option<u64> {
    if h.did.to_string() == key {
        return Some(0);
    }
    h.rotations
        .iter()
        .find(|r| r.key.to_string() == key)
        .map(|r| r.index)
}

/// At most this many voided objects are named in a warning (the key history lists all).
const NAMED_VOIDED: usize = 3;

impl InstallWarning {
    /// The key-rotation warning: for an update (`update` is the installed and newest
    /// versions' signers), only when the signing key changed since the installed version;
    /// for an install, when the key ever rotated. A flagged identity always warns.
    pub fn key_rotated(h: &KeyHistory, update: Option<&UpdateSigners>) -> Option<Self> {
        let voided: Vec<_> = h
            .rotations
            .iter()
            .flat_map(|r| r.voided.iter())
            .filter(|v| v.kind == "entry")
            .collect();
        let mut parts = Vec::new();
        let (mut installed_key, mut head_key) = (None, None);
        match update {
            Some(u) if u.installed_signer != u.head_signer => {
                let (i, n) = (
                    key_index(h, &u.installed_signer),
                    key_index(h, &u.head_signer),
                );
                let name =
                    |k: Option<u64>| k.map_or("an unknown key".to_owned(), |k| format!("key {k}"));
                let mut m = format!(
                    "the publisher's key changed since the version you run: {} was signed by {}, the newest version {} by {}",
                    u.installed_version,
                    name(i),
                    u.head_version,
                    name(n)
                );
                if let Some(r) = n.and_then(|n| h.rotations.iter().find(|r| r.index == n)) {
                    m.push_str(&format!(
                        " (the key rotated to it at unix time {})",
                        r.created_at
                    ));
                }
                parts.push(m);
                (installed_key, head_key) = (i, n);
            }
            // Updating within one key: its rotations are not news to this node.
            Some(_) => {}
            None => {
                if let Some(r) = h.rotations.last() {
                    let mut m = format!(
                        "the publisher's key rotated {} time(s), last at unix time {} (now key {})",
                        h.rotations.len(),
                        r.created_at,
                        h.index
                    );
                    if !voided.is_empty() {
                        let named: Vec<String> = voided
                            .iter()
                            .take(NAMED_VOIDED)
                            .map(|v| format!("{} #{}", v.subject, v.sequence))
                            .collect();
                        m.push_str(&format!(
                            "; {} version(s) signed by a retired key are void ({}{})",
                            voided.len(),
                            named.join(", "),
                            if voided.len() > NAMED_VOIDED {
                                ", …"
                            } else {
                                ""
                            }
                        ));
                    }
                    parts.push(m);
                }
            }
        }
        if let Some(flag) = &h.flagged {
            parts.push(format!("possible key compromise: {flag}"));
        }
        if parts.is_empty() {
            return None;
        }
        let message = format!(
            "{}: check the key history before installing or updating",
            parts.join("; ")
        );
        Some(Self::KeyRotated {
            message,
            index: h.index,
            voided: voided.len(),
            flagged: h.flagged.is_some(),
            installed_key,
            head_key,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use atoll_catalog::{RotationRecord, Voided};
    use atoll_registry::Keypair;

    fn history(rotated: bool, flagged: bool) -> KeyHistory {
        let k0 = Keypair::from_root([7; 32], 0);
        let k1 = Keypair::from_root([7; 32], 1);
        let rotations = if rotated {
            vec![RotationRecord {
                index: 1,
                key: k1.key_did(),
                next_key: k1.next_key_commitment(),
                last: Default::default(),
                voided: vec![Voided {
                    kind: "entry".into(),
                    subject: "uploaded".into(),
                    sequence: 9_007_199_254_740_991,
                    payload_id: "00".repeat(32),
                    reason: "signed by retired key 0 after its last legitimate sequence 5".into(),
                }],
                created_at: 1_000,
                accepted_at: 1_001,
            }]
        } else {
            Vec::new()
        };
        KeyHistory {
            did: k0.did(),
            index: rotations.len() as u64,
            current_key: if rotated { k1.key_did() } else { k0.did() },
            next_key: None,
            flagged: flagged.then(|| "a profile changed the commitment".to_owned()),
            rotations,
        }
    }

    fn update(h: &KeyHistory, installed: u64, head: u64) -> UpdateSigners {
        let key = |i: u64| {
            if i == 0 {
                h.did.to_string()
            } else {
                h.rotations[i as usize - 1].key.to_string()
            }
        };
        UpdateSigners {
            installed_version: "1.0.0".into(),
            installed_signer: key(installed),
            head_version: "2.0.0".into(),
            head_signer: key(head),
        }
    }

    fn message(w: &InstallWarning) -> &str {
        match w {
            InstallWarning::KeyRotated { message, .. } => message,
            other => panic!("not a key-rotated warning: {other:?}"),
        }
    }

    #[test]
    fn install_warns_only_after_a_rotation_saying_when_and_what_is_void() {
        assert_eq!(
            InstallWarning::key_rotated(&history(false, false), None),
            None
        );
        let w = InstallWarning::key_rotated(&history(true, false), None).unwrap();
        let m = message(&w);
        assert!(
            m.contains("key rotated 1 time(s), last at unix time 1000 (now key 1)"),
            "{m}"
        );
        assert!(
            m.contains(
                "1 version(s) signed by a retired key are void (uploaded #9007199254740991)"
            ),
            "{m}"
        );
    }

    #[test]
    fn update_warns_only_when_the_signing_key_changed_since_the_installed_version() {
        let h = history(true, false);
        // Installed and newest both signed by key 1: the rotation is not news.
        assert_eq!(
            InstallWarning::key_rotated(&h, Some(&update(&h, 1, 1))),
            None
        );
        let w = InstallWarning::key_rotated(&h, Some(&update(&h, 0, 1))).unwrap();
        let m = message(&w);
        assert!(
            m.contains("changed since the version you run: 1.0.0 was signed by key 0, the newest version 2.0.0 by key 1 (the key rotated to it at unix time 1000)"),
            "{m}"
        );
        assert!(matches!(
            w,
            InstallWarning::KeyRotated {
                installed_key: Some(0),
                head_key: Some(1),
                ..
            }
        ));
    }

    #[test]
    fn a_flagged_identity_always_warns() {
        let h = history(false, true);
        for u in [None, Some(update(&h, 0, 0))] {
            let w = InstallWarning::key_rotated(&h, u.as_ref()).unwrap();
            assert!(message(&w).contains("possible key compromise"), "{w:?}");
        }
    }
}
