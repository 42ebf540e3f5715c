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
