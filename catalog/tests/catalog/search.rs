//! Full-text search, filters, sorting and paging.

use atoll_catalog::{CatalogError, DesiredRun, InstalledRow, Provenance, SearchQuery, Sort};
use atoll_registry::objects::PublisherType;
use atoll_registry::{Envelope, PublisherProfile};

use crate::common::*;

fn names(page: &atoll_catalog::SearchPage) -> Vec<String> {
    page.items.iter().map(|i| i.name.clone()).collect()
}

fn setup() -> (Store, atoll_registry::Keypair, atoll_registry::Keypair) {
    let mut s = store();
    let (alice, bob) = (key(1), key(2));
    let relay = Provenance::Relay("ws://r".into());
    let apps = [
        (
            &alice,
            manifest(
                "notes",
                "1.0.0",
                "Notebook",
                "Write notes in markdown",
                &["productivity", "text"],
            ),
            1,
        ),
        (
            &alice,
            manifest(
                "photos",
                "2.0.0",
                "Photo Gallery",
                "Share pictures with family",
                &["media"],
            ),
            2,
        ),
        (
            &bob,
            manifest(
                "wiki",
                "0.3.0",
                "Team Wiki",
                "Collaborative markdown pages",
                &["productivity"],
            ),
            3,
        ),
    ];
    for (k, m, seq) in &apps {
        s.cat
            .ingest(&sign(&entry_for(k, m, *seq), k), &relay)
            .unwrap();
        s.cat.attach_manifest(m).unwrap();
    }
    // Bob has a display name; Alice pinned, Bob endorsed by nobody.
    let profile = PublisherProfile {
        kind: PublisherType,
        did: bob.did(),
        name: "Bobworks".into(),
        links: Default::default(),
        next_key: None,
        nostr_keys: vec!["ab".repeat(32)],
        iroh_nodes: vec![],
        relays: vec![],
        sequence: 1,
        updated_at: 1,
    };
    let p = Envelope::sign(&profile, &bob).unwrap().verify().unwrap();
    s.cat.ingest_profile(&p, &relay).unwrap();
    s.cat.pin(&alice.did(), "").unwrap();
    s.cat.recompute_trust().unwrap();
    (s, alice, bob)
}

#[test]
fn words_match_name_description_categories_and_publisher() {
    let (s, _, _) = setup();
    let q = |w: &str| {
        names(
            &s.cat
                .search(&SearchQuery {
                    words: w.into(),
                    sort: Sort::Name,
                    ..Default::default()
                })
                .unwrap(),
        )
    };
    assert_eq!(q("markdown"), ["Notebook", "Team Wiki"]);
    assert_eq!(q("gallery"), ["Photo Gallery"]);
    assert_eq!(q("media"), ["Photo Gallery"]);
    assert_eq!(q("bobworks"), ["Team Wiki"]);
    assert_eq!(
        q("mark"),
        ["Notebook", "Team Wiki"],
        "words match as prefixes"
    );
    assert_eq!(q("markdown team"), ["Team Wiki"], "all words must match");
    assert!(q("nothing-like-this").is_empty());
}

#[test]
fn query_syntax_from_users_is_inert() {
    let (s, _, _) = setup();
    for w in [
        "\"",
        "note*",
        "NEAR(a b)",
        "-notes",
        "notes OR",
        "a:b",
        "((",
        "'; DROP TABLE apps; --",
        "名前",
    ] {
        s.cat
            .search(&SearchQuery {
                words: w.into(),
                ..Default::default()
            })
            .unwrap();
    }
}

#[test]
fn filters_and_sorts() {
    let (mut s, alice, _) = setup();
    let all = |q: SearchQuery| names(&s.cat.search(&q).unwrap());
    assert_eq!(
        all(SearchQuery {
            category: Some("productivity".into()),
            sort: Sort::Name,
            ..Default::default()
        }),
        ["Notebook", "Team Wiki"]
    );
    assert_eq!(
        all(SearchQuery {
            min_trust: Some(0.5),
            sort: Sort::Name,
            ..Default::default()
        }),
        ["Notebook", "Photo Gallery"]
    );
    assert_eq!(
        all(SearchQuery {
            sort: Sort::Recency,
            ..Default::default()
        }),
        ["Team Wiki", "Photo Gallery", "Notebook"]
    );
    let by_trust = all(SearchQuery {
        sort: Sort::Trust,
        ..Default::default()
    });
    assert_eq!(by_trust.last().unwrap(), "Team Wiki");
    assert!(all(SearchQuery {
        stale: Some(true),
        ..Default::default()
    })
    .is_empty());
    assert_eq!(
        all(SearchQuery {
            stale: Some(false),
            ..Default::default()
        })
        .len(),
        3
    );

    let m = manifest(
        "notes",
        "1.0.0",
        "Notebook",
        "Write notes in markdown",
        &["productivity", "text"],
    );
    let hash = atoll_registry::Hash::of(&m.canonical_bytes().unwrap());
    s.cat
        .put_installed(&InstalledRow {
            name: "notes".into(),
            app: Some(format!("{}/notes", alice.did()).parse().unwrap()),
            version: m.version.clone(),
            manifest_hash: hash,
            wanted: DesiredRun::Running,
            stopped_by_user: false,
            record: "{}".into(),
            updated_at: 1,
        })
        .unwrap();
    let all = |q: SearchQuery| names(&s.cat.search(&q).unwrap());
    assert_eq!(
        all(SearchQuery {
            installed: Some(true),
            ..Default::default()
        }),
        ["Notebook"]
    );
    assert_eq!(
        all(SearchQuery {
            installed: Some(false),
            ..Default::default()
        })
        .len(),
        2
    );
}

#[test]
fn paging_walks_every_result_once() {
    let (s, _, _) = setup();
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let page = s
            .cat
            .search(&SearchQuery {
                sort: Sort::Name,
                limit: 2,
                offset,
                ..Default::default()
            })
            .unwrap();
        seen.extend(names(&page));
        if !page.has_more {
            break;
        }
        offset += 2;
    }
    assert_eq!(seen, ["Notebook", "Photo Gallery", "Team Wiki"]);
}

#[test]
fn an_app_without_its_manifest_is_found_by_id_and_gets_text_later() {
    let mut s = store();
    let k = key(1);
    let m = manifest(
        "chess",
        "1.0.0",
        "Chess Club",
        "Play chess online",
        &["games"],
    );
    s.cat
        .ingest(
            &sign(&entry_for(&k, &m, 1), &k),
            &Provenance::Relay("ws://r".into()),
        )
        .unwrap();
    let q = |s: &Store, w: &str| {
        names(
            &s.cat
                .search(&SearchQuery {
                    words: w.into(),
                    ..Default::default()
                })
                .unwrap(),
        )
    };
    assert_eq!(q(&s, "chess"), ["chess"]);
    assert!(q(&s, "online").is_empty());
    let attached = s.cat.attach_manifest(&m).unwrap();
    assert_eq!((attached.entries, attached.apps), (1, 1));
    assert_eq!(q(&s, "online"), ["Chess Club"]);
    assert_eq!(s.cat.manifest(&attached.hash).unwrap().unwrap(), m);
    // A newer entry whose manifest is not fetched yet keeps the old text searchable.
    let m2 = manifest(
        "chess",
        "1.1.0",
        "Chess Club",
        "Play chess online",
        &["games"],
    );
    s.cat
        .ingest(
            &sign(&entry_for(&k, &m2, 2), &k),
            &Provenance::Relay("ws://r".into()),
        )
        .unwrap();
    assert_eq!(q(&s, "online"), ["Chess Club"]);
}

#[test]
fn manifests_must_match_an_entry() {
    let mut s = store();
    let k = key(1);
    let m = manifest(
        "chess",
        "1.0.0",
        "Chess Club",
        "Play chess online",
        &["games"],
    );
    let err = s.cat.attach_manifest(&m).unwrap_err();
    assert!(matches!(err, CatalogError::Manifest(_)), "{err:?}");
    // An entry that names this manifest's hash but claims another version.
    let mut e = entry_for(&k, &m, 1);
    e.version = "9.0.0".parse().unwrap();
    s.cat
        .ingest(&sign(&e, &k), &Provenance::Relay("ws://r".into()))
        .unwrap();
    let err = s.cat.attach_manifest(&m).unwrap_err();
    assert!(matches!(err, CatalogError::Manifest(_)), "{err:?}");
}
