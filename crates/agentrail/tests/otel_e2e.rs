//! End to end with a real OpenTelemetry client: `agentrail serve` runs as a child process and the
//! OpenTelemetry Python SDK (`tests/interop/otel_export.py`, `opentelemetry-sdk` and
//! `opentelemetry-exporter-otlp-proto-http`) exports a GenAI agent run to it over OTLP/HTTP.
//!
//! Checked: every span yields the events `docs/otlp.md` maps it to, with the values the SDK sent
//! (initiator, token usage, decision, times); the API key in the tool's arguments is stored
//! nowhere (no event, no file of the data directory, not the server's log); re-exporting the very
//! same spans appends nothing; an OTLP/JSON body sent from outside Rust is accepted; SIGTERM stops
//! the server with exit code 0 and `agentrail verify` passes.
//!
//! The Python interpreter comes from `AGENTRAIL_INTEROP_PYTHON` (`.ci/run` builds a venv from
//! `tests/interop/requirements.txt` and sets it). Without it the test is skipped locally and
//! fails under CI, so a missing toolchain is never mistaken for a pass there.

mod common;

use agentrail_store::ledger::open_read;
use common::{agentrail, interop_python, Server};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/interop/otel_export.py"
);
/// The API key the tool span's arguments carry (`sk-test-` then this), which must never be
/// stored: searched for without its prefix, so a key redacted only in part is caught too.
const SECRET_TAIL: &str = "abcdefghijklmnopqrstuvwxyz123456";
/// Events one SDK run maps to: the agent span's session.start, decision and session.end, and one
/// action each for the chat, tool and ordinary spans.
const EVENTS_PER_SDK_RUN: u64 = 6;
/// Events of the OTLP/JSON body: the agent span's three and the chat span's action.
const EVENTS_PER_JSON_RUN: u64 = 4;

#[test]
fn opentelemetry_sdk_export_end_to_end() {
    let Some(python) = interop_python("otel_e2e") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("create a temporary directory");
    let data = tmp.path().join("data");
    agentrail(&data, &["init", "--origin", "otel-e2e.test/log"]);
    let server = Server::start(&data);

    // 1. The SDK's batch processor, binary protobuf, gzip.
    let run = run_script(&python, server.port, "export");
    assert_eq!(run["requests"], 1, "the batch processor sent {run}");
    check_sdk_run(&data, &run);
    assert_eq!(leaf_count(&data), EVENTS_PER_SDK_RUN);
    let mut expected = event_ids(&run);

    // 2. A retried export: the same ReadableSpans again, twice. Nothing may be appended.
    let (run, before, after) = retry_run(&python, server.port, &data);
    check_sdk_run(&data, &run);
    assert_eq!(before, 2 * EVENTS_PER_SDK_RUN, "after the first export");
    assert_eq!(
        after,
        before,
        "re-exporting the same spans appended {} events",
        after.saturating_sub(before)
    );
    expected.extend(event_ids(&run));

    // 3. OTLP/JSON from outside Rust, sent twice.
    let run = run_script(&python, server.port, "json");
    check_json_run(&data, &run);
    assert_eq!(
        leaf_count(&data),
        2 * EVENTS_PER_SDK_RUN + EVENTS_PER_JSON_RUN,
        "the OTLP/JSON body was sent twice; its events must be stored once"
    );
    expected.extend(event_ids(&run));

    let (status, log) = server.terminate();
    assert!(
        status.success(),
        "SIGTERM must stop the server with exit code 0, got {status}:\n{log}"
    );
    assert!(
        !data.join("server.json").exists(),
        "the server left server.json behind after a graceful stop"
    );
    let verify = agentrail(&data, &["verify"]);
    assert!(
        String::from_utf8_lossy(&verify).contains("VERIFIED"),
        "{}",
        String::from_utf8_lossy(&verify)
    );

    // Exactly the expected events, and the secret in none of them, nor anywhere on disk or in
    // the log.
    let mut backend = open_read(&data).expect("open the data directory for reading");
    let leaves = backend.leaves(0, 1000).expect("read the leaves");
    let stored: BTreeSet<String> = leaves.iter().map(|l| l.event_id.clone()).collect();
    assert_eq!(stored, expected, "the stored event ids");
    assert_eq!(leaves.len(), expected.len(), "an event was stored twice");
    for leaf in &leaves {
        for (what, bytes) in [("leaf", Some(&leaf.leaf)), ("body", leaf.body.as_ref())] {
            let text = String::from_utf8_lossy(bytes.expect("no body was erased"));
            assert!(
                !text.contains(SECRET_TAIL),
                "the API key is stored in the {what} of {}: {text}",
                leaf.event_id
            );
        }
    }
    drop(backend);
    for file in std::fs::read_dir(&data).expect("list the data directory") {
        let path = file.expect("read a directory entry").path();
        let bytes = std::fs::read(&path).expect("read a file of the data directory");
        assert!(
            !contains(&bytes, SECRET_TAIL.as_bytes()),
            "the API key is written in {}",
            path.display()
        );
    }
    assert!(
        !log.contains(SECRET_TAIL),
        "the server logged the API key:\n{log}"
    );
}

/// An SDK user may well write `span.set_attribute("agentrail.request.id", 47892)`. The mapping
/// takes integers as their decimal text for `user.id` and `gen_ai.agent.id`; the agentrail id
/// attributes must be taken the same way, not reject the whole span (its session.start,
/// session.end and decisions) for `must be a string`.
#[test]
fn integer_id_attributes_are_taken_as_text() {
    let tmp = tempfile::tempdir().expect("create a temporary directory");
    let data = tmp.path().join("data");
    agentrail(&data, &["init", "--origin", "otel-int.test/log"]);
    let server = Server::start(&data);
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let cases = [
        ("agentrail.request.id", "00f067aa0ba90201"),
        ("agentrail.session.id", "00f067aa0ba90202"),
        ("agentrail.parent_session.id", "00f067aa0ba90203"),
        ("agentrail.principal", "00f067aa0ba90204"),
    ];
    let spans: Vec<Value> = cases
        .iter()
        .map(|(key, span)| {
            json!({
                "traceId": trace,
                "spanId": span,
                "name": "invoke_agent renewal-drafter",
                "startTimeUnixNano": "1764331200000000000",
                "endTimeUnixNano": "1764331201000000000",
                "attributes": [
                    {"key": "gen_ai.operation.name", "value": {"stringValue": "invoke_agent"}},
                    {"key": "gen_ai.agent.name", "value": {"stringValue": "renewal-drafter"}},
                    {"key": "user.id", "value": {"stringValue": "alice@acme.example"}},
                    {"key": key, "value": {"intValue": "47892"}},
                ],
            })
        })
        .collect();
    let body = json!({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]});
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .build()
        .into();
    let mut resp = agent
        .post(format!("http://127.0.0.1:{}/v1/traces", server.port))
        .header("Content-Type", "application/json")
        .send(body.to_string().as_bytes())
        .expect("post OTLP/JSON");
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().expect("read the answer");
    assert_eq!((status, text.as_str()), (200, "{}"), "spans were rejected");
    let start = |span: &str| event(&data, &format!("otlp:{trace}:{span}:start"));
    assert_eq!(start(cases[0].1)["body"]["trigger"]["request_id"], "47892");
    assert_eq!(start(cases[1].1)["session_id"], "47892");
    assert_eq!(start(cases[2].1)["body"]["parent_session_id"], "47892");
    assert_eq!(start(cases[3].1)["principal"], "47892");
    let (status, log) = server.terminate();
    assert!(status.success(), "{status}:\n{log}");
}

/// The SDK run: each span's events exist with the values the SDK sent.
fn check_sdk_run(data: &Path, run: &Value) {
    let trace = str_of(&run["trace_id"]);
    let agent = &run["spans"]["agent"];
    let id = |span: &str, role: &str| {
        format!(
            "otlp:{trace}:{}:{role}",
            str_of(&run["spans"][span]["span_id"])
        )
    };

    let start = event(data, &id("agent", "start"));
    check_envelope(&start, run, "agent", "session.start", "renewal-drafter");
    assert_eq!(start["ts"], agent["start_ts"], "session.start ts: {start}");
    assert_eq!(
        start["body"]["trigger"],
        json!({"type": "user", "initiator": "alice@acme.example", "request_id": "47892"}),
        "session.start trigger: {start}"
    );

    let decision = event(data, &id("agent", "e0"));
    check_envelope(&decision, run, "agent", "decision", "renewal-drafter");
    assert_eq!(
        decision["ts"], run["decision_ts"],
        "decision ts: {decision}"
    );
    assert_eq!(
        decision["body"]["decision"],
        json!({
            "name": "renewal-term",
            "chosen": ["renew-12-months"],
            "rejected": [{"id": "renew-36-months", "reason": "the customer asked for flexibility"}],
            "rationale": "usage grew 40% this year",
        }),
        "decision body: {decision}"
    );

    let end = event(data, &id("agent", "end"));
    check_envelope(&end, run, "agent", "session.end", "renewal-drafter");
    assert_eq!(end["ts"], agent["end_ts"], "session.end ts: {end}");
    assert_eq!(end["body"]["outcome"]["status"], "succeeded", "{end}");

    let chat = event(data, &id("chat", "action"));
    check_envelope(&chat, run, "chat", "action", "service:renewal-service");
    let action = &chat["body"]["action"];
    assert_eq!(action["type"], "model_call", "{chat}");
    assert_eq!(action["system"], "anthropic", "{chat}");
    assert_eq!(action["model"], "claude-sonnet-4-5-20250929", "{chat}");
    assert_eq!(
        action["tokens"],
        json!({"input": 1843, "output": 212}),
        "{chat}"
    );

    let tool = event(data, &id("tool", "action"));
    check_envelope(&tool, run, "tool", "action", "service:renewal-service");
    let action = &tool["body"]["action"];
    assert_eq!(action["type"], "tool_call", "{tool}");
    assert_eq!(action["system"], "search_accounts", "{tool}");
    assert_eq!(action["operation"], "search_accounts", "{tool}");
    assert_eq!(action["params"]["tier"], "enterprise", "{tool}");
    let hmac = str_of(&action["params"]["api_key"]);
    assert!(
        hmac.starts_with("hmac-sha256:") && hmac.len() == "hmac-sha256:".len() + 64,
        "the API key in the parameters is not replaced by its HMAC: {tool}"
    );
    // The raw attribute keeps its text, the key replaced by the same HMAC (correlatable).
    let raw = str_of(&tool["body"]["attributes"]["gen_ai.tool.call.arguments"]);
    assert!(
        raw.contains(&format!(r#""api_key":"{hmac}""#)) && raw.contains(r#""tier":"enterprise""#),
        "the raw tool arguments: {raw}"
    );

    let plain = event(data, &id("plain", "action"));
    check_envelope(&plain, run, "plain", "action", "service:renewal-service");
    let action = &plain["body"]["action"];
    assert_eq!(action["type"], "state_change", "{plain}");
    assert_eq!(action["system"], "renewal-service", "{plain}");
    assert_eq!(action["resource"], "render renewal-letter", "{plain}");
    assert_eq!(
        plain["body"]["attributes"]["letter.template"], "renewal-v3",
        "{plain}"
    );
}

/// The OTLP/JSON run: ids in hex, int64 as strings, an array attribute; exact times.
fn check_json_run(data: &Path, run: &Value) {
    let trace = str_of(&run["trace_id"]);
    let agent = &run["spans"]["agent"];
    let chat_span = &run["spans"]["chat"];
    let id = |span: &Value, role: &str| format!("otlp:{trace}:{}:{role}", str_of(&span["span_id"]));

    let start = event(data, &id(agent, "start"));
    check_envelope(&start, run, "agent", "session.start", "renewal-drafter");
    assert_eq!(start["ts"], "2025-11-28T12:00:00.123456789Z", "{start}");
    assert_eq!(start["ts"], agent["start_ts"]);
    assert_eq!(
        start["body"]["trigger"],
        json!({"type": "user", "initiator": "alice@acme.example", "request_id": "47893"}),
        "{start}"
    );
    assert_eq!(
        start["body"]["attributes"]["resource.service.name"], "renewal-service-json",
        "{start}"
    );

    let decision = event(data, &id(agent, "e0"));
    check_envelope(&decision, run, "agent", "decision", "renewal-drafter");
    assert_eq!(decision["ts"], "2025-11-28T12:00:01Z", "{decision}");
    assert_eq!(
        decision["body"]["decision"],
        json!({
            "name": "renewal-term",
            "chosen": ["renew-24-months"],
            "rejected": [{"id": "renew-12-months", "reason": "price lock expires"}],
        }),
        "{decision}"
    );

    let end = event(data, &id(agent, "end"));
    assert_eq!(end["ts"], "2025-11-28T12:00:02.5Z", "{end}");
    assert_eq!(end["body"]["outcome"]["status"], "succeeded", "{end}");

    let chat = event(data, &id(chat_span, "action"));
    check_envelope(&chat, run, "chat", "action", "service:renewal-service-json");
    assert_eq!(chat["ts"], "2025-11-28T12:00:00.2Z", "{chat}");
    let action = &chat["body"]["action"];
    assert_eq!(action["type"], "model_call", "{chat}");
    assert_eq!(action["model"], "claude-sonnet-4-5", "{chat}");
    assert_eq!(
        action["tokens"],
        json!({"input": 1843, "output": 212}),
        "{chat}"
    );
    assert_eq!(action["duration_ms"], 1250, "{chat}");
}

/// The envelope every event of `span` shares.
fn check_envelope(ev: &Value, run: &Value, span: &str, kind: &str, agent: &str) {
    let trace = &run["trace_id"];
    assert_eq!(ev["kind"], kind, "{ev}");
    assert_eq!(ev["agent_id"], agent, "{ev}");
    assert_eq!(ev["session_id"], *trace, "{ev}");
    assert_eq!(ev["trace_id"], *trace, "{ev}");
    assert_eq!(ev["span_id"], run["spans"][span]["span_id"], "{ev}");
    assert_eq!(ev["source"], "otlp", "{ev}");
    if span == "agent" {
        assert!(ev.get("parent_span_id").is_none(), "{ev}");
    } else {
        assert_eq!(
            ev["parent_span_id"], run["spans"]["agent"]["span_id"],
            "{ev}"
        );
    }
}

/// The ids of the events a run maps to.
fn event_ids(run: &Value) -> BTreeSet<String> {
    let trace = str_of(&run["trace_id"]);
    let spans = run["spans"].as_object().expect("spans is an object");
    let mut ids = BTreeSet::new();
    for (name, span) in spans {
        let span_id = str_of(&span["span_id"]);
        let roles: &[&str] = if name == "agent" {
            &["start", "e0", "end"]
        } else {
            &["action"]
        };
        for role in roles {
            ids.insert(format!("otlp:{trace}:{span_id}:{role}"));
        }
    }
    ids
}

/// Runs the script in retry mode: returns the run and the tree size after the first export and
/// after the re-export.
fn retry_run(python: &Path, port: u16, data: &Path) -> (Value, u64, u64) {
    let mut child = Command::new(python)
        .arg(SCRIPT)
        .arg(port.to_string())
        .arg("retry")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the OpenTelemetry export script");
    let mut stdin = child.stdin.take().expect("the script's stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("the script's stdout"));
    let first = read_json_line(&mut stdout, &mut child);
    assert_eq!(first["phase"], "exported", "{first}");
    let before = leaf_count(data);
    stdin
        .write_all(b"go\n")
        .expect("tell the script to re-export");
    drop(stdin);
    let second = read_json_line(&mut stdout, &mut child);
    assert_eq!(second["phase"], "re-exported", "{second}");
    // Four spans one by one, then the same four twice.
    assert_eq!(second["requests"], 6, "{second}");
    let out = child.wait_with_output().expect("wait for the script");
    assert!(
        out.status.success(),
        "the export script failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (first, before, leaf_count(data))
}

fn read_json_line(stdout: &mut BufReader<ChildStdout>, child: &mut Child) -> Value {
    let mut line = String::new();
    let n = stdout
        .read_line(&mut line)
        .expect("read the script's output");
    if n == 0 {
        let status = child.wait().expect("wait for the script");
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
        }
        panic!("the export script stopped early ({status}):\n{stderr}");
    }
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

/// Runs the script to completion and returns its one line of output.
fn run_script(python: &Path, port: u16, mode: &str) -> Value {
    let out = Command::new(python)
        .arg(SCRIPT)
        .arg(port.to_string())
        .arg(mode)
        .stdin(Stdio::null())
        .output()
        .expect("run the OpenTelemetry export script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the export script ({mode}) failed ({}):\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// `agentrail event get ID`, parsed.
fn event(data: &Path, id: &str) -> Value {
    let out = agentrail(data, &["event", "get", id]);
    serde_json::from_slice(&out).expect("the stored event is JSON")
}

fn leaf_count(data: &Path) -> u64 {
    open_read(data)
        .and_then(|mut b| b.leaf_count())
        .expect("read the tree size")
}

fn str_of(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
