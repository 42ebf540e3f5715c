//! The session verbs end to end (`sessions`, `session show`, `reindex`): the real binary over
//! the bundled example, its output in each format, its exit codes, and what it does with text an
//! agent wrote to attack the reader's terminal or Markdown viewer.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const EXAMPLE: &str = include_str!("../../../examples/events.ndjson");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    raw: Vec<u8>,
}

fn run(data: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_agentrail"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("AGENTRAIL_DATA")
        .stdin(Stdio::null())
        .output()
        .expect("run the agentrail binary");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        raw: out.stdout,
    }
}

/// Runs and requires exit 0; returns standard output.
fn ok(data: &Path, args: &[&str]) -> String {
    let r = run(data, args);
    assert_eq!(r.code, 0, "agentrail {args:?}:\n{}{}", r.stdout, r.stderr);
    r.stdout
}

/// A data directory holding the bundled example (and `extra` NDJSON after it).
struct Env {
    _dir: tempfile::TempDir,
    root: PathBuf,
    data: PathBuf,
}

impl Env {
    fn new(extra: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let data = root.join("data");
        ok(&data, &["init", "--origin", "test.example/log"]);
        let file = root.join("events.ndjson");
        std::fs::write(&file, format!("{EXAMPLE}\n{extra}")).unwrap();
        ok(&data, &["ingest", file.to_str().unwrap()]);
        Env {
            _dir: dir,
            root,
            data,
        }
    }
    fn ok(&self, args: &[&str]) -> String {
        ok(&self.data, args)
    }
    fn run(&self, args: &[&str]) -> Run {
        run(&self.data, args)
    }
    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }
}

fn ids(list: &Value) -> Vec<&str> {
    list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session_id"].as_str().unwrap())
        .collect()
}

/// Where each needle first occurs; panics naming the one that is missing.
fn positions(haystack: &str, needles: &[&str]) -> Vec<usize> {
    needles
        .iter()
        .map(|n| {
            haystack
                .find(n)
                .unwrap_or_else(|| panic!("{n:?} is missing:\n{haystack}"))
        })
        .collect()
}

#[test]
fn sessions_lists_newest_first_filters_and_pages() {
    let env = Env::new("");
    let text = env.ok(&["sessions"]);
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert!(text.starts_with("STARTED "), "{text}");
    assert_eq!(rows.len(), 6, "{text}");
    assert!(rows[0].contains("sess-triage-88121"), "{text}");
    assert!(rows[1].contains("sess-47892-renewals"), "{text}");
    assert!(
        rows[1].contains("user alice@acme.example") && rows[1].contains("47892"),
        "{text}"
    );
    assert!(rows[0].ends_with("denied"), "flags: {text}");
    assert!(rows[4].contains("sess-nightly-2026-11-22"), "{text}");
    let col = |needle: &str| rows.iter().map(|r| r.find(needle)).collect::<Vec<_>>();
    assert!(col("  ").iter().all(|c| *c == Some(19)), "aligned: {text}");

    let all = env.json(&["sessions", "--format", "json"]);
    assert_eq!(all["next_cursor"], Value::Null);
    assert_eq!(
        ids(&all),
        [
            "sess-triage-88121",
            "sess-47892-renewals",
            "sess-nightly-2026-11-24",
            "sess-nightly-2026-11-23",
            "sess-nightly-2026-11-22",
            "sess-sheets-1121"
        ]
    );
    assert_eq!(all["sessions"][1]["counts"]["decisions"], 1);
    assert_eq!(all["sessions"][1]["trigger"]["request_id"], "47892");

    let by = |args: &[&str]| {
        ids(&env.json(&[&["sessions", "--format", "json"], args].concat()))
            .into_iter()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        by(&["--agent", "nightly-usage-sync"]),
        [
            "sess-nightly-2026-11-24",
            "sess-nightly-2026-11-23",
            "sess-nightly-2026-11-22"
        ]
    );
    assert_eq!(by(&["--system", "hr-payroll"]), ["sess-nightly-2026-11-24"]);
    assert_eq!(by(&["--request-id", "47892"]), ["sess-47892-renewals"]);
    assert_eq!(
        by(&["--system", "gdrive", "--status", "succeeded"]),
        ["sess-47892-renewals"]
    );
    assert_eq!(
        by(&["--from", "2026-11-24", "--to", "2026-11-24T09:00:00Z"]).len(),
        2
    );
    assert!(by(&["--agent", "nobody"]).is_empty());
    assert_eq!(
        env.ok(&["sessions", "--agent", "nobody"]),
        "no sessions found\n"
    );

    // Pages: the cursor printed at the end of one page gives the next.
    let first = env.json(&["sessions", "--format", "json", "--limit", "2"]);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    let page = env.ok(&["sessions", "--limit", "2"]);
    assert!(page.contains(&format!("--cursor {cursor} ")), "{page}");
    let second = env.json(&[
        "sessions", "--format", "json", "--limit", "2", "--cursor", &cursor,
    ]);
    assert_eq!(
        ids(&second),
        ["sess-nightly-2026-11-24", "sess-nightly-2026-11-23"]
    );

    // A bad filter value is a usage error (exit 2) that names the filter.
    let r = env.run(&["sessions", "--from", "yesterday"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("agentrail: error: from: "),
        "{}",
        r.stderr
    );
    let r = env.run(&["sessions", "--limit", "0"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("limit: "), "{}", r.stderr);
}

#[test]
fn the_narrative_of_request_47892_answers_why_these_customers() {
    let env = Env::new("");
    let r = env.run(&["session", "show", "--request", "47892"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.raw.contains(&0x1b), "piped output is never coloured");
    let out = r.stdout;
    let at = positions(
        &out,
        &[
            "Session sess-47892-renewals\n",
            "\nIntent\n",
            "\nScope\n",
            "\nDecisions\n",
            "\nOutcome\n",
            "\nIntegrity\n",
        ],
    );
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "sections in order:\n{out}"
    );
    for needle in [
        "user, initiated by alice@acme.example",
        "47892: draft a renewal email for our top 10 enterprise customers",
        "allow by policy policies/renewal-drafter.cedar",
        "principal       svc-renewal-drafter",
        "08:00:01.004  query       salesforce    Account",
        "model claude-sonnet-4-5, tokens 2174 in / 412 out",
        "select-renewal-candidates at 08:00:15.000, event rd-47892-d01",
        "001Dn0000000003  contract ends in 90 days, outside the 60-day window",
        "001Dn0000000010  contract ends in 61 days, outside the 60-day window",
        "Renewal outreach policy RP-3",
        "followed by  18 actions and 6 diffs, linked by decision_id",
        "rd-47892-x01  diff create        gdrive     renewals/pending-review/globex.md",
        "ended    succeeded at 2026-11-24T08:00:28Z",
        "Drafted 6 renewal emails for review",
        ": inclusion of all 38 events verified\n",
    ] {
        assert!(out.contains(needle), "{needle:?} is missing:\n{out}");
    }
    let chosen = out.lines().find(|l| l.contains("chosen ")).unwrap();
    assert!(!chosen.contains("001Dn0000000003"), "{chosen}");
    assert!(out.contains("checkpoint size 61, root "), "{out}");
    assert_eq!(out, env.ok(&["session", "show", "sess-47892-renewals"]));

    let v = env.json(&["session", "show", "sess-47892-renewals", "--format", "json"]);
    assert_eq!(v["session"]["session_id"], "sess-47892-renewals");
    assert_eq!(v["integrity"]["ok"], true);
    assert_eq!(v["integrity"]["verified"], 38);
    assert_eq!(v["decisions"][0]["link"], "decision_id");
    let by_request = env.json(&["session", "show", "--request", "47892", "--format", "json"]);
    assert_eq!(by_request["request_id"], "47892");
    assert_eq!(by_request["sessions"][0], v);

    let md = env.ok(&["session", "show", "--request", "47892", "--format", "md"]);
    positions(
        &md,
        &[
            "# Session `sess-47892-renewals`\n",
            "\n## Intent\n",
            "\n## Scope\n",
            "\n## Decisions\n",
            "\n### **`select-renewal-candidates`**",
            "  - **`001Dn0000000003`** — `contract ends in 90 days, outside the 60-day window`\n",
            "\n## Outcome\n",
            "\n## Integrity\n",
        ],
    );
    assert!(md.contains("| TIME | TYPE | SYSTEM |"), "{md}");
}

#[test]
fn several_sessions_of_one_request_are_shown_newest_first() {
    let retry = json!({"event_id": "rd-47892-retry", "session_id": "sess-47892-retry", "agent_id": "renewal-drafter", "kind": "session.start", "ts": "2026-11-25T09:00:00Z", "trigger": {"type": "user", "initiator": "alice@acme.example", "request_id": "47892"}});
    let env = Env::new(&retry.to_string());
    let out = env.ok(&["session", "show", "--request", "47892"]);
    assert!(
        out.starts_with("request 47892 was served by 2 sessions, newest first\n"),
        "{out}"
    );
    positions(
        &out,
        &[
            "Session sess-47892-retry\n",
            "Session sess-47892-renewals\n",
        ],
    )
    .windows(2)
    .for_each(|w| assert!(w[0] < w[1], "{out}"));
    assert!(out.contains("no session.end recorded"), "{out}");
    let r = env.run(&["session", "show", "--request", "99999"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("no session served request id \"99999\""),
        "{}",
        r.stderr
    );
}

/// Markdown with every code span removed: what a viewer would interpret.
fn outside_code_spans(md: &str) -> String {
    let mut out = String::new();
    let mut rest = md;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let fence = rest[start..].len() - rest[start..].trim_start_matches('`').len();
        let body = &rest[start + fence..];
        let close = "`".repeat(fence);
        let Some(end) = body.find(&close) else {
            panic!("an unclosed code span:\n{md}");
        };
        rest = &body[end + fence..];
    }
    out.push_str(rest);
    out
}

#[test]
fn text_an_agent_wrote_is_escaped_never_interpreted() {
    let evil = "\u{1b}[2J\u{1b}]0;pwned\u{7}\rreal\u{202e}txt.exe\u{9b}31m\n# Heading\n[click](https://evil.example) <script>alert(1)</script> `code` | cell";
    let events = [
        json!({"event_id": "ev-1", "session_id": "sess-evil\u{202e}", "agent_id": "evil-agent", "kind": "session.start", "ts": "2026-11-26T09:00:00Z", "trigger": {"type": "user", "initiator": evil, "request_id": "r-evil", "request": evil}}),
        json!({"event_id": "ev-2", "session_id": "sess-evil\u{202e}", "agent_id": "evil-agent", "kind": "action", "ts": "2026-11-26T09:00:01Z", "action": {"type": "read", "system": "crm", "resource": evil, "resource_ids": [evil], "status": "ok"}}),
        json!({"event_id": "ev-3", "session_id": "sess-evil\u{202e}", "agent_id": "evil-agent", "kind": "decision", "ts": "2026-11-26T09:00:02Z", "decision": {"name": evil, "chosen": [evil], "rejected": [{"id": "x", "reason": evil}], "rationale": evil}}),
        json!({"event_id": "ev-4", "session_id": "sess-evil\u{202e}", "agent_id": "evil-agent", "kind": "note", "ts": "2026-11-26T09:00:03Z", "note": {"text": evil}}),
    ];
    let lines: Vec<String> = events.iter().map(Value::to_string).collect();
    let env = Env::new(&lines.join("\n"));
    let text = env.ok(&["session", "show", "--request", "r-evil"]);
    for bad in ['\u{1b}', '\r', '\u{7}', '\u{202e}', '\u{9b}'] {
        assert!(!text.contains(bad), "{bad:?} printed raw:\n{text}");
    }
    assert!(text.contains("Session sess-evil\\u202e\n"), "{text}");
    assert!(
        text.contains("\\x1b[2J\\x1b]0;pwned\\x07\\rreal\\u202etxt.exe\\u009b31m\\n# Heading"),
        "{text}"
    );
    assert!(!text.lines().any(|l| l.starts_with("# ")), "{text}");

    let md = env.ok(&["session", "show", "--request", "r-evil", "--format", "md"]);
    for bad in ['\u{1b}', '\r', '\u{7}', '\u{202e}', '\u{9b}'] {
        assert!(!md.contains(bad), "{bad:?} printed raw:\n{md}");
    }
    let visible = outside_code_spans(&md);
    for bad in ["<script", "](", "pwned", "Heading", "real"] {
        assert!(!visible.contains(bad), "{bad:?} outside a code span:\n{md}");
    }
    assert!(md.contains("``\\x1b[2J"), "{md}");

    let json_out = env.run(&["session", "show", "sess-evil\u{202e}", "--format", "json"]);
    assert_eq!(json_out.code, 0, "{}", json_out.stderr);
    assert!(!json_out.stdout.contains('\u{202e}') && !json_out.stdout.contains('\u{9b}'));
    let v: Value = serde_json::from_str(&json_out.stdout).unwrap();
    assert_eq!(v["notes"][0]["event"]["body"]["note"]["text"], evil);
}

#[test]
fn reindex_rebuilds_the_same_index_from_the_ledger() {
    let env = Env::new("");
    let before = env.ok(&["sessions", "--format", "json"]);
    let index = env.data.join("index.sqlite");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", index.display()));
    }
    assert_eq!(
        env.ok(&["reindex"]),
        "rebuilt the session index from the ledger: 61 leaves, 6 sessions\n"
    );
    assert_eq!(env.ok(&["sessions", "--format", "json"]), before);
    assert_eq!(env.ok(&["reindex"]), env.ok(&["reindex"]));
    assert_eq!(env.ok(&["sessions", "--format", "json"]), before);
}

#[test]
fn a_tampered_body_is_reported_and_exits_1() {
    let env = Env::new("");
    let backend =
        agentrail_store::sqlite::SqliteBackend::open(&env.data.join("ledger.sqlite"), false)
            .unwrap();
    let n = backend
        .connection()
        .execute(
            "UPDATE bodies SET body = replace(body, 'contracts', 'kontracts') WHERE leaf_index = 3",
            [],
        )
        .unwrap();
    assert_eq!(n, 1);
    drop(backend);
    let r = env.run(&["session", "show", "--request", "47892"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("inclusion of 38 of 38 events verified"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("FAILED: 1 problem found"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("INVALID leaf 3: the body does not match the leaf's body_sha256"),
        "{}",
        r.stdout
    );
    let json = env.run(&["session", "show", "sess-47892-renewals", "--format", "json"]);
    assert_eq!(json.code, 1);
    let v: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["integrity"]["ok"], false);
    // Other sessions are intact.
    assert_eq!(env.run(&["session", "show", "sess-triage-88121"]).code, 0);
}

#[test]
fn a_leaf_filed_under_another_session_or_a_swapped_key_is_not_verified() {
    let env = Env::new("");
    let backend =
        agentrail_store::sqlite::SqliteBackend::open(&env.data.join("ledger.sqlite"), false)
            .unwrap();
    // The index column says leaf 51 (the support bot's) belongs to the renewal run; its leaf,
    // which is what the checkpoint proves, says otherwise.
    let n = backend
        .connection()
        .execute(
            "UPDATE leaves SET session_id = 'sess-47892-renewals' WHERE leaf_index = 51",
            [],
        )
        .unwrap();
    assert_eq!(n, 1);
    drop(backend);
    let r = env.run(&["session", "show", "sess-47892-renewals"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("leaf 51: its header names session"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("of 38 events verified"), "{}", r.stdout);

    // With the auditor's own key, a log that records (and signs with) another key fails.
    let other = tempfile::tempdir().unwrap();
    let other_data = other.path().join("data");
    ok(&other_data, &["init", "--origin", "another.example/log"]);
    let wrong_key = ok(&other_data, &["key"]).trim().to_string();
    let r = env.run(&["session", "show", "sess-triage-88121", "--key", &wrong_key]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("not the key given"), "{}", r.stdout);
    let right_key = ok(&env.data, &["key"]).trim().to_string();
    let r = env.run(&["session", "show", "sess-triage-88121", "--key", &right_key]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

#[test]
fn erased_bodies_are_named_and_are_not_a_failure() {
    let env = Env::new("");
    let backend =
        agentrail_store::sqlite::SqliteBackend::open(&env.data.join("ledger.sqlite"), false)
            .unwrap();
    // Leaf 2 is the action rd-47892-c01, leaf 12 the decision rd-47892-d01.
    let n = backend
        .connection()
        .execute("DELETE FROM bodies WHERE leaf_index IN (2, 12)", [])
        .unwrap();
    assert_eq!(n, 2);
    drop(backend);
    let out = env.ok(&["session", "show", "sess-47892-renewals"]);
    assert!(
        out.contains("08:00:02.500  (erased)    event rd-47892-c01\n"),
        "{out}"
    );
    assert!(
        out.contains("08:00:15.000 event rd-47892-d01 (leaf 12): its body is erased"),
        "{out}"
    );
    assert!(
        out.contains(
            "inclusion of all 38 events verified; 2 bodies erased (their leaves were checked)"
        ),
        "{out}"
    );
}

#[test]
fn events_newer_than_the_checkpoint_are_named_not_failed() {
    use agentrail_core::event::parse_client_event;
    use agentrail_store::clock::SystemClock;
    let env = Env::new("");
    {
        let mut ledger =
            agentrail_store::Ledger::open(&env.data, "test", std::sync::Arc::new(SystemClock))
                .unwrap();
        let note = json!({"event_id": "st-88121-note", "session_id": "sess-triage-88121", "agent_id": "support-triage", "kind": "note", "ts": "2026-11-24T10:14:09.5Z", "note": {"text": "callback requested"}});
        let ev = parse_client_event(note.to_string().as_bytes()).unwrap();
        ledger.append(&[ev], "cli").unwrap();
    }
    let out = env.ok(&["session", "show", "sess-triage-88121"]);
    assert!(
        out.contains("\nNotes\n  10:14:09.500  callback requested\n"),
        "{out}"
    );
    assert!(out.contains("inclusion of 7 of 8 events verified"), "{out}");
    assert!(
        out.contains("1 event is not yet covered by a signed checkpoint (leaf 61): run `agentrail checkpoint --new`"),
        "{out}"
    );
    env.ok(&["checkpoint", "--new"]);
    let out = env.ok(&["session", "show", "sess-triage-88121"]);
    assert!(out.contains("inclusion of all 8 events verified"), "{out}");
}

#[test]
fn unknown_sessions_and_missing_data_directories_say_so() {
    let env = Env::new("");
    let r = env.run(&["session", "show", "sess-nope"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("no session with id \"sess-nope\""),
        "{}",
        r.stderr
    );
    assert_eq!(
        env.run(&["session", "show"]).code,
        2,
        "an id or --request is required"
    );
    let missing = env.root.join("missing");
    for args in [&["sessions"][..], &["session", "show", "x"], &["reindex"]] {
        let r = run(&missing, args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("agentrail init"), "{}", r.stderr);
    }
}

#[cfg(unix)]
#[test]
fn init_makes_the_data_directory_private_and_the_index_stays_private() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new("");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&env.data), 0o700);
    env.ok(&["sessions"]);
    assert_eq!(mode(&env.data.join("index.sqlite")), 0o600);
}
