//! Governance end to end, on the data `agentrail demo` leaves: discovery of the agents and
//! principals nobody registered, the scope violation and the policy that denied it, the gap
//! assessment in its three renderings (and what it does with text an agent wrote), the replay of
//! every policy decision, and the inventory verbs, locally and through a running server.

mod common;

use common::{Server, AGENTRAIL};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const SUMMARY: &str = "6 agents in scope (5 registered, 1 discovered)";
const VIOLATION_SESSION: &str = "sess-nightly-2026-11-24";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(data: &Path, args: &[&str]) -> Run {
    let out = Command::new(AGENTRAIL)
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("AGENTRAIL_DATA")
        .env_remove("AGENTRAIL_AGENTS")
        .stdin(Stdio::null())
        .output()
        .expect("run the agentrail binary");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs and requires exit 0; returns standard output.
fn ok(data: &Path, args: &[&str]) -> String {
    let r = run(data, args);
    assert_eq!(r.code, 0, "agentrail {args:?}:\n{}{}", r.stdout, r.stderr);
    r.stdout
}

/// Runs and requires exit `code`; returns the run.
fn exits(data: &Path, args: &[&str], code: i32) -> Run {
    let r = run(data, args);
    assert_eq!(
        r.code, code,
        "agentrail {args:?}:\n{}{}",
        r.stdout, r.stderr
    );
    r
}

fn json_of(data: &Path, args: &[&str]) -> Value {
    let out = ok(data, args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} is not JSON ({e}):\n{out}"))
}

fn ids<'a>(list: &'a Value, key: &str) -> Vec<&'a str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .map(|v| v[key].as_str().unwrap())
        .collect()
}

/// The event ids of the ledger's leaves of `kind`, in log order.
fn records(data: &Path, kind: &str) -> Vec<String> {
    let backend =
        agentrail_store::sqlite::SqliteBackend::open(&data.join("ledger.sqlite"), false).unwrap();
    let mut stmt = backend
        .connection()
        .prepare("SELECT event_id FROM leaves WHERE kind = ?1 ORDER BY leaf_index")
        .unwrap();
    let rows = stmt
        .query_map([kind], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows
}

fn tree_size(data: &Path) -> i64 {
    let backend =
        agentrail_store::sqlite::SqliteBackend::open(&data.join("ledger.sqlite"), false).unwrap();
    let n = backend
        .connection()
        .query_row("SELECT count(*) FROM leaves", [], |r| r.get(0))
        .unwrap();
    n
}

/// A temporary directory holding one data directory: the demo's, or a new empty one.
struct Env {
    dir: tempfile::TempDir,
    data: PathBuf,
}

impl Env {
    /// `agentrail demo` on a new data directory.
    fn demo() -> Env {
        let env = Env::empty();
        let out = ok(&env.data, &["demo"]);
        assert!(out.contains(SUMMARY), "{out}");
        env
    }

    /// `agentrail init` only: no inventory yet.
    fn fresh() -> Env {
        let env = Env::empty();
        ok(&env.data, &["init", "--origin", "governance.test/log"]);
        env
    }

    fn empty() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        Env { dir, data }
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn inventory(&self) -> String {
        std::fs::read_to_string(self.data.join("agents.toml")).unwrap()
    }
}

#[test]
fn discover_lists_the_unregistered_agent_and_principals_only() {
    let env = Env::demo();
    let d = &env.data;
    let text = ok(d, &["agents", "discover"]);
    let agents_at = text.find("Unregistered agents\n").expect(&text);
    let principals_at = text.find("Unregistered principals\n").expect(&text);
    let (agents, principals) = text[agents_at..].split_at(principals_at - agents_at);
    assert!(
        agents.contains("  sheets-export  2026-11-21T16:40:00Z"),
        "{text}"
    );
    assert!(agents.contains("gsheets, salesforce"), "{text}");
    assert!(principals.contains("svc-gsheets-export"), "{text}");
    assert!(principals.contains("svc-contract-summarizer"), "{text}");
    assert!(
        text.contains("1 unregistered agents, 2 unregistered principals (inventory: 5 agents)"),
        "{text}"
    );
    for registered in [
        "renewal-drafter",
        "nightly-usage-sync",
        "support-triage",
        "invoice-reconciler",
        "svc-renewal-drafter",
        "svc-billing-sync",
        "svc-support-bot",
    ] {
        assert!(
            !agents.contains(registered) && !principals.contains(&format!("  {registered} ")),
            "{registered} is registered:\n{text}"
        );
    }

    let v = json_of(d, &["agents", "discover", "--format", "json"]);
    assert_eq!(ids(&v["agents"], "id"), ["sheets-export"]);
    assert_eq!(v["agents"][0]["sessions"], 1);
    assert_eq!(v["agents"][0]["actions"], 2);
    assert_eq!(
        ids(&v["principals"], "id"),
        ["svc-contract-summarizer", "svc-gsheets-export"]
    );
    assert_eq!(v["principals"][1]["agents"], json!(["sheets-export"]));

    // Discovery reads the inventory: registering the agent by hand (and its principal) takes it
    // off the list, and the change is recorded on the way.
    let mut inv = env.inventory();
    inv.push_str("\n[[agent]]\nid = \"sheets-export\"\nkind = \"third-party-ai-tool\"\nowner = \"ops@acme.example\"\nprincipals = [\"svc-gsheets-export\"]\n");
    std::fs::write(d.join("agents.toml"), inv).unwrap();
    let r = exits(d, &["agents", "discover", "--format", "json"], 0);
    assert!(
        r.stderr
            .contains("recorded in the log: agents added: \"sheets-export\""),
        "{}",
        r.stderr
    );
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["agents"], json!([]));
    assert_eq!(ids(&v["principals"], "id"), ["svc-contract-summarizer"]);
}

#[test]
fn agents_show_tells_registered_discovered_and_unknown_agents_apart() {
    let env = Env::demo();
    let d = &env.data;
    let text = ok(d, &["agents", "show", "nightly-usage-sync"]);
    for needle in [
        "Agent nightly-usage-sync\n",
        "owner           billing-eng@acme.example",
        "policy          policies/billing-sync.cedar",
        "\nIn the events\n",
        "sessions  3 (",
    ] {
        assert!(text.contains(needle), "{needle:?} is missing:\n{text}");
    }
    assert!(!text.contains("UNREGISTERED"), "{text}");
    let text = ok(d, &["agents", "show", "sheets-export"]);
    assert!(
        text.contains("UNREGISTERED: seen in events, not in the inventory"),
        "{text}"
    );
    assert!(text.contains("systems   gsheets, salesforce"), "{text}");
    let text = ok(d, &["agents", "show", "invoice-reconciler"]);
    assert!(text.contains("no events from this agent yet"), "{text}");

    let v = json_of(d, &["agents", "show", "sheets-export", "--format", "json"]);
    assert_eq!(v["registered"], false);
    assert_eq!(v["entry"], Value::Null);
    assert_eq!(v["seen"]["sessions"], 1);
    let v = json_of(
        d,
        &["agents", "show", "renewal-drafter", "--format", "json"],
    );
    assert_eq!(v["registered"], true);
    assert_eq!(v["entry"]["owner"], "revops@acme.example");
    assert_eq!(v["seen"]["id"], "renewal-drafter");

    let r = exits(d, &["agents", "show", "nobody"], 1);
    assert!(r.stderr.contains("no agent \"nobody\""), "{}", r.stderr);
}

#[test]
fn the_payroll_read_is_a_violation_denied_by_no_payroll() {
    let env = Env::demo();
    let d = &env.data;
    let text = ok(d, &["session", "show", VIOLATION_SESSION]);
    let row = text
        .lines()
        .find(|l| l.contains(" hr-payroll "))
        .unwrap_or_else(|| panic!("no hr-payroll action:\n{text}"));
    assert!(row.contains("employees/salaries"), "{row}");
    assert!(row.ends_with("VIOLATION by no-payroll"), "{row}");
    assert!(
        text.contains(
            "VIOLATION: event nj-1124-005 (read hr-payroll employees/salaries): denied by no-payroll"
        ),
        "{text}"
    );
    assert_eq!(
        text.matches("allow by billing-sync-scope").count(),
        2,
        "{text}"
    );
    let quiet = ok(d, &["session", "show", "sess-nightly-2026-11-23"]);
    assert!(!quiet.contains("VIOLATION"), "{quiet}");

    let v = json_of(
        d,
        &["session", "show", VIOLATION_SESSION, "--format", "json"],
    );
    let violations = v["violations"].as_array().unwrap();
    assert_eq!(violations.len(), 1, "{v}");
    assert_eq!(violations[0]["event_id"], "nj-1124-005");
    assert_eq!(violations[0]["decision"], "deny");
    assert_eq!(violations[0]["policies"], json!(["no-payroll"]));
    let scope = v["scope"].as_array().unwrap();
    assert_eq!(scope.len(), 3);
    for s in scope {
        let denied = s["event"]["event_id"] == "nj-1124-005";
        let policy = &s["policy"];
        assert_eq!(
            policy["decision"],
            if denied { "deny" } else { "allow" },
            "{s}"
        );
        assert_eq!(
            policy["policies"],
            if denied {
                json!(["no-payroll"])
            } else {
                json!(["billing-sync-scope"])
            },
            "{s}"
        );
    }

    let list = ok(d, &["sessions", "--violations"]);
    let rows: Vec<&str> = list.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{list}");
    assert!(
        rows[0].contains(VIOLATION_SESSION) && rows[0].ends_with("violation"),
        "{list}"
    );
    let v = json_of(d, &["sessions", "--violations", "--format", "json"]);
    assert_eq!(ids(&v["sessions"], "session_id"), [VIOLATION_SESSION]);
}

#[test]
fn the_html_report_is_one_self_contained_page() {
    let env = Env::demo();
    let out = env.dir.path().join("gap-report.html");
    let r = exits(
        &env.data,
        &["assess", "--format", "html", "--out", out.to_str().unwrap()],
        0,
    );
    assert!(
        r.stdout.is_empty(),
        "the report goes to the file: {}",
        r.stdout
    );
    assert!(r.stderr.contains(SUMMARY), "{}", r.stderr);
    assert!(r.stderr.contains("wrote "), "{}", r.stderr);
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.starts_with("<!doctype html>\n"), "{html}");
    assert!(html.trim_end().ends_with("</html>"), "{html}");
    for (tag, n) in [
        ("<html", 1),
        ("</html>", 1),
        ("<head>", 1),
        ("<body>", 1),
        ("<style>", 1),
    ] {
        assert_eq!(html.matches(tag).count(), n, "{tag}:\n{html}");
    }
    let csp_at = html
        .find("<meta http-equiv=\"Content-Security-Policy\" content=\"")
        .expect("a CSP meta element");
    assert!(
        csp_at < html.find("<style>").unwrap(),
        "the CSP comes first"
    );
    let csp = &html[csp_at..];
    let csp = &csp[csp.find("content=\"").unwrap() + 9..];
    let csp = &csp[..csp.find('"').unwrap()];
    assert!(csp.starts_with("default-src 'none'; "), "{csp}");
    let style = &html[html.find("<style>").unwrap() + 7..html.find("</style>").unwrap()];
    let hash = agentrail_core::hash::Hash::sha256(style.as_bytes()).to_base64();
    assert!(
        csp.contains(&format!("style-src 'sha256-{hash}'")),
        "the CSP allows exactly the inline style ({hash}): {csp}"
    );
    let lower = html.to_ascii_lowercase();
    for bad in [
        "<script", "http://", "https://", "src=", "<link", "<img", "<iframe", "url(", "@import",
    ] {
        assert!(!lower.contains(bad), "{bad:?} in the page:\n{html}");
    }
    check_tags(&html);
    assert!(
        html.contains(&format!("<p class=\"summary\" id=\"summary\">{SUMMARY}")),
        "{html}"
    );
    assert!(html.contains("invoice-reconciler"), "{html}");
    assert!(
        html.contains("<td class=\"s-partial\">Partial</td>"),
        "{html}"
    );
}

/// Checks every tag of `html`: only the elements a report uses, no attribute that loads
/// or runs anything, links only to anchors on the page.
fn check_tags(html: &str) {
    const ELEMENTS: &[&str] = &[
        "!doctype", "html", "head", "meta", "title", "style", "body", "header", "section", "h1",
        "h2", "h3", "h4", "p", "dl", "dt", "dd", "code", "strong", "span", "div", "table", "thead",
        "tbody", "tr", "th", "td", "ul", "ol", "li", "a",
    ];
    let mut n = 0;
    for tag in html.split('<').skip(1) {
        let tag = &tag[..tag
            .find('>')
            .unwrap_or_else(|| panic!("an unclosed tag: <{tag}"))];
        let lower = tag.to_ascii_lowercase();
        let name = lower
            .trim_start_matches('/')
            .split([' ', '\n'])
            .next()
            .unwrap();
        assert!(ELEMENTS.contains(&name), "an unexpected element: <{tag}>");
        for attr in lower.split(' ').skip(1) {
            let key = attr.split('=').next().unwrap();
            assert!(
                !(key.starts_with("on") || ["src", "srcset", "style", "action"].contains(&key)),
                "an active attribute: <{tag}>"
            );
        }
        if let Some(href) = lower.split("href=\"").nth(1) {
            let target = &tag[lower.len() - href.len()..][..href.find('"').unwrap()];
            assert!(target.starts_with('#'), "an off-page link: <{tag}>");
            assert!(
                html.contains(&format!("id=\"{}\"", &target[1..])),
                "a link to no anchor: <{tag}>"
            );
        }
        n += 1;
    }
    assert!(n > 100, "{n} tags: {html}");
}

/// The lines of the Markdown table that starts with `head`; each row with as many cells.
fn md_table<'a>(md: &'a str, head: &str) -> Vec<&'a str> {
    let at = md
        .find(head)
        .unwrap_or_else(|| panic!("no table {head:?}:\n{md}"));
    let rows: Vec<&str> = md[at..]
        .lines()
        .take_while(|l| l.starts_with('|'))
        .collect();
    let cells = |l: &str| l.replace("\\|", "").matches('|').count();
    for r in &rows {
        assert_eq!(
            cells(r),
            cells(rows[0]),
            "a row breaks the table: {r}\n{md}"
        );
    }
    rows[2..].to_vec()
}

const COVERAGE: &str =
    "| Agent | Kind | Owner | Intent | Scope | Decision trace | Outcome | Violations |\n";

#[test]
fn the_json_and_markdown_reports_score_the_demo() {
    let env = Env::demo();
    let d = &env.data;
    let v = json_of(d, &["assess", "--format", "json"]);
    assert_eq!(v["format"], "agentrail.assessment/v1");
    let s = &v["summary"];
    assert!(s["sentence"].as_str().unwrap().starts_with(SUMMARY), "{s}");
    assert_eq!(
        (
            &s["agents"],
            &s["registered"],
            &s["discovered"],
            &s["violations"]
        ),
        (&json!(6), &json!(5), &json!(1), &json!(1)),
        "{s}"
    );
    let agents = v["agents"].as_array().unwrap();
    let agent = |id: &str| {
        agents
            .iter()
            .find(|a| a["id"] == id)
            .unwrap_or_else(|| panic!("no agent {id}: {v}"))
    };
    let scores = |id: &str| -> Vec<String> {
        ["intent", "scope", "decision_trace", "outcome"]
            .iter()
            .map(|l| {
                agent(id)["layers"][l]["score"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    assert_eq!(scores("renewal-drafter"), ["yes", "yes", "yes", "yes"]);
    assert_eq!(scores("contract-summarizer"), ["yes", "yes", "yes", "yes"]);
    assert_eq!(scores("support-triage")[0], "partial");
    assert_eq!(agent("support-triage")["coverage"], "partial");
    assert_eq!(scores("invoice-reconciler"), ["no", "no", "no", "no"]);
    assert_eq!(
        agent("invoice-reconciler")["layers"]["intent"]["reason"],
        "no evidence in the period"
    );
    assert_eq!(agent("invoice-reconciler")["coverage"], "none");
    let discovered: Vec<&str> = agents
        .iter()
        .filter(|a| a["discovered"] == true)
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(discovered, ["sheets-export"]);
    let nightly = &agent("nightly-usage-sync")["violations"];
    assert_eq!(nightly["count"], 1);
    assert_eq!(nightly["policies"], json!(["no-payroll"]));
    assert_eq!(nightly["examples"][0]["session_id"], VIOLATION_SESSION);
    let total: u64 = agents
        .iter()
        .map(|a| a["violations"]["count"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 1);
    assert_eq!(
        ids(&v["unregistered_principals"], "principal"),
        ["svc-contract-summarizer", "svc-gsheets-export"]
    );
    assert_eq!(v["remediation"][0]["agent_id"], "invoice-reconciler");

    let md = ok(d, &["assess", "--format", "md"]);
    assert_eq!(
        without_gen_time(&md),
        without_gen_time(&ok(d, &["assess"])),
        "md is the default"
    );
    assert!(md.starts_with("# Agent gap assessment\n"), "{md}");
    assert!(md.contains(&format!("**{SUMMARY}")), "{md}");
    let rows = md_table(&md, COVERAGE);
    assert_eq!(rows.len(), 6, "{md}");
    assert!(
        rows.contains(&"| `renewal-drafter` | `llm-agent` | `revops@acme.example` | Yes | Yes | Yes | Yes | 0 |"),
        "{md}"
    );
    assert!(
        rows.contains(&"| `nightly-usage-sync` | `scheduled-job` | `billing-eng@acme.example` | Yes | Yes | N/A | Yes | 1 |"),
        "{md}"
    );
    assert!(
        rows.iter()
            .any(|r| r.starts_with("| `support-triage` |") && r.contains("**Partial**")),
        "{md}"
    );
    assert!(
        rows.iter()
            .any(|r| r.starts_with("| `sheets-export` (discovered) |")),
        "{md}"
    );
}

/// A report without the line that says when it was generated.
fn without_gen_time(md: &str) -> String {
    let kept: Vec<&str> = md
        .lines()
        .filter(|l| !l.starts_with("| Generated at |"))
        .collect();
    assert!(kept.len() < md.lines().count(), "no generation time:\n{md}");
    kept.join("\n")
}

#[test]
fn a_period_narrows_the_assessment_and_bad_bounds_are_usage_errors() {
    let env = Env::demo();
    let d = &env.data;
    let v = json_of(
        d,
        &[
            "assess",
            "--format",
            "json",
            "--from",
            "2026-11-24",
            "--to",
            "2026-11-25",
        ],
    );
    assert_eq!(
        v["period"],
        json!({"from": "2026-11-24", "to": "2026-11-25"})
    );
    let agent = |id: &str| {
        v["agents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == id)
            .unwrap()
            .clone()
    };
    let nightly = agent("nightly-usage-sync");
    assert_eq!(nightly["sessions"], 1, "{nightly}");
    assert_eq!(
        nightly["layers"]["intent"]["examples"],
        json!([VIOLATION_SESSION])
    );
    assert_eq!(nightly["violations"]["count"], 1);
    // sheets-export (unregistered) ran on Nov 21 only: outside the period it is not in scope,
    // and nor are the principals seen only outside it.
    assert!(
        v["agents"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["id"] != "sheets-export"),
        "{v}"
    );
    assert!(
        v["unregistered_principals"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["principal"] != "svc-gsheets-export"),
        "{v}"
    );
    let v21 = json_of(
        d,
        &[
            "assess",
            "--format",
            "json",
            "--from",
            "2026-11-21",
            "--to",
            "2026-11-22",
        ],
    );
    assert!(
        v21["agents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == "sheets-export" && a["sessions"] == 1),
        "{v21}"
    );
    let md = ok(d, &["assess", "--from", "2026-11-24", "--to", "2026-11-25"]);
    assert!(
        md.contains("| Period | from `2026-11-24` to `2026-11-25` |"),
        "{md}"
    );

    // After every event: the registered agents remain in scope with no evidence; nothing was
    // discovered in that period.
    let v = json_of(d, &["assess", "--format", "json", "--from", "2030-01-01"]);
    let agents = v["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 5, "{v}");
    for a in agents {
        assert_eq!(a["sessions"], 0, "{a}");
        assert_eq!(a["coverage"], "none", "{a}");
        for layer in ["intent", "scope", "decision_trace", "outcome"] {
            assert_eq!(a["layers"][layer]["score"], "no", "{a}");
            assert_eq!(
                a["layers"][layer]["reason"], "no evidence in the period",
                "{a}"
            );
        }
    }
    assert_eq!(v["summary"]["none"], 5);
    assert_eq!(v["summary"]["discovered"], 0);
    assert_eq!(v["summary"]["violations"], 0);

    // A bad bound is refused before the inventory's changes are recorded.
    let mut inv = env.inventory();
    inv.push_str("\n[[agent]]\nid = \"later\"\nkind = \"llm-agent\"\nowner = \"o\"\n");
    std::fs::write(d.join("agents.toml"), inv).unwrap();
    let size = tree_size(d);
    let r = exits(d, &["assess", "--from", "yesterday"], 2);
    assert!(r.stderr.contains("from: "), "{}", r.stderr);
    assert!(r.stderr.contains("\"yesterday\""), "{}", r.stderr);
    let r = exits(d, &["assess", "--to", "2026-13-01", "--format", "html"], 2);
    assert!(r.stderr.contains("to: "), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert_eq!(tree_size(d), size, "nothing recorded");
    ok(d, &["assess", "--format", "json"]);
    assert_eq!(tree_size(d), size + 1, "the inventory change is recorded");
}

const EVIL_ID: &str = "a`<script>alert(1)</script>`|x\u{202e}";
const EVIL_TEXT: &str =
    "<script>alert(1)</script>\u{202e}\u{1b}[2J\u{1b}]0;pwned\u{7}<img src=x onerror=alert(1)>";

/// The demo's data and a run whose ids, principal, system and resource attack the reader.
fn hostile() -> Env {
    let env = Env::demo();
    let sess = format!("sess-{EVIL_ID}");
    let events = [
        json!({"event_id": "ev-evil-1", "session_id": sess, "agent_id": EVIL_ID, "principal": format!("svc-{EVIL_ID}"), "kind": "session.start", "ts": "2026-11-24T12:00:00Z", "trigger": {"type": "user", "initiator": EVIL_TEXT}}),
        json!({"event_id": "ev-evil-2", "session_id": sess, "agent_id": EVIL_ID, "principal": format!("svc-{EVIL_ID}"), "kind": "action", "ts": "2026-11-24T12:00:01Z", "action": {"type": "write", "system": format!("crm{EVIL_TEXT}"), "resource": EVIL_TEXT, "status": "ok"}}),
        json!({"event_id": "ev-evil-3", "session_id": sess, "agent_id": EVIL_ID, "principal": format!("svc-{EVIL_ID}"), "kind": "action", "ts": "2026-11-24T12:00:02Z", "action": {"type": "read", "system": "hr-payroll", "resource": EVIL_TEXT, "status": "ok"}}),
    ];
    let lines: Vec<String> = events.iter().map(Value::to_string).collect();
    let file = env.file("evil.ndjson", &lines.join("\n"));
    let out = ok(&env.data, &["ingest", file.to_str().unwrap()]);
    assert!(out.contains("accepted 3, duplicate 0, rejected 0"), "{out}");
    env
}

fn no_raw_controls(what: &str, s: &str) {
    for bad in ['\u{1b}', '\u{7}', '\u{202e}'] {
        assert!(!s.contains(bad), "{what}: {bad:?} printed raw:\n{s}");
    }
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
fn text_an_agent_wrote_cannot_escape_the_report() {
    let env = hostile();
    let d = &env.data;
    let html = ok(d, &["assess", "--format", "html"]);
    no_raw_controls("html", &html);
    check_tags(&html);
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "shown as text:\n{html}"
    );
    assert!(
        html.contains("<code>a`&lt;script&gt;alert(1)&lt;/script&gt;`|x\\u202e</code>"),
        "the agent is listed, escaped:\n{html}"
    );
    assert!(
        html.contains("7 agents in scope (5 registered, 2 discovered)"),
        "{html}"
    );

    let md = ok(d, &["assess", "--format", "md"]);
    no_raw_controls("md", &md);
    let visible = outside_code_spans(&md);
    for bad in ["<script", "<img", "alert(", "](", "pwned"] {
        assert!(!visible.contains(bad), "{bad:?} outside a code span:\n{md}");
    }
    let rows = md_table(&md, COVERAGE);
    assert_eq!(rows.len(), 7, "{md}");
    assert!(
        rows.iter()
            .any(|r| r.starts_with("| ``a`<script>alert(1)</script>`\\|x\\u202e`` (discovered) |")),
        "{md}"
    );
    md_table(&md, "| Principal |");
    let v = json_of(d, &["assess", "--format", "json"]);
    let evil = v["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == EVIL_ID)
        .expect("the agent, as it sent its id");
    assert_eq!(evil["violations"]["count"], 1, "{evil}");

    let text = ok(d, &["agents", "discover"]);
    no_raw_controls("discover", &text);
    assert!(
        text.contains("a`<script>alert(1)</script>`|x\\u202e"),
        "{text}"
    );
    no_raw_controls("show", &ok(d, &["agents", "show", EVIL_ID]));
    no_raw_controls(
        "discover json",
        &ok(d, &["agents", "discover", "--format", "json"]),
    );
}

#[test]
fn the_json_report_escapes_bidi_characters() {
    let env = hostile();
    let out = ok(&env.data, &["assess", "--format", "json"]);
    no_raw_controls("assess json", &out);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["agents"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["id"] == EVIL_ID));
}

#[test]
fn verify_policies_replays_every_decision_and_names_a_tampered_one() {
    let env = Env::demo();
    let d = &env.data;
    let out = ok(d, &["verify", "--policies"]);
    assert!(out.contains("VERIFIED: no problems found"), "{out}");
    assert!(out.contains("1 scope violations"), "{out}");
    assert!(out.contains("POLICIES VERIFIED"), "{out}");

    let tamper = |sql: &str| {
        let index =
            agentrail_store::sqlite::SqliteBackend::open(&d.join("index.sqlite"), false).unwrap();
        let n = index.connection().execute(sql, []).unwrap();
        assert!(n > 0, "{sql} changed nothing");
    };
    // Whoever hides the violation in the index is caught: the ledger is intact, the decision
    // is re-evaluated from it.
    tamper("UPDATE policy_decisions SET decision = 'allow'");
    let r = exits(d, &["verify", "--policies"], 1);
    assert!(
        r.stdout.contains("VERIFIED: no problems found"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("INVALID policy decision: leaf 52 (event nj-1124-005): the index says allow"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("POLICIES FAILED: 1 "), "{}", r.stdout);
    assert!(!r.stdout.contains("POLICIES VERIFIED"), "{}", r.stdout);
    assert_eq!(
        run(d, &["verify"]).code,
        0,
        "without --policies the index is not checked"
    );

    ok(d, &["reindex"]);
    assert!(ok(d, &["verify", "--policies"]).contains("POLICIES VERIFIED"));
    tamper("DELETE FROM policy_decisions WHERE leaf_index = 52");
    let r = exits(d, &["verify", "--policies"], 1);
    assert!(
        r.stdout
            .contains("INVALID policy decision: leaf 52 (event nj-1124-005)"),
        "{}",
        r.stdout
    );
}

const HAND_WRITTEN: &str = "# Acme's inventory, kept by hand.\n# Second comment line.\npolicies = []\n\n[[agent]]\n# the first agent\nid = \"a1\"\nkind = \"llm-agent\"\nowner = \"team-a\"\n";

#[test]
fn agents_add_appends_records_and_refuses_bad_input_unchanged() {
    let env = Env::fresh();
    let d = &env.data;
    assert!(ok(d, &["agents", "list"]).starts_with("no inventory at "));
    let v = json_of(d, &["agents", "list", "--format", "json"]);
    assert_eq!(v["agents"], json!([]));

    std::fs::write(d.join("agents.toml"), HAND_WRITTEN).unwrap();
    let r = exits(
        d,
        &[
            "agents",
            "add",
            "a2",
            "--kind",
            "scheduled-job",
            "--owner",
            "team-b",
            "--name",
            "Agent two",
            "--principal",
            "svc-a2",
            "--system",
            "crm",
            "--system",
            "stripe",
            "--trigger",
            "schedule",
            "--classification",
            "customer",
            "--elevated",
        ],
        0,
    );
    assert!(r.stdout.contains("added a2 to "), "{}", r.stdout);
    assert!(
        r.stderr
            .contains("recorded in the log: agents added: \"a1\", \"a2\""),
        "{}",
        r.stderr
    );
    let inv = env.inventory();
    assert!(inv.starts_with(HAND_WRITTEN), "comments are kept:\n{inv}");
    assert!(
        inv.ends_with("[[agent]]\nid = \"a2\"\nname = \"Agent two\"\nkind = \"scheduled-job\"\nowner = \"team-b\"\nprincipals = [\"svc-a2\"]\nsystems = [\"crm\", \"stripe\"]\ntriggers = [\"schedule\"]\ndata_classification = \"customer\"\nelevated = true\n"),
        "{inv}"
    );
    assert_eq!(records(d, "agentrail.inventory").len(), 1);
    let recorded = json_of(d, &["agents", "export", "--recorded", "--format", "json"]);
    assert_eq!(ids(&recorded["agents"], "id"), ["a1", "a2"]);
    assert_eq!(recorded["agents"][1]["systems"], json!(["crm", "stripe"]));

    let secret = format!("sk-{}", "a1B2c3D4e5".repeat(3));
    let refusals: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["a2", "--kind", "llm-agent", "--owner", "o"],
            "agent \"a2\" is already in",
        ),
        (
            vec!["a3", "--kind", "robot", "--owner", "o"],
            "field kind: \"robot\" is not one of",
        ),
        (
            vec![
                "a3",
                "--kind",
                "llm-agent",
                "--owner",
                "o",
                "--principal",
                &secret,
            ],
            "field principals[0]: looks like a secret",
        ),
        (
            vec![
                "a3",
                "--kind",
                "llm-agent",
                "--owner",
                "o",
                "--policy",
                "policies/nope.cedar",
            ],
            "policies/nope.cedar",
        ),
        (
            vec![
                "a3",
                "--kind",
                "llm-agent",
                "--owner",
                "o",
                "--policy",
                "bad.cedar",
            ],
            "policy file \"bad.cedar\"",
        ),
    ];
    std::fs::write(d.join("bad.cedar"), "permit (principal").unwrap();
    let size = tree_size(d);
    for (args, why) in refusals {
        let args = [&["agents", "add"][..], &args].concat();
        let r = exits(d, &args, 1);
        assert!(r.stderr.contains(why), "{args:?}: {}", r.stderr);
        assert!(
            !r.stderr.contains(&secret),
            "the secret is echoed: {}",
            r.stderr
        );
        assert_eq!(env.inventory(), inv, "{args:?} changed the file");
        assert_eq!(tree_size(d), size, "{args:?} recorded something");
    }

    std::fs::create_dir_all(d.join("policies")).unwrap();
    std::fs::write(
        d.join("policies/a3.cedar"),
        "@id(\"a3-scope\")\npermit (principal == Agent::\"a3\", action, resource);\n",
    )
    .unwrap();
    let r = exits(
        d,
        &[
            "agents",
            "add",
            "a3",
            "--kind",
            "llm-agent",
            "--owner",
            "o",
            "--policy",
            "policies/a3.cedar",
        ],
        0,
    );
    assert!(
        r.stderr
            .contains("policy \"policies/a3.cedar\" recorded; agents added: \"a3\""),
        "{}",
        r.stderr
    );
    assert_eq!(records(d, "agentrail.inventory").len(), 2);
    assert_eq!(records(d, "agentrail.policy").len(), 1);
    let last = records(d, "agentrail.inventory").pop().unwrap();
    let record = ok(d, &["event", "get", &last]);
    assert!(record.contains(r#""added":["a3"]"#), "{record}");
    assert!(record.contains(r#""by":"cli""#), "{record}");

    let list = ok(d, &["agents", "list"]);
    let rows: Vec<&str> = list.lines().collect();
    assert!(rows[0].starts_with("ID  "), "{list}");
    assert!(
        rows[2].starts_with("a2  scheduled-job  team-b  customer  yes"),
        "{list}"
    );
    assert!(rows[3].ends_with("policies/a3.cedar"), "{list}");
    assert!(rows[4].starts_with("3 agents in "), "{list}");
    let v = json_of(d, &["agents", "list", "--format", "json"]);
    assert_eq!(ids(&v["agents"], "id"), ["a1", "a2", "a3"]);
    assert_eq!(v["agents"][2]["policy"], "policies/a3.cedar");
    assert!(v["policy_set_hash"].is_string(), "{v}");
    let show = ok(d, &["agents", "show", "a2"]);
    assert!(show.contains("systems         crm, stripe"), "{show}");
    assert!(show.contains("no events from this agent yet"), "{show}");
    let v = json_of(d, &["agents", "show", "a3", "--format", "json"]);
    assert_eq!(v["entry"]["policy"], "policies/a3.cedar");
    exits(d, &["agents", "show", "a4"], 1);
}

const IMPORT_TOML: &str =
    "[[agent]]\nid = \"b1\"\nkind = \"api-integration\"\nowner = \"team-b\"\n";
const IMPORT_JSON: &str = r#"{"agents": [{"id": "c1", "kind": "service-account", "owner": "team-c", "principals": ["svc-c1"]}]}"#;
const CLASH: &str = "[[agent]]\nid = \"b1\"\nkind = \"llm-agent\"\nowner = \"team-b2\"\n\n[[agent]]\nid = \"c1\"\nkind = \"llm-agent\"\nowner = \"team-c2\"\n\n[[agent]]\nid = \"d1\"\nkind = \"llm-agent\"\nowner = \"team-d\"\n";

#[test]
fn agents_import_appends_refuses_clashes_replaces_and_round_trips() {
    let env = Env::fresh();
    let d = &env.data;
    std::fs::write(d.join("agents.toml"), HAND_WRITTEN).unwrap();
    let toml = env.file("b.toml", IMPORT_TOML);
    let out = ok(d, &["agents", "import", toml.to_str().unwrap()]);
    assert!(
        out.contains("imported 1 agents from") && out.contains("(2 agents now)"),
        "{out}"
    );
    let json_file = env.file("c.json", IMPORT_JSON);
    ok(d, &["agents", "import", json_file.to_str().unwrap()]);
    let inv = env.inventory();
    assert!(
        inv.starts_with(HAND_WRITTEN),
        "appending keeps comments:\n{inv}"
    );
    let recorded = json_of(d, &["agents", "export", "--recorded", "--format", "json"]);
    assert_eq!(ids(&recorded["agents"], "id"), ["a1", "b1", "c1"]);
    assert_eq!(recorded["agents"][2]["principals"], json!(["svc-c1"]));

    let clash = env.file("clash.toml", CLASH);
    let size = tree_size(d);
    let r = exits(d, &["agents", "import", clash.to_str().unwrap()], 1);
    assert!(r.stderr.contains("already registered in "), "{}", r.stderr);
    assert!(
        r.stderr.contains(": b1, c1; give --replace"),
        "{}",
        r.stderr
    );
    assert_eq!(env.inventory(), inv);
    assert_eq!(tree_size(d), size);
    let bad = env.file(
        "secret.json",
        r#"{"agents": [{"id": "e1", "kind": "llm-agent", "owner": "o", "principals": ["sk-a1B2c3D4e5a1B2c3D4e5a1B2c3D4e5"]}]}"#,
    );
    let r = exits(d, &["agents", "import", bad.to_str().unwrap()], 1);
    assert!(r.stderr.contains("looks like a secret"), "{}", r.stderr);
    assert_eq!(env.inventory(), inv);

    let r = exits(
        d,
        &["agents", "import", clash.to_str().unwrap(), "--replace"],
        0,
    );
    assert!(r.stdout.contains("(4 agents now)"), "{}", r.stdout);
    assert!(
        r.stderr
            .contains("agents added: \"d1\"; agents changed: \"b1\", \"c1\""),
        "{}",
        r.stderr
    );
    let v = json_of(d, &["agents", "list", "--format", "json"]);
    let owners: Vec<(&str, &str)> = v["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["id"].as_str().unwrap(), a["owner"].as_str().unwrap()))
        .collect();
    assert_eq!(
        owners,
        [
            ("a1", "team-a"),
            ("b1", "team-b2"),
            ("c1", "team-c2"),
            ("d1", "team-d")
        ]
    );
    let recorded = json_of(d, &["agents", "export", "--recorded", "--format", "json"]);
    assert_eq!(recorded["agents"], v["agents"]);

    // An export, imported into an empty inventory, is the same inventory.
    for format in ["toml", "json"] {
        let exported = ok(d, &["agents", "export", "--format", format]);
        let file = env.file(&format!("export.{format}"), &exported);
        let other = Env::fresh();
        ok(&other.data, &["agents", "import", file.to_str().unwrap()]);
        assert_eq!(
            ok(&other.data, &["agents", "export", "--format", format]),
            exported,
            "{format}"
        );
        assert_eq!(
            json_of(
                &other.data,
                &["agents", "export", "--recorded", "--format", "json"]
            )["agents"],
            v["agents"]
        );
    }
}

#[test]
fn the_demo_inventory_round_trips_into_an_empty_inventory() {
    let demo = Env::demo();
    let exported = ok(&demo.data, &["agents", "export"]);
    assert!(
        exported.contains("policies = [\"policies/base.cedar\"]"),
        "{exported}"
    );
    let file = demo.file("demo.toml", &exported);
    let other = Env::fresh();
    std::fs::create_dir_all(other.data.join("policies")).unwrap();
    for p in ["base", "billing-sync", "renewal-drafter"] {
        let name = format!("policies/{p}.cedar");
        std::fs::copy(demo.data.join(&name), other.data.join(&name)).unwrap();
    }
    ok(&other.data, &["agents", "import", file.to_str().unwrap()]);
    assert_eq!(ok(&other.data, &["agents", "export"]), exported);
}

#[test]
fn agents_add_without_a_data_directory_changes_nothing() {
    let env = Env::empty();
    let r = exits(
        &env.data,
        &["agents", "add", "a1", "--kind", "llm-agent", "--owner", "o"],
        2,
    );
    assert!(r.stderr.contains("agentrail init"), "{}", r.stderr);
    assert!(!r.stdout.contains("added"), "{}", r.stdout);
    assert!(
        !env.data.join("agents.toml").exists(),
        "a file no log recorded"
    );
}

#[test]
fn inventory_ids_with_invisible_characters_are_refused() {
    // An inventory id must read as what it is: bidi overrides and zero-width characters are
    // refused, so nothing printed from the inventory can hide or reorder text.
    let env = Env::fresh();
    let d = &env.data;
    for id in ["x\u{202e}y", "a\u{200b}b", "tag\u{e0041}"] {
        let r = exits(
            d,
            &["agents", "add", id, "--kind", "llm-agent", "--owner", "o"],
            1,
        );
        assert!(
            r.stderr.contains("invisible formatting character"),
            "{id:?}: {}",
            r.stderr
        );
        no_raw_controls("add", &format!("{}{}", r.stdout, r.stderr));
    }
    assert!(!d.join("agents.toml").exists(), "nothing written");
}

#[test]
fn agents_add_goes_through_a_running_server() {
    let env = Env::demo();
    let d = &env.data;
    let before = records(d, "agentrail.inventory").len();
    let server = Server::start(d);
    let r = exits(
        d,
        &[
            "agents",
            "add",
            "sheets-export",
            "--kind",
            "third-party-ai-tool",
            "--owner",
            "ops@acme.example",
            "--principal",
            "svc-gsheets-export",
        ],
        0,
    );
    assert!(r.stdout.contains("added sheets-export to "), "{}", r.stdout);
    // Recorded by the server: at the CLI's request, or (if the server looked at the file twice
    // first) by its own poll; either way the CLI does not write the log itself.
    assert!(
        r.stderr
            .contains("recorded in the log by the running server: agents added: \"sheets-export\"")
            || !r.stderr.contains("recorded in the log:"),
        "{}{}",
        r.stderr,
        server.log()
    );
    let v = json_of(d, &["agents", "discover", "--format", "json"]);
    assert_eq!(v["agents"], json!([]), "{v}");
    assert_eq!(ids(&v["principals"], "id"), ["svc-contract-summarizer"]);
    let text = ok(d, &["agents", "discover"]);
    assert!(
        text.contains("0 unregistered agents, 1 unregistered principals (inventory: 6 agents)"),
        "{text}"
    );
    let v = json_of(d, &["assess", "--format", "json"]);
    assert_eq!(v["summary"]["registered"], 6);
    assert_eq!(v["summary"]["discovered"], 0);
    let inv = env.inventory();
    let r = exits(
        d,
        &["agents", "add", "zz", "--kind", "robot", "--owner", "o"],
        1,
    );
    assert!(r.stderr.contains("field kind"), "{}", r.stderr);
    assert_eq!(env.inventory(), inv);

    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");
    assert!(log.contains("recorded a change of the inventory"), "{log}");
    let after = records(d, "agentrail.inventory");
    assert_eq!(after.len(), before + 1, "one record, by the server");
    let record = json_of(d, &["event", "get", after.last().unwrap()]);
    let inventory = &record["body"]["inventory"];
    assert_eq!(inventory["added"], json!(["sheets-export"]), "{record}");
    assert_eq!(record["source"], "api", "appended by the server: {record}");
    assert_ne!(inventory["by"], "cli", "{record}");
    let out = ok(d, &["verify", "--policies"]);
    assert!(out.contains("POLICIES VERIFIED"), "{out}");
}
