//! Evidence bundles end to end (docs/evidence.md): `agentrail evidence` on the demo's log, then
//! `agentrail verify-bundle` on the bundle as built (valid) and on copies an attacker altered.
//!
//! Every tamper is tried twice where that makes sense: a plain edit (the manifest's hash of the
//! file must catch it) and a "dishonest operator" who, after the edit, rewrites the manifest
//! with the right hashes and signs it again with the log's own key. Then only the semantic
//! checks stand between the auditor and the lie, and the report must name the altered thing.
//!
//! The demo log and the bundles the tests share are built once per run of this binary; each
//! test that alters a bundle works on its own copy.

mod common;

use agentrail_core::checkpoint::{sign_checkpoint, Checkpoint};
use agentrail_core::merkle::{leaf_hash, MemoryTree};
use agentrail_core::note::Signer;
use agentrail_core::Hash;
use common::{copy_dir, AGENTRAIL};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The demo's session the single-session bundle is made of, and that many tampers alter.
const TRIAGE: &str = "sess-triage-88121";
/// The demo's agent with exactly its own sessions (for `--agent`).
const DRAFTER: &str = "renewal-drafter";

// ---------------------------------------------------------------------------------------------
// Running the binary

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn dump(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    /// The items of the `<item>: INVALID[: reason]` lines.
    fn invalid_items(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter_map(|l| {
                l.split_once(": INVALID")
                    .filter(|(_, rest)| rest.is_empty() || rest.starts_with(": "))
                    .map(|(item, _)| item)
            })
            .collect()
    }

    /// The whole `<item>: INVALID...` line of `item`.
    fn invalid_line(&self, item: &str) -> Option<&str> {
        let prefix = format!("{item}: INVALID");
        self.stdout.lines().find(|l| l.starts_with(&prefix))
    }
}

fn run_in(cwd: Option<&Path>, args: &[&str]) -> Run {
    let mut cmd = Command::new(AGENTRAIL);
    cmd.args(args)
        .env_remove("AGENTRAIL_DATA")
        .env_remove("AGENTRAIL_AGENTS")
        .stdin(Stdio::null());
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let out = cmd.output().expect("run the agentrail binary");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn run(args: &[&str]) -> Run {
    run_in(None, args)
}

/// `agentrail --data DATA ARGS`.
fn at(data: &Path, args: &[&str]) -> Run {
    let mut all = vec!["--data", s(data)];
    all.extend_from_slice(args);
    run(&all)
}

/// Requires exit 0.
fn ok(r: Run, what: &str) -> Run {
    assert_eq!(r.code, 0, "{what}:\n{}", r.dump());
    r
}

fn s(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// `agentrail verify-bundle BUNDLE --key KEY EXTRA...`.
fn verify_with(bundle: &Path, key: &str, extra: &[&str]) -> Run {
    let key = format!("--key={key}");
    let mut args = vec!["verify-bundle", s(bundle), key.as_str()];
    args.extend_from_slice(extra);
    run(&args)
}

/// verify-bundle with the log's real key.
fn verify(bundle: &Path) -> Run {
    verify_with(bundle, &fx().key, &[])
}

fn assert_valid(r: &Run) {
    assert_eq!(r.code, 0, "the bundle should verify:\n{}", r.dump());
    assert!(r.stdout.contains("The bundle is VALID"), "{}", r.dump());
    assert!(!r.stdout.contains("INVALID"), "{}", r.dump());
    assert!(r.stdout.contains("MANIFEST: VALID"), "{}", r.dump());
}

/// Exit 1, the verdict INVALID, and an INVALID line for each of `items`.
fn assert_invalid(r: &Run, items: &[&str]) {
    assert_eq!(r.code, 1, "the bundle should be INVALID:\n{}", r.dump());
    assert!(r.stdout.contains("The bundle is INVALID"), "{}", r.dump());
    let found = r.invalid_items();
    for item in items {
        assert!(
            found.contains(item),
            "expected `{item}: INVALID`; the INVALID items are {found:?}\n{}",
            r.dump()
        );
    }
}

/// A file edited without the key: the manifest names it, and nothing signed is read further
/// (the content checks are the re-signed variants' business).
fn assert_unsigned_edit(r: &Run, file_item: &str) {
    assert_invalid(r, &[file_item]);
    assert_eq!(r.invalid_items(), vec![file_item], "{}", r.dump());
    assert!(
        r.stdout.contains("Contents not checked"),
        "the contents of an unsigned bundle are not read: {}",
        r.dump()
    );
}

/// A dishonest operator re-signed the manifest: every file matches it, so the manifest is
/// valid and no file line says a hash differs, a listed file is missing or a file is unlisted;
/// a semantic check has to catch the lie.
fn assert_manifest_clean(r: &Run) {
    assert!(r.stdout.contains("MANIFEST: VALID"), "{}", r.dump());
    let files: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("file ") || l.starts_with("entry "))
        .filter(|l| {
            l.starts_with("entry ")
                || l.contains(": INVALID: its SHA-256 is")
                || l.contains(": INVALID: listed in the manifest but missing")
                || l.contains(": INVALID: in the bundle but not in the manifest")
        })
        .collect();
    assert!(
        files.is_empty(),
        "the re-signed manifest should match every file: {files:?}\n{}",
        r.dump()
    );
}

// ---------------------------------------------------------------------------------------------
// The shared demo log and bundles

#[derive(Debug)]
struct Fixture {
    /// Holds everything below; never dropped (it lives in a static), so it is made under the
    /// target directory, where stale runs are cleaned up by the next one.
    _dir: tempfile::TempDir,
    data: PathBuf,
    /// The log's verifier key, as `agentrail key` prints it.
    key: String,
    /// The log's origin (the key's name).
    origin: String,
    /// `agentrail checkpoint`: the latest signed checkpoint.
    checkpoint: String,
    /// A period bundle (a directory): every session of the demo sampled.
    all: PathBuf,
    /// The same as a .zip.
    zip: PathBuf,
    /// `--session sess-triage-88121`.
    session: PathBuf,
    /// A period bundle with `--sample 3`.
    three: PathBuf,
}

fn fx() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(build_fixture)
}

fn build_fixture() -> Fixture {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("evidence-tests");
    std::fs::create_dir_all(&base).unwrap();
    // Runs of this binary never drop their fixture: remove those more than an hour old.
    if let Ok(entries) = std::fs::read_dir(&base) {
        for e in entries.flatten() {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() > 3600);
            if old {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let dir = tempfile::Builder::new()
        .prefix("run-")
        .tempdir_in(&base)
        .unwrap();
    let data = dir.path().join("data");
    let demo = ok(at(&data, &["demo"]), "agentrail demo");
    assert!(demo.stdout.contains("Try next:"), "{}", demo.dump());
    let key = ok(at(&data, &["key"]), "agentrail key")
        .stdout
        .trim()
        .to_string();
    let origin = key.split('+').next().unwrap().to_string();
    let checkpoint = ok(at(&data, &["checkpoint"]), "agentrail checkpoint").stdout;
    let bundles = dir.path().join("bundles");
    std::fs::create_dir(&bundles).unwrap();
    let make = |name: &str, args: &[&str]| -> PathBuf {
        let out = bundles.join(name);
        let mut all = vec!["evidence"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--out", s(&out)]);
        let r = ok(at(&data, &all), &format!("agentrail {all:?}"));
        assert!(r.stdout.contains("wrote "), "{}", r.dump());
        out
    };
    let all = make("all", &["--from", "2026-01-01"]);
    let zip = make("all.zip", &["--from", "2026-01-01"]);
    let session = make("session", &["--session", TRIAGE]);
    let three = make("three", &["--from", "2026-01-01", "--sample", "3"]);
    Fixture {
        _dir: dir,
        data,
        key,
        origin,
        checkpoint,
        all,
        zip,
        session,
        three,
    }
}

/// The log's own signing key, as a dishonest operator holds it.
fn log_signer() -> Signer {
    let text = std::fs::read_to_string(fx().data.join("signing.key")).unwrap();
    Signer::from_skey(text.trim()).expect("the log's signing key parses")
}

/// Builds a bundle into a new directory of `tmp` and returns its path.
fn evidence(tmp: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = tmp.join(name);
    let mut all = vec!["evidence"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--out", s(&out)]);
    ok(at(&fx().data, &all), &format!("agentrail {all:?}"));
    out
}

// ---------------------------------------------------------------------------------------------
// Reading and altering bundles

/// A fresh copy of the directory bundle `src`, in a new temporary directory.
fn copy(src: &Path) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join("bundle");
    copy_dir(src, &dst);
    (tmp, dst)
}

/// Every file of a directory bundle, as `/`-separated relative paths, sorted bytewise.
fn files_of(root: &Path) -> Vec<String> {
    fn walk(root: &Path, prefix: &str, out: &mut Vec<String>) {
        for e in std::fs::read_dir(root.join(prefix)).unwrap() {
            let e = e.unwrap();
            let rel = format!("{prefix}{}", e.file_name().to_str().unwrap());
            if e.file_type().unwrap().is_dir() {
                walk(root, &format!("{rel}/"), out);
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, "", &mut out);
    out.sort();
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a dishonest operator does after an edit: a manifest listing the bundle's files as they
/// now are, signed with the log's own key.
fn resign(bundle: &Path) {
    let mut text = String::from("agentrail.evidence/v1\n");
    for path in files_of(bundle) {
        if path == "MANIFEST" {
            continue;
        }
        let bytes = std::fs::read(bundle.join(&path)).unwrap();
        text.push_str(&format!("{}  {path}\n", sha256_hex(&bytes)));
    }
    let note = log_signer().sign(&text).unwrap();
    std::fs::write(bundle.join("MANIFEST"), note).unwrap();
}

fn read(bundle: &Path, path: &str) -> String {
    std::fs::read_to_string(bundle.join(path))
        .unwrap_or_else(|e| panic!("reading {path} of {}: {e}", bundle.display()))
}

fn write(bundle: &Path, path: &str, text: &str) {
    std::fs::write(bundle.join(path), text).unwrap();
}

fn read_json(bundle: &Path, path: &str) -> Value {
    serde_json::from_str(&read(bundle, path)).unwrap()
}

/// Writes `v` as canonical JSON, as every JSON file of a bundle is.
fn write_json(bundle: &Path, path: &str, v: &Value) {
    let bytes = agentrail_core::json::canonicalize(v).unwrap();
    std::fs::write(bundle.join(path), bytes).unwrap();
}

/// Replaces the first `from` in the file by `to`; the file must hold `from`.
fn replace_once(bundle: &Path, path: &str, from: &str, to: &str) {
    let text = read(bundle, path);
    assert!(
        text.contains(from),
        "{path} does not hold {from:?}:\n{text}"
    );
    write(bundle, path, &text.replacen(from, to, 1));
}

/// bundle.json's sample.
fn sample_of(bundle: &Path) -> Vec<String> {
    read_json(bundle, "bundle.json")["sample"]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// The directory (`sessions/NNN`) of the sampled session `id`.
fn dir_of(bundle: &Path, id: &str) -> String {
    let rank = sample_of(bundle)
        .iter()
        .position(|s| s == id)
        .unwrap_or_else(|| panic!("{id} is not in the sample of {}", bundle.display()));
    format!("sessions/{:03}", rank + 1)
}

/// The leaf indexes of the events under `dir`, ascending.
fn events_in(bundle: &Path, dir: &str) -> Vec<u64> {
    let mut v: Vec<u64> = std::fs::read_dir(bundle.join(dir).join("events"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".json").map(|n| n.parse().unwrap())
        })
        .collect();
    v.sort_unstable();
    assert!(!v.is_empty(), "{dir} holds no event");
    v
}

/// The sessions of `population/sessions.json`: id -> agents.
fn population_sessions(bundle: &Path) -> BTreeMap<String, Vec<String>> {
    read_json(bundle, "population/sessions.json")["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let agents = s["agents"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect();
            (s["session_id"].as_str().unwrap().to_string(), agents)
        })
        .collect()
}

/// The sample as docs/evidence.md defines it, computed here independently: SHA-256(seed ||
/// 0x00 || id) for each candidate, sorted, the first `n`.
fn expected_draw<'a>(
    seed: &[u8],
    candidates: impl Iterator<Item = &'a str>,
    n: usize,
) -> Vec<String> {
    let mut keyed: Vec<([u8; 32], &str)> = candidates
        .map(|id| {
            let mut h = Sha256::new();
            h.update(seed);
            h.update([0u8]);
            h.update(id.as_bytes());
            (h.finalize().into(), id)
        })
        .collect();
    keyed.sort();
    keyed
        .into_iter()
        .take(n)
        .map(|(_, id)| id.to_string())
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The body of a signed note: its text up to and including the newline before the blank line.
fn note_body(note: &str) -> String {
    let (text, _) = note
        .split_once("\n\n")
        .expect("a signed note has a blank line");
    format!("{text}\n")
}

// ---------------------------------------------------------------------------------------------
// 1. Bundles as built verify

#[test]
fn a_period_bundle_from_the_demo_verifies() {
    let f = fx();
    let r = verify(&f.all);
    assert_valid(&r);
    for needle in [
        "population: VALID (leaves 0 to 70 hash to both checkpoints' roots: 7 sessions, 4 agentrail records)",
        "sample: VALID",
        "checkpoint end: VALID (size 70)",
        &format!("session {TRIAGE}: VALID"),
        &format!("session {TRIAGE} narrative.md: VALID"),
        "controls.json: VALID",
    ] {
        assert!(r.stdout.contains(needle), "{needle:?} missing:\n{}", r.dump());
    }
    // The layout docs/evidence.md describes.
    let files = files_of(&f.all);
    for must in [
        "MANIFEST",
        "bundle.json",
        "verifier.vkey",
        "checkpoints/end.checkpoint",
        "checkpoints/consistency.proof",
        "population/frontier.txt",
        "population/leaves.ndjson",
        "population/sessions.json",
        "period/boundaries.json",
        "policies/in-force.json",
        "inventory.json",
        "assessment/assessment.json",
        "assessment/assessment.md",
        "assessment/assessment.html",
        "controls.json",
        "index.html",
        "sessions/001/narrative.md",
        "sessions/001/narrative.html",
        "sessions/007/narrative.md",
    ] {
        assert!(files.iter().any(|p| p == must), "{must} missing: {files:?}");
    }
    assert!(
        !files.iter().any(|p| p == "checkpoints/start.checkpoint"),
        "the period starts at the empty tree: no start checkpoint"
    );
    let manifest = read(&f.all, "MANIFEST");
    assert!(
        manifest.starts_with("agentrail.evidence/v1\n"),
        "{manifest}"
    );
    assert_eq!(
        read(&f.all, "verifier.vkey"),
        format!("{}\n", f.key),
        "verifier.vkey is the key and a newline"
    );
    let info = read_json(&f.all, "bundle.json");
    assert_eq!(info["kind"], "period");
    assert_eq!(
        info["population"],
        json!({"leaves": 70, "records": 4, "sessions": 7})
    );
    assert_eq!(info["start"]["size"], 0);
    assert_eq!(info["end"]["size"], 70);
    assert_eq!(
        sample_of(&f.all).len(),
        7,
        "all 7 sessions drawn of 25 requested"
    );
}

#[test]
fn a_zip_bundle_verifies() {
    let f = fx();
    let r = verify(&f.zip);
    assert_valid(&r);
    assert!(r.stdout.contains("population: VALID"), "{}", r.dump());
    // No directory entries and the same names as the directory bundle.
    let mut z = zip::ZipArchive::new(std::fs::File::open(&f.zip).unwrap()).unwrap();
    let mut names: Vec<String> = (0..z.len())
        .map(|i| z.by_index_raw(i).unwrap().name().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, files_of(&f.all));
}

#[test]
fn a_session_bundle_verifies() {
    let f = fx();
    let r = verify(&f.session);
    assert_valid(&r);
    assert!(
        r.stdout.contains(&format!("session {TRIAGE}: VALID")),
        "{}",
        r.dump()
    );
    let info = read_json(&f.session, "bundle.json");
    assert_eq!(info["kind"], "session");
    assert_eq!(
        info["sample"],
        json!({"method": "session", "sessions": [TRIAGE]})
    );
    let files = files_of(&f.session);
    assert!(
        !files
            .iter()
            .any(|p| p.starts_with("assessment/") || p.starts_with("period/")),
        "a session bundle has no assessment and no bounds: {files:?}"
    );
    assert!(files.iter().any(|p| p == "sessions/001/narrative.md"));
    // Its population runs from the session's first event to the end checkpoint.
    let first = events_in(&f.session, "sessions/001")[0];
    assert_eq!(info["start"]["size"], json!(first), "{info}");
    let leaves = read(&f.session, "population/leaves.ndjson");
    assert_eq!(
        leaves.lines().count() as u64,
        info["end"]["size"].as_u64().unwrap() - first,
        "{info}"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Tampering

/// The first event of the triage session in the `all` bundle: (dir, leaf index).
fn triage_event(bundle: &Path) -> (String, u64) {
    let dir = dir_of(bundle, TRIAGE);
    let n = events_in(bundle, &dir)[0];
    (dir, n)
}

#[test]
fn an_event_header_byte_changed_is_named() {
    for resigned in [false, true] {
        let (_tmp, b) = copy(&fx().all);
        let (dir, n) = triage_event(&b);
        let path = format!("{dir}/events/{n}.json");
        replace_once(&b, &path, "\"ts\":\"2026-", "\"ts\":\"2025-");
        let item = format!("session {TRIAGE} event {n}");
        if resigned {
            resign(&b);
            let r = verify(&b);
            assert_invalid(&r, &[&item]);
            assert_manifest_clean(&r);
        } else {
            let r = verify(&b);
            assert_unsigned_edit(&r, &format!("file {path}"));
        }
    }
}

/// Changes the first string found in the event's body (depth first, keys in order) and writes
/// the event back canonical: a well-formed event that says something else.
fn alter_body(bundle: &Path, path: &str) {
    fn first_string(v: &mut Value) -> Option<&mut String> {
        match v {
            Value::String(s) => Some(s),
            Value::Object(m) => m.values_mut().find_map(first_string),
            Value::Array(a) => a.iter_mut().find_map(first_string),
            _ => None,
        }
    }
    let mut ev = read_json(bundle, path);
    let s = first_string(&mut ev["body"]).expect("the event's body holds a string");
    let last = s.pop().unwrap_or('a');
    s.push(if last == 'X' { 'Y' } else { 'X' });
    write_json(bundle, path, &ev);
}

#[test]
fn an_event_body_value_changed_is_named() {
    for resigned in [false, true] {
        let (_tmp, b) = copy(&fx().all);
        let (dir, n) = triage_event(&b);
        let path = format!("{dir}/events/{n}.json");
        let before = read(&b, &path);
        alter_body(&b, &path);
        assert_ne!(before, read(&b, &path));
        let item = format!("session {TRIAGE} event {n}");
        if resigned {
            resign(&b);
            let r = verify(&b);
            assert_invalid(&r, &[&item]);
            assert_manifest_clean(&r);
        } else {
            let r = verify(&b);
            assert_unsigned_edit(&r, &format!("file {path}"));
        }
    }
}

#[test]
fn a_population_leaf_changed_is_named() {
    for resigned in [false, true] {
        let (_tmp, b) = copy(&fx().all);
        let path = "population/leaves.ndjson";
        let text = read(&b, path);
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        // One hex digit of body_sha256 of leaf 30: the line stays a canonical leaf.
        let line = &mut lines[30];
        let at = line.find("\"body_sha256\":\"").unwrap() + "\"body_sha256\":\"".len();
        let c = if &line[at..at + 1] == "0" { "1" } else { "0" };
        line.replace_range(at..at + 1, c);
        write(&b, path, &(lines.join("\n") + "\n"));
        if resigned {
            resign(&b);
            let r = verify(&b);
            assert_invalid(&r, &["population"]);
            assert_manifest_clean(&r);
            let why = r.invalid_line("population").unwrap();
            assert!(why.contains("root"), "{why}");
        } else {
            let r = verify(&b);
            assert_unsigned_edit(&r, &format!("file {path}"));
        }
    }
}

#[test]
fn a_proof_hash_replaced_is_named() {
    for resigned in [false, true] {
        let (_tmp, b) = copy(&fx().all);
        let (dir, n) = triage_event(&b);
        let path = format!("{dir}/events/{n}.tlog-proof");
        let text = read(&b, &path);
        let lines: Vec<&str> = text.split('\n').collect();
        assert!(lines[0].starts_with("c2sp.org/tlog-proof"), "{text}");
        assert!(lines[1].starts_with("index "), "{text}");
        let forged = leaf_hash(b"not the sibling").to_base64();
        assert!(Hash::from_base64(lines[2]).is_some(), "{text}");
        let mut new = lines.clone();
        new[2] = &forged;
        write(&b, &path, &new.join("\n"));
        let item = format!("session {TRIAGE} event {n}");
        if resigned {
            resign(&b);
            let r = verify(&b);
            assert_invalid(&r, &[&item]);
            assert_manifest_clean(&r);
        } else {
            let r = verify(&b);
            assert_unsigned_edit(&r, &format!("file {path}"));
        }
    }
}

#[test]
fn a_manifest_line_edited_under_the_old_signature_is_named() {
    let (_tmp, b) = copy(&fx().all);
    let manifest = read(&b, "MANIFEST");
    // The hash of bundle.json: one hex digit changed; the signature line kept.
    let line = manifest
        .lines()
        .find(|l| l.ends_with("  bundle.json"))
        .unwrap()
        .to_string();
    let c = if line.starts_with('0') { "1" } else { "0" };
    let edited = format!("{c}{}", &line[1..]);
    write(&b, "MANIFEST", &manifest.replacen(&line, &edited, 1));
    let r = verify(&b);
    assert_invalid(&r, &["MANIFEST"]);
    assert_eq!(
        r.invalid_items(),
        vec!["MANIFEST"],
        "nothing is checked without a valid manifest:\n{}",
        r.dump()
    );

    // A manifest that does not list a file any more, under the old signature.
    let (_tmp, b) = copy(&fx().all);
    let dropped = manifest
        .lines()
        .find(|l| l.ends_with("  controls.json"))
        .unwrap();
    write(
        &b,
        "MANIFEST",
        &manifest.replacen(&format!("{dropped}\n"), "", 1),
    );
    assert_invalid(&verify(&b), &["MANIFEST"]);

    // No manifest at all.
    let (_tmp, b) = copy(&fx().all);
    std::fs::remove_file(b.join("MANIFEST")).unwrap();
    assert_invalid(&verify(&b), &["MANIFEST"]);
}

#[test]
fn a_file_removed_is_named() {
    // Plain: the manifest lists it.
    let (_tmp, b) = copy(&fx().all);
    let (dir, n) = triage_event(&b);
    let path = format!("{dir}/events/{n}.json");
    std::fs::remove_file(b.join(&path)).unwrap();
    let r = verify(&b);
    assert_invalid(&r, &[&format!("file {path}")]);
    assert!(
        r.invalid_line(&format!("file {path}"))
            .unwrap()
            .contains("missing"),
        "{}",
        r.dump()
    );

    // Re-signed without the event and its proof: the population says the session has it.
    let (_tmp, b) = copy(&fx().all);
    std::fs::remove_file(b.join(&path)).unwrap();
    std::fs::remove_file(b.join(format!("{dir}/events/{n}.tlog-proof"))).unwrap();
    resign(&b);
    let r = verify(&b);
    let item = format!("session {TRIAGE}");
    assert_invalid(&r, &[&item]);
    assert_manifest_clean(&r);
    let why = r.invalid_line(&item).unwrap();
    assert!(why.contains(&format!("[{n}]")), "names leaf {n}: {why}");

    // Re-signed without a policy record: the population has it.
    let (_tmp, b) = copy(&fx().all);
    std::fs::remove_file(b.join("policies/records/1.json")).unwrap();
    std::fs::remove_file(b.join("policies/records/1.tlog-proof")).unwrap();
    resign(&b);
    let r = verify(&b);
    assert_invalid(&r, &["records of the population"]);
    assert_manifest_clean(&r);
    let why = r.invalid_line("records of the population").unwrap();
    assert!(why.contains("[1]"), "{why}");
}

#[test]
fn a_file_added_is_named() {
    // Plain: in the bundle, not in the manifest.
    let (_tmp, b) = copy(&fx().all);
    write(&b, "notes.txt", "trust me\n");
    let r = verify(&b);
    assert_invalid(&r, &["file notes.txt"]);
    assert!(
        r.invalid_line("file notes.txt")
            .unwrap()
            .contains("not in the manifest"),
        "{}",
        r.dump()
    );

    // Re-signed: a file the format does not have.
    resign(&b);
    let r = verify(&b);
    assert_invalid(&r, &["file notes.txt"]);
    assert_manifest_clean(&r);

    // Re-signed: a stray file in a sampled session's directory.
    let (_tmp, b) = copy(&fx().all);
    let dir = dir_of(&b, TRIAGE);
    let stray = format!("{dir}/events/extra.txt");
    write(&b, &stray, "an event nobody logged\n");
    resign(&b);
    let r = verify(&b);
    let item = format!("session {TRIAGE}");
    assert_invalid(&r, &[&item]);
    assert_manifest_clean(&r);
    let why = r.invalid_line(&item).unwrap();
    assert!(why.contains(&stray), "names {stray}: {why}");

    // Re-signed: a directory for a session the sample does not have.
    let (_tmp, b) = copy(&fx().all);
    std::fs::create_dir_all(b.join("sessions/008")).unwrap();
    write(
        &b,
        "sessions/008/narrative.md",
        "# A session nobody sampled\n",
    );
    resign(&b);
    let r = verify(&b);
    assert_invalid(&r, &["file sessions/008/narrative.md"]);
    assert_manifest_clean(&r);

    // Re-signed: a policy record that is not one (an event of a session).
    let (_tmp, b) = copy(&fx().all);
    let (dir, n) = triage_event(&b);
    std::fs::copy(
        b.join(format!("{dir}/events/{n}.json")),
        b.join(format!("policies/records/{n}.json")),
    )
    .unwrap();
    std::fs::copy(
        b.join(format!("{dir}/events/{n}.tlog-proof")),
        b.join(format!("policies/records/{n}.tlog-proof")),
    )
    .unwrap();
    resign(&b);
    let r = verify(&b);
    assert_invalid(&r, &[&format!("record {n}")]);
    assert_manifest_clean(&r);
}

#[test]
fn a_session_dropped_from_the_population_is_named() {
    for resigned in [false, true] {
        let (_tmp, b) = copy(&fx().three);
        let sample = sample_of(&b);
        let pop = population_sessions(&b);
        let victim = pop
            .keys()
            .find(|id| !sample.contains(id))
            .expect("a session the sample of 3 did not draw")
            .clone();
        // Its leaves out of leaves.ndjson.
        let marker = format!("\"session_id\":{}", json!(victim));
        let text = read(&b, "population/leaves.ndjson");
        let kept: Vec<&str> = text.lines().filter(|l| !l.contains(&marker)).collect();
        let dropped = text.lines().count() - kept.len();
        assert!(dropped > 0, "{victim} has leaves");
        write(&b, "population/leaves.ndjson", &(kept.join("\n") + "\n"));
        if resigned {
            // Out of sessions.json, and every count fixed.
            let mut sessions = read_json(&b, "population/sessions.json");
            sessions["sessions"]
                .as_array_mut()
                .unwrap()
                .retain(|s| s["session_id"] != json!(victim));
            sessions["leaves"] = json!(kept.len());
            write_json(&b, "population/sessions.json", &sessions);
            let mut info = read_json(&b, "bundle.json");
            info["population"]["leaves"] = json!(kept.len());
            info["population"]["sessions"] = json!(pop.len() - 1);
            info["sample"]["candidates"] = json!(pop.len() - 1);
            write_json(&b, "bundle.json", &info);
            resign(&b);
            let r = verify(&b);
            assert_invalid(&r, &["population"]);
            assert_manifest_clean(&r);
        } else {
            let r = verify(&b);
            assert_unsigned_edit(&r, "file population/leaves.ndjson");
        }
    }
}

#[test]
fn a_changed_sample_is_named() {
    let f = fx();
    let drawn = sample_of(&f.three);
    assert_eq!(drawn.len(), 3);
    let pop = population_sessions(&f.three);
    let other = pop
        .keys()
        .find(|id| !drawn.contains(id))
        .expect("a session not drawn")
        .clone();
    let swapped = vec![drawn[0].clone(), other.clone(), drawn[2].clone()];

    // Plain: bundle.json edited only.
    let (_tmp, b) = copy(&f.three);
    let mut info = read_json(&b, "bundle.json");
    info["sample"]["sessions"] = json!(swapped);
    write_json(&b, "bundle.json", &info);
    let r = verify(&b);
    assert_unsigned_edit(&r, "file bundle.json");

    // Re-signed, the session directories made for the new sample (taken from a bundle of the
    // auditor-list kind with exactly those sessions, from the same log and end checkpoint): the
    // sample is the only lie, and it must be found.
    let (tmp, b) = copy(&f.three);
    let list = tmp.path().join("list.txt");
    std::fs::write(&list, swapped.join("\n") + "\n").unwrap();
    let donor = evidence(
        tmp.path(),
        "donor",
        &["--from", "2026-01-01", "--sessions", s(&list)],
    );
    std::fs::remove_dir_all(b.join("sessions")).unwrap();
    copy_dir(&donor.join("sessions"), &b.join("sessions"));
    let mut info = read_json(&b, "bundle.json");
    info["sample"]["sessions"] = json!(swapped);
    write_json(&b, "bundle.json", &info);
    resign(&b);
    let r = verify(&b);
    assert_invalid(&r, &["sample"]);
    assert_eq!(
        r.invalid_items(),
        vec!["sample", "index.html"],
        "everything but the sample (and the front page, made from bundle.json) is consistent:\n{}",
        r.dump()
    );
    let why = r.invalid_line("sample").unwrap();
    assert!(why.contains(&other), "names {other}: {why}");

    // Re-signed, the first two sessions swapped (directories and ids): the order is part of
    // the draw.
    let (_tmp, b) = copy(&f.three);
    std::fs::rename(b.join("sessions/001"), b.join("sessions/tmp")).unwrap();
    std::fs::rename(b.join("sessions/002"), b.join("sessions/001")).unwrap();
    std::fs::rename(b.join("sessions/tmp"), b.join("sessions/002")).unwrap();
    let mut info = read_json(&b, "bundle.json");
    info["sample"]["sessions"] = json!([drawn[1], drawn[0], drawn[2]]);
    write_json(&b, "bundle.json", &info);
    resign(&b);
    let r = verify(&b);
    assert_eq!(
        r.invalid_items(),
        vec!["sample", "index.html"],
        "only the order changed (and the front page, which lists the sample):\n{}",
        r.dump()
    );
    assert_invalid(&r, &["sample"]);
    assert!(
        r.invalid_line("sample").unwrap().contains("order"),
        "{}",
        r.dump()
    );

    // Re-signed, a sampled session dropped (its directory gone, the ids renumbered).
    let (_tmp, b) = copy(&f.three);
    std::fs::remove_dir_all(b.join("sessions/003")).unwrap();
    let mut info = read_json(&b, "bundle.json");
    info["sample"]["sessions"] = json!([drawn[0], drawn[1]]);
    write_json(&b, "bundle.json", &info);
    let mut controls = read_json(&b, "controls.json");
    for c in controls.as_object_mut().unwrap().values_mut() {
        c["files"]
            .as_array_mut()
            .unwrap()
            .retain(|p| !p.as_str().unwrap().starts_with("sessions/003/"));
    }
    write_json(&b, "controls.json", &controls);
    resign(&b);
    let r = verify(&b);
    assert_invalid(&r, &["sample"]);
    assert_manifest_clean(&r);
}

#[test]
fn an_end_checkpoint_signed_by_another_key_of_the_same_name_is_named() {
    for resigned in [false, true] {
        let f = fx();
        let (_tmp, b) = copy(&f.all);
        let note = read(&b, "checkpoints/end.checkpoint");
        let impostor = Signer::from_seed(&f.origin, [9; 32]).unwrap();
        let forged = impostor.sign(&note_body(&note)).unwrap();
        assert_ne!(forged, note);
        write(&b, "checkpoints/end.checkpoint", &forged);
        if resigned {
            resign(&b);
            let r = verify(&b);
            assert_invalid(&r, &["checkpoint end"]);
            assert_manifest_clean(&r);
        } else {
            let r = verify(&b);
            assert_unsigned_edit(&r, "file checkpoints/end.checkpoint");
        }
    }
}

#[test]
fn a_checkpoint_the_bundle_json_does_not_state_is_named() {
    // The log's own key signs a checkpoint of another root at the same size (a fork), and
    // bundle.json is made to agree: the leaves and every proof disagree with it.
    let f = fx();
    let (_tmp, b) = copy(&f.all);
    let cp = Checkpoint {
        origin: f.origin.clone(),
        size: 70,
        root: leaf_hash(b"another tree"),
        extensions: vec![],
    };
    let forged = sign_checkpoint(&cp, &log_signer()).unwrap();
    write(&b, "checkpoints/end.checkpoint", &forged);
    resign(&b);
    let r = verify(&b);
    assert_invalid(&r, &["checkpoint end"]);
    assert_manifest_clean(&r);

    let (_tmp, b) = copy(&f.all);
    write(&b, "checkpoints/end.checkpoint", &forged);
    let mut info = read_json(&b, "bundle.json");
    info["end"]["root"] = json!(cp.root.to_base64());
    write_json(&b, "bundle.json", &info);
    resign(&b);
    let r = verify(&b);
    let n = triage_event(&b).1;
    assert_invalid(
        &r,
        &[
            "population",
            "sample",
            &format!("session {TRIAGE} event {n}"),
        ],
    );
    assert_manifest_clean(&r);
}

#[test]
fn a_narrative_edited_is_named() {
    for resigned in [false, true] {
        let (_tmp, b) = copy(&fx().all);
        let dir = dir_of(&b, TRIAGE);
        let path = format!("{dir}/narrative.md");
        let text = read(&b, &path);
        write(
            &b,
            &path,
            &format!("{text}\nEvery action was authorized.\n"),
        );
        let item = format!("session {TRIAGE} narrative.md");
        if resigned {
            resign(&b);
            let r = verify(&b);
            assert_invalid(&r, &[&item]);
            assert_manifest_clean(&r);
        } else {
            let r = verify(&b);
            assert_unsigned_edit(&r, &format!("file {path}"));
        }
    }
}

#[test]
fn the_wrong_key_fails_the_manifest() {
    let f = fx();
    // Another key under the log's name, and a key of another log.
    let same_name = Signer::from_seed(&f.origin, [9; 32])
        .unwrap()
        .verifier()
        .to_vkey();
    let other = Signer::from_seed("other.example/log", [7; 32])
        .unwrap()
        .verifier()
        .to_vkey();
    for bundle in [&f.all, &f.zip, &f.session] {
        for key in [&same_name, &other] {
            let r = verify_with(bundle, key, &[]);
            assert_invalid(&r, &["MANIFEST"]);
            assert_eq!(r.invalid_items(), vec!["MANIFEST"], "{}", r.dump());
        }
    }
    // A key file works like --key.
    let tmp = tempfile::tempdir().unwrap();
    let key_file = tmp.path().join("log.vkey");
    std::fs::write(&key_file, format!("{}\n", f.key)).unwrap();
    assert_valid(&run(&[
        "verify-bundle",
        s(&f.session),
        "--key-file",
        s(&key_file),
    ]));
    // No bundle there: exit 2.
    let r = verify_with(&tmp.path().join("nothing"), &f.key, &[]);
    assert_eq!(r.code, 2, "{}", r.dump());
}

/// docs/evidence.md and docs/api.md: exit "2 when it could not run (no such path, a key that
/// does not parse)".
#[test]
fn a_key_that_does_not_parse_is_invalid_input_as_for_verify_proof() {
    let r = verify_with(&fx().session, "not-a-key", &[]);
    assert_eq!(r.code, 1, "{}", r.dump());
}

#[test]
fn a_session_bundle_tampered_is_named() {
    // An event's body, re-signed.
    let (_tmp, b) = copy(&fx().session);
    let events = events_in(&b, "sessions/001");
    let n = events[0];
    let path = format!("sessions/001/events/{n}.json");
    alter_body(&b, &path);
    resign(&b);
    let r = verify(&b);
    assert_invalid(&r, &[&format!("session {TRIAGE} event {n}")]);
    assert_manifest_clean(&r);

    // An event in the middle of the run dropped, re-signed: its population has it.
    let (_tmp, b) = copy(&fx().session);
    let n = events[events.len() / 2];
    std::fs::remove_file(b.join(format!("sessions/001/events/{n}.json"))).unwrap();
    std::fs::remove_file(b.join(format!("sessions/001/events/{n}.tlog-proof"))).unwrap();
    resign(&b);
    let r = verify(&b);
    let item = format!("session {TRIAGE}");
    assert_invalid(&r, &[&item]);
    assert_manifest_clean(&r);
    let why = r.invalid_line(&item).unwrap();
    assert!(why.contains(&format!("[{n}]")), "names leaf {n}: {why}");

    // A leaf of its population altered, re-signed.
    let (_tmp, b) = copy(&fx().session);
    replace_once(
        &b,
        "population/leaves.ndjson",
        "\"principal\":\"",
        "\"principal\":\"x",
    );
    resign(&b);
    let r = verify(&b);
    assert_invalid(&r, &["population"]);
    assert_manifest_clean(&r);
}

/// docs/evidence.md: "`bundle.json`'s `population` counts must agree" (with the sessions
/// derived from the leaves).
#[test]
fn bundle_json_population_counts_are_checked() {
    for (field, value) in [("leaves", 69), ("records", 3)] {
        let (_tmp, b) = copy(&fx().all);
        let mut info = read_json(&b, "bundle.json");
        info["population"][field] = json!(value);
        write_json(&b, "bundle.json", &info);
        resign(&b);
        let r = verify(&b);
        assert_eq!(
            r.code,
            1,
            "bundle.json population.{field} = {value} (70 leaves, 4 records) passed:\n{}",
            r.dump()
        );
        assert!(
            r.invalid_items()
                .iter()
                .any(|i| i.starts_with("population")),
            "{}",
            r.dump()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Zip safety

#[test]
fn zip_entries_that_escape_are_refused_and_nothing_is_written() {
    use std::io::Write as _;
    let f = fx();
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let cwd = work.join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let zip_path = work.join("evil.zip");
    {
        let mut z = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
        let options = zip::write::SimpleFileOptions::default();
        for path in files_of(&f.all) {
            z.start_file(path.as_str(), options).unwrap();
            z.write_all(&std::fs::read(f.all.join(&path)).unwrap())
                .unwrap();
        }
        for evil in ["../evil.txt", "/abs.txt"] {
            z.start_file(evil, options).unwrap();
            z.write_all(b"written outside the bundle\n").unwrap();
        }
        z.finish().unwrap();
    }
    let abs_existed = Path::new("/abs.txt").exists();
    let r = run_in(
        Some(&cwd),
        &["verify-bundle", s(&zip_path), &format!("--key={}", f.key)],
    );
    assert_invalid(&r, &["entry ../evil.txt", "entry /abs.txt"]);
    let mut items = r.invalid_items();
    items.sort_unstable();
    assert_eq!(
        items,
        vec!["entry ../evil.txt", "entry /abs.txt"],
        "the rest of the bundle is good:\n{}",
        r.dump()
    );
    assert!(r.stdout.contains("population: VALID"), "{}", r.dump());
    for p in [
        tmp.path().join("evil.txt"),
        work.join("evil.txt"),
        cwd.join("evil.txt"),
        cwd.join("abs.txt"),
        work.join("abs.txt"),
    ] {
        assert!(!p.exists(), "{} was written", p.display());
    }
    if !abs_existed {
        assert!(!Path::new("/abs.txt").exists(), "/abs.txt was written");
    }
    let left: Vec<String> = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left.len(), 2, "only the zip and cwd: {left:?}");
    assert_eq!(
        std::fs::read_dir(&cwd).unwrap().count(),
        0,
        "cwd stays empty"
    );
}

#[cfg(unix)]
#[test]
fn a_symbolic_link_in_a_directory_bundle_is_refused() {
    let (tmp, b) = copy(&fx().all);
    let outside = tmp.path().join("outside.json");
    std::fs::copy(b.join("controls.json"), &outside).unwrap();
    std::fs::remove_file(b.join("controls.json")).unwrap();
    std::os::unix::fs::symlink(&outside, b.join("controls.json")).unwrap();
    let r = verify(&b);
    assert_invalid(&r, &["entry controls.json"]);
}

// ---------------------------------------------------------------------------------------------
// 4. The sample is fair and reproducible

#[test]
fn the_default_sample_is_the_end_roots_draw() {
    let f = fx();
    let info = read_json(&f.three, "bundle.json");
    let root = Hash::from_base64(info["end"]["root"].as_str().unwrap()).unwrap();
    let sample = &info["sample"];
    assert_eq!(sample["method"], "seed");
    assert_eq!(sample["seed_source"], "end-root");
    assert_eq!(sample["seed"], json!(hex(root.as_bytes())));
    assert_eq!(sample["requested"], 3);
    let pop = population_sessions(&f.three);
    assert_eq!(pop.len(), 7);
    assert_eq!(sample["candidates"], 7);
    let want = expected_draw(root.as_bytes(), pop.keys().map(String::as_str), 3);
    assert_eq!(sample_of(&f.three), want);
    assert_valid(&verify(&f.three));
    // With 25 requested, all 7 in key order.
    let all = expected_draw(root.as_bytes(), pop.keys().map(String::as_str), 25);
    assert_eq!(all.len(), 7);
    assert_eq!(sample_of(&f.all), all);
    // The end root is the checkpoint's.
    let end = read(&f.three, "checkpoints/end.checkpoint");
    assert_eq!(end.lines().nth(2), Some(root.to_base64().as_str()), "{end}");
    // Built again, the same draw.
    let tmp = tempfile::tempdir().unwrap();
    let again = evidence(
        tmp.path(),
        "again",
        &["--from", "2026-01-01", "--sample", "3"],
    );
    assert_eq!(sample_of(&again), want);
}

#[test]
fn a_given_seed_draws_by_its_bytes() {
    let f = fx();
    let tmp = tempfile::tempdir().unwrap();
    let pop = population_sessions(&f.three);
    let mut draws = Vec::new();
    for seed in ["hello", "hello!"] {
        let b = evidence(
            tmp.path(),
            seed,
            &["--from", "2026-01-01", "--sample", "3", "--seed", seed],
        );
        let info = read_json(&b, "bundle.json");
        assert_eq!(info["sample"]["seed"], json!(hex(seed.as_bytes())));
        assert_eq!(info["sample"]["seed_source"], "given");
        let want = expected_draw(seed.as_bytes(), pop.keys().map(String::as_str), 3);
        assert_eq!(sample_of(&b), want, "seed {seed:?}");
        assert_valid(&verify(&b));
        draws.push(want);
    }
    assert_eq!(
        read_json(&tmp.path().join("hello"), "bundle.json")["sample"]["seed"],
        "68656c6c6f"
    );
    assert_ne!(draws[0], draws[1], "another seed, another draw");

    // A given seed claimed to be the end root is caught.
    let (_t, b) = copy(&tmp.path().join("hello"));
    let mut info = read_json(&b, "bundle.json");
    info["sample"]["seed_source"] = json!("end-root");
    write_json(&b, "bundle.json", &info);
    resign(&b);
    assert_invalid(&verify(&b), &["sample"]);
}

#[test]
fn an_agent_filter_restricts_the_candidates() {
    let tmp = tempfile::tempdir().unwrap();
    let b = evidence(
        tmp.path(),
        "drafter",
        &["--from", "2026-01-01", "--agent", DRAFTER, "--sample", "3"],
    );
    let info = read_json(&b, "bundle.json");
    assert_eq!(info["agents"], json!([DRAFTER]));
    let pop = population_sessions(&b);
    assert_eq!(pop.len(), 7, "the population is still the whole range");
    let candidates: Vec<&str> = pop
        .iter()
        .filter(|(_, agents)| agents.iter().any(|a| a == DRAFTER))
        .map(|(id, _)| id.as_str())
        .collect();
    assert!(
        !candidates.is_empty() && candidates.len() < 7,
        "{candidates:?}"
    );
    assert_eq!(info["sample"]["candidates"], json!(candidates.len()));
    let root = Hash::from_base64(info["end"]["root"].as_str().unwrap()).unwrap();
    let want = expected_draw(root.as_bytes(), candidates.iter().copied(), 3);
    assert_eq!(sample_of(&b), want);
    for id in sample_of(&b) {
        assert!(
            pop[&id].iter().any(|a| a == DRAFTER),
            "{id} is not {DRAFTER}'s"
        );
    }
    assert_valid(&verify(&b));

    // The filter removed from bundle.json (re-signed): the draw no longer matches.
    let (_t, c) = copy(&b);
    let mut info = read_json(&c, "bundle.json");
    info["agents"] = json!([]);
    write_json(&c, "bundle.json", &info);
    resign(&c);
    let r = verify(&c);
    if expected_draw(root.as_bytes(), pop.keys().map(String::as_str), 3) != want {
        assert_invalid(&r, &["sample"]);
    }
}

#[test]
fn an_auditors_list_is_taken_in_order() {
    let f = fx();
    let tmp = tempfile::tempdir().unwrap();
    let pop = population_sessions(&f.all);
    let mut ids: Vec<&str> = pop.keys().map(String::as_str).collect();
    ids.reverse();
    let picks = [ids[0], ids[3], ids[1]];
    let list = tmp.path().join("picks.txt");
    std::fs::write(
        &list,
        format!(
            "# the auditor's picks\n{}\n\n{}\n  {}  \n",
            picks[0], picks[1], picks[2]
        ),
    )
    .unwrap();
    let b = evidence(
        tmp.path(),
        "picks",
        &["--from", "2026-01-01", "--sessions", s(&list)],
    );
    let info = read_json(&b, "bundle.json");
    assert_eq!(info["sample"]["method"], "list");
    assert!(info["sample"].get("seed").is_none(), "{info}");
    assert_eq!(sample_of(&b), picks);
    let r = verify(&b);
    assert_valid(&r);
    for (k, id) in picks.iter().enumerate() {
        assert_eq!(dir_of(&b, id), format!("sessions/{:03}", k + 1));
    }

    // A list naming a session outside the population (re-signed) is caught.
    let (_t, c) = copy(&b);
    let mut info = read_json(&c, "bundle.json");
    info["sample"]["sessions"][1] = json!("sess-made-up");
    write_json(&c, "bundle.json", &info);
    resign(&c);
    assert_invalid(&verify(&c), &["sample"]);
}

/// The verifier's side of `--agent` (the command itself is broken, see above): a bundle whose
/// bundle.json names an agent filter is checked against the draw from that agent's sessions
/// only. Made from a `--sessions` bundle holding exactly that draw, re-signed.
#[test]
fn the_verifier_redraws_with_the_agent_filter() {
    let f = fx();
    let tmp = tempfile::tempdir().unwrap();
    let pop = population_sessions(&f.three);
    let info = read_json(&f.three, "bundle.json");
    let root = Hash::from_base64(info["end"]["root"].as_str().unwrap()).unwrap();
    // The demo's nightly agent has three sessions: a draw of 2 of them is a real choice.
    let agent = "nightly-usage-sync";
    let candidates: Vec<&str> = pop
        .iter()
        .filter(|(_, agents)| agents.iter().any(|a| a == agent))
        .map(|(id, _)| id.as_str())
        .collect();
    assert!(candidates.len() >= 2, "{agent} has sessions: {pop:?}");
    let want = expected_draw(root.as_bytes(), candidates.iter().copied(), 2);
    let list = tmp.path().join("list.txt");
    std::fs::write(&list, want.join("\n") + "\n").unwrap();
    let donor = evidence(
        tmp.path(),
        "donor",
        &["--from", "2026-01-01", "--sessions", s(&list)],
    );
    let forge = |agents: Value, sessions: &[String]| -> Run {
        let (_t, b) = copy(&donor);
        let mut info = read_json(&b, "bundle.json");
        info["agents"] = agents;
        info["sample"] = json!({
            "method": "seed",
            "seed": hex(root.as_bytes()),
            "seed_source": "end-root",
            "requested": 2,
            "candidates": candidates.len(),
            "sessions": sessions,
        });
        write_json(&b, "bundle.json", &info);
        resign(&b);
        verify(&b)
    };
    // What `evidence --agent nightly-usage-sync --sample 2` would have drawn: the sample holds
    // (only the front page, made from the donor's bundle.json, differs).
    let r = forge(json!([agent]), &want);
    assert_eq!(r.invalid_items(), vec!["index.html"], "{}", r.dump());
    // The same sample without the filter: not the draw of all seven.
    let all = expected_draw(root.as_bytes(), pop.keys().map(String::as_str), 2);
    if all != want {
        assert_invalid(&forge(json!([]), &want), &["sample"]);
    }
    // The filter of an agent whose sessions these are not.
    assert_invalid(&forge(json!(["support-triage"]), &want), &["sample"]);
}

// ---------------------------------------------------------------------------------------------
// 5. Trusted checkpoints

#[test]
fn trusted_checkpoints_are_checked_against_the_bundle() {
    let f = fx();
    let tmp = tempfile::tempdir().unwrap();
    let signer = log_signer();
    let put = |name: &str, text: &str| -> String {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };

    // The log's latest checkpoint, kept by the auditor.
    let kept = put("kept.checkpoint", &f.checkpoint);
    for bundle in [&f.all, &f.zip, &f.session] {
        let r = verify_with(bundle, &f.key, &["--trusted", &kept]);
        assert_valid(&r);
        assert!(
            r.stdout.contains(&format!("trusted {kept}: VALID")),
            "{}",
            r.dump()
        );
    }

    // A fork: the same size, another root, signed with the log's key.
    let fork = Checkpoint {
        origin: f.origin.clone(),
        size: 70,
        root: leaf_hash(b"a forked tree"),
        extensions: vec![],
    };
    let forked = put("fork.checkpoint", &sign_checkpoint(&fork, &signer).unwrap());
    for bundle in [&f.all, &f.session] {
        let r = verify_with(bundle, &f.key, &["--trusted", &kept, "--trusted", &forked]);
        assert_invalid(&r, &[&format!("trusted {forked}")]);
        assert_eq!(
            r.invalid_items(),
            vec![format!("trusted {forked}")],
            "{}",
            r.dump()
        );
        assert!(
            r.invalid_line(&format!("trusted {forked}"))
                .unwrap()
                .contains("forked"),
            "{}",
            r.dump()
        );
    }

    // A size inside the period: the bundle computes its root from the leaves.
    let leaves = read(&f.all, "population/leaves.ndjson");
    let mut tree = MemoryTree::new();
    for leaf in leaves.lines().take(40) {
        tree.push(leaf_hash(leaf.as_bytes()));
    }
    let mid = Checkpoint {
        origin: f.origin.clone(),
        size: 40,
        root: tree.root(),
        extensions: vec![],
    };
    let mid_ok = put("mid.checkpoint", &sign_checkpoint(&mid, &signer).unwrap());
    let r = verify_with(&f.all, &f.key, &["--trusted", &mid_ok]);
    assert_valid(&r);
    assert!(
        r.stdout.contains(&format!("trusted {mid_ok}: VALID")),
        "{}",
        r.dump()
    );
    let mid_fork = Checkpoint {
        root: leaf_hash(b"another size-40 tree"),
        ..mid.clone()
    };
    let mid_bad = put(
        "mid-fork.checkpoint",
        &sign_checkpoint(&mid_fork, &signer).unwrap(),
    );
    let r = verify_with(&f.all, &f.key, &["--trusted", &mid_bad]);
    assert_invalid(&r, &[&format!("trusted {mid_bad}")]);
    // A session bundle cannot check size 40: it says so.
    let r = verify_with(&f.session, &f.key, &["--trusted", &mid_ok]);
    assert_invalid(&r, &[&format!("trusted {mid_ok}")]);

    // A checkpoint another key signed under the log's name.
    let impostor = Signer::from_seed(&f.origin, [9; 32]).unwrap();
    let other = put(
        "impostor.checkpoint",
        &impostor.sign(&note_body(&f.checkpoint)).unwrap(),
    );
    let r = verify_with(&f.all, &f.key, &["--trusted", &other]);
    assert_invalid(&r, &[&format!("trusted {other}")]);

    // A trusted file that cannot be read: exit 2.
    let missing = tmp.path().join("missing.checkpoint");
    assert_eq!(
        verify_with(&f.all, &f.key, &["--trusted", s(&missing)]).code,
        2
    );
}

/// `evidence --trusted`: the bundle carries the consistency proof from a kept checkpoint to its
/// end, so even a session bundle can show the log extends what the auditor kept.
#[test]
fn a_bundle_made_for_kept_checkpoints_proves_consistency() {
    let f = fx();
    let tmp = tempfile::tempdir().unwrap();
    let signer = log_signer();
    let leaves = read(&f.all, "population/leaves.ndjson");
    let root_at = |n: usize| {
        let mut tree = MemoryTree::new();
        for leaf in leaves.lines().take(n) {
            tree.push(leaf_hash(leaf.as_bytes()));
        }
        tree.root()
    };
    let put = |name: &str, size: u64, root: Hash, signer: &Signer| -> String {
        let cp = Checkpoint {
            origin: f.origin.clone(),
            size,
            root,
            extensions: vec![],
        };
        let p = tmp.path().join(name);
        std::fs::write(&p, sign_checkpoint(&cp, signer).unwrap()).unwrap();
        p.to_str().unwrap().to_string()
    };
    let mid = put("mid.checkpoint", 40, root_at(40), &signer);
    let early = put("early.checkpoint", 9, root_at(9), &signer);
    let fork = put("fork.checkpoint", 40, leaf_hash(b"forked"), &signer);
    let ahead = put("ahead.checkpoint", 100, leaf_hash(b"future"), &signer);
    let impostor = Signer::from_seed(&f.origin, [9; 32]).unwrap();
    let other_key = put("impostor.checkpoint", 40, root_at(40), &impostor);

    let b = evidence(
        tmp.path(),
        "kept",
        &["--session", TRIAGE, "--trusted", &mid, "--trusted", &early],
    );
    let files = files_of(&b);
    for p in [
        "checkpoints/trusted/40.proof",
        "checkpoints/trusted/9.proof",
    ] {
        assert!(files.iter().any(|f| f == p), "{p} missing: {files:?}");
    }
    let r = verify_with(&b, &f.key, &["--trusted", &mid, "--trusted", &early]);
    assert_valid(&r);
    assert!(
        r.stdout.contains(&format!("trusted {mid}: VALID")),
        "{}",
        r.dump()
    );
    // The bundle's proof does not fit a fork at that size.
    let r = verify_with(&b, &f.key, &["--trusted", &fork]);
    assert_invalid(&r, &[&format!("trusted {fork}")]);

    // A dishonest operator alters the proof and re-signs.
    let (_t, c) = copy(&b);
    let path = "checkpoints/trusted/40.proof";
    let proof = read(&c, path);
    let mut lines: Vec<String> = proof.lines().map(str::to_string).collect();
    assert!(!lines.is_empty(), "a proof from 40 to 70 has hashes");
    lines[0] = leaf_hash(b"not the proof").to_base64();
    write(&c, path, &(lines.join("\n") + "\n"));
    resign(&c);
    let r = verify_with(&c, &f.key, &["--trusted", &mid]);
    assert_invalid(&r, &[&format!("trusted {mid}")]);
    assert_manifest_clean(&r);

    // What evidence refuses to make a proof for.
    for (cp, needle) in [
        (&fork, "fork"),
        (&ahead, "larger than this log"),
        (&other_key, "does not verify"),
    ] {
        let out = tmp.path().join("refused");
        let r = at(
            &f.data,
            &[
                "evidence",
                "--session",
                TRIAGE,
                "--trusted",
                cp,
                "--out",
                s(&out),
            ],
        );
        assert_eq!(r.code, 1, "{cp}:\n{}", r.dump());
        assert!(r.stderr.contains("--trusted"), "{}", r.dump());
        assert!(r.stderr.contains(needle), "{needle:?}:\n{}", r.dump());
        assert!(!out.exists());
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Bad input to `evidence`

#[test]
fn evidence_refuses_bad_input() {
    let f = fx();
    let tmp = tempfile::tempdir().unwrap();
    let out = |name: &str| tmp.path().join(name).to_str().unwrap().to_string();

    // --to not after --from.
    for to in ["2026-06-01", "2026-05-01"] {
        let r = at(
            &f.data,
            &[
                "evidence",
                "--from",
                "2026-06-01",
                "--to",
                to,
                "--out",
                &out("a"),
            ],
        );
        assert_eq!(r.code, 2, "a usage error: {}", r.dump());
        assert!(r.stderr.contains("--to"), "{}", r.dump());
    }

    // --out an existing path: a directory, a .zip file.
    let existing = tmp.path().join("existing");
    std::fs::create_dir(&existing).unwrap();
    let existing_zip = tmp.path().join("existing.zip");
    std::fs::write(&existing_zip, b"mine").unwrap();
    for p in [&existing, &existing_zip] {
        let r = at(
            &f.data,
            &["evidence", "--from", "2026-01-01", "--out", s(p)],
        );
        assert_eq!(r.code, 2, "{}", r.dump());
        assert!(r.stderr.contains("already exists"), "{}", r.dump());
    }
    assert_eq!(
        std::fs::read_dir(&existing).unwrap().count(),
        0,
        "left alone"
    );
    assert_eq!(std::fs::read(&existing_zip).unwrap(), b"mine", "left alone");

    // A session list with an id the population does not have, on its third line.
    let list = tmp.path().join("list.txt");
    std::fs::write(&list, format!("{TRIAGE}\n# a comment\nsess-nope\n")).unwrap();
    let r = at(
        &f.data,
        &[
            "evidence",
            "--from",
            "2026-01-01",
            "--sessions",
            s(&list),
            "--out",
            &out("b"),
        ],
    );
    assert_eq!(r.code, 1, "{}", r.dump());
    assert!(
        r.stderr.contains(&format!("{} line 3", list.display())),
        "names the file's line:\n{}",
        r.dump()
    );
    assert!(r.stderr.contains("sess-nope"), "{}", r.dump());
    // Listed twice.
    std::fs::write(&list, format!("{TRIAGE}\n{TRIAGE}\n")).unwrap();
    let r = at(
        &f.data,
        &[
            "evidence",
            "--from",
            "2026-01-01",
            "--sessions",
            s(&list),
            "--out",
            &out("c"),
        ],
    );
    assert_eq!(r.code, 1, "{}", r.dump());
    assert!(r.stderr.contains("line 2"), "{}", r.dump());

    // An unknown session.
    let r = at(
        &f.data,
        &["evidence", "--session", "nope", "--out", &out("d")],
    );
    assert_eq!(r.code, 1, "{}", r.dump());
    assert!(r.stderr.contains("nope"), "{}", r.dump());

    // --seed with --sessions; --session with --from; neither: usage errors.
    for args in [
        vec![
            "--from",
            "2026-01-01",
            "--seed",
            "x",
            "--sessions",
            s(&list),
        ],
        vec!["--session", TRIAGE, "--from", "2026-01-01"],
        vec![],
    ] {
        let mut all = vec!["evidence"];
        all.extend_from_slice(&args);
        let o = out("e");
        all.extend_from_slice(&["--out", &o]);
        let r = at(&f.data, &all);
        assert_eq!(r.code, 2, "{args:?}:\n{}", r.dump());
        assert!(!r.stderr.is_empty(), "{}", r.dump());
    }
    let r = at(
        &f.data,
        &[
            "evidence",
            "--from",
            "2026-01-01",
            "--seed",
            "x",
            "--sessions",
            s(&list),
            "--out",
            &out("f"),
        ],
    );
    assert!(r.stderr.contains("--seed"), "{}", r.dump());

    // None of these wrote a bundle.
    for name in ["a", "b", "c", "d", "e", "f"] {
        assert!(!tmp.path().join(name).exists(), "{name} was written");
    }
}

/// docs/evidence.md: "The bundle is written next to it under a temporary name and moved into
/// place only when complete."
#[test]
fn a_failed_evidence_leaves_nothing_behind() {
    let f = fx();
    let tmp = tempfile::tempdir().unwrap();
    let parent = tmp.path().join("out");
    std::fs::create_dir(&parent).unwrap();
    let r = at(
        &f.data,
        &[
            "evidence",
            "--session",
            "nope",
            "--out",
            s(&parent.join("b")),
        ],
    );
    assert_eq!(r.code, 1, "{}", r.dump());
    let list = tmp.path().join("list.txt");
    std::fs::write(&list, "sess-nope\n").unwrap();
    let r = at(
        &f.data,
        &[
            "evidence",
            "--from",
            "2026-01-01",
            "--sessions",
            s(&list),
            "--out",
            s(&parent.join("c.zip")),
        ],
    );
    assert_eq!(r.code, 1, "{}", r.dump());
    let left: Vec<String> = std::fs::read_dir(&parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        left.is_empty(),
        "left behind in {}: {left:?}",
        parent.display()
    );
}

// ---------------------------------------------------------------------------------------------
// 7. What an adversarial review found

/// A zip whose entries are the good bundle's, with `extra` put in first (as an attacker without
/// the key would, so that tools extracting the first copy show theirs).
fn zip_with_first(extra: &[(&str, &[u8])], out: &Path) {
    use std::io::Write;
    let mut src = zip::ZipArchive::new(std::fs::File::open(&fx().zip).unwrap()).unwrap();
    let mut z = zip::ZipWriter::new(std::fs::File::create(out).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    for (name, bytes) in extra {
        z.start_file(*name, opts).unwrap();
        z.write_all(bytes).unwrap();
    }
    for i in 0..src.len() {
        let mut f = src.by_index(i).unwrap();
        let name = f.name().unwrap().to_string();
        let mut bytes = Vec::new();
        std::io::copy(&mut f, &mut bytes).unwrap();
        z.start_file(name, opts).unwrap();
        z.write_all(&bytes).unwrap();
    }
    z.finish().unwrap();
}

#[test]
fn a_zip_with_a_name_twice_is_refused_before_anything_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let dup = tmp.path().join("dup.zip");
    // A zip writer refuses a name twice: write another name of the same length, then rename it
    // in place (the name is in the local and the central header, and in no checksum).
    zip_with_first(
        &[("index.htmz", b"<h1>all controls passed</h1>" as &[u8])],
        &dup,
    );
    let mut bytes = std::fs::read(&dup).unwrap();
    let from = b"index.htmz";
    let mut i = 0;
    while let Some(at) = bytes[i..].windows(from.len()).position(|w| w == from) {
        bytes[i + at..i + at + from.len()].copy_from_slice(b"index.html");
        i += at + from.len();
    }
    std::fs::write(&dup, bytes).unwrap();
    let r = verify(&dup);
    assert_invalid(&r, &["entry (zip layout)"]);
    assert!(
        r.stdout.contains("Nothing else checked"),
        "an ambiguous zip is not read: {}",
        r.dump()
    );
    assert!(!r.stdout.contains("MANIFEST: VALID"), "{}", r.dump());
}

#[test]
fn a_zip_with_bytes_no_entry_lists_is_refused() {
    // The good zip with a local entry appended before its central directory that the central
    // directory does not list: extractors that read local headers would show it.
    let good = std::fs::read(&fx().zip).unwrap();
    let z = zip::ZipArchive::new(std::io::Cursor::new(&good)).unwrap();
    let cd = z.central_directory_start() as usize;
    let mut smuggled = Vec::new();
    {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(&mut smuggled));
        w.start_file("index.html", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut w, b"<h1>forged</h1>").unwrap();
        w.finish().unwrap();
    }
    let local_end = zip::ZipArchive::new(std::io::Cursor::new(&smuggled))
        .unwrap()
        .central_directory_start() as usize;
    let mut bytes = good[..cd].to_vec();
    bytes.extend_from_slice(&smuggled[..local_end]);
    // The central directory, with its offset moved past the smuggled bytes.
    let mut tail = good[cd..].to_vec();
    let eocd = tail
        .windows(4)
        .rposition(|w| w == [0x50, 0x4b, 0x05, 0x06])
        .unwrap();
    let new_cd = (cd + local_end) as u32;
    tail[eocd + 16..eocd + 20].copy_from_slice(&new_cd.to_le_bytes());
    bytes.extend_from_slice(&tail);
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("smuggled.zip");
    std::fs::write(&path, bytes).unwrap();
    let r = verify(&path);
    assert_invalid(&r, &["entry (zip layout)"]);
}

#[test]
fn bundle_json_must_name_the_log_of_the_key_given() {
    let (_t, b) = copy(&fx().all);
    let mut info = read_json(&b, "bundle.json");
    info["log"]["origin"] = json!("acme.example/agentrail/prod");
    write_json(&b, "bundle.json", &info);
    resign(&b);
    let r = verify(&b);
    assert_invalid(&r, &["bundle.json"]);
    assert!(
        r.invalid_line("bundle.json")
            .unwrap()
            .contains("acme.example"),
        "{}",
        r.dump()
    );
}

#[test]
fn a_period_bundle_without_its_assessment_is_named() {
    let (_t, b) = copy(&fx().all);
    std::fs::remove_dir_all(b.join("assessment")).unwrap();
    resign(&b);
    let r = verify(&b);
    assert_invalid(&r, &["file assessment/assessment.json"]);
}

#[test]
fn an_event_file_not_in_canonical_form_is_named() {
    let (_t, b) = copy(&fx().all);
    let (dir, n) = triage_event(&b);
    let path = format!("{dir}/events/{n}.json");
    let ev = read_json(&b, &path);
    write(
        &b,
        &path,
        &serde_json::to_string_pretty(&ev).expect("pretty JSON"),
    );
    resign(&b);
    let r = verify(&b);
    assert_invalid(&r, &[&format!("session {TRIAGE} event {n}")]);
    assert!(
        r.invalid_line(&format!("session {TRIAGE} event {n}"))
            .unwrap()
            .contains("canonical"),
        "{}",
        r.dump()
    );
}

#[test]
fn degenerate_samples_are_named() {
    // A sample of nothing requested.
    let (_t, b) = copy(&fx().three);
    let mut info = read_json(&b, "bundle.json");
    info["sample"]["requested"] = json!(0);
    info["sample"]["sessions"] = json!([]);
    write_json(&b, "bundle.json", &info);
    std::fs::remove_dir_all(b.join("sessions")).unwrap();
    resign(&b);
    let r = verify(&b);
    assert_invalid(&r, &["sample"]);

    // The same session sampled twice.
    let (_t, b) = copy(&fx().three);
    let mut info = read_json(&b, "bundle.json");
    let first = info["sample"]["sessions"][0].clone();
    info["sample"]["sessions"][1] = first;
    write_json(&b, "bundle.json", &info);
    resign(&b);
    let r = verify(&b);
    assert_invalid(&r, &["sample"]);
    assert!(
        r.invalid_line("sample").unwrap().contains("twice"),
        "{}",
        r.dump()
    );
}

#[test]
fn the_auditor_can_hold_the_sample_to_their_seed_or_list() {
    let f = fx();
    let tmp = tempfile::tempdir().unwrap();
    let b = evidence(
        tmp.path(),
        "seeded",
        &[
            "--from",
            "2026-01-01",
            "--seed",
            "auditor-2026",
            "--sample",
            "2",
        ],
    );
    let r = verify_with(&b, &f.key, &["--seed", "auditor-2026"]);
    assert_valid(&r);
    assert!(r.stdout.contains("the seed you gave"), "{}", r.dump());
    let r = verify_with(&b, &f.key, &["--seed", "something-else"]);
    assert_invalid(&r, &["sample"]);
    // Without --seed the line says whose seed it was, and shows it.
    let r = verify(&b);
    assert_valid(&r);
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("sample: VALID"))
        .unwrap();
    assert!(line.contains(&hex(b"auditor-2026")), "{line}");
    assert!(line.contains("verify-bundle --seed"), "{line}");

    // The auditor's list: the bundle's sample must be exactly it.
    let picks: Vec<String> = sample_of(&f.three);
    let list = tmp.path().join("picks.txt");
    std::fs::write(&list, picks.join("\n") + "\n").unwrap();
    let b = evidence(
        tmp.path(),
        "listed",
        &["--from", "2026-01-01", "--sessions", s(&list)],
    );
    assert_valid(&verify_with(&b, &f.key, &["--sessions", s(&list)]));
    let other = tmp.path().join("other.txt");
    std::fs::write(&other, picks[..2].join("\n") + "\n").unwrap();
    let r = verify_with(&b, &f.key, &["--sessions", s(&other)]);
    assert_invalid(&r, &["sample"]);
    // A drawn sample is not the auditor's list, whatever it holds.
    let r = verify_with(&f.three, &f.key, &["--sessions", s(&list)]);
    assert_invalid(&r, &["sample"]);
}

// ---------------------------------------------------------------------------------------------
// 8. What a review of the builder found

#[test]
fn evidence_refuses_flags_that_do_not_go_together_and_bad_places_to_write() {
    let f = fx();
    let tmp = tempfile::tempdir().unwrap();
    let out = |n: &str| tmp.path().join(n).to_str().unwrap().to_string();
    let list = tmp.path().join("list.txt");
    std::fs::write(&list, format!("{TRIAGE}\n")).unwrap();
    // Period flags with --session; --agent or --sample with an auditor's list.
    for extra in [
        vec!["--session", TRIAGE, "--seed", "x"],
        vec!["--session", TRIAGE, "--agent", DRAFTER],
        vec!["--session", TRIAGE, "--sample", "3"],
        vec![
            "--from",
            "2026-01-01",
            "--sessions",
            s(&list),
            "--agent",
            DRAFTER,
        ],
        vec![
            "--from",
            "2026-01-01",
            "--sessions",
            s(&list),
            "--sample",
            "3",
        ],
    ] {
        let mut args = vec!["evidence"];
        args.extend(extra.iter().copied());
        let o = out("x");
        args.extend(["--out", o.as_str()]);
        let r = at(&f.data, &args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.dump());
    }
    // A directory that does not exist is named before any work.
    let r = at(
        &f.data,
        &[
            "evidence",
            "--from",
            "2026-01-01",
            "--out",
            &out("no/such/dir/b.zip"),
        ],
    );
    assert_eq!(r.code, 2, "{}", r.dump());
    assert!(
        r.stderr.contains("--out") && r.stderr.contains("does not exist"),
        "{}",
        r.dump()
    );
    // An agent with no run in the period is most likely a typo.
    let r = at(
        &f.data,
        &[
            "evidence",
            "--from",
            "2026-01-01",
            "--agent",
            "nobody",
            "--out",
            &out("n"),
        ],
    );
    assert_eq!(r.code, 1, "{}", r.dump());
    assert!(r.stderr.contains("nobody"), "{}", r.dump());
    // --to before the log's first leaf: the period holds nothing of this log.
    let r = at(
        &f.data,
        &[
            "evidence",
            "--from",
            "2020-01-01",
            "--to",
            "2021-01-01",
            "--out",
            &out("e"),
        ],
    );
    assert_eq!(r.code, 1, "{}", r.dump());
    assert!(r.stderr.contains("first leaf"), "{}", r.dump());
    // An empty seed.
    let r = at(
        &f.data,
        &[
            "evidence",
            "--from",
            "2026-01-01",
            "--seed",
            "",
            "--out",
            &out("s"),
        ],
    );
    assert_eq!(r.code, 2, "{}", r.dump());
    // Nothing was left behind by any of them.
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "list.txt")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_bundle_is_private_to_whoever_made_it() {
    use std::os::unix::fs::PermissionsExt;
    let f = fx();
    let tmp = tempfile::tempdir().unwrap();
    let zip = evidence(
        tmp.path(),
        "b.zip",
        &["--from", "2026-01-01", "--sample", "1"],
    );
    let dir = evidence(tmp.path(), "b", &["--from", "2026-01-01", "--sample", "1"]);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&zip), 0o600, "{}", zip.display());
    assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    assert_valid(&verify(&zip));
    let _ = f;
}

#[test]
fn a_bom_at_the_start_of_a_session_list_is_not_part_of_the_first_id() {
    let tmp = tempfile::tempdir().unwrap();
    let list = tmp.path().join("list.txt");
    std::fs::write(&list, format!("\u{feff}{TRIAGE}\n")).unwrap();
    let b = evidence(
        tmp.path(),
        "b",
        &["--from", "2026-01-01", "--sessions", s(&list)],
    );
    assert_eq!(sample_of(&b), vec![TRIAGE.to_string()]);
}
