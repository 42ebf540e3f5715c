//! API keys through the ledger: the key row and its `agentrail.apikey` record are stored
//! together, the secret never reaches the log, and the log still verifies.

use agentrail_store::apikeys::{matches, parse_key};
use agentrail_store::clock::SystemClock;
use agentrail_store::ledger::open_read;
use agentrail_store::verify::{verify, VerifyOptions};
use agentrail_store::{InitOptions, Ledger, LedgerError, ReadLedger};
use std::sync::Arc;

#[test]
fn create_and_revoke_are_recorded_in_the_ledger_without_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    Ledger::init(&data, &InitOptions::default(), &SystemClock).unwrap();
    let mut ledger = Ledger::open(&data, "test", Arc::new(SystemClock)).unwrap();
    let (text, row) = ledger
        .create_api_key("ingest", Some("renewal-drafter"), "ci exporter", "cli")
        .unwrap();
    assert!(matches(&row, &parse_key(&text).unwrap()));
    assert_eq!(ledger.size(), 1);
    let revoked = ledger.revoke_api_key(&row.id, "cli").unwrap();
    assert!(revoked.revoked_at.is_some());
    assert!(matches!(
        ledger.revoke_api_key(&row.id, "cli"),
        Err(LedgerError::Invalid(_))
    ));
    assert!(matches!(
        ledger.revoke_api_key("0000000000000000", "cli"),
        Err(LedgerError::NotFound(_))
    ));
    assert_eq!(ledger.size(), 2);
    let keys = ledger.api_keys().unwrap();
    assert_eq!(keys.len(), 1);
    assert!(!matches(&keys[0], &parse_key(&text).unwrap()), "revoked");
    ledger.checkpoint_now().unwrap();
    drop(ledger);

    let mut backend = open_read(&data).unwrap();
    let secret = &text[21..];
    for i in 0..2 {
        let row = backend.leaf(i).unwrap().unwrap();
        assert_eq!(row.kind, "agentrail.apikey");
        assert_eq!(row.agent_id, "agentrail");
        let bytes = ReadLedger::new(backend.as_mut())
            .event(&row.event_id)
            .unwrap()
            .event_bytes()
            .unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains(&row.event_id));
        assert!(!text.contains(secret), "the secret reached the log");
        assert!(text.contains(if i == 0 {
            "\"op\":\"create\""
        } else {
            "\"op\":\"revoke\""
        }));
    }
    let report = verify(backend.as_mut(), &VerifyOptions::default()).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
}

#[test]
fn a_key_added_or_reactivated_behind_the_ledgers_back_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    Ledger::init(&data, &InitOptions::default(), &SystemClock).unwrap();
    let mut ledger = Ledger::open(&data, "test", Arc::new(SystemClock)).unwrap();
    let (_, revoked) = ledger.create_api_key("admin", None, "old", "cli").unwrap();
    ledger.revoke_api_key(&revoked.id, "cli").unwrap();
    let (_, kept) = ledger.create_api_key("read", None, "kept", "cli").unwrap();
    ledger.checkpoint_now().unwrap();
    drop(ledger);

    let db =
        agentrail_store::sqlite::SqliteBackend::open(&data.join("ledger.sqlite"), false).unwrap();
    let conn = db.connection();
    conn.execute(
        "UPDATE api_keys SET revoked_at = NULL WHERE id = ?1",
        [&revoked.id],
    )
    .unwrap();
    conn.execute(
        "UPDATE api_keys SET role = 'admin' WHERE id = ?1",
        [&kept.id],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO api_keys (id, name, role, agent, secret_sha256, created_at, revoked_at) \
         VALUES ('ffffffffffffffff', 'forged', 'admin', NULL, zeroblob(32), '2026-01-01T00:00:00Z', NULL)",
        [],
    )
    .unwrap();
    drop(db);

    let mut backend = open_read(&data).unwrap();
    let report = verify(backend.as_mut(), &VerifyOptions::default()).unwrap();
    let text: Vec<String> = report
        .problems
        .iter()
        .map(|p| format!("{}: {}", p.location, p.message))
        .collect();
    assert_eq!(report.problem_count, 3, "{text:#?}");
    assert!(
        text.iter()
            .any(|t| t.starts_with(&format!("api key {}: ", revoked.id))
                && t.contains("reactivated")),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|t| t.starts_with(&format!("api key {}: ", kept.id)) && t.contains("role admin")),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|t| t.starts_with("api key ffffffffffffffff: ")
                && t.contains("no record of its creation")),
        "{text:#?}"
    );
}
