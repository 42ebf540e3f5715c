//! The writer thread as a caller with a deadline sees it.

use agentrail_store::clock::SystemClock;
use agentrail_store::writer::{self, WriterConfig};
use agentrail_store::{InitOptions, Ledger, LedgerError};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn a_checkpoint_with_a_deadline_gives_up_on_a_busy_writer_and_still_gets_signed() {
    let dir = tempfile::tempdir().unwrap();
    Ledger::init(dir.path(), &InitOptions::default(), &SystemClock).unwrap();
    let ledger = Ledger::open(dir.path(), "test", Arc::new(SystemClock)).unwrap();
    let (w, thread) = writer::spawn(ledger, WriterConfig::default());
    // Hold the writer busy, then ask for a checkpoint that may wait 50 ms.
    let (release, held) = std::sync::mpsc::channel::<()>();
    let busy = w.clone();
    let holder = std::thread::spawn(move || {
        busy.exec(move |_| {
            let _ = held.recv();
        })
    });
    std::thread::sleep(Duration::from_millis(50));
    match w.checkpoint_within(Duration::from_millis(50)) {
        Err(LedgerError::Busy(t)) => assert_eq!(t, Duration::from_millis(50)),
        other => panic!("expected Busy, got {other:?}"),
    }
    release.send(()).unwrap();
    holder.join().unwrap().unwrap();
    // Once free, the writer answers within the deadline.
    let cp = w.checkpoint_within(Duration::from_secs(30)).unwrap();
    assert_eq!(cp.size, 0);
    w.stop();
    drop(w);
    thread.join().unwrap();
}
