//! Judging an attack (pure logic): what the node was seen to do — the refusals it
//! recorded, the facts checked afterwards, what it left stored — against what the attack
//! expects. An attack passes only if every expected refusal was recorded, every fact
//! holds, nothing of it stayed stored, and it ran to the end.

use std::collections::BTreeMap;

use serde::Serialize;

/// One fact checked after an attack (e.g. "the head stays at 1.0.0").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fact {
    /// What was checked.
    pub what: String,
    /// Whether it holds.
    pub held: bool,
}

/// What the node did during one attack.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Observation {
    /// Refusals the node recorded during the attack, by reason code.
    pub refused: BTreeMap<String, u64>,
    /// Facts checked afterwards.
    pub facts: Vec<Fact>,
    /// What the attack left in the catalog or blob store (labelled rows).
    pub leftovers: Vec<String>,
    /// Rows it brought that stay by design (a genuine entry kept stale, as evidence, or
    /// waiting for a source that serves its manifest), labelled like `leftovers`.
    pub kept: Vec<String>,
    /// Why those rows stay.
    pub kept_why: Option<String>,
    /// Why the attack could not be run to the end, if it could not.
    pub error: Option<String>,
}

impl Observation {
    /// Note a fact.
    pub fn fact(&mut self, what: impl Into<String>, held: bool) {
        self.facts.push(Fact {
            what: what.into(),
            held,
        });
    }

    /// Say why the rows the attack brought and that stay (see [`Observation::kept`]) stay.
    pub fn keeping(&mut self, why: impl Into<String>) {
        self.kept_why = Some(why.into());
    }

    /// One line: the refusals, the facts, what stayed.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if self.refused.is_empty() {
            parts.push("no refusal recorded".to_owned());
        } else {
            let codes: Vec<String> = self
                .refused
                .iter()
                .map(|(c, n)| format!("{c} x{n}"))
                .collect();
            parts.push(format!("refused: {}", codes.join(", ")));
        }
        for f in &self.facts {
            parts.push(if f.held {
                f.what.clone()
            } else {
                format!("NOT {}", f.what)
            });
        }
        if !self.kept.is_empty() {
            let mut kinds: Vec<&str> = self
                .kept
                .iter()
                .filter_map(|k| k.split(' ').next())
                .collect();
            kinds.dedup();
            let why = self.kept_why.as_deref().unwrap_or("by design");
            parts.push(format!("kept ({why}): {}", kinds.join(", ")));
        }
        if self.leftovers.is_empty() {
            parts.push("nothing else stored".to_owned());
        } else {
            parts.push(format!("left stored: {}", self.leftovers.join(", ")));
        }
        if let Some(e) = &self.error {
            parts.push(format!("error: {e}"));
        }
        parts.join("; ")
    }
}

/// PASS or FAIL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// The defence held.
    Pass,
    /// It did not (or the attack could not be checked).
    Fail,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Self::Pass => "PASS",
            Self::Fail => "FAIL",
        })
    }
}

/// The verdict on one attack, with why it failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// PASS or FAIL.
    pub status: Status,
    /// Each reason it failed (empty on PASS).
    pub failures: Vec<String>,
}

/// Judge `obs` against the refusal codes the attack expects (each at least once).
pub fn judge(expected: &[&str], obs: &Observation) -> Verdict {
    let mut failures: Vec<String> = expected
        .iter()
        .filter(|c| obs.refused.get(**c).copied().unwrap_or(0) == 0)
        .map(|c| format!("no `{c}` refusal was recorded"))
        .collect();
    failures.extend(
        obs.facts
            .iter()
            .filter(|f| !f.held)
            .map(|f| format!("does not hold: {}", f.what)),
    );
    if !obs.leftovers.is_empty() {
        failures.push(format!("left stored: {}", obs.leftovers.join(", ")));
    }
    if let Some(e) = &obs.error {
        failures.push(format!("could not run: {e}"));
    }
    Verdict {
        status: if failures.is_empty() {
            Status::Pass
        } else {
            Status::Fail
        },
        failures,
    }
}

/// One row of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Stable id (`rollback`, `endless-data`, …).
    pub id: &'static str,
    /// The attack.
    pub attack: &'static str,
    /// Which attack list it comes from (`tuf` or `atoll`).
    pub list: &'static str,
    /// The refusal expected.
    pub expected: &'static str,
    /// What happened.
    pub happened: String,
    /// PASS or FAIL.
    pub status: Status,
    /// Why it failed.
    pub failures: Vec<String>,
    /// Seconds it took.
    pub seconds: f64,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Every attack, in order.
    pub attacks: Vec<Row>,
    /// Attacks passed.
    pub passed: usize,
    /// Attacks failed.
    pub failed: usize,
    /// Seconds the whole run took (node start and stop included).
    pub seconds: f64,
}

impl Report {
    /// Sum up `rows`.
    pub fn new(attacks: Vec<Row>, seconds: f64) -> Self {
        let failed = attacks.iter().filter(|r| r.status == Status::Fail).count();
        Self {
            passed: attacks.len() - failed,
            failed,
            attacks,
            seconds,
        }
    }

    /// True when every attack passed.
    pub fn ok(&self) -> bool {
        self.failed == 0 && !self.attacks.is_empty()
    }

    /// The table `atoll conformance` prints: per attack its id and result, then the
    /// expected refusal and what happened, indented below.
    pub fn table(&self) -> String {
        let width = self
            .attacks
            .iter()
            .map(|r| r.id.len())
            .max()
            .unwrap_or(6)
            .max(6);
        let mut out = format!("{:<width$}  RESULT  LIST   ATTACK\n", "ID");
        for r in &self.attacks {
            out.push_str(&format!(
                "{:<width$}  {:<6}  {:<5}  {} ({:.1} s)\n",
                r.id, r.status, r.list, r.attack, r.seconds
            ));
            let pad = " ".repeat(width + 2);
            out.push_str(&format!("{pad}expected: {}\n", r.expected));
            out.push_str(&format!("{pad}happened: {}\n", r.happened));
            for f in &r.failures {
                out.push_str(&format!("{pad}FAILED:   {f}\n"));
            }
        }
        out.push_str(&format!(
            "{} attacks: {} passed, {} failed, in {:.1} s\n",
            self.attacks.len(),
            self.passed,
            self.failed,
            self.seconds
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(codes: &[(&str, u64)]) -> Observation {
        Observation {
            refused: codes.iter().map(|(c, n)| ((*c).to_owned(), *n)).collect(),
            ..Observation::default()
        }
    }

    #[test]
    fn an_attack_passes_only_when_refused_with_every_expected_reason_and_nothing_left() {
        let mut obs = refused(&[("did-signature", 2)]);
        obs.fact("the head stays at 1.0.0", true);
        assert_eq!(judge(&["did-signature"], &obs).status, Status::Pass);
        assert!(obs.summary().contains("refused: did-signature x2"));
        assert!(obs.summary().contains("nothing else stored"));
    }

    #[test]
    fn a_broken_defence_is_reported_fail_with_why() {
        // The node accepted the forgery: no refusal recorded, the head moved, a row stayed.
        let mut obs = refused(&[]);
        obs.fact("the head stays at 1.0.0", false);
        obs.leftovers.push("entry 00ff".to_owned());
        let v = judge(&["did-signature"], &obs);
        assert_eq!(v.status, Status::Fail);
        assert_eq!(
            v.failures,
            vec![
                "no `did-signature` refusal was recorded".to_owned(),
                "does not hold: the head stays at 1.0.0".to_owned(),
                "left stored: entry 00ff".to_owned(),
            ]
        );
        // Refused for another reason than expected is a failure too.
        assert_eq!(
            judge(&["rollback"], &refused(&[("malformed", 1)])).status,
            Status::Fail
        );
        // So is an attack that could not be run.
        let obs = Observation {
            error: Some("the relay did not start".into()),
            ..refused(&[("rollback", 1)])
        };
        assert_eq!(judge(&["rollback"], &obs).status, Status::Fail);
    }

    #[test]
    fn the_report_fails_on_any_fail_and_prints_every_row() {
        let row = |id, status| Row {
            id,
            attack: "an attack",
            list: "tuf",
            expected: "refused",
            happened: "refused: x x1".into(),
            status,
            failures: if status == Status::Fail {
                vec!["no `x` refusal was recorded".into()]
            } else {
                vec![]
            },
            seconds: 0.5,
        };
        let good = Report::new(vec![row("a", Status::Pass), row("b", Status::Pass)], 1.0);
        assert!(good.ok());
        let bad = Report::new(vec![row("a", Status::Pass), row("b", Status::Fail)], 1.0);
        assert!(!bad.ok());
        let table = bad.table();
        assert!(table.contains("b       FAIL"), "{table}");
        assert!(
            table.contains("FAILED:   no `x` refusal was recorded"),
            "{table}"
        );
        assert!(table.contains("2 attacks: 1 passed, 1 failed"), "{table}");
        assert!(!Report::new(vec![], 0.0).ok(), "an empty run is not a pass");
    }
}
