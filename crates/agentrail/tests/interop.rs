//! Interop: implementations that share no code with agentrail must accept what the real binary
//! prints. `tests/interop/verify_independent.py` checks events and leaves with the `rfc8785`
//! package (RFC 8785), checkpoints with `cryptography` (Ed25519, C2SP signed notes), and
//! inclusion and consistency proofs with an RFC 9162 Merkle verifier written from the RFC text.
//!
//! The Python interpreter comes from `AGENTRAIL_INTEROP_PYTHON` (`.ci/run` builds a venv from
//! `tests/interop/requirements.txt` and sets it). Without it the test is skipped locally and
//! fails under CI, so a missing toolchain is never mistaken for a pass there.

mod common;

use common::{agentrail, copy_dir, interop_python, AGENTRAIL};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/events.ndjson");
const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/interop/verify_independent.py"
);

/// Lines of the example file ingested in the first run; the rest go in the second.
const FIRST_RUN: usize = 30;

/// Appended to the second run: the examples are all ASCII integers, so this event carries what
/// RFC 8785 implementations most often disagree on — key order by UTF-16 code units (U+1F600
/// sorts before U+E000 and U+FF61), escapes of control characters, non-ASCII text, and
/// number serialization.
const EXTRA_EVENT: &str = r#"{"event_id":"ix-unicode-001","session_id":"sess-ix","agent_id":"interop-agent","principal":"svc-interop","kind":"action","ts":"2026-11-24T10:00:00.5+05:30","trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331","parent_span_id":"00f067aa0ba902b7","action":{"type":"tool_call","system":"café ☕","resource":"Ωmega/😀","status":"ok"},"attributes":{"\uff61":1,"\ud83d\ude00":2,"\ue000":3,"\u20ac":4,"é":5,"\u0080":6,"A":false,"a":{"z":[1,{"y":"x","b":null}],"e":[],"o":{}},"text":"quote\" backslash\\ nl\n tab\t ctl\u0001\u001f del\u007f ls\u2028 slash\/ bs\b ff\f cr\r nul\u0000","numbers":[0.1,1e-7,-0.0,1.0,1E2,333333333.33333329,9007199254740991,-9007199254740991,5e-324,2.2250738585072014e-308,0.000001,1.5e-7,123e-20,4.35]}}"#;

/// Every event kind the examples use; the exported artifacts must cover each.
const KINDS: [&str; 5] = ["session.start", "action", "decision", "diff", "session.end"];

#[test]
fn independent_implementations_accept_agentrail_output() {
    let Some(python) = interop_python("interop") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("create a temporary directory");
    let data = tmp.path().join("data");
    let artifacts = tmp.path().join("artifacts");
    fs::create_dir_all(artifacts.join("events")).expect("create the artifact directory");

    let examples = fs::read_to_string(EXAMPLES).expect("read examples/events.ndjson");
    let lines: Vec<&str> = examples.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        lines.len() > FIRST_RUN,
        "examples/events.ndjson has too few events"
    );
    let (first, rest) = lines.split_at(FIRST_RUN);
    let first_run = tmp.path().join("first.ndjson");
    let second_run = tmp.path().join("second.ndjson");
    fs::write(&first_run, first.join("\n") + "\n").expect("write the first batch");
    fs::write(&second_run, rest.join("\n") + "\n" + EXTRA_EVENT + "\n")
        .expect("write the second batch");

    agentrail(&data, &["init"]);
    agentrail(&data, &["ingest", path_str(&first_run)]);
    let old = agentrail(&data, &["checkpoint"]);
    agentrail(&data, &["ingest", path_str(&second_run)]);
    let new = agentrail(&data, &["checkpoint"]);
    let (old_size, new_size) = (checkpoint_size(&old), checkpoint_size(&new));
    assert_eq!(old_size, FIRST_RUN as u64, "first checkpoint size");
    assert_eq!(new_size, lines.len() as u64 + 1, "second checkpoint size");
    write(&artifacts.join("checkpoint-old.txt"), &old);
    write(&artifacts.join("checkpoint-new.txt"), &new);

    let key = agentrail(&data, &["key"]);
    write(&artifacts.join("key.txt"), &key);
    let key = String::from_utf8(key).expect("the verifier key is UTF-8");
    let key = key.trim_end();
    let (old_s, new_s) = (old_size.to_string(), new_size.to_string());
    let consistency = agentrail(&data, &["prove", "--consistency", &old_s, &new_s]);
    write(&artifacts.join("consistency.txt"), &consistency);

    // Export every event (the Python side then rebuilds both trees from the leaves), and
    // check each proof with agentrail's own offline verifier as well.
    let mut kinds = BTreeSet::new();
    let mut ids = Vec::new();
    for line in lines.iter().copied().chain([EXTRA_EVENT]) {
        let event: serde_json::Value = serde_json::from_str(line).expect("example event is JSON");
        let id = event["event_id"].as_str().expect("event_id is a string");
        kinds.insert(event["kind"].as_str().expect("kind is a string").to_owned());
        let dir = artifacts.join("events");
        let event_file = dir.join(format!("{id}.event.json"));
        let proof_file = dir.join(format!("{id}.tlog-proof"));
        write(&event_file, &agentrail(&data, &["event", "get", id]));
        write(
            &dir.join(format!("{id}.leaf.json")),
            &agentrail(&data, &["event", "get", id, "--leaf"]),
        );
        write(&proof_file, &agentrail(&data, &["prove", id]));
        verify_proof(key, &event_file, &proof_file)
            .unwrap_or_else(|out| panic!("agentrail verify-proof rejected {id}:\n{out}"));
        ids.push(id.to_owned());
    }
    for kind in KINDS {
        assert!(kinds.contains(kind), "no exported event of kind {kind}");
    }

    let stdout = run_script(&python, &artifacts).unwrap_or_else(|out| {
        panic!("the independent verifier rejected agentrail's output:\n{out}")
    });
    // The script must have looked at every event, not passed on an empty directory.
    for id in &ids {
        assert!(
            stdout.contains(&format!("OK proof {id}: ")),
            "the independent verifier did not check {id}:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("OK every inclusion proof equals RFC 9162 PATH"),
        "the independent verifier did not rebuild the tree:\n{stdout}"
    );

    // Tampered artifacts must be rejected, by the independent verifier and by agentrail.
    let victim = &ids[FIRST_RUN / 2];
    let events = Path::new("events");
    let tamperings = [
        Tampering::new(
            events.join(format!("{victim}.leaf.json")),
            flip_middle_byte,
            victim,
        ),
        Tampering::new(
            events.join(format!("{victim}.event.json")),
            flip_middle_byte,
            victim,
        ),
        Tampering::new(
            events.join(format!("{victim}.tlog-proof")),
            flip_first_proof_hash,
            victim,
        ),
        Tampering::new(
            "checkpoint-new.txt".into(),
            bump_checkpoint_size,
            "checkpoint-new.txt",
        ),
    ];
    for Tampering {
        file,
        tamper,
        expected,
    } in tamperings
    {
        let copy = tmp.path().join("tampered");
        copy_dir(&artifacts, &copy);
        let bytes = fs::read(copy.join(&file)).expect("read the artifact to tamper with");
        write(&copy.join(&file), &tamper(bytes));
        let out = run_script(&python, &copy).expect_err(&format!(
            "the independent verifier accepted a tampered {}",
            file.display()
        ));
        assert!(
            out.contains("FAIL: ") && out.contains(expected),
            "tampered {}: expected a FAIL naming {expected:?}, got:\n{out}",
            file.display()
        );
        if file.starts_with(events) && !file.ends_with(format!("{victim}.leaf.json")) {
            let event = copy.join(events).join(format!("{victim}.event.json"));
            let proof = copy.join(events).join(format!("{victim}.tlog-proof"));
            assert!(
                verify_proof(key, &event, &proof).is_err(),
                "agentrail verify-proof accepted a tampered {}",
                file.display()
            );
        }
        fs::remove_dir_all(&copy).expect("remove the tampered copy");
    }
}

/// One way to damage one artifact, and what the verifier's `FAIL` message must name.
struct Tampering<'a> {
    file: PathBuf,
    tamper: fn(Vec<u8>) -> Vec<u8>,
    expected: &'a str,
}

impl<'a> Tampering<'a> {
    fn new(file: PathBuf, tamper: fn(Vec<u8>) -> Vec<u8>, expected: &'a str) -> Self {
        Self {
            file,
            tamper,
            expected,
        }
    }
}

/// agentrail's own offline verifier: needs no data directory.
fn verify_proof(key: &str, event: &Path, proof: &Path) -> Result<(), String> {
    let out = Command::new(AGENTRAIL)
        .args(["verify-proof", "--key", key, "--event"])
        .arg(event)
        .arg(proof)
        .env_remove("AGENTRAIL_DATA")
        .output()
        .expect("run agentrail verify-proof");
    if out.status.success() {
        Ok(())
    } else {
        Err(describe(&out))
    }
}

/// Runs the independent verifier; its standard output on success, everything on failure.
fn run_script(python: &Path, artifacts: &Path) -> Result<String, String> {
    let out = Command::new(python)
        .arg(SCRIPT)
        .arg(artifacts)
        .output()
        .unwrap_or_else(|e| panic!("run {} {SCRIPT}: {e}", python.display()));
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(describe(&out))
    }
}

fn describe(out: &Output) -> String {
    format!(
        "status: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The tree size: the second line of a checkpoint.
fn checkpoint_size(checkpoint: &[u8]) -> u64 {
    let text = std::str::from_utf8(checkpoint).expect("the checkpoint is UTF-8");
    let size = text.lines().nth(1).expect("the checkpoint has a size line");
    size.parse().expect("the checkpoint size is a number")
}

fn flip_middle_byte(mut bytes: Vec<u8>) -> Vec<u8> {
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    bytes
}

/// Changes the first hash line after `index N` (base64 'A' <-> 'B' keeps it valid base64).
fn flip_first_proof_hash(bytes: Vec<u8>) -> Vec<u8> {
    let text = String::from_utf8(bytes).expect("the proof is UTF-8");
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    assert!(lines[1].starts_with("index "), "unexpected proof shape");
    let hash = &mut lines[2];
    assert!(!hash.is_empty(), "the proof has no hashes to change");
    let first = if hash.starts_with('A') { "B" } else { "A" };
    hash.replace_range(0..1, first);
    lines.join("\n").into_bytes()
}

fn bump_checkpoint_size(bytes: Vec<u8>) -> Vec<u8> {
    let text = String::from_utf8(bytes).expect("the checkpoint is UTF-8");
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    let size: u64 = lines[1].parse().expect("the checkpoint size is a number");
    lines[1] = (size + 1).to_string();
    lines.join("\n").into_bytes()
}

fn write(path: &Path, bytes: &[u8]) {
    fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}
