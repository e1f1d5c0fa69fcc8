//! Input refused after the fact, and the bounds of what refused input may leave behind:
//! entries refused for their manifest, the audit log (one row per input, bounded rows, a
//! rotating cap), and sync cursors that can never be ahead of the clock.

use atoll_catalog::audit::{
    self, MAX_AUDIT_ROWS, MAX_EVIDENCE_BYTES, MAX_EVIDENCE_ROWS, MAX_REASON_CHARS,
    MAX_SUBJECT_CHARS,
};
use atoll_catalog::sync::MAX_CURSOR_SKEW_SECS;
use atoll_catalog::{
    AuditInput, AuditKind, Catalog, EntryStatus, IngestOutcome, Provenance, SearchQuery,
};
use atoll_registry::AppRef;

use crate::common::*;

fn relay() -> Provenance {
    Provenance::Relay("ws://127.0.0.1:7001".into())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn listed(cat: &Catalog) -> Vec<String> {
    cat.search(&SearchQuery::default())
        .unwrap()
        .items
        .into_iter()
        .map(|a| a.app_ref.to_string())
        .collect()
}

#[test]
fn an_entry_refused_for_its_manifest_leaves_only_one_audit_row() {
    let mut s = store();
    let stranger = key(9);
    let bomb = signed(&stranger, "bomb", 1);
    let app: AppRef = bomb.app_ref();
    assert_eq!(
        s.cat.ingest(&bomb, &relay()).unwrap(),
        IngestOutcome::New { sequence: 1 }
    );
    assert_eq!(listed(&s.cat), vec![app.to_string()]);
    let before = s.cat.check().unwrap();
    assert_eq!((before.apps, before.publishers), (1, 1));

    let done = s
        .cat
        .refuse_entry(&bomb, &relay(), "[manifest-policy] not canonical JSON")
        .unwrap();
    assert!(done.recorded && done.removed && done.app_removed);
    assert_eq!(done.new_head, None);
    assert_eq!(done.orphaned, vec![bomb.manifest.hash]);
    // Nothing of it is left: no app, no entry, no publisher, no blob row, no search hit.
    assert!(s.cat.app(&app).unwrap().is_none());
    assert!(listed(&s.cat).is_empty());
    assert!(s.cat.blob(&bomb.manifest.hash).unwrap().is_none());
    let after = s.cat.check().unwrap();
    assert_eq!((after.apps, after.entries, after.publishers), (0, 0, 0));
    let log = s.cat.audit_log(10).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].kind, AuditKind::RefusedEntry);
    assert_eq!(log[0].subject.as_deref(), Some(app.to_string().as_str()));

    // Delivered again, from anywhere: refused at once, nothing stored, no second row.
    for _ in 0..3 {
        assert_eq!(
            s.cat
                .ingest(&bomb, &Provenance::Relay("ws://other".into()))
                .unwrap(),
            IngestOutcome::Refused { sequence: 1 }
        );
        assert!(
            !s.cat
                .refuse_entry(&bomb, &relay(), "[manifest-policy] again")
                .unwrap()
                .recorded
        );
    }
    assert_eq!(s.cat.check().unwrap().publishers, 0);
    assert_eq!(s.cat.audit_len().unwrap(), 1);
}

#[test]
fn refusing_the_head_restores_the_publishers_previous_version() {
    let mut s = store();
    let k = key(1);
    let m1 = manifest("paste", "1.0.0", "Paste", "share text", &["tools"]);
    let v1 = sign(&entry_for(&k, &m1, 1), &k);
    s.cat.ingest(&v1, &relay()).unwrap();
    s.cat.attach_manifest(&m1).unwrap();
    let v2 = signed(&k, "paste", 2);
    assert_eq!(
        s.cat.ingest(&v2, &relay()).unwrap(),
        IngestOutcome::Newer {
            sequence: 2,
            previous: 1
        }
    );
    let done = s
        .cat
        .refuse_entry(&v2, &relay(), "[manifest-mismatch] wrong app")
        .unwrap();
    assert!(done.removed && !done.app_removed);
    assert_eq!(done.new_head, Some(v1.payload_id()));
    let view = s.cat.app(&v1.app_ref()).unwrap().unwrap();
    assert_eq!(view.summary.sequence, 1);
    assert!(view.manifest_attached, "v1's manifest is still attached");
    assert_eq!(view.entries.len(), 1);
    assert_eq!(view.entries[0].status, EntryStatus::Head);
    // Still found by its manifest's text.
    let hits = s
        .cat
        .search(&SearchQuery {
            words: "share".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(hits.items.len(), 1);
    s.cat.check().unwrap();
    // The refused bytes stay refused; a replay of an older entry is still a rollback;
    // the refused sequence is free for the publisher's next, good entry.
    assert_eq!(
        s.cat.ingest(&v2, &relay()).unwrap(),
        IngestOutcome::Refused { sequence: 2 }
    );
    let mut fixed = entry(&k, "paste", 2);
    fixed.published_at += 60;
    let fixed = sign(&fixed, &k);
    assert_eq!(
        s.cat.ingest(&fixed, &relay()).unwrap(),
        IngestOutcome::Newer {
            sequence: 2,
            previous: 1
        }
    );
    s.cat.check().unwrap();
}

#[test]
fn a_rejection_is_recorded_once_per_key_and_bounded() {
    let mut s = store();
    let k = audit::key("event", &[b"an event id"]);
    let long = AuditInput {
        kind: AuditKind::Invalid,
        provenance: &relay(),
        key: Some(k),
        subject: Some("s".repeat(10_000)),
        reason: "r".repeat(100_000),
        payload: Some(&[7u8; 200_000]),
        attributed_to: None,
    };
    assert!(s.cat.record_rejection(&long).unwrap().is_some());
    for _ in 0..5 {
        assert_eq!(s.cat.record_rejection(&long).unwrap(), None);
    }
    assert!(s.cat.audit_has(&k).unwrap());
    let log = s.cat.audit_log(10).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].reason.chars().count(), MAX_REASON_CHARS);
    assert_eq!(
        log[0].subject.as_ref().unwrap().chars().count(),
        MAX_SUBJECT_CHARS
    );
    assert_eq!(log[0].evidence_bytes, MAX_EVIDENCE_BYTES);
    // Without a key, every record is a row.
    let unkeyed = AuditInput { key: None, ..long };
    s.cat.record_rejection(&unkeyed).unwrap();
    s.cat.record_rejection(&unkeyed).unwrap();
    assert_eq!(s.cat.audit_len().unwrap(), 3);
}

#[test]
fn the_audit_log_rotates_at_its_cap_and_keeps_evidence_only_on_the_newest_rows() {
    let mut s = store();
    let extra = 50;
    let total = MAX_AUDIT_ROWS as usize + extra;
    let mut first = Vec::new();
    for i in 0..total {
        let key = audit::key("test", &[&(i as u64).to_le_bytes()]);
        if i < extra {
            first.push(key);
        }
        let r = AuditInput {
            kind: AuditKind::Invalid,
            provenance: &relay(),
            key: Some(key),
            subject: None,
            reason: format!("[malformed] number {i}"),
            payload: Some(b"evidence"),
            attributed_to: None,
        };
        s.cat.record_rejection(&r).unwrap().unwrap();
    }
    assert_eq!(s.cat.audit_len().unwrap(), MAX_AUDIT_ROWS as u64);
    // The oldest rows went first: their keys are forgotten, the newest are there.
    assert!(first.iter().all(|k| !s.cat.audit_has(k).unwrap()));
    let newest = s.cat.audit_log(1).unwrap();
    assert_eq!(
        newest[0].reason,
        format!("[malformed] number {}", total - 1)
    );
    let all = s.cat.audit_log(MAX_AUDIT_ROWS as u32).unwrap();
    let with_evidence = all.iter().filter(|r| r.evidence_bytes > 0).count();
    assert_eq!(with_evidence, MAX_EVIDENCE_ROWS as usize);
    assert!(all[..MAX_EVIDENCE_ROWS as usize]
        .iter()
        .all(|r| r.evidence_bytes > 0));
    s.cat.check().unwrap();
}

#[test]
fn replayed_rollbacks_are_one_audit_row() {
    let mut s = store();
    let k = key(1);
    s.cat.ingest(&signed(&k, "hello", 5), &relay()).unwrap();
    let old = signed(&k, "hello", 2);
    for n in 0..4 {
        let from = Provenance::Relay(format!("ws://relay-{n}"));
        assert!(matches!(
            s.cat.ingest(&old, &from).unwrap(),
            IngestOutcome::Rollback { .. }
        ));
    }
    assert_eq!(s.cat.audit_len().unwrap(), 1);
}

#[test]
fn a_cursor_never_gets_ahead_of_the_clock_and_a_poisoned_one_heals() {
    let mut s = store();
    let far = 4_102_444_800; // 2100-01-01
    let stored = s.cat.advance_sync_cursor("ws://r", far).unwrap();
    assert!(stored <= now() + MAX_CURSOR_SKEW_SECS, "{stored}");
    // Nothing to heal in a cursor within the skew.
    assert_eq!(s.cat.heal_sync_cursor("ws://r").unwrap(), None);
    assert_eq!(s.cat.heal_sync_cursor("ws://unknown").unwrap(), None);

    // What an older atoll could have written.
    drop(s.cat);
    {
        let conn = rusqlite::Connection::open(&s.path).unwrap();
        conn.execute(
            "UPDATE sync_cursors SET since = ?1 WHERE relay = 'ws://r'",
            [far as i64],
        )
        .unwrap();
    }
    let mut cat = Catalog::open(&s.path).unwrap();
    assert_eq!(cat.sync_cursor("ws://r").unwrap(), Some(far));
    assert_eq!(cat.heal_sync_cursor("ws://r").unwrap(), Some(far));
    let rec = cat.sync_cursor_record("ws://r").unwrap().unwrap();
    assert_eq!(rec.since, 0);
    assert_eq!(rec.reset_from, Some(far));
    assert!(rec.reset_at.is_some());
    let log = cat.audit_log(10).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].kind, AuditKind::CursorReset);
    assert!(
        log[0].reason.starts_with("[cursor-reset]"),
        "{}",
        log[0].reason
    );
    // Healed once; it moves forward normally again.
    assert_eq!(cat.heal_sync_cursor("ws://r").unwrap(), None);
    assert_eq!(cat.advance_sync_cursor("ws://r", 1_000).unwrap(), 1_000);
    cat.check().unwrap();
}
