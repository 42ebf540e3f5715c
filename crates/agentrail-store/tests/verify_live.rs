//! `verify` while the writer keeps appending (a running server): it checks the store as of its
//! snapshot and must not mistake growth for tampering.

use agentrail_core::event::parse_client_event;
use agentrail_store::clock::SystemClock;
use agentrail_store::ledger::open_read;
use agentrail_store::verify::{verify, VerifyOptions};
use agentrail_store::{InitOptions, Ledger};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn batch(start: usize, n: usize) -> Vec<agentrail_core::event::ValidEvent> {
    (start..start + n)
        .map(|i| {
            parse_client_event(
                format!(
                    r#"{{"event_id":"live-{i}","session_id":"s-{}","agent_id":"a","kind":"note","ts":"2026-11-28T13:00:00Z","note":{{"text":"{i}"}}}}"#,
                    i / 20
                )
                .as_bytes(),
            )
            .unwrap()
        })
        .collect()
}

#[test]
fn verify_while_the_writer_appends_reports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    Ledger::init(&data, &InitOptions::default(), &SystemClock).unwrap();
    let mut ledger = Ledger::open(&data, "test", Arc::new(SystemClock)).unwrap();
    ledger.append(&batch(0, 700), "cli").unwrap();
    ledger.checkpoint_now().unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut next = 700;
            let mut round = 0;
            while !stop.load(Ordering::SeqCst) {
                ledger.append(&batch(next, 37), "cli").unwrap();
                next += 37;
                round += 1;
                if round % 3 == 0 {
                    ledger.checkpoint_now().unwrap();
                }
                if round % 5 == 0 {
                    let (_, row) = ledger.create_api_key("read", None, "live", "cli").unwrap();
                    if round % 10 == 0 {
                        ledger.revoke_api_key(&row.id, "cli").unwrap();
                    }
                }
            }
            ledger
        })
    };
    let mut runs = 0;
    for _ in 0..6 {
        let mut backend = open_read(&data).unwrap();
        let r = verify(
            backend.as_mut(),
            &VerifyOptions {
                chunk: 64,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(r.ok(), "problems while the log grew: {:#?}", r.problems);
        assert!(r.leaves >= 700);
        runs += 1;
    }
    stop.store(true, Ordering::SeqCst);
    let ledger = writer.join().unwrap();
    assert!(ledger.size() > 700, "the writer appended during the runs");
    assert_eq!(runs, 6);
}
