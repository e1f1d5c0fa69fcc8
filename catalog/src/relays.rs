//! Relays chosen at runtime and publishers' outboxes.
//!
//! * The operator's **relay choices** ([`RelayChoice`]): a relay `added` while the node
//!   ran, or one `disabled` (a configured relay, or one a publisher's outbox names, that
//!   this node must not use). At most [`MAX_RELAY_CHOICES`] rows; every URL passes
//!   [`atoll_registry::relay_url::check_relay_url`] before it is stored.
//! * The **outbox** of a publisher: the relays its newest verified profile names, kept
//!   with the profile ([`Catalog::publisher_relays`]); [`Catalog::outbox_publishers`]
//!   lists those of the publishers this node trusts.

use atoll_registry::relay_url::check_relay_url;
use atoll_registry::Did;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::error::{CatalogError, Stored};
use crate::store::{find_publisher, now, to_i64, Catalog};
use crate::trust::{check_note, TrustDecision};

/// Most relay choices (added plus disabled) the catalog keeps.
pub const MAX_RELAY_CHOICES: usize = 64;

/// Most outbox rows [`Catalog::outbox_publishers`] reads (publishers × relays).
const MAX_OUTBOX_ROWS: u32 = 2048;

/// What the operator decided about a relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayChoice {
    /// Used besides the configured relays.
    Added,
    /// Not used, whoever names it (config or a publisher's outbox).
    Disabled,
}

crate::stored::stored_names!(RelayChoice, "relay choice", {
    Added => "added",
    Disabled => "disabled",
});

/// One stored relay choice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RelayChoiceRow {
    /// The relay URL.
    pub url: String,
    /// Added or disabled.
    pub choice: RelayChoice,
    /// The operator's note.
    pub note: String,
    /// Unix seconds of the decision.
    pub updated_at: u64,
}

/// A trusted publisher whose profile names relays.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxPublisher {
    /// The publisher.
    pub did: Did,
    /// Its display name, if its profile gave one.
    pub name: Option<String>,
    /// Pinned (`Some(Pin)`), or trusted by score (`None`).
    pub decision: Option<TrustDecision>,
    /// Its trust score.
    pub score: f64,
    /// The relays its newest profile names, in the profile's order.
    pub relays: Vec<String>,
}

fn checked(url: &str) -> Result<(), CatalogError> {
    check_relay_url(url).map_err(|problem| CatalogError::RelayUrl {
        url: url.chars().take(100).collect(),
        problem,
    })
}

/// Replace the outbox of publisher `id` (inside the profile's transaction). The profile
/// was checked when it was verified; the URLs are checked again before they are stored.
pub(crate) fn store_publisher_relays(
    tx: &Connection,
    id: i64,
    relays: &[String],
) -> Result<(), CatalogError> {
    tx.execute("DELETE FROM publisher_relays WHERE publisher_id = ?1", [id])?;
    let mut add = tx.prepare_cached(
        "INSERT INTO publisher_relays (publisher_id, position, url) VALUES (?1, ?2, ?3)",
    )?;
    for (i, url) in relays
        .iter()
        .take(atoll_registry::relay_url::MAX_PROFILE_RELAYS)
        .enumerate()
    {
        checked(url)?;
        add.execute(params![id, i as i64, url])?;
    }
    Ok(())
}

impl Catalog {
    /// Every relay choice, by URL.
    pub fn relay_choices(&self) -> Result<Vec<RelayChoiceRow>, CatalogError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT url, choice, note, updated_at FROM relay_choices ORDER BY url",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(RelayChoiceRow {
                url: r.get(0)?,
                choice: r.get(1)?,
                note: r.get(2)?,
                updated_at: r.get::<_, i64>(3)?.max(0) as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The choice stored for `url`, if any.
    pub fn relay_choice(&self, url: &str) -> Result<Option<RelayChoice>, CatalogError> {
        Ok(self
            .conn
            .prepare_cached("SELECT choice FROM relay_choices WHERE url = ?1")?
            .query_row([url], |r| r.get(0))
            .optional()?)
    }

    /// Record the operator's choice about a relay (replacing an earlier one). Returns
    /// whether anything changed. Refused: a URL that is not a relay URL, a bad note, more
    /// than [`MAX_RELAY_CHOICES`] rows.
    pub fn set_relay_choice(
        &mut self,
        url: &str,
        choice: RelayChoice,
        note: &str,
    ) -> Result<bool, CatalogError> {
        checked(url)?;
        check_note(note)?;
        let now = now();
        self.write(|tx| {
            let current: Option<RelayChoice> = tx
                .query_row(
                    "SELECT choice FROM relay_choices WHERE url = ?1",
                    [url],
                    |r| r.get(0),
                )
                .optional()?;
            if current == Some(choice) {
                return Ok(false);
            }
            if current.is_none() {
                let n: i64 =
                    tx.query_row("SELECT count(*) FROM relay_choices", [], |r| r.get(0))?;
                if n as usize >= MAX_RELAY_CHOICES {
                    return Err(CatalogError::TooManyRelays {
                        max: MAX_RELAY_CHOICES,
                    });
                }
            }
            tx.execute(
                "INSERT INTO relay_choices (url, choice, note, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (url) DO UPDATE SET choice = ?2, note = ?3, updated_at = ?4",
                params![url, choice, note, to_i64(now)],
            )?;
            Ok(true)
        })
    }

    /// Forget the operator's choice about a relay. Returns whether there was one.
    pub fn clear_relay_choice(&mut self, url: &str) -> Result<bool, CatalogError> {
        self.write(|tx| Ok(tx.execute("DELETE FROM relay_choices WHERE url = ?1", [url])? > 0))
    }

    /// The relays the newest verified profile of `did` names (empty if none, or no
    /// profile).
    pub fn publisher_relays(&self, did: &Did) -> Result<Vec<String>, CatalogError> {
        let Some(id) = find_publisher(&self.conn, did)? else {
            return Ok(Vec::new());
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT url FROM publisher_relays WHERE publisher_id = ?1 ORDER BY position",
        )?;
        let rows = stmt.query_map([id], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The publishers this node trusts — pinned, or not blocked with a score of at least
    /// `threshold` — whose profile names relays: pinned first, then by score, then DID.
    pub fn outbox_publishers(&self, threshold: f64) -> Result<Vec<OutboxPublisher>, CatalogError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT p.did, p.name, a.decision, coalesce(t.score, 0), r.url
             FROM publisher_relays r
             JOIN publishers p ON p.id = r.publisher_id
             LEFT JOIN anchors a ON a.publisher_id = p.id
             LEFT JOIN trust_scores t ON t.publisher_id = p.id
             WHERE NOT EXISTS (SELECT 1 FROM blocks b WHERE b.publisher_id = p.id)
               AND (a.decision = 'pin' OR (a.decision IS NULL AND coalesce(t.score, 0) >= ?1))
             ORDER BY a.decision IS NULL, coalesce(t.score, 0) DESC, p.did, r.position
             LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![threshold, MAX_OUTBOX_ROWS], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<TrustDecision>>(2)?,
                r.get::<_, f64>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        let mut out: Vec<OutboxPublisher> = Vec::new();
        for row in rows {
            let (did, name, decision, score, url) = row?;
            let did: Did = did
                .parse()
                .map_err(|e| CatalogError::decode(Stored::Did, e))?;
            match out.last_mut() {
                Some(last) if last.did == did => last.relays.push(url),
                _ => out.push(OutboxPublisher {
                    did,
                    name,
                    decision,
                    score,
                    relays: vec![url],
                }),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use atoll_registry::objects::{PublisherProfile, PublisherType};
    use atoll_registry::{Envelope, Keypair};

    use crate::provenance::Provenance;

    fn open() -> (tempfile::TempDir, Catalog) {
        let dir = tempfile::tempdir().unwrap();
        let c = Catalog::open(dir.path().join("catalog.db")).unwrap();
        (dir, c)
    }

    fn profile(
        key: &Keypair,
        seq: u64,
        relays: &[&str],
    ) -> atoll_registry::Verified<PublisherProfile> {
        let p = PublisherProfile {
            kind: PublisherType,
            did: key.did(),
            name: format!("p{seq}"),
            links: Default::default(),
            next_key: None,
            nostr_keys: vec![],
            iroh_nodes: vec![],
            relays: relays.iter().map(|s| s.to_string()).collect(),
            sequence: seq,
            updated_at: 1,
        };
        Envelope::sign(&p, key).unwrap().verify().unwrap()
    }

    #[test]
    fn relay_choices_persist_across_a_reopen_and_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        {
            let mut c = Catalog::open(&path).unwrap();
            assert!(c
                .set_relay_choice("ws://10.0.0.1:7777", RelayChoice::Added, "lab")
                .unwrap());
            assert!(!c
                .set_relay_choice("ws://10.0.0.1:7777", RelayChoice::Added, "lab")
                .unwrap());
            assert!(c
                .set_relay_choice("wss://cfg.example.org", RelayChoice::Disabled, "")
                .unwrap());
        }
        let mut c = Catalog::open(&path).unwrap();
        let rows = c.relay_choices().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].url, "ws://10.0.0.1:7777");
        assert_eq!(rows[0].choice, RelayChoice::Added);
        assert_eq!(rows[0].note, "lab");
        assert_eq!(
            c.relay_choice("wss://cfg.example.org").unwrap(),
            Some(RelayChoice::Disabled)
        );
        // Re-enabling a disabled relay flips it in place.
        assert!(c
            .set_relay_choice("wss://cfg.example.org", RelayChoice::Added, "")
            .unwrap());
        assert!(c.clear_relay_choice("wss://cfg.example.org").unwrap());
        assert!(!c.clear_relay_choice("wss://cfg.example.org").unwrap());
        assert_eq!(c.relay_choices().unwrap().len(), 1);

        // Hostile input is refused with what is wrong, and nothing is stored.
        let err = c
            .set_relay_choice("http://x.org", RelayChoice::Added, "")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "relay \"http://x.org\": must start with ws:// or wss://"
        );
        let err = c
            .set_relay_choice("ws://x.org", RelayChoice::Added, "a\nb")
            .unwrap_err();
        assert!(matches!(err, CatalogError::Note(_)), "{err}");
        assert_eq!(c.relay_choices().unwrap().len(), 1);

        for i in 1..MAX_RELAY_CHOICES {
            c.set_relay_choice(&format!("ws://r{i}.example.org"), RelayChoice::Added, "")
                .unwrap();
        }
        let err = c
            .set_relay_choice("ws://one-more.example.org", RelayChoice::Added, "")
            .unwrap_err();
        assert!(
            matches!(err, CatalogError::TooManyRelays { max: 64 }),
            "{err}"
        );
        // Changing an existing row is still allowed at the cap.
        c.set_relay_choice("ws://r1.example.org", RelayChoice::Disabled, "")
            .unwrap();
        assert_eq!(c.relay_choices().unwrap().len(), MAX_RELAY_CHOICES);
    }

    #[test]
    fn the_outbox_follows_the_newest_profile_and_trust() {
        let (_dir, mut c) = open();
        let relay = Provenance::Relay("ws://a".into());
        let (pinned, scored, blocked, stranger) = (
            Keypair::from_seed([1; 32]),
            Keypair::from_seed([2; 32]),
            Keypair::from_seed([3; 32]),
            Keypair::from_seed([4; 32]),
        );
        c.ingest_profile(&profile(&pinned, 1, &["ws://b:1", "ws://c:1"]), &relay)
            .unwrap();
        c.ingest_profile(&profile(&blocked, 1, &["ws://evil:1"]), &relay)
            .unwrap();
        c.ingest_profile(&profile(&stranger, 1, &["ws://nobody:1"]), &relay)
            .unwrap();
        c.ingest_profile(&profile(&scored, 1, &["ws://s:1"]), &relay)
            .unwrap();
        assert_eq!(
            c.publisher_relays(&pinned.did()).unwrap(),
            ["ws://b:1", "ws://c:1"]
        );
        c.pin(&pinned.did(), "").unwrap();
        c.block(&blocked.did(), "").unwrap();
        c.ingest_endorsement(
            &Envelope::sign(
                &atoll_registry::Endorsement {
                    kind: atoll_registry::objects::EndorseType,
                    signer: pinned.did(),
                    subject: scored.did(),
                    weight: 1.0,
                    reason: String::new(),
                    sequence: 1,
                    created_at: 1,
                },
                &pinned,
            )
            .unwrap()
            .verify()
            .unwrap(),
            &relay,
        )
        .unwrap();
        c.recompute_trust().unwrap();
        let out = c.outbox_publishers(0.5).unwrap();
        let dids: Vec<Did> = out.iter().map(|o| o.did).collect();
        assert_eq!(dids, [pinned.did(), scored.did()], "{out:?}");
        assert_eq!(out[0].decision, Some(TrustDecision::Pin));
        assert_eq!(out[0].relays, ["ws://b:1", "ws://c:1"]);
        assert_eq!(out[1].decision, None);
        assert!(out[1].score >= 0.5);
        // A higher bar drops the endorsed one; the pinned one stays.
        assert_eq!(c.outbox_publishers(0.99).unwrap().len(), 1);

        // A newer profile replaces the outbox; an older one is refused and changes nothing.
        c.ingest_profile(&profile(&pinned, 3, &["ws://d:1"]), &relay)
            .unwrap();
        c.ingest_profile(&profile(&pinned, 2, &["ws://old:1"]), &relay)
            .unwrap();
        assert_eq!(c.publisher_relays(&pinned.did()).unwrap(), ["ws://d:1"]);

        // Blocking the pinned publisher takes its relays away.
        c.unpin(&pinned.did()).unwrap();
        c.block(&pinned.did(), "").unwrap();
        c.recompute_trust().unwrap();
        let out = c.outbox_publishers(0.5).unwrap();
        assert!(out.iter().all(|o| o.did != pinned.did()), "{out:?}");
        c.check().unwrap();
    }
}
