//! The install/update guard: one decision, used by every path that installs an app or
//! moves it to a newer head (the API's install and update, the CLI and the UI through the
//! API, auto-update), on what the catalog knows about the app's head.
//!
//! A head is refused for each [`Refusal`] that applies. Only two may be overridden by the
//! operator, and only explicitly: [`Refusal::Stale`] (`override_stale`) and
//! [`Refusal::BelowThreshold`] (`override_trust`). A yanked or equivocated head, a blocked
//! publisher and a retired key are never installed. Auto-update never overrides.
//!
//! Adding a reason: a variant in [`Refusal`] (with its arms in the `match`es below, the
//! compiler lists them) and one line in [`refusals`].

use atoll_registry::AppRef;
use serde::Serialize;

use crate::error::CatalogError;
use crate::search::AppSummary;
use crate::store::Catalog;

/// Why a head is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Refusal {
    /// Past its signed `expires_at` (a frozen or withheld feed looks like this).
    Stale,
    /// The head entry withdraws its version.
    Yanked,
    /// The publisher signed two different entries with one sequence for this app.
    Equivocated,
    /// The operator blocked the publisher.
    Blocked,
    /// The publisher's trust score is below this node's install threshold.
    BelowThreshold,
    /// Signed by a key the publisher has retired (key rotation).
    RetiredKey,
}

/// An override the operator may send with an install or update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Override {
    /// Install or update although the head is stale.
    #[serde(rename = "override_stale")]
    Stale,
    /// Install or update although the publisher is below the trust threshold.
    #[serde(rename = "override_trust")]
    Trust,
}

impl Override {
    /// The API body field (`override_stale`, `override_trust`).
    pub fn field(self) -> &'static str {
        match self {
            Self::Stale => "override_stale",
            Self::Trust => "override_trust",
        }
    }

    /// The CLI flag (`--override-stale`, `--override-trust`).
    pub fn flag(self) -> &'static str {
        match self {
            Self::Stale => "--override-stale",
            Self::Trust => "--override-trust",
        }
    }
}

impl Refusal {
    /// The name used in the API (`badges`, `reasons`) and the audit log.
    pub fn code(self) -> &'static str {
        match self {
            Self::Stale => "stale",
            Self::Yanked => "yanked",
            Self::Equivocated => "equivocated",
            Self::Blocked => "blocked",
            Self::BelowThreshold => "below-threshold",
            Self::RetiredKey => "retired-key",
        }
    }

    /// The override that lifts this refusal, if one is safe.
    pub fn lifted_by(self) -> Option<Override> {
        match self {
            Self::Stale => Some(Override::Stale),
            Self::BelowThreshold => Some(Override::Trust),
            Self::Yanked | Self::Equivocated | Self::Blocked | Self::RetiredKey => None,
        }
    }

    /// What is wrong, with the facts, and what the operator can do about it.
    pub fn message(self, f: &GuardFacts) -> String {
        match self {
            Self::Stale => format!(
                "version {} is stale: its signed expiry (unix {}) has passed, so the publisher's \
                 feed may be frozen or withheld; wait for a fresh entry, or override with \
                 override_stale (CLI {})",
                f.version,
                f.expires_at,
                Override::Stale.flag()
            ),
            Self::Yanked => format!(
                "version {} is yanked by its publisher; it is never installed (no override): \
                 wait for a newer version",
                f.version
            ),
            Self::Equivocated => "its publisher signed two different entries with one sequence \
                 for this app (equivocation); it is never installed (no override): ask the \
                 publisher, then check `atoll trust explain`"
                .to_owned(),
            Self::Blocked => "its publisher is blocked on this node; it is never installed or \
                 updated (no override): unblock the publisher first"
                .to_owned(),
            Self::BelowThreshold => format!(
                "publisher trust {:.2} is below this node's threshold {:.2}; pin the publisher, \
                 or override with override_trust (CLI {})",
                f.trust,
                f.threshold,
                Override::Trust.flag()
            ),
            Self::RetiredKey => "it is signed by a key its publisher has retired; it is never \
                 installed (no override): wait for an entry signed by the current key"
                .to_owned(),
        }
    }
}

/// What the guard decides on: the app's head and its publisher, as the catalog knows them.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardFacts {
    /// Version of the head entry.
    pub version: String,
    /// Head entry's `expires_at` (unix seconds).
    pub expires_at: u64,
    /// Past `expires_at`.
    pub stale: bool,
    /// The head withdraws its version.
    pub yanked: bool,
    /// The publisher equivocated on this app.
    pub equivocated: bool,
    /// The operator blocked the publisher.
    pub blocked: bool,
    /// The publisher's trust score.
    pub trust: f64,
    /// This node's install threshold.
    pub threshold: f64,
    /// The head is signed by a retired key beyond its rotation's `last` (a void entry:
    /// never a head by construction, refused here again in depth).
    pub retired_key: bool,
    /// The publisher's key rotated (informational: the "rotated" badge).
    pub rotated: bool,
}

/// Every refusal that applies to `f`, in a fixed order. A blocked publisher is not also
/// reported below the threshold (its score is 0 because of the block, and the trust
/// override must not look like it could help).
pub fn refusals(f: &GuardFacts) -> Vec<Refusal> {
    [
        (f.blocked, Refusal::Blocked),
        (f.yanked, Refusal::Yanked),
        (f.equivocated, Refusal::Equivocated),
        (f.retired_key, Refusal::RetiredKey),
        (f.stale, Refusal::Stale),
        (!f.blocked && f.trust < f.threshold, Refusal::BelowThreshold),
    ]
    .into_iter()
    .filter_map(|(applies, r)| applies.then_some(r))
    .collect()
}

/// The badges of a head, as the UI shows them before the click: the code of every
/// refusal that applies (informational badges, such as a key rotation, go here too).
pub fn badges(f: &GuardFacts) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = refusals(f).into_iter().map(Refusal::code).collect();
    if f.rotated {
        out.push("rotated");
    }
    out
}

/// The overrides an operator sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `override_stale`.
    pub stale: bool,
    /// `override_trust`.
    pub trust: bool,
}

impl Overrides {
    /// None: what auto-update uses.
    pub const NONE: Self = Self {
        stale: false,
        trust: false,
    };

    fn has(self, o: Override) -> bool {
        match o {
            Override::Stale => self.stale,
            Override::Trust => self.trust,
        }
    }
}

/// The guard's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Every refusal that applies, overridden or not.
    pub reasons: Vec<Refusal>,
    /// Those lifted by an override that was sent (to be written to the audit log).
    pub overridden: Vec<Refusal>,
    /// Those that still refuse.
    pub refused: Vec<Refusal>,
}

impl Decision {
    /// May it be installed / updated to?
    pub fn allowed(&self) -> bool {
        self.refused.is_empty()
    }

    /// Could the operator get it allowed with overrides alone (it is refused, and only for
    /// overridable reasons)?
    pub fn overridable(&self) -> bool {
        !self.refused.is_empty() && self.refused.iter().all(|r| r.lifted_by().is_some())
    }

    /// The overrides that would lift what still refuses (empty when something cannot be
    /// overridden).
    pub fn needed_overrides(&self) -> Vec<Override> {
        if !self.overridable() {
            return Vec::new();
        }
        self.refused.iter().filter_map(|r| r.lifted_by()).collect()
    }
}

/// Decide on `f` with the overrides sent.
pub fn check(f: &GuardFacts, sent: Overrides) -> Decision {
    let reasons = refusals(f);
    let (overridden, refused) = reasons
        .iter()
        .partition(|r| r.lifted_by().is_some_and(|o| sent.has(o)));
    Decision {
        reasons,
        overridden,
        refused,
    }
}

impl Catalog {
    /// What the guard knows about `app`'s head, with this node's install `threshold`;
    /// `None` if the catalog has no head for it.
    pub fn guard_facts(
        &self,
        app: &AppRef,
        threshold: f64,
    ) -> Result<Option<GuardFacts>, CatalogError> {
        let Some(view) = self.app(app)? else {
            return Ok(None);
        };
        let blocked = self.is_blocked(&app.publisher)?;
        Ok(Some(GuardFacts::of_view(&view, blocked, threshold)))
    }
}

impl GuardFacts {
    /// The facts of a head summary, whether its publisher is `blocked`, and the node's
    /// install `threshold`.
    pub fn of(s: &AppSummary, blocked: bool, threshold: f64) -> Self {
        Self {
            version: s.version.clone(),
            expires_at: s.expires_at,
            stale: s.stale,
            yanked: s.yanked,
            equivocated: s.equivocated,
            blocked,
            trust: s.trust,
            threshold,
            retired_key: false,
            rotated: false,
        }
    }

    /// [`GuardFacts::of`] an app's view, with what key rotation knows: whether its head
    /// is void (signed by a retired key) and whether its publisher's key rotated.
    pub fn of_view(view: &crate::AppView, blocked: bool, threshold: f64) -> Self {
        let mut f = Self::of(&view.summary, blocked, threshold);
        f.retired_key = view
            .entries
            .iter()
            .any(|e| e.status == crate::EntryStatus::Head && e.void.is_some());
        f.rotated = view.key_rotations > 0;
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> GuardFacts {
        GuardFacts {
            version: "1.0.0".into(),
            expires_at: 100,
            stale: false,
            yanked: false,
            equivocated: false,
            blocked: false,
            trust: 0.9,
            threshold: 0.5,
            retired_key: false,
            rotated: false,
        }
    }

    #[test]
    fn every_reason_and_override() {
        use Refusal::*;
        let both = Overrides {
            stale: true,
            trust: true,
        };
        let stale = Overrides {
            stale: true,
            trust: false,
        };
        let trust = Overrides {
            stale: false,
            trust: true,
        };
        type Case = (
            &'static str,
            fn(&mut GuardFacts),
            Overrides,
            &'static [Refusal],
            &'static [Refusal],
        );
        // (what, facts, overrides sent, reasons, still refused)
        let cases: &[Case] = &[
            ("clean", |_| {}, Overrides::NONE, &[], &[]),
            ("clean, overrides unused", |_| {}, both, &[], &[]),
            (
                "stale",
                |f| f.stale = true,
                Overrides::NONE,
                &[Stale],
                &[Stale],
            ),
            (
                "stale, overridden",
                |f| f.stale = true,
                stale,
                &[Stale],
                &[],
            ),
            (
                "stale, wrong override",
                |f| f.stale = true,
                trust,
                &[Stale],
                &[Stale],
            ),
            ("yanked", |f| f.yanked = true, both, &[Yanked], &[Yanked]),
            (
                "equivocated",
                |f| f.equivocated = true,
                both,
                &[Equivocated],
                &[Equivocated],
            ),
            (
                "retired key",
                |f| f.retired_key = true,
                both,
                &[RetiredKey],
                &[RetiredKey],
            ),
            (
                "low trust",
                |f| f.trust = 0.2,
                Overrides::NONE,
                &[BelowThreshold],
                &[BelowThreshold],
            ),
            (
                "low trust, overridden",
                |f| f.trust = 0.2,
                trust,
                &[BelowThreshold],
                &[],
            ),
            (
                "at the threshold",
                |f| f.trust = 0.5,
                Overrides::NONE,
                &[],
                &[],
            ),
            (
                "blocked: not also below the threshold",
                |f| {
                    f.blocked = true;
                    f.trust = 0.0;
                },
                both,
                &[Blocked],
                &[Blocked],
            ),
            (
                "stale and low trust, one override",
                |f| {
                    f.stale = true;
                    f.trust = 0.0;
                },
                stale,
                &[Stale, BelowThreshold],
                &[BelowThreshold],
            ),
            (
                "stale and low trust, both",
                |f| {
                    f.stale = true;
                    f.trust = 0.0;
                },
                both,
                &[Stale, BelowThreshold],
                &[],
            ),
            (
                "stale and yanked: overriding stale does not help",
                |f| {
                    f.stale = true;
                    f.yanked = true;
                },
                both,
                &[Yanked, Stale],
                &[Yanked],
            ),
        ];
        for (what, edit, sent, reasons, refused) in cases {
            let mut f = facts();
            edit(&mut f);
            let d = check(&f, *sent);
            assert_eq!(d.reasons, *reasons, "{what}: reasons");
            assert_eq!(d.refused, *refused, "{what}: refused");
            assert_eq!(d.allowed(), refused.is_empty(), "{what}: allowed");
            let overridden: Vec<_> = reasons
                .iter()
                .filter(|r| !refused.contains(r))
                .copied()
                .collect();
            assert_eq!(d.overridden, overridden, "{what}: overridden");
            for r in &d.reasons {
                assert!(!r.message(&f).is_empty());
            }
        }
    }

    #[test]
    fn only_stale_and_trust_can_be_overridden() {
        let all = [
            Refusal::Stale,
            Refusal::Yanked,
            Refusal::Equivocated,
            Refusal::Blocked,
            Refusal::BelowThreshold,
            Refusal::RetiredKey,
        ];
        let lifted: Vec<_> = all.iter().filter_map(|r| r.lifted_by()).collect();
        assert_eq!(lifted, vec![Override::Stale, Override::Trust]);
        let mut f = facts();
        f.stale = true;
        f.trust = 0.0;
        let d = check(&f, Overrides::NONE);
        assert!(d.overridable());
        assert_eq!(d.needed_overrides(), vec![Override::Stale, Override::Trust]);
        f.yanked = true;
        let d = check(&f, Overrides::NONE);
        assert!(!d.overridable());
        assert!(d.needed_overrides().is_empty());
        for r in all {
            let msg = r.message(&f);
            match r.lifted_by() {
                Some(o) => assert!(msg.contains(o.field()) && msg.contains(o.flag()), "{msg}"),
                None => assert!(msg.contains("no override"), "{msg}"),
            }
        }
    }
}
