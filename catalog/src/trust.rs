//! Trust: operator anchors (pin / block), signed endorsements and penalties feed a damped
//! propagation from the anchors to a score in [0, 1] per DID ([`compute`] has the formula;
//! the crate README explains the choice). [`Catalog::explain`] shows where a score came
//! from.

pub mod compute;
mod endorsements;
mod explain;

use atoll_registry::Did;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

pub use endorsements::{EndorsementRow, Endorsements};
pub use explain::{PathStep, PenaltyNote, ReportNote, TrustExplanation};

use crate::error::{CatalogError, NoteError, Stored};
use crate::store::{find_publisher, now, publisher_id, to_i64, Catalog};
use compute::{Decision, Graph, NONE};

/// Parameters of the trust computation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrustParams {
    /// Factor per endorsement hop, in (0, 1). Default 0.85 (as in PageRank).
    pub damping: f64,
    /// Factor per equivocation incident. Default 0.5.
    pub equivocation_factor: f64,
    /// Factor per forged input attributed to the DID. Default 0.7.
    pub forged_factor: f64,
}

impl Default for TrustParams {
    fn default() -> Self {
        Self {
            damping: 0.85,
            equivocation_factor: 0.5,
            forged_factor: 0.7,
        }
    }
}

/// Every operator decision that applies, one per DID: `block` wins over `pin` (the pin
/// stays recorded and applies again after unblock).
const DECISIONS: &str = "SELECT publisher_id, 'block' FROM blocks
     UNION ALL
     SELECT publisher_id, decision FROM anchors
     WHERE decision = 'pin' AND publisher_id NOT IN (SELECT publisher_id FROM blocks)";

/// Longest note kept with a trust decision (pin / block), in bytes.
pub const MAX_NOTE_BYTES: usize = 1024;

/// Check a trust decision's note: at most [`MAX_NOTE_BYTES`], no control characters but
/// tab. [`Catalog::pin`] and [`Catalog::block`] enforce it; callers may check earlier.
pub fn check_note(note: &str) -> Result<(), NoteError> {
    if note.len() > MAX_NOTE_BYTES {
        return Err(NoteError::TooLong {
            len: note.len(),
            max: MAX_NOTE_BYTES,
        });
    }
    if note.chars().any(|c| c.is_control() && c != '\t') {
        return Err(NoteError::ControlCharacter);
    }
    Ok(())
}

/// The operator's decision about a DID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrustDecision {
    /// A trust anchor: score 1, its endorsements count.
    Pin,
    /// Score 0, its endorsements count for nothing.
    Block,
}

crate::stored::stored_names!(TrustDecision, "trust decision", {
    Pin => "pin",
    Block => "block",
});

/// Misbehaviour that lowers a DID's score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum PenaltyKind {
    /// Signed two different objects with one sequence.
    Equivocation,
    /// Input provably from the DID failed verification (see `AuditInput::attributed_to`).
    Forged,
}

crate::stored::stored_names!(PenaltyKind, "penalty kind", {
    Equivocation => "equivocation",
    Forged => "forged",
});

impl PenaltyKind {
    fn factor(self, p: &TrustParams) -> f64 {
        match self {
            Self::Equivocation => p.equivocation_factor,
            Self::Forged => p.forged_factor,
        }
    }
}

/// What a trust recomputation did.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TrustStats {
    /// DIDs known.
    pub dids: usize,
    /// Endorsements and reports counted: those signed by DIDs reachable from an anchor
    /// (see [`reachable_edges`]).
    pub endorsements: usize,
    /// DIDs with a score above 0.
    pub trusted: usize,
    /// Anchors (pinned DIDs).
    pub anchors: usize,
}

/// One row of `atoll trust list`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrustRow {
    /// The DID.
    pub did: Did,
    /// Display name from its profile.
    pub name: Option<String>,
    /// Score in [0, 1] (0 if never computed).
    pub score: f64,
    /// The operator's decision that applies, if any: `block` while blocked (even if also
    /// pinned), else `pin`.
    pub decision: Option<TrustDecision>,
    /// Pinned by the operator (kept while blocked; applies again after unblock).
    pub pinned: bool,
    /// Hops from the anchor on the best path.
    pub hops: Option<u32>,
    /// Number of penalties recorded.
    pub penalties: u32,
}

impl Catalog {
    /// Make `did` a trust anchor (score 1). Takes effect at the next [`Catalog::recompute_trust`].
    /// A blocked DID stays blocked (score 0) until unblocked; the pin applies then.
    pub fn pin(&mut self, did: &Did, note: &str) -> Result<(), CatalogError> {
        check_note(note)?;
        let now = now();
        self.write(|tx| {
            let id = publisher_id(tx, did, now)?;
            tx.execute(
                "INSERT INTO anchors (publisher_id, decision, note, decided_at) VALUES (?1, 'pin', ?2, ?3)
                 ON CONFLICT (publisher_id) DO UPDATE SET decision = 'pin', note = ?2, decided_at = ?3",
                params![id, note, to_i64(now)],
            )?;
            Ok(())
        })
    }

    /// Block `did`: score 0, its endorsements count for nothing, and its apps are never
    /// installed or updated. A block is its own state: a pin stays recorded beside it and
    /// applies again after [`Catalog::unblock`].
    pub fn block(&mut self, did: &Did, note: &str) -> Result<(), CatalogError> {
        check_note(note)?;
        let now = now();
        self.write(|tx| {
            let id = publisher_id(tx, did, now)?;
            tx.execute(
                "INSERT INTO blocks (publisher_id, note, blocked_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (publisher_id) DO UPDATE SET note = ?2, blocked_at = ?3",
                params![id, note, to_i64(now)],
            )?;
            Ok(())
        })
    }

    /// Remove a pin; returns false if `did` was not pinned.
    pub fn unpin(&mut self, did: &Did) -> Result<bool, CatalogError> {
        self.write(|tx| {
            let Some(id) = find_publisher(tx, did)? else {
                return Ok(false);
            };
            Ok(tx.execute(
                "DELETE FROM anchors WHERE publisher_id = ?1 AND decision = 'pin'",
                [id],
            )? > 0)
        })
    }

    /// Remove a block; returns false if `did` was not blocked. What held before the block
    /// (a pin, endorsements) counts again at the next [`Catalog::recompute_trust`].
    pub fn unblock(&mut self, did: &Did) -> Result<bool, CatalogError> {
        self.write(|tx| {
            let Some(id) = find_publisher(tx, did)? else {
                return Ok(false);
            };
            Ok(tx.execute("DELETE FROM blocks WHERE publisher_id = ?1", [id])? > 0)
        })
    }

    /// Whether the operator blocked `did`.
    pub fn is_blocked(&self, did: &Did) -> Result<bool, CatalogError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM blocks b JOIN publishers p ON p.id = b.publisher_id
                 WHERE p.did = ?1)",
            )?
            .query_row([did.to_string()], |r| r.get(0))?)
    }

    /// Recompute every score with the default parameters.
    pub fn recompute_trust(&mut self) -> Result<TrustStats, CatalogError> {
        self.recompute_trust_with(&TrustParams::default())
    }

    /// Recompute every score, in one write transaction: read the graph, propagate, store
    /// scores with what explains them, and refresh the apps' sort key.
    pub fn recompute_trust_with(
        &mut self,
        params: &TrustParams,
    ) -> Result<TrustStats, CatalogError> {
        let now = to_i64(now());
        self.write(|tx| {
            let max_id: i64 = tx.query_row("SELECT coalesce(max(id), 0) FROM publishers", [], |r| r.get(0))?;
            let n = usize::try_from(max_id).unwrap_or(0) + 1;
            let index = |id: i64| u32::try_from(id).ok().filter(|&i| (i as usize) < n);
            let edges = reachable_edges(tx, n)?;
            let endorsements = edges.len();
            let graph = Graph::from_edges(n, edges);
            let mut decisions = vec![Decision::None; n];
            let mut anchors = 0;
            for row in tx
                .prepare(DECISIONS)?
                .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, TrustDecision>(1)?)))?
            {
                let (id, d) = row?;
                if let Some(i) = index(id) {
                    decisions[i as usize] = match d {
                        TrustDecision::Pin => {
                            anchors += 1;
                            Decision::Pin
                        }
                        TrustDecision::Block => Decision::Block,
                    };
                }
            }
            let mut penalty = vec![1.0f64; n];
            for row in tx
                .prepare("SELECT publisher_id, kind, count(*) FROM penalties GROUP BY publisher_id, kind")?
                .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))?
            {
                let (id, kind, count) = row?;
                let factor = if kind == "equivocation" {
                    params.equivocation_factor
                } else {
                    params.forged_factor
                };
                if let Some(i) = index(id) {
                    penalty[i as usize] *= factor.clamp(0.0, 1.0).powi(i32::try_from(count).unwrap_or(i32::MAX));
                }
            }
            let nodes = compute::compute(&graph, &decisions, &penalty, params.damping);

            tx.execute("DELETE FROM trust_scores", [])?;
            let mut insert = tx.prepare(
                "INSERT INTO trust_scores (publisher_id, score, base, parent_id, edge_weight, anchor_id,
                     hops, report_factor, penalty_factor, computed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            let opt = |i: u32| (i != NONE).then_some(i64::from(i));
            let mut trusted = 0;
            for (i, node) in nodes.iter().enumerate() {
                let keep = node.base > 0.0
                    || decisions[i] != Decision::None
                    || node.report_factor < 1.0
                    || node.penalty_factor < 1.0;
                if !keep || i == 0 {
                    continue;
                }
                if node.score > 0.0 {
                    trusted += 1;
                }
                insert.execute(params![
                    i as i64,
                    node.score,
                    node.base,
                    opt(node.parent),
                    (node.parent != NONE).then_some(node.edge_weight),
                    opt(node.anchor),
                    node.hops,
                    node.report_factor,
                    node.penalty_factor,
                    now
                ])?;
            }
            tx.execute(
                "UPDATE apps SET trust = coalesce((SELECT score FROM trust_scores t WHERE t.publisher_id = apps.publisher_id), 0)",
                [],
            )?;
            tracing::info!(dids = n - 1, endorsements, trusted, anchors, "trust recomputed");
            Ok(TrustStats {
                dids: n.saturating_sub(1),
                endorsements,
                trusted,
                anchors,
            })
        })
    }

    /// The current score of `did` (0 if unknown or unreachable).
    pub fn trust_score(&self, did: &Did) -> Result<f64, CatalogError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT t.score FROM publishers p JOIN trust_scores t ON t.publisher_id = p.id WHERE p.did = ?1",
            )?
            .query_row([did.to_string()], |r| r.get(0))
            .optional()?
            .unwrap_or(0.0))
    }

    /// Operator decisions first, then the highest scores; at most `limit` rows.
    pub fn trust_list(&self, limit: u32) -> Result<Vec<TrustRow>, CatalogError> {
        let mut stmt = self.conn.prepare(
            "SELECT p.did, p.name, coalesce(t.score, 0),
                    CASE WHEN b.publisher_id IS NOT NULL THEN 'block' ELSE a.decision END, t.hops,
                    (SELECT count(*) FROM penalties x WHERE x.publisher_id = p.id),
                    a.decision = 'pin'
             FROM publishers p
             LEFT JOIN trust_scores t ON t.publisher_id = p.id
             LEFT JOIN anchors a ON a.publisher_id = p.id
             LEFT JOIN blocks b ON b.publisher_id = p.id
             WHERE t.publisher_id IS NOT NULL OR a.publisher_id IS NOT NULL OR b.publisher_id IS NOT NULL
             ORDER BY a.decision IS NULL AND b.publisher_id IS NULL, b.publisher_id IS NOT NULL,
                      coalesce(t.score, 0) DESC, p.did
             LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get::<_, Option<bool>>(6)?.unwrap_or(false),
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (did, name, score, decision, hops, penalties, pinned) = row?;
            out.push(TrustRow {
                did: did
                    .parse()
                    .map_err(|e| CatalogError::decode(Stored::Did, e))?,
                name,
                score,
                decision,
                hops,
                penalties,
                pinned,
            });
        }
        Ok(out)
    }
}

/// The endorsements and reports that can change a score: those whose signer is reachable
/// from an anchor over positive endorsements from non-blocked signers. Anything else is
/// signed by a DID with score 0, whose endorsements give nothing and whose reports weigh
/// nothing (a report is weighed by its signer's standing), so leaving it out gives the
/// same scores, and a flood of endorsements among fresh DIDs nobody trusts costs a
/// recompute nothing. Found by a breadth-first walk over the primary key (signer,
/// subject); each signer has at most [`crate::MAX_ENDORSEMENTS_PER_SIGNER`] rows.
fn reachable_edges(tx: &Connection, n: usize) -> Result<Vec<(u32, u32, f64)>, CatalogError> {
    let index = |id: i64| u32::try_from(id).ok().filter(|&i| (i as usize) < n);
    let mut blocked = vec![false; n];
    let mut seen = vec![false; n];
    let mut queue = std::collections::VecDeque::new();
    for row in tx.prepare(DECISIONS)?.query_map([], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, TrustDecision>(1)?))
    })? {
        let (id, d) = row?;
        if let Some(i) = index(id) {
            match d {
                TrustDecision::Pin => {
                    seen[i as usize] = true;
                    queue.push_back(i);
                }
                TrustDecision::Block => blocked[i as usize] = true,
            }
        }
    }
    let mut edges = Vec::new();
    let mut stmt =
        tx.prepare_cached("SELECT subject_id, weight FROM endorsements WHERE signer_id = ?1")?;
    while let Some(u) = queue.pop_front() {
        if blocked[u as usize] {
            continue;
        }
        let mut rows = stmt.query([i64::from(u)])?;
        while let Some(r) = rows.next()? {
            let Some(v) = index(r.get(0)?) else { continue };
            let w: f64 = r.get(1)?;
            edges.push((u, v, w));
            if w > 0.0 && !seen[v as usize] {
                seen[v as usize] = true;
                queue.push_back(v);
            }
        }
    }
    Ok(edges)
}

/// Record a penalty once per incident. A new incident lowers the stored score at once (the
/// next recompute gives the same result and also lowers those the DID endorses). Pinned
/// DIDs keep 1: the operator's decision wins, and the explanation shows the penalty.
pub(crate) fn penalize_in(
    tx: &Connection,
    publisher: i64,
    kind: PenaltyKind,
    incident: &str,
    detail: &str,
    now: u64,
) -> Result<(), CatalogError> {
    let added = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO penalties (publisher_id, kind, incident, detail, at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![publisher, kind.as_str(), incident, detail, to_i64(now)])?;
    if added == 0 {
        return Ok(());
    }
    let factor = kind.factor(&TrustParams::default());
    tx.prepare_cached(
        "UPDATE trust_scores SET score = score * ?2, penalty_factor = penalty_factor * ?2
         WHERE publisher_id = ?1
           AND NOT EXISTS (SELECT 1 FROM anchors WHERE publisher_id = ?1 AND decision = 'pin')",
    )?
    .execute(params![publisher, factor])?;
    tx.prepare_cached(
        "UPDATE apps SET trust = coalesce((SELECT score FROM trust_scores WHERE publisher_id = ?1), 0)
         WHERE publisher_id = ?1",
    )?
    .execute([publisher])?;
    Ok(())
}
