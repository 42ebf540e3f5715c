//! Interop for evidence bundles: `tests/interop/verify_bundle.py` is a verifier written from
//! docs/evidence.md and the byte formats of docs/design.md only (RFC 8785 with the `rfc8785`
//! package, Ed25519 with `cryptography`, the RFC 9162 Merkle algorithms written from the RFC),
//! without reading agentrail's evidence code. It must accept the bundles `agentrail evidence`
//! writes (a directory, a zip, a bounded period, a single session) and reject one altered byte
//! in the population or in a sampled event. If it fails, either the code or the documentation is
//! wrong.
//!
//! The Python interpreter comes from `AGENTRAIL_INTEROP_PYTHON` (see `common::interop_python`):
//! without it the test is skipped locally and fails under CI.

mod common;

use common::{agentrail, copy_dir, interop_python};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/interop/verify_bundle.py"
);

/// A session of the demo log (`agentrail demo`).
const SESSION: &str = "sess-triage-88121";

#[test]
fn independent_verifier_accepts_bundles_and_rejects_tampering() {
    let Some(python) = interop_python("bundle_interop") else {
        return;
    };
    let python = resolve(python);
    let tmp = tempfile::tempdir().expect("create a temporary directory");
    let data = tmp.path().join("data");
    agentrail(&data, &["demo"]);
    let key = String::from_utf8(agentrail(&data, &["key"])).expect("the verifier key is UTF-8");
    let key = key.trim_end();

    // A period from before the demo's first event: the population is the whole log.
    let period = tmp.path().join("period");
    let zip = tmp.path().join("period.zip");
    let session = tmp.path().join("session");
    agentrail(
        &data,
        &[
            "evidence",
            "--from",
            "2026-01-01",
            "--out",
            path_str(&period),
        ],
    );
    agentrail(
        &data,
        &["evidence", "--from", "2026-01-01", "--out", path_str(&zip)],
    );
    agentrail(
        &data,
        &[
            "evidence",
            "--session",
            SESSION,
            "--out",
            path_str(&session),
        ],
    );

    // A period bounded on both sides by the log's own checkpoints, so that its start is not
    // the empty tree: the frontier, the start checkpoint and a non-empty consistency proof
    // are exercised. The bounds are the receive times of the leaves that time the end
    // checkpoint and the one before it, read from the first bundle.
    let (from, to, start_size) = bounds_from(&period);
    assert!(
        start_size > 0,
        "the demo log should have a checkpoint before its last one (got start size 0)"
    );
    let bounded = tmp.path().join("bounded.zip");
    agentrail(
        &data,
        &[
            "evidence",
            "--from",
            &from,
            "--to",
            &to,
            "--out",
            path_str(&bounded),
        ],
    );

    for (bundle, must_show) in [
        (&period, &["population: VALID", "sample: VALID"][..]),
        (&zip, &["population: VALID", "sample: VALID"][..]),
        (
            &bounded,
            &[
                "checkpoint start: VALID (size",
                "consistency: VALID",
                "period/boundaries.json: VALID",
            ][..],
        ),
        (
            &session,
            &[
                "checkpoint end: VALID",
                "population: VALID",
                "sample: VALID",
            ][..],
        ),
    ] {
        let out = run_verifier(&python, bundle, key);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "the independent verifier rejected {}:\n{}",
            bundle.display(),
            describe(&out)
        );
        assert!(
            !stdout.contains("INVALID"),
            "exit 0 with an INVALID line for {}:\n{stdout}",
            bundle.display()
        );
        for line in must_show
            .iter()
            .chain(&["MANIFEST: VALID", "The bundle is VALID"])
        {
            assert!(
                stdout.contains(line),
                "{}: the verifier did not print {line:?}:\n{stdout}",
                bundle.display()
            );
        }
        // It must have checked the sampled session's events, not passed on an empty directory.
        assert!(
            stdout.contains(&format!("session {SESSION} event ")),
            "{}: no event of {SESSION} was checked:\n{stdout}",
            bundle.display()
        );
    }

    // One byte of one leaf of the population: the manifest's hash and the population's roots.
    let copy = tmp.path().join("tampered-leaf");
    copy_dir(&period, &copy);
    let leaves = copy.join("population/leaves.ndjson");
    fs::write(
        &leaves,
        alter_leaf_line(fs::read(&leaves).expect("read leaves"), 3),
    )
    .expect("write leaves");
    expect_invalid(
        &python,
        &copy,
        key,
        &[
            "file population/leaves.ndjson: INVALID",
            "population: INVALID",
        ],
    );

    // One byte of one event of the first sampled session: the manifest's hash and its proof.
    let copy = tmp.path().join("tampered-event");
    copy_dir(&period, &copy);
    let events = copy.join("sessions/001/events");
    let event = first_event(&events);
    let name = event.file_name().unwrap().to_string_lossy().into_owned();
    let index = name.strip_suffix(".json").expect("an event file");
    fs::write(
        &event,
        alter_nonce(fs::read(&event).expect("read the event")),
    )
    .expect("write the event");
    expect_invalid(
        &python,
        &copy,
        key,
        &[
            &format!("file sessions/001/events/{name}: INVALID"),
            &format!(" event {index}: INVALID"),
        ],
    );
}

/// `(--from, --to, start size)` for a period from the checkpoint before the end one to the end
/// one, from `period/boundaries.json` of a bundle without `--to`.
fn bounds_from(bundle: &Path) -> (String, String, u64) {
    let text = fs::read(bundle.join("period/boundaries.json")).expect("read boundaries.json");
    let b: serde_json::Value = serde_json::from_slice(&text).expect("boundaries.json is JSON");
    let received_at = |point: &serde_json::Value| -> String {
        let leaf = point["time_leaf"]["leaf"].as_str().expect("a timing leaf");
        let leaf: serde_json::Value = serde_json::from_str(leaf).expect("the leaf is JSON");
        leaf["received_at"]
            .as_str()
            .expect("received_at")
            .to_owned()
    };
    let end = &b["end"];
    let previous = &end["previous"];
    let size = previous["size"]
        .as_u64()
        .expect("the previous point's size");
    (received_at(previous), received_at(end), size)
}

/// `cargo test` runs in the crate's directory: a relative interpreter path with a directory
/// part (`target/ci-venv/bin/python`) is taken relative to the workspace root, where it was
/// most likely written. A bare name (`python3`) is left to the `PATH` search.
fn resolve(python: PathBuf) -> PathBuf {
    if python.is_relative() && python.components().count() > 1 && !python.exists() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        return root.join(python);
    }
    python
}

fn run_verifier(python: &Path, bundle: &Path, key: &str) -> Output {
    Command::new(python)
        .arg(SCRIPT)
        .arg(bundle)
        .arg(key)
        .output()
        .unwrap_or_else(|e| panic!("run {} {SCRIPT}: {e}", python.display()))
}

fn expect_invalid(python: &Path, bundle: &Path, key: &str, lines: &[&str]) {
    let out = run_verifier(python, bundle, key);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the independent verifier did not reject {}:\n{}",
        bundle.display(),
        describe(&out)
    );
    assert!(
        stdout.contains("The bundle is INVALID"),
        "no verdict for {}:\n{stdout}",
        bundle.display()
    );
    for line in lines {
        assert!(
            stdout.contains(line),
            "{}: expected a line containing {line:?}:\n{stdout}",
            bundle.display()
        );
    }
}

/// Changes one hex digit of `body_sha256` on line `line` (from 0): still a well-formed leaf,
/// so only the hashes can tell.
fn alter_leaf_line(bytes: Vec<u8>, line: usize) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    assert!(lines.len() > line + 1, "too few leaves in the population");
    let target = &mut lines[line];
    let at = find(target, b"\"body_sha256\":\"").expect("a leaf has body_sha256") + 15;
    target[at] = if target[at] == b'0' { b'1' } else { b'0' };
    lines.join(&b'\n')
}

/// Changes the first character of the body's nonce (base64 'A' <-> 'B').
fn alter_nonce(mut bytes: Vec<u8>) -> Vec<u8> {
    let at = find(&bytes, b"\"nonce\":\"").expect("an event has a nonce") + 9;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    bytes
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn first_event(events: &Path) -> PathBuf {
    let mut files: Vec<PathBuf> = fs::read_dir(events)
        .expect("list the session's events")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files.into_iter().next().expect("the session has events")
}

fn describe(out: &Output) -> String {
    format!(
        "status: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}
