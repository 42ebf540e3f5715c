//! End-to-end tests of the CLI: the real binary, its output and its exit codes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const EXAMPLE: &str = include_str!("../../../examples/events.ndjson");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    raw: Vec<u8>,
}

fn run_in(data: &Path, args: &[&str], stdin: Option<&str>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agentrail"));
    cmd.arg("--data").arg(data).args(args);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        raw: out.stdout,
    }
}

struct Env {
    _dir: tempfile::TempDir,
    root: PathBuf,
    data: PathBuf,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        Env {
            data: root.join("data"),
            root,
            _dir: dir,
        }
    }
    fn run(&self, args: &[&str]) -> Run {
        run_in(&self.data, args, None)
    }
    fn run_stdin(&self, args: &[&str], input: &str) -> Run {
        run_in(&self.data, args, Some(input))
    }
    fn init(&self) -> &Self {
        let r = self.run(&["init", "--origin", "test.example/log"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        self
    }
    fn write(&self, name: &str, content: &[u8]) -> String {
        let p = self.root.join(name);
        std::fs::write(&p, content).unwrap();
        p.to_string_lossy().into_owned()
    }
}

#[test]
fn ingest_reports_commits_counts_and_each_rejected_line() {
    let env = Env::new();
    env.init();
    let input = [
        r#"{"session_id":"s","agent_id":"a","kind":"note","ts":"2026-11-28T13:00:00Z","note":{"text":"ok"}}"#,
        r#"{"session_id":"s","agent_id":"a","kind":"action","ts":"2026-11-28T13:00:00Z","action":{"type":"read","system":"crm","resource":"r"}}"#,
        "",
        "not json",
        r#"{"session_id":"s","agent_id":"a","kind":"agentrail.access","ts":"2026-11-28T13:00:00Z"}"#,
        r#"{"session_id":"s","agent_id":"a","kind":"note","ts":"2026-11-28T13:00:00Z","note":{"text":"dup"},"note":{"text":"dup"}}"#,
    ]
    .join("\n");
    let r = env.run_stdin(&["ingest", "-"], &input);
    assert_eq!(
        r.code, 1,
        "rejected lines make the exit code 1: {}",
        r.stdout
    );
    assert!(
        r.stdout.contains("committed through line 6 (tree size 1)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("accepted 1, duplicate 0, rejected 4"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("line 2: field action.status: is required (missing_field)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("line 4: field -: invalid JSON"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("line 5: field kind:"), "{}", r.stdout);
    assert!(r.stdout.contains("(reserved_kind)"), "{}", r.stdout);
    assert!(r.stdout.contains("line 6:"), "{}", r.stdout);
    assert!(r.stdout.contains("duplicate key"), "{}", r.stdout);
}

#[test]
fn ingest_is_idempotent_and_conflicts_are_rejected() {
    let env = Env::new();
    env.init();
    let file = env.write("events.ndjson", EXAMPLE.as_bytes());
    let n = EXAMPLE.lines().count();
    let first = env.run(&["ingest", &file]);
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    assert!(first
        .stdout
        .contains(&format!("accepted {n}, duplicate 0, rejected 0")));
    let again = env.run(&["ingest", &file]);
    assert_eq!(again.code, 0);
    assert!(
        again
            .stdout
            .contains(&format!("accepted 0, duplicate {n}, rejected 0")),
        "{}",
        again.stdout
    );
    // Same event id, different content.
    let changed = EXAMPLE
        .lines()
        .next()
        .unwrap()
        .replace("alice@acme.example", "mallory@acme.example");
    let conflict = env.run_stdin(&["ingest"], &changed);
    assert_eq!(conflict.code, 1);
    assert!(
        conflict.stdout.contains("line 1: field event_id:"),
        "{}",
        conflict.stdout
    );
    assert!(
        conflict.stdout.contains("(conflict)"),
        "{}",
        conflict.stdout
    );
    let verify = env.run(&["verify"]);
    assert_eq!(verify.code, 0, "{}", verify.stdout);
    assert!(
        verify.stdout.contains(&format!("tree size {n} ")),
        "{}",
        verify.stdout
    );
}

#[test]
fn event_get_prints_canonical_bytes_and_proofs_verify_offline() {
    let env = Env::new();
    env.init();
    let file = env.write("events.ndjson", EXAMPLE.as_bytes());
    assert_eq!(env.run(&["ingest", &file]).code, 0);
    let ev = env.run(&["event", "get", "rd-47892-d01"]);
    assert_eq!(ev.code, 0);
    assert!(ev
        .raw
        .starts_with(b"{\"agent_id\":\"renewal-drafter\",\"body\":{"));
    assert!(!ev.raw.ends_with(b"\n"), "no trailing newline");
    let leaf = env.run(&["event", "get", "rd-47892-d01", "--leaf"]);
    assert!(
        leaf.stdout.contains("\"body_sha256\":\""),
        "{}",
        leaf.stdout
    );
    assert!(!leaf.stdout.contains("\"body\":"));

    let event_file = env.write("event.json", &ev.raw);
    let proof = env.run(&["prove", "rd-47892-d01"]);
    assert_eq!(proof.code, 0, "{}", proof.stderr);
    assert!(
        proof
            .stdout
            .starts_with("c2sp.org/tlog-proof@v1\nindex 12\n"),
        "{}",
        proof.stdout
    );
    let proof_file = env.write("proof.txt", proof.stdout.as_bytes());
    let key = env.run(&["key"]).stdout.trim().to_string();
    assert!(key.starts_with("test.example/log+"), "{key}");
    let nowhere = env.root.join("no-data-here");
    let ok = run_in(
        &nowhere,
        &[
            "verify-proof",
            "--key",
            &key,
            "--event",
            &event_file,
            &proof_file,
        ],
        None,
    );
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    assert!(
        ok.stdout
            .starts_with("VALID: event rd-47892-d01 is leaf 12"),
        "{}",
        ok.stdout
    );
    let key_file = env.write("key.txt", format!("{key}\n").as_bytes());
    let ok = run_in(
        &nowhere,
        &[
            "verify-proof",
            "--key-file",
            &key_file,
            "--event",
            &event_file,
            &proof_file,
        ],
        None,
    );
    assert_eq!(ok.code, 0, "{}", ok.stderr);

    // A changed event, a changed proof, another log's key: each is invalid (exit 1).
    let tampered = String::from_utf8(ev.raw.clone())
        .unwrap()
        .replace("contract ends in 90 days", "contract ends in 30 days");
    assert_ne!(tampered.as_bytes(), &ev.raw[..]);
    let bad_event = env.write("bad-event.json", tampered.as_bytes());
    let r = run_in(
        &nowhere,
        &[
            "verify-proof",
            "--key",
            &key,
            "--event",
            &bad_event,
            &proof_file,
        ],
        None,
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let mut lines: Vec<String> = proof.stdout.lines().map(String::from).collect();
    lines[2] = lines[3].clone();
    let bad_proof = env.write("bad-proof.txt", (lines.join("\n") + "\n").as_bytes());
    let r = run_in(
        &nowhere,
        &[
            "verify-proof",
            "--key",
            &key,
            "--event",
            &event_file,
            &bad_proof,
        ],
        None,
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let other = Env::new();
    other.init();
    let other_key = other.run(&["key"]).stdout.trim().to_string();
    let r = run_in(
        &nowhere,
        &[
            "verify-proof",
            "--key",
            &other_key,
            "--event",
            &event_file,
            &proof_file,
        ],
        None,
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let r = run_in(
        &nowhere,
        &[
            "verify-proof",
            "--key",
            "garbage",
            "--event",
            &event_file,
            &proof_file,
        ],
        None,
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
}

#[test]
fn checkpoints_consistency_and_trusted_checkpoints() {
    let env = Env::new();
    env.init();
    let lines: Vec<&str> = EXAMPLE.lines().collect();
    let first = env.write("a.ndjson", lines[..20].join("\n").as_bytes());
    let rest = env.write("b.ndjson", lines[20..].join("\n").as_bytes());
    assert_eq!(
        env.run(&["checkpoint"]).code,
        1,
        "no checkpoint yet is reported"
    );
    assert_eq!(env.run(&["ingest", &first]).code, 0);
    let cp20 = env.run(&["checkpoint"]);
    assert_eq!(cp20.code, 0);
    assert!(
        cp20.stdout.starts_with("test.example/log\n20\n"),
        "{}",
        cp20.stdout
    );
    let trusted = env.write("cp20.txt", cp20.stdout.as_bytes());
    assert_eq!(env.run(&["ingest", &rest]).code, 0);
    let latest = env.run(&["checkpoint"]).stdout;
    assert!(latest.starts_with(&format!("test.example/log\n{}\n", lines.len())));
    assert_eq!(
        env.run(&["checkpoint", "--new"]).stdout,
        latest,
        "no growth, no new checkpoint"
    );

    let cons = env.run(&["prove", "--consistency", "20"]);
    assert_eq!(cons.code, 0, "{}", cons.stderr);
    assert!(cons.stdout.lines().count() >= 1);
    assert!(cons.stdout.lines().all(|l| l.len() == 44));
    let explicit = env.run(&["prove", "--consistency", "20", &lines.len().to_string()]);
    assert_eq!(explicit.stdout, cons.stdout);
    assert_eq!(
        env.run(&["prove", "--consistency", "7"]).code,
        2,
        "7 is not a checkpointed size"
    );
    assert_eq!(
        env.run(&["prove", "--consistency", "0"]).stdout,
        "",
        "the empty tree needs no proof"
    );

    // An auditor checks the proof offline with the two checkpoints and the key.
    let key = env.run(&["key"]).stdout.trim().to_string();
    let new_cp = env.write("cp-new.txt", latest.as_bytes());
    let proof = env.write("cons.txt", cons.stdout.as_bytes());
    let nowhere = env.root.join("nowhere");
    let args = |old: &str, new: &str, proof: &str| -> Vec<String> {
        ["verify-consistency", "--key", &key, old, new, proof]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let run = |a: Vec<String>| {
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        run_in(&nowhere, &refs, None)
    };
    let ok = run(args(&trusted, &new_cp, &proof));
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    assert!(ok.stdout.starts_with("VALID:"), "{}", ok.stdout);
    let mut bad = cons.stdout.clone();
    let swap = if bad.starts_with("AAAA") {
        "BBBB"
    } else {
        "AAAA"
    };
    bad.replace_range(0..4, swap);
    let bad = env.write("bad-cons.txt", bad.as_bytes());
    let r = run(args(&trusted, &new_cp, &bad));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let r = run(args(&new_cp, &trusted, &proof));
    assert_eq!(r.code, 1, "swapped checkpoints: {}{}", r.stdout, r.stderr);

    // Proofs are against the latest checkpoint, also for events an older one covers.
    let p = env.run(&["prove", "rd-47892-001"]);
    assert!(p.stdout.contains(&latest), "{}", p.stdout);

    let v = env.run(&["verify", "--trusted", &trusted]);
    assert_eq!(v.code, 0, "{}", v.stdout);
    assert!(
        v.stdout.contains("checked against 1 trusted checkpoints"),
        "{}",
        v.stdout
    );
    let v = env.run(&["verify"]);
    assert!(
        v.stdout.contains("no trusted checkpoints given"),
        "{}",
        v.stdout
    );

    // A checkpoint of another log is not trusted.
    let other = Env::new();
    other.init();
    let f = other.write("a.ndjson", lines[..5].join("\n").as_bytes());
    assert_eq!(other.run(&["ingest", &f]).code, 0);
    let foreign = env.write("foreign.txt", other.run(&["checkpoint"]).stdout.as_bytes());
    let v = env.run(&["verify", "--trusted", &foreign]);
    assert_eq!(v.code, 1, "{}", v.stdout);
    assert!(v.stdout.contains("INVALID trusted"), "{}", v.stdout);
}

#[test]
fn init_creates_private_files_and_publishes_checkpoints() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let publish = env.root.join("published");
    let r = env.run(&["init", "--publish", publish.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("/agentrail/"),
        "default origin: {}",
        r.stdout
    );
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&env.data), 0o700);
    assert_eq!(mode(&env.data.join("signing.key")), 0o600);
    assert_eq!(mode(&env.data.join("ledger.sqlite")), 0o600);
    assert_eq!(env.run(&["init"]).code, 2, "init twice is refused");

    let file = env.write("e.ndjson", EXAMPLE.as_bytes());
    assert_eq!(env.run(&["ingest", &file]).code, 0);
    let published = std::fs::read_to_string(publish.join("checkpoint")).unwrap();
    assert_eq!(published, env.run(&["checkpoint"]).stdout);
}

#[test]
fn usage_and_environment_errors_exit_2_and_say_what_to_do() {
    let env = Env::new();
    let r = env.run(&["ingest", "x.ndjson"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("run `agentrail init` first"),
        "{}",
        r.stderr
    );
    assert_eq!(env.run(&["verify"]).code, 2);
    assert_eq!(env.run(&["frobnicate"]).code, 2);
    env.init();
    let r = env.run(&["ingest", "/nonexistent/file.ndjson"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("/nonexistent/file.ndjson"),
        "{}",
        r.stderr
    );
    let r = env.run(&["event", "get", "no-such-event"]);
    assert_eq!(r.code, 1, "an unknown id is invalid input");
    assert!(r.stderr.contains("no-such-event"), "{}", r.stderr);
    let r = env.run(&["ingest", "--source", "smoke-signals", "-"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn a_second_writer_is_told_which_process_holds_the_data_directory() {
    let env = Env::new();
    env.init();
    let _held = agentrail_store::lock::DirLock::acquire(&env.data, "agentrail serve").unwrap();
    let r = env.run_stdin(&["ingest", "-"], "");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("process {}", std::process::id())),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("agentrail serve"), "{}", r.stderr);
    // Readers need no lock.
    assert_eq!(env.run(&["verify"]).code, 0);
}

#[test]
fn verify_fails_with_exit_1_when_the_store_is_edited() {
    let env = Env::new();
    env.init();
    let file = env.write("e.ndjson", EXAMPLE.as_bytes());
    assert_eq!(env.run(&["ingest", &file]).code, 0);
    edit_body_behind_the_ledgers_back(&env.data);
    let r = env.run(&["verify"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("INVALID leaf 3:"), "{}", r.stdout);
    assert!(r.stdout.contains("FAILED:"), "{}", r.stdout);
}

/// Edits one stored body behind the ledger's back.
fn edit_body_behind_the_ledgers_back(data: &Path) {
    let backend =
        agentrail_store::sqlite::SqliteBackend::open(&data.join("ledger.sqlite"), false).unwrap();
    let n = backend
        .connection()
        .execute(
            "UPDATE bodies SET body = replace(body, 'contracts', 'kontracts') WHERE leaf_index = 3",
            [],
        )
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn prove_signs_a_checkpoint_when_the_event_is_newer_than_the_latest() {
    use agentrail_core::event::parse_client_event;
    use agentrail_store::clock::SystemClock;
    let env = Env::new();
    env.init();
    {
        let mut ledger =
            agentrail_store::Ledger::open(&env.data, "test", std::sync::Arc::new(SystemClock))
                .unwrap();
        let ev = parse_client_event(EXAMPLE.lines().next().unwrap().as_bytes()).unwrap();
        ledger.append(&[ev], "cli").unwrap();
        // No checkpoint signed: the ledger is dropped here.
    }
    assert_eq!(env.run(&["checkpoint"]).code, 1);
    let r = env.run(&["prove", "rd-47892-001"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("\ntest.example/log\n1\n"), "{}", r.stdout);
    assert_eq!(env.run(&["checkpoint"]).code, 0);
}
