//! Who endorses whom: the endorsements and reports a DID gave and received (for the UI
//! and `trust endorsements`), the sequence a signer's next endorsement of a subject needs,
//! and the forged-input penalty the node's pipeline sets when bad input provably comes
//! from a DID.

use atoll_registry::Did;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::PenaltyKind;
use crate::error::{CatalogError, Stored};
use crate::store::{find_publisher, now, Catalog};

/// One stored endorsement (weight > 0) or report (weight < 0).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndorsementRow {
    /// Who signed it.
    pub signer: Did,
    /// The signer's display name, if known.
    pub signer_name: Option<String>,
    /// Whom it is about.
    pub subject: Did,
    /// The subject's display name, if known.
    pub subject_name: Option<String>,
    /// In [-1, 1]: negative is a report.
    pub weight: f64,
    /// The signer's reason.
    pub reason: String,
    /// Its sequence (the highest per signer and subject is kept).
    pub sequence: u64,
    /// Unix seconds when signed.
    pub created_at: u64,
}

/// What a DID gave and received.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Endorsements {
    /// Signed by the DID, newest first.
    pub given: Vec<EndorsementRow>,
    /// About the DID, newest first.
    pub received: Vec<EndorsementRow>,
}

const SELECT: &str = "SELECT s.did, s.name, t.did, t.name, e.weight, e.reason, e.sequence, e.created_at
     FROM endorsements e JOIN publishers s ON s.id = e.signer_id JOIN publishers t ON t.id = e.subject_id";

impl Catalog {
    /// The endorsements and reports `did` gave and received, at most `limit` of each,
    /// newest first. An unknown DID has none.
    pub fn endorsements_of(&self, did: &Did, limit: u32) -> Result<Endorsements, CatalogError> {
        let Some(id) = find_publisher(&self.conn, did)? else {
            return Ok(Endorsements {
                given: Vec::new(),
                received: Vec::new(),
            });
        };
        let rows = |side: &str| -> Result<Vec<EndorsementRow>, CatalogError> {
            let mut stmt = self.conn.prepare(&format!(
                "{SELECT} WHERE e.{side} = ?1 ORDER BY e.created_at DESC, e.sequence DESC LIMIT ?2"
            ))?;
            let mapped = stmt.query_map(params![id, limit], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, f64>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, i64>(7)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in mapped {
                let (signer, signer_name, subject, subject_name, weight, reason, seq, at) = row?;
                let parse = |s: String| s.parse().map_err(|e| CatalogError::decode(Stored::Did, e));
                out.push(EndorsementRow {
                    signer: parse(signer)?,
                    signer_name,
                    subject: parse(subject)?,
                    subject_name,
                    weight,
                    reason,
                    sequence: seq.max(0) as u64,
                    created_at: at.max(0) as u64,
                });
            }
            Ok(out)
        };
        Ok(Endorsements {
            given: rows("signer_id")?,
            received: rows("subject_id")?,
        })
    }

    /// The sequence of the stored endorsement by `signer` of `subject`, if any: a new one
    /// must be higher.
    pub fn endorsement_sequence(
        &self,
        signer: &Did,
        subject: &Did,
    ) -> Result<Option<u64>, CatalogError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT e.sequence FROM endorsements e
                 JOIN publishers s ON s.id = e.signer_id JOIN publishers t ON t.id = e.subject_id
                 WHERE s.did = ?1 AND t.did = ?2",
            )?
            .query_row([signer.to_string(), subject.to_string()], |r| {
                r.get::<_, i64>(0)
            })
            .optional()?
            .map(|s| s.max(0) as u64))
    }

    /// Record a `forged` penalty against `did` for one incident (e.g. the payload id of a
    /// correctly signed entry whose manifest failed): once per incident, lowering the
    /// stored score at once. Only for input that is *provably* the DID's doing (see
    /// [`crate::AuditInput::attributed_to`]). A DID this node holds nothing else of is
    /// left alone: its score is 0 anyway (a new key is free), and nothing of the refused
    /// input stays stored, not even a row naming the DID. Returns whether a penalty was
    /// recorded now.
    pub fn penalize_forged(
        &mut self,
        did: &Did,
        incident: &str,
        detail: &str,
    ) -> Result<bool, CatalogError> {
        let now = now();
        self.write(|tx| {
            let Some(id) = find_publisher(tx, did)? else {
                return Ok(false);
            };
            let before: i64 = tx.query_row(
                "SELECT count(*) FROM penalties WHERE publisher_id = ?1",
                [id],
                |r| r.get(0),
            )?;
            super::penalize_in(tx, id, PenaltyKind::Forged, incident, detail, now)?;
            let after: i64 = tx.query_row(
                "SELECT count(*) FROM penalties WHERE publisher_id = ?1",
                [id],
                |r| r.get(0),
            )?;
            Ok(after > before)
        })
    }
}
