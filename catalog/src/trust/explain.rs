//! `explain`: where a score came from — the strongest path from an anchor, the damping on
//! each hop, the reports and penalties — in a form a person can follow.

use std::fmt;

use atoll_registry::Did;
use rusqlite::OptionalExtension;
use serde::Serialize;

use super::{PenaltyKind, TrustDecision, TrustParams};
use crate::error::{CatalogError, Missing, Stored};
use crate::store::{find_publisher, Catalog};

/// One DID on the path from an anchor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathStep {
    /// The DID.
    pub did: Did,
    /// Its display name, if known.
    pub name: Option<String>,
    /// Weight of the endorsement from the previous step (None for the anchor).
    pub weight: Option<f64>,
    /// Score from the path alone: previous score × weight × damping (1 for the anchor).
    pub base: f64,
    /// Final score after its reports and penalties (what it passes on).
    pub score: f64,
}

/// A report (negative endorsement) against the DID.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportNote {
    /// Who reported.
    pub by: Did,
    /// Reporter's name, if known.
    pub by_name: Option<String>,
    /// The weight, in [-1, 0).
    pub weight: f64,
    /// The reporter's reason.
    pub reason: String,
}

/// A penalty recorded against the DID.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PenaltyNote {
    /// What kind of misbehaviour.
    pub kind: PenaltyKind,
    /// What happened.
    pub detail: String,
    /// Unix seconds.
    pub at: u64,
}

/// Why a DID has its score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrustExplanation {
    /// The DID.
    pub did: Did,
    /// Its display name, if known.
    pub name: Option<String>,
    /// The score in [0, 1].
    pub score: f64,
    /// The operator's decision that applies, if any: `block` while blocked (even if also
    /// pinned), else `pin`.
    pub decision: Option<TrustDecision>,
    /// Pinned by the operator (kept while blocked; applies again after unblock).
    pub pinned: bool,
    /// From the anchor to this DID (empty if unreachable; just itself if pinned).
    pub path: Vec<PathStep>,
    /// Damping per hop.
    pub damping: f64,
    /// Score from the path alone.
    pub base: f64,
    /// Product of the report factors.
    pub report_factor: f64,
    /// Product of the penalty factors.
    pub penalty_factor: f64,
    /// Reports against the DID.
    pub reports: Vec<ReportNote>,
    /// Penalties against the DID.
    pub penalties: Vec<PenaltyNote>,
    /// When the scores were last computed (None: never).
    pub computed_at: Option<u64>,
}

#[derive(Clone, Copy)]
struct Row {
    score: f64,
    base: f64,
    parent: Option<i64>,
    weight: Option<f64>,
    report_factor: f64,
    penalty_factor: f64,
    computed_at: i64,
}

impl Catalog {
    /// Explain the score of `did`.
    pub fn explain(&self, did: &Did) -> Result<TrustExplanation, CatalogError> {
        let params = TrustParams::default();
        let Some(id) = find_publisher(&self.conn, did)? else {
            return Err(CatalogError::NotFound(Box::new(Missing::Publisher(*did))));
        };
        let name_of = |id: i64| -> Result<(Did, Option<String>), CatalogError> {
            let (d, n): (String, Option<String>) = self
                .conn
                .prepare_cached("SELECT did, name FROM publishers WHERE id = ?1")?
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok((
                d.parse()
                    .map_err(|e| CatalogError::decode(Stored::Did, e))?,
                n,
            ))
        };
        let row_of = |id: i64| -> Result<Option<Row>, CatalogError> {
            Ok(self
                .conn
                .prepare_cached(
                    "SELECT score, base, parent_id, edge_weight, report_factor, penalty_factor, computed_at
                     FROM trust_scores WHERE publisher_id = ?1",
                )?
                .query_row([id], |r| {
                    Ok(Row {
                        score: r.get(0)?,
                        base: r.get(1)?,
                        parent: r.get(2)?,
                        weight: r.get(3)?,
                        report_factor: r.get(4)?,
                        penalty_factor: r.get(5)?,
                        computed_at: r.get(6)?,
                    })
                })
                .optional()?)
        };
        let pinned: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM anchors WHERE publisher_id = ?1 AND decision = 'pin')",
            [id],
            |r| r.get(0),
        )?;
        let blocked: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM blocks WHERE publisher_id = ?1)",
            [id],
            |r| r.get(0),
        )?;
        let decision = if blocked {
            Some(TrustDecision::Block)
        } else {
            pinned.then_some(TrustDecision::Pin)
        };
        let (_, name) = name_of(id)?;
        let me = row_of(id)?;

        let mut path = Vec::new();
        if let Some(row) = &me {
            if row.base > 0.0 {
                let mut cur = Some((id, *row));
                let mut seen = std::collections::HashSet::new();
                while let Some((cid, r)) = cur.take() {
                    if !seen.insert(cid) {
                        break; // a stale table could hold a loop; stop rather than spin
                    }
                    let (d, n) = name_of(cid)?;
                    path.push(PathStep {
                        did: d,
                        name: n,
                        weight: r.weight,
                        base: r.base,
                        score: r.score,
                    });
                    if let Some(p) = r.parent {
                        cur = row_of(p)?.map(|pr| (p, pr));
                    }
                }
                path.reverse();
            }
        }

        let mut reports = Vec::new();
        for row in self
            .conn
            .prepare_cached(
                "SELECT p.did, p.name, e.weight, e.reason FROM endorsements e
                 JOIN publishers p ON p.id = e.signer_id
                 WHERE e.subject_id = ?1 AND e.weight < 0 ORDER BY e.weight LIMIT 20",
            )?
            .query_map([id], |r| {
                Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
        {
            let (d, by_name, weight, reason) = row?;
            reports.push(ReportNote {
                by: d
                    .parse()
                    .map_err(|e| CatalogError::decode(Stored::Did, e))?,
                by_name,
                weight,
                reason,
            });
        }
        let penalties = self
            .conn
            .prepare_cached(
                "SELECT kind, detail, at FROM penalties WHERE publisher_id = ?1 ORDER BY at, id",
            )?
            .query_map([id], |r| {
                Ok(PenaltyNote {
                    kind: r.get(0)?,
                    detail: r.get(1)?,
                    at: r.get::<_, i64>(2)?.max(0) as u64,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let (score, base, report_factor, penalty_factor, computed_at) = match &me {
            Some(r) => (
                r.score,
                r.base,
                r.report_factor,
                r.penalty_factor,
                Some(r.computed_at.max(0) as u64),
            ),
            None => (0.0, 0.0, 1.0, 1.0, None),
        };
        Ok(TrustExplanation {
            did: *did,
            name,
            score,
            decision,
            pinned,
            path,
            damping: params.damping,
            base,
            report_factor,
            penalty_factor,
            reports,
            penalties,
            computed_at,
        })
    }
}

fn label(did: &Did, name: &Option<String>) -> String {
    match name {
        Some(n) => format!("{n} ({})", did.short()),
        None => did.short(),
    }
}

fn short_name(did: &Did, name: &Option<String>) -> String {
    name.clone().unwrap_or_else(|| did.short())
}

impl fmt::Display for TrustExplanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: {:.2}", label(&self.did, &self.name), self.score)?;
        match self.decision {
            Some(TrustDecision::Block) => {
                writeln!(
                    f,
                    "  you blocked it: its score is 0, its endorsements count for nothing and \
                     its apps are never installed or updated"
                )?;
                if self.pinned {
                    writeln!(
                        f,
                        "  your pin is kept: it applies again when you unblock it"
                    )?;
                }
            }
            Some(TrustDecision::Pin) => {
                writeln!(f, "  you pinned it: it is a trust anchor (1.00)")?;
            }
            None => {}
        }
        if self.decision.is_none() {
            if self.path.is_empty() {
                if self.computed_at.is_none() && self.penalties.is_empty() {
                    writeln!(
                        f,
                        "  no path from any DID you pinned (or scores not computed yet)"
                    )?;
                } else {
                    writeln!(
                        f,
                        "  no path from any DID you pinned: nobody you trust endorses it"
                    )?;
                }
            } else {
                let mut prev: Option<&PathStep> = None;
                for step in &self.path {
                    match prev {
                        None => write!(
                            f,
                            "  you pinned {} ({:.2})",
                            short_name(&step.did, &step.name),
                            step.score
                        )?,
                        Some(p) => {
                            write!(
                                f,
                                "\n    → {} endorses {} {:.2} → {}: {:.2}",
                                short_name(&p.did, &p.name),
                                short_name(&step.did, &step.name),
                                step.weight.unwrap_or(0.0),
                                short_name(&step.did, &step.name),
                                step.base,
                            )?;
                            if (step.score - step.base).abs() > 1e-9 {
                                write!(f, " × reports/penalties = {:.2}", step.score)?;
                            }
                        }
                    }
                    prev = Some(step);
                }
                writeln!(
                    f,
                    "  (each hop: endorser's score × weight × damping {:.2})",
                    self.damping
                )?;
            }
        }
        for r in &self.reports {
            writeln!(
                f,
                "  report: {} says {:.2}{}",
                label(&r.by, &r.by_name),
                r.weight,
                if r.reason.is_empty() {
                    String::new()
                } else {
                    format!(" ({:?})", r.reason)
                }
            )?;
        }
        if self.report_factor < 1.0 {
            writeln!(
                f,
                "  reports weighed by the reporters' standing: × {:.2}",
                self.report_factor
            )?;
        }
        for p in &self.penalties {
            writeln!(f, "  penalty: {}: {}", p.kind, p.detail)?;
        }
        if self.penalty_factor < 1.0 {
            if self.decision == Some(TrustDecision::Pin) {
                writeln!(
                    f,
                    "  penalties × {:.2} not applied: you pinned it",
                    self.penalty_factor
                )?;
            } else {
                writeln!(f, "  penalties: × {:.2}", self.penalty_factor)?;
            }
        }
        if self.decision.is_none()
            && !self.path.is_empty()
            && (self.report_factor < 1.0 || self.penalty_factor < 1.0)
        {
            writeln!(
                f,
                "  score: {:.2} × {:.2} × {:.2} = {:.2}",
                self.base, self.report_factor, self.penalty_factor, self.score
            )?;
        }
        Ok(())
    }
}
