//! App dependencies: the install plan of an app (its dependency closure, dependencies
//! first) and who needs an installed app.
//!
//! [`resolve`] is pure: it asks a lookup for what the catalog offers of each app it meets
//! and decides with the install guard ([`crate::guard`], no overrides: a dependency is
//! only ever installed from a publisher this node trusts). Each dependency resolves to
//! the highest offered version that matches its requirement and passes the guard; an app
//! already installed at a matching version is satisfied (and not looked into again); one
//! installed at another version, a cycle, or a dependency nobody trusted offers is an
//! error naming it, found before anything is installed. [`Catalog::dependency_plan`]
//! runs it over the catalog (which offers an app's head entry: the only one a node
//! installs) and [`Catalog::dependents`] answers an uninstall.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use atoll_registry::manifest::Dependency;
use atoll_registry::AppRef;
use semver::{Version, VersionReq};
use serde::Serialize;

use crate::error::CatalogError;
use crate::guard::{self, GuardFacts, Overrides, Refusal};
use crate::store::Catalog;

/// One installable version of an app, as the catalog offers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    /// Its version.
    pub version: Version,
    /// The sequence of its entry (what an install checks it installs).
    pub sequence: u64,
    /// What the install guard decides on.
    pub facts: GuardFacts,
    /// The publisher's name, if it gave one.
    pub publisher_name: Option<String>,
    /// The dependencies its manifest declares (publisher filled in: a signed manifest
    /// always names it); `None` while its manifest has not been fetched.
    pub dependencies: Option<Vec<(AppRef, VersionReq)>>,
}

/// A dependency to install, as the plan lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// The app.
    #[serde(rename = "ref")]
    pub app: AppRef,
    /// The version chosen (the highest that matches and passes the guard).
    pub version: Version,
    /// The sequence of its entry.
    pub sequence: u64,
    /// Its publisher's trust score.
    pub trust: f64,
    /// The publisher's name, if it gave one.
    pub publisher_name: Option<String>,
    /// The requirement it meets.
    pub requirement: String,
    /// The app that needs it.
    pub needed_by: AppRef,
}

/// An installed app that already meets a requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Satisfied {
    /// The app.
    #[serde(rename = "ref")]
    pub app: AppRef,
    /// Its installed version.
    pub version: Version,
    /// The app that needs it.
    pub needed_by: AppRef,
}

/// What installing an app takes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    /// Dependencies to install first, in this order (each after its own dependencies).
    pub install: Vec<Step>,
    /// Dependencies already installed at a matching version.
    pub satisfied: Vec<Satisfied>,
    /// The app's own direct dependencies (what its containers attach to), each once.
    pub direct: Vec<AppRef>,
}

/// Why no trusted publisher offers a dependency.
#[derive(Debug, Clone, PartialEq)]
pub enum Unoffered {
    /// The catalog has no such app.
    NotInCatalog,
    /// It is offered, but at no version that matches.
    NoVersionMatches {
        /// What is offered.
        offered: Vec<Version>,
    },
    /// A matching version is offered but the install guard refuses it (below trust,
    /// blocked, stale, yanked, equivocated, retired key).
    Refused {
        /// The best matching version.
        version: Version,
        /// Every refusal, with its message.
        reasons: Vec<(Refusal, String)>,
    },
    /// Its manifest has not been fetched yet, so its own dependencies are unknown.
    ManifestMissing {
        /// The version offered.
        version: Version,
    },
    /// It sits deeper than [`MAX_DEPTH`] in a chain of dependencies.
    TooDeep,
}

impl fmt::Display for Unoffered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotInCatalog => f.write_str("no publisher this node knows offers it (not in the catalog)"),
            Self::NoVersionMatches { offered } => {
                let v: Vec<String> = offered.iter().map(ToString::to_string).collect();
                write!(f, "no version matches (offered: {})", v.join(", "))
            }
            Self::Refused { version, reasons } => {
                let codes: Vec<&str> = reasons.iter().map(|(r, _)| r.code()).collect();
                let words: Vec<&str> = reasons.iter().map(|(_, m)| m.as_str()).collect();
                write!(
                    f,
                    "version {version} is refused by the install guard ({}): {}",
                    codes.join(", "),
                    words.join("; ")
                )
            }
            Self::ManifestMissing { version } => write!(
                f,
                "the manifest of version {version} has not been fetched yet (try again once the node synced it)"
            ),
            Self::TooDeep => write!(f, "it is more than {MAX_DEPTH} dependencies deep"),
        }
    }
}

/// Why an app's dependencies cannot be met. Found before anything is installed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// No trusted publisher offers a dependency.
    #[error("{app} {requirement} (needed by {needed_by}) cannot be installed: {why}")]
    Unresolvable {
        /// The dependency.
        app: AppRef,
        /// Its requirement.
        requirement: String,
        /// Who needs it.
        needed_by: AppRef,
        /// Why.
        why: Unoffered,
    },
    /// A dependency is installed at a version the requirement does not accept.
    #[error("{needed_by} needs {app} {requirement}, but version {installed} is installed: update or uninstall it first")]
    InstalledMismatch {
        /// The dependency.
        app: AppRef,
        /// Its requirement.
        requirement: String,
        /// The version installed.
        installed: Version,
        /// Who needs it.
        needed_by: AppRef,
    },
    /// Two apps need versions of one dependency that no single version meets.
    #[error("{needed_by} needs {app} {requirement}, but version {chosen} is the one chosen for another app of the plan")]
    Conflict {
        /// The dependency.
        app: AppRef,
        /// The requirement not met.
        requirement: String,
        /// The version chosen for the first requirement.
        chosen: Version,
        /// Who has the requirement not met.
        needed_by: AppRef,
    },
    /// The dependencies form a cycle.
    #[error("the dependencies form a cycle: {}", cycle.iter().map(ToString::to_string).collect::<Vec<_>>().join(" -> "))]
    Cycle {
        /// The apps of the cycle, its first app repeated at the end.
        cycle: Vec<AppRef>,
    },
}

/// How deep a dependency chain may go (a longer one is refused as unresolvable).
pub const MAX_DEPTH: usize = 16;

struct Walk<'a, E> {
    offers: &'a mut dyn FnMut(&AppRef) -> Result<Vec<Offer>, E>,
    installed: &'a BTreeMap<AppRef, Version>,
    stack: Vec<AppRef>,
    chosen: BTreeMap<AppRef, Version>,
    satisfied_seen: BTreeSet<AppRef>,
    plan: Plan,
}

/// The install plan of `root`, whose manifest declares `dependencies` (publishers filled
/// in). `offers` gives what the catalog offers of an app (empty: not in the catalog);
/// `installed` the version of every installed app. The outer error is the lookup's; the
/// inner one says why the dependencies cannot be met.
pub fn resolve<E>(
    root: &AppRef,
    dependencies: &[(AppRef, VersionReq)],
    installed: &BTreeMap<AppRef, Version>,
    offers: &mut dyn FnMut(&AppRef) -> Result<Vec<Offer>, E>,
) -> Result<Result<Plan, ResolveError>, E> {
    let mut walk = Walk {
        offers,
        installed,
        stack: vec![root.clone()],
        chosen: BTreeMap::new(),
        satisfied_seen: BTreeSet::new(),
        plan: Plan::default(),
    };
    for (app, _) in dependencies {
        if !walk.plan.direct.contains(app) {
            walk.plan.direct.push(app.clone());
        }
    }
    for (app, req) in dependencies {
        if let Err(e) = walk.visit(app, req, root)? {
            return Ok(Err(e));
        }
    }
    Ok(Ok(walk.plan))
}

impl<E> Walk<'_, E> {
    fn visit(
        &mut self,
        app: &AppRef,
        req: &VersionReq,
        needed_by: &AppRef,
    ) -> Result<Result<(), ResolveError>, E> {
        let requirement = req.to_string();
        if let Some(at) = self.stack.iter().position(|a| a == app) {
            let mut cycle = self.stack[at..].to_vec();
            cycle.push(app.clone());
            return Ok(Err(ResolveError::Cycle { cycle }));
        }
        if let Some(v) = self.installed.get(app) {
            if !req.matches(v) {
                return Ok(Err(ResolveError::InstalledMismatch {
                    app: app.clone(),
                    requirement,
                    installed: v.clone(),
                    needed_by: needed_by.clone(),
                }));
            }
            if self.satisfied_seen.insert(app.clone()) {
                self.plan.satisfied.push(Satisfied {
                    app: app.clone(),
                    version: v.clone(),
                    needed_by: needed_by.clone(),
                });
            }
            return Ok(Ok(()));
        }
        if let Some(v) = self.chosen.get(app) {
            return Ok(if req.matches(v) {
                Ok(())
            } else {
                Err(ResolveError::Conflict {
                    app: app.clone(),
                    requirement,
                    chosen: v.clone(),
                    needed_by: needed_by.clone(),
                })
            });
        }
        let unresolvable = |why| ResolveError::Unresolvable {
            app: app.clone(),
            requirement: req.to_string(),
            needed_by: needed_by.clone(),
            why,
        };
        let mut offers = (self.offers)(app)?;
        if offers.is_empty() {
            return Ok(Err(unresolvable(Unoffered::NotInCatalog)));
        }
        offers.sort_by(|a, b| b.version.cmp(&a.version));
        let matching: Vec<&Offer> = offers.iter().filter(|o| req.matches(&o.version)).collect();
        let Some(best) = matching.first() else {
            return Ok(Err(unresolvable(Unoffered::NoVersionMatches {
                offered: offers.iter().map(|o| o.version.clone()).collect(),
            })));
        };
        let Some(offer) = matching
            .iter()
            .find(|o| guard::check(&o.facts, Overrides::NONE).allowed())
        else {
            let reasons = guard::check(&best.facts, Overrides::NONE)
                .refused
                .into_iter()
                .map(|r| (r, r.message(&best.facts)))
                .collect();
            return Ok(Err(unresolvable(Unoffered::Refused {
                version: best.version.clone(),
                reasons,
            })));
        };
        let offer = (*offer).clone();
        let Some(deps) = &offer.dependencies else {
            return Ok(Err(unresolvable(Unoffered::ManifestMissing {
                version: offer.version,
            })));
        };
        if self.stack.len() > MAX_DEPTH {
            return Ok(Err(unresolvable(Unoffered::TooDeep)));
        }
        self.chosen.insert(app.clone(), offer.version.clone());
        self.stack.push(app.clone());
        for (dep, dep_req) in deps {
            if let Err(e) = self.visit(dep, dep_req, app)? {
                return Ok(Err(e));
            }
        }
        self.stack.pop();
        self.plan.install.push(Step {
            app: app.clone(),
            version: offer.version,
            sequence: offer.sequence,
            trust: offer.facts.trust,
            publisher_name: offer.publisher_name,
            requirement,
            needed_by: needed_by.clone(),
        });
        Ok(Ok(()))
    }
}

/// The dependencies of a manifest published by `publisher`, each publisher filled in.
/// (The policy makes every dependency's app id a DNS label, so none is dropped from a
/// manifest that passed it.)
pub fn dependencies_of(
    publisher: &atoll_registry::Did,
    deps: &[Dependency],
) -> Vec<(AppRef, VersionReq)> {
    deps.iter()
        .filter_map(|d| {
            Some((
                AppRef {
                    publisher: d.publisher_or(publisher),
                    app: d.app.parse().ok()?,
                },
                d.version.clone(),
            ))
        })
        .collect()
}

impl Catalog {
    /// What the catalog offers of `app` for an install: its head entry (the only entry a
    /// node installs), with its guard facts at `threshold` and its manifest's
    /// dependencies. Empty when the catalog has no head for it.
    pub fn offers(&self, app: &AppRef, threshold: f64) -> Result<Vec<Offer>, CatalogError> {
        let Some(view) = self.app(app)? else {
            return Ok(Vec::new());
        };
        let Some(facts) = self.guard_facts(app, threshold)? else {
            return Ok(Vec::new());
        };
        let Ok(version) = view.summary.version.parse::<Version>() else {
            return Ok(Vec::new());
        };
        let manifest = if view.manifest_attached {
            self.manifest(&view.manifest)?
        } else {
            None
        };
        let dependencies = manifest
            .as_ref()
            .map(|m| dependencies_of(&app.publisher, &m.dependencies));
        Ok(vec![Offer {
            version,
            sequence: view.summary.sequence,
            facts,
            publisher_name: view.summary.publisher_name.clone(),
            dependencies,
        }])
    }

    /// The install plan of `app` (its head), with this node's install `threshold`. The
    /// outer error is the catalog's; the inner one says why the dependencies cannot be
    /// met. `None` if the catalog has no head for it or its manifest is not fetched yet.
    pub fn dependency_plan(
        &self,
        app: &AppRef,
        threshold: f64,
    ) -> Result<Option<Result<Plan, ResolveError>>, CatalogError> {
        let Some(view) = self.app(app)? else {
            return Ok(None);
        };
        let Some(manifest) = (if view.manifest_attached {
            self.manifest(&view.manifest)?
        } else {
            None
        }) else {
            return Ok(None);
        };
        let installed: BTreeMap<AppRef, Version> = self
            .installed_apps()?
            .into_iter()
            .filter_map(|r| Some((r.app?, r.version)))
            .collect();
        let deps = dependencies_of(&app.publisher, &manifest.dependencies);
        let mut lookup = |a: &AppRef| self.offers(a, threshold);
        resolve(app, &deps, &installed, &mut lookup).map(Some)
    }

    /// The installed apps whose installed manifest depends on `app` (by publisher and
    /// app id, any version), as `(install name, app, the version it requires)`.
    pub fn dependents(
        &self,
        app: &AppRef,
    ) -> Result<Vec<(String, AppRef, VersionReq)>, CatalogError> {
        let mut out = Vec::new();
        for row in self.installed_apps()? {
            let Some(this) = row.app.clone() else {
                continue;
            };
            if &this == app {
                continue;
            }
            let Some(m) = self.manifest(&row.manifest_hash)? else {
                continue;
            };
            if let Some((_, req)) = dependencies_of(&this.publisher, &m.dependencies)
                .into_iter()
                .find(|(d, _)| d == app)
            {
                out.push((row.name, this, req));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
