//! The resolver on a made-up catalog: each dependency rule, with the error it names.

use std::collections::BTreeMap;

use atoll_registry::{AppRef, Keypair};
use semver::{Version, VersionReq};

use super::*;
use crate::guard::GuardFacts;

fn did(seed: u8) -> atoll_registry::Did {
    Keypair::from_seed([seed; 32]).did()
}

fn app(seed: u8, id: &str) -> AppRef {
    AppRef {
        publisher: did(seed),
        app: id.parse().unwrap(),
    }
}

fn facts(version: &str) -> GuardFacts {
    GuardFacts {
        version: version.into(),
        expires_at: u64::MAX,
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

fn offer(version: &str, deps: &[(AppRef, &str)]) -> Offer {
    Offer {
        version: version.parse().unwrap(),
        sequence: 1,
        facts: facts(version),
        publisher_name: Some("pub".into()),
        dependencies: Some(
            deps.iter()
                .map(|(a, r)| (a.clone(), r.parse().unwrap()))
                .collect(),
        ),
    }
}

#[derive(Default)]
struct World {
    offers: BTreeMap<AppRef, Vec<Offer>>,
    installed: BTreeMap<AppRef, Version>,
}

impl World {
    fn offer(mut self, a: &AppRef, o: Offer) -> Self {
        self.offers.entry(a.clone()).or_default().push(o);
        self
    }

    fn installed(mut self, a: &AppRef, v: &str) -> Self {
        self.installed.insert(a.clone(), v.parse().unwrap());
        self
    }

    /// The plan (the error boxed: it is large, and only looked at).
    fn plan(&self, root: &AppRef, deps: &[(AppRef, &str)]) -> Result<Plan, Box<ResolveError>> {
        let deps: Vec<(AppRef, VersionReq)> = deps
            .iter()
            .map(|(a, r)| (a.clone(), r.parse().unwrap()))
            .collect();
        let mut lookup = |a: &AppRef| -> Result<Vec<Offer>, ()> {
            Ok(self.offers.get(a).cloned().unwrap_or_default())
        };
        resolve(root, &deps, &self.installed, &mut lookup)
            .unwrap()
            .map_err(Box::new)
    }
}

fn order(p: &Plan) -> Vec<String> {
    p.install
        .iter()
        .map(|s| format!("{}@{}", s.app.app, s.version))
        .collect()
}

#[test]
fn dependencies_come_first_in_topological_order_each_once() {
    let (root, web, db, cache) = (app(1, "root"), app(1, "web"), app(2, "db"), app(1, "cache"));
    let w = World::default()
        .offer(
            &web,
            offer("1.2.0", &[(db.clone(), ">=10"), (cache.clone(), "*")]),
        )
        .offer(&db, offer("11.0.0", &[(cache.clone(), "^1")]))
        .offer(&cache, offer("1.4.0", &[]));
    let p = w
        .plan(&root, &[(web.clone(), "^1"), (db.clone(), ">=10, <12")])
        .unwrap();
    assert_eq!(order(&p), ["cache@1.4.0", "db@11.0.0", "web@1.2.0"]);
    assert_eq!(p.direct, vec![web.clone(), db.clone()]);
    assert_eq!(p.install[2].needed_by, root);
    assert_eq!(p.install[0].needed_by, db, "first met as db's dependency");
    assert!(p.satisfied.is_empty());
}

#[test]
fn the_highest_matching_version_that_passes_the_guard_is_chosen() {
    let (root, db) = (app(1, "root"), app(2, "db"));
    let mut yanked = offer("11.5.0", &[]);
    yanked.facts.yanked = true;
    let w = World::default()
        .offer(&db, offer("10.1.0", &[]))
        .offer(&db, offer("12.0.0", &[]))
        .offer(&db, yanked)
        .offer(&db, offer("11.2.0", &[]));
    let p = w.plan(&root, &[(db.clone(), ">=10, <12")]).unwrap();
    assert_eq!(order(&p), ["db@11.2.0"]);
}

#[test]
fn an_installed_matching_dependency_is_satisfied_and_not_reinstalled() {
    let (root, db) = (app(1, "root"), app(2, "db"));
    let w = World::default()
        .offer(&db, offer("11.0.0", &[]))
        .installed(&db, "10.4.0");
    let p = w.plan(&root, &[(db.clone(), ">=10")]).unwrap();
    assert!(p.install.is_empty());
    assert_eq!(p.satisfied.len(), 1);
    assert_eq!(p.satisfied[0].version.to_string(), "10.4.0");
}

#[test]
fn an_installed_dependency_at_another_version_names_both_versions() {
    let (root, db) = (app(1, "root"), app(2, "db"));
    let w = World::default()
        .offer(&db, offer("11.0.0", &[]))
        .installed(&db, "9.1.0");
    let err = w.plan(&root, &[(db.clone(), ">=10, <12")]).unwrap_err();
    assert!(
        matches!(*err, ResolveError::InstalledMismatch { .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("9.1.0") && msg.contains(">=10, <12"), "{msg}");
    assert!(
        msg.contains(&db.to_string()) && msg.contains(&root.to_string()),
        "{msg}"
    );
}

#[test]
fn a_cycle_is_named_app_by_app() {
    let (root, a, b) = (app(1, "root"), app(1, "a"), app(1, "b"));
    let w = World::default()
        .offer(&a, offer("1.0.0", &[(b.clone(), "*")]))
        .offer(&b, offer("1.0.0", &[(root.clone(), "*")]))
        .offer(&root, offer("1.0.0", &[(a.clone(), "*")]));
    let err = w.plan(&root, &[(a.clone(), "*")]).unwrap_err();
    assert_eq!(
        *err,
        ResolveError::Cycle {
            cycle: vec![root.clone(), a.clone(), b.clone(), root.clone()]
        }
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("{root} -> {a} -> {b} -> {root}")),
        "{msg}"
    );
}

#[test]
fn every_reason_a_dependency_is_unresolvable_is_named() {
    let (root, db) = (app(1, "root"), app(2, "db"));
    let dep = [(db.clone(), ">=10")];
    let unoffered = |w: World| match *w.plan(&root, &dep).unwrap_err() {
        ResolveError::Unresolvable {
            app,
            why,
            needed_by,
            ..
        } => {
            assert_eq!((app, needed_by), (db.clone(), root.clone()));
            why
        }
        other => panic!("{other}"),
    };
    assert_eq!(unoffered(World::default()), Unoffered::NotInCatalog);
    let why = unoffered(World::default().offer(&db, offer("9.0.0", &[])));
    assert!(why.to_string().contains("offered: 9.0.0"), "{why}");

    let mut low = offer("10.0.0", &[]);
    low.facts.trust = 0.1;
    let why = unoffered(World::default().offer(&db, low));
    let text = why.to_string();
    assert!(
        text.contains("below-threshold") && text.contains("0.10"),
        "{text}"
    );

    let mut blocked = offer("10.0.0", &[]);
    blocked.facts.blocked = true;
    blocked.facts.trust = 0.0;
    let why = unoffered(World::default().offer(&db, blocked));
    let Unoffered::Refused { reasons, .. } = &why else {
        panic!("{why}")
    };
    assert_eq!(
        reasons.iter().map(|(r, _)| *r).collect::<Vec<_>>(),
        [Refusal::Blocked]
    );

    let mut unfetched = offer("10.0.0", &[]);
    unfetched.dependencies = None;
    let why = unoffered(World::default().offer(&db, unfetched));
    assert!(matches!(why, Unoffered::ManifestMissing { .. }), "{why}");
}

#[test]
fn two_requirements_no_one_version_meets_conflict() {
    let (root, web, db) = (app(1, "root"), app(1, "web"), app(2, "db"));
    let w = World::default()
        .offer(&web, offer("1.0.0", &[(db.clone(), "<11")]))
        .offer(&db, offer("11.0.0", &[]))
        .offer(&db, offer("10.0.0", &[]));
    let err = w
        .plan(&root, &[(db.clone(), ">=11"), (web.clone(), "*")])
        .unwrap_err();
    assert!(matches!(*err, ResolveError::Conflict { .. }), "{err}");
    assert!(err.to_string().contains("11.0.0"), "{err}");
}

#[test]
fn the_same_app_id_from_two_publishers_is_two_apps() {
    let (root, mine, theirs) = (app(1, "root"), app(1, "db"), app(2, "db"));
    let w = World::default().offer(&theirs, offer("1.0.0", &[]));
    let err = w.plan(&root, &[(mine.clone(), "*")]).unwrap_err();
    assert!(err.to_string().contains(&mine.to_string()), "{err}");
    assert!(w.plan(&root, &[(theirs, "*")]).is_ok());
}
