//! The install/update guard ([`atoll_catalog::guard`]) as the API shows it: before the
//! click (`badges` and `guard` on every app), as the refusal of an install or update
//! (403 with every reason), and as audit rows for the overrides used.

use atoll_catalog::guard::{self, Decision, GuardFacts, Overrides};
use atoll_registry::AppRef;
use serde_json::{json, Value};

use super::error::ApiError;

/// The badges of an app's head ([`guard::badges`]).
pub(super) fn badges(f: &GuardFacts) -> Vec<&'static str> {
    guard::badges(f)
}

fn reasons_json(d: &Decision, f: &GuardFacts) -> Value {
    json!(d
        .refused
        .iter()
        .map(|r| json!({
            "reason": r.code(),
            "message": r.message(f),
            "override": r.lifted_by().map(|o| o.field()),
        }))
        .collect::<Vec<_>>())
}

/// What an install or update of this head meets, without overrides: `allowed`, every
/// `reasons` entry (`reason`, `message`, `override`: the body field that lifts it, or
/// null), `overridable` (only overridable reasons) and `overrides` (the fields to send).
pub(super) fn guard_json(f: &GuardFacts) -> Value {
    let d = guard::check(f, Overrides::NONE);
    json!({
        "allowed": d.allowed(),
        "reasons": reasons_json(&d, f),
        "overridable": d.overridable(),
        "overrides": d.needed_overrides().iter().map(|o| o.field()).collect::<Vec<_>>(),
    })
}

/// The 403 answering a refused install or update: the message names every reason and
/// what to do; `error.reasons` lists them as [`guard_json`] does, `error.overrides` the
/// body fields that would lift them (empty if something cannot be overridden).
pub(super) fn refusal(action: &str, app: &AppRef, d: &Decision, f: &GuardFacts) -> ApiError {
    let words: Vec<String> = d.refused.iter().map(|r| r.message(f)).collect();
    ApiError::forbidden(format!("{action} {app} refused: {}", words.join("; and ")))
        .with("reasons", reasons_json(d, f))
        .with(
            "overrides",
            json!(d
                .needed_overrides()
                .iter()
                .map(|o| o.field())
                .collect::<Vec<_>>()),
        )
}
