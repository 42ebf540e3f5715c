//! Rows the walk of the tree from index 0 does not reach, and agentrail's own records losing
//! their bodies: both must be reported, and a planted id must never turn a real event into a
//! "duplicate".

use agentrail_core::event::parse_client_event;
use agentrail_store::clock::SystemClock;
use agentrail_store::ledger::open_read;
use agentrail_store::sqlite::SqliteBackend;
use agentrail_store::verify::{verify, VerifyOptions};
use agentrail_store::{InitOptions, Ledger, LedgerError};
use std::path::Path;
use std::sync::Arc;

fn note(id: &str) -> agentrail_core::event::ValidEvent {
    parse_client_event(
        format!(
            r#"{{"event_id":"{id}","session_id":"s","agent_id":"a","kind":"note","ts":"2026-11-28T13:00:00Z","note":{{"text":"{id}"}}}}"#
        )
        .as_bytes(),
    )
    .unwrap()
}

fn store(dir: &Path) -> std::path::PathBuf {
    let data = dir.join("data");
    Ledger::init(&data, &InitOptions::default(), &SystemClock).unwrap();
    let mut ledger = Ledger::open(&data, "test", Arc::new(SystemClock)).unwrap();
    ledger.append(&[note("n-0"), note("n-1")], "cli").unwrap();
    ledger.create_api_key("read", None, "k", "cli").unwrap();
    ledger.checkpoint_now().unwrap();
    data
}

fn problems(data: &Path) -> Vec<String> {
    let mut backend = open_read(data).unwrap();
    let r = verify(backend.as_mut(), &VerifyOptions::default()).unwrap();
    r.problems
        .iter()
        .map(|p| format!("{}: {}", p.location, p.message))
        .collect()
}

#[test]
fn a_row_planted_outside_the_tree_is_reported_and_never_answers_for_a_real_event() {
    let dir = tempfile::tempdir().unwrap();
    let data = store(dir.path());
    let db = SqliteBackend::open(&data.join("ledger.sqlite"), false).unwrap();
    // The CHECK constraint stops a plain insert; a forger drops it by rebuilding the table, so
    // simulate the result directly with the constraint disabled.
    db.connection()
        .execute_batch(
            "PRAGMA ignore_check_constraints = ON;
             INSERT INTO leaves SELECT -5, 'planted', content_hash, session_id, agent_id, kind, ts,
                    received_at, principal, leaf FROM leaves WHERE leaf_index = 0;",
        )
        .unwrap();
    drop(db);
    let p = problems(&data);
    assert!(p.iter().any(|t| t.contains("negative indexes")), "{p:#?}");
    assert!(
        p.iter().any(|t| t.contains("leaf rows are stored but")),
        "{p:#?}"
    );

    let mut ledger = Ledger::open(&data, "test", Arc::new(SystemClock)).unwrap();
    let before = ledger.size();
    let err = ledger.append(&[note("planted")], "cli").unwrap_err();
    assert!(matches!(err, LedgerError::Corrupt(_)), "{err}");
    assert_eq!(ledger.size(), before);
}

#[test]
fn an_agentrail_record_without_its_body_and_an_orphan_body_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let data = store(dir.path());
    let db = SqliteBackend::open(&data.join("ledger.sqlite"), false).unwrap();
    let conn = db.connection();
    conn.execute("DELETE FROM bodies WHERE leaf_index = 2", [])
        .unwrap();
    conn.execute(
        "INSERT INTO bodies (leaf_index, body) VALUES (99, x'7b7d')",
        [],
    )
    .unwrap();
    drop(db);
    let p = problems(&data);
    assert!(
        p.iter()
            .any(|t| t.starts_with("leaf 2:") && t.contains("agentrail.* record")),
        "{p:#?}"
    );
    assert!(
        p.iter()
            .any(|t| t.contains("1 body rows belong to no leaf")),
        "{p:#?}"
    );
}
