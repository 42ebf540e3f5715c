//! Crash safety: SIGKILL the ingesting process at arbitrary points, many times. After each kill,
//! every event whose batch the process reported committed must be present, and `agentrail verify`
//! must pass. The next run re-sends the whole file: what was committed comes back as duplicates,
//! so at the end every event is stored exactly once.

use agentrail_store::ledger::open_read;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const EVENTS: usize = 4000;
const ROUNDS: u64 = 12;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_agentrail"))
}

/// A small deterministic generator, so a failing round can be replayed.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn write_events(path: &Path) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..EVENTS {
        writeln!(
            f,
            r#"{{"event_id":"crash-{i}","session_id":"s-{}","agent_id":"agent-{}","kind":"action","ts":"2026-11-28T13:00:00Z","action":{{"type":"read","system":"crm","resource":"accounts/{i}","status":"ok"}},"attributes":{{"padding":"{}"}}}}"#,
            i / 50,
            i % 7,
            "x".repeat(200)
        )
        .unwrap();
    }
}

fn verify_ok(data: &Path) {
    let out = bin()
        .arg("--data")
        .arg(data)
        .arg("verify")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "verify failed after a crash:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn stored_count_through(data: &Path, lines: usize) -> usize {
    let mut backend = open_read(data).unwrap();
    let ids: Vec<String> = (0..lines).map(|i| format!("crash-{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    backend
        .find_event_ids(&refs)
        .unwrap()
        .iter()
        .filter(|f| f.is_some())
        .count()
}

#[test]
fn sigkill_during_ingest_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let input = dir.path().join("events.ndjson");
    write_events(&input);
    let st = bin()
        .arg("--data")
        .arg(&data)
        .args(["init", "--origin", "crash.test/log"])
        .status()
        .unwrap();
    assert!(st.success());

    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut kills = 0;
    for round in 0..ROUNDS {
        let mut child = bin()
            .arg("--data")
            .arg(&data)
            .args(["ingest", "--batch", "50"])
            .arg(&input)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("committed through line ") {
                    let n: usize = rest.split(' ').next().unwrap().parse().unwrap();
                    let _ = tx.send(n);
                }
            }
        });
        // Kill after a varying number of acknowledged batches, or a varying time.
        let target_batches = 1 + rng.next() % 30;
        let deadline = Instant::now() + Duration::from_millis(20 + rng.next() % 400);
        let mut acked = 0usize;
        let mut seen = 0u64;
        while Instant::now() < deadline && seen < target_batches {
            match rx.recv_timeout(Duration::from_millis(5)) {
                Ok(n) => {
                    acked = acked.max(n);
                    seen += 1;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let killed = child.try_wait().unwrap().is_none();
        if killed {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
        reader.join().unwrap();
        // Acknowledgements that were in the pipe when the process died still count.
        while let Ok(n) = rx.try_recv() {
            acked = acked.max(n);
        }
        eprintln!("round {round}: killed {killed}, acknowledged through line {acked}");
        let present = stored_count_through(&data, acked);
        assert_eq!(
            present, acked,
            "round {round}: {acked} lines were acknowledged but only {present} are stored"
        );
        verify_ok(&data);
    }
    assert!(
        kills >= ROUNDS / 2,
        "only {kills} of {ROUNDS} runs were killed mid-way"
    );

    // A final run completes; everything is stored exactly once.
    let out = bin()
        .arg("--data")
        .arg(&data)
        .arg("ingest")
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stored_count_through(&data, EVENTS), EVENTS);
    let mut backend = open_read(&data).unwrap();
    assert_eq!(
        backend.leaf_count().unwrap(),
        EVENTS as u64,
        "an event was stored twice"
    );
    verify_ok(&data);
}
