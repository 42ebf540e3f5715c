//! `agentrail demo` end to end: the real binary plays the scenario through its in-process
//! collector (native events over the HTTP API, an agent's spans over OTLP), is idempotent when
//! run again, and refuses a data directory another writer holds.

use std::path::Path;
use std::process::{Command, Output};

/// The contract-summarizer's `invoke_agent` span, as the demo exports it over OTLP.
const OTLP_START: &str = "otlp:5e0c2a7b9d1f4e3a8c6b0d2f4a6c8e10:c0a1b2c3d4e5f601:start";

fn agentrail(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agentrail"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("AGENTRAIL_DATA")
        .output()
        .expect("run the agentrail binary")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `agentrail --data DATA ARGS`, requires success, returns standard output.
fn ok(data: &Path, args: &[&str]) -> String {
    let out = agentrail(data, args);
    assert!(
        out.status.success(),
        "agentrail {args:?} failed ({}):\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The tree size line of the latest checkpoint.
fn checkpoint_size(data: &Path) -> u64 {
    let cp = ok(data, &["checkpoint"]);
    cp.lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .unwrap_or_else(|| panic!("a checkpoint's second line is its size:\n{cp}"))
}

#[test]
fn demo_plays_the_scenario_through_the_collector_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    let first = ok(&data, &["demo"]);
    assert!(first.contains("contract-summarizer"), "{first}");
    assert!(first.contains("OTLP"), "{first}");
    assert!(first.contains("47892"), "{first}");
    assert!(first.contains("hr-payroll"), "{first}");
    assert!(
        first.contains("proved the decision record rd-47892-d01"),
        "{first}"
    );
    assert!(first.contains("Try next:"), "{first}");
    assert!(!data.join("server.json").exists(), "the collector stopped");
    // The governance part: an inventory installed, the assessment with an agent at each score,
    // the discovered agent, and the scope violation with the policy that denied it.
    assert!(data.join("agents.toml").exists() && data.join("policies/base.cedar").exists());
    for needle in [
        "6 agents in scope (5 registered, 1 discovered): full coverage on 3, partial on 2, none on 1.",
        "sheets-export        DISCOVERED",
        "Intent Partial",
        "Intent No | Scope No | Decision trace No | Outcome No",
        "scope violation in sess-nightly-2026-11-24: read hr-payroll/employees/salaries (event nj-1124-005) denied by policy no-payroll",
    ] {
        assert!(first.contains(needle), "{needle:?} is missing:\n{first}");
    }

    // The evidence part: a bundle of the whole demo period, checked offline with no failure.
    assert!(data.join("evidence/bundle-1.zip").exists(), "{first}");
    assert!(
        first.contains("7 sampled sessions") && first.contains(" valid, 0 invalid"),
        "{first}"
    );

    let otlp = ok(&data, &["event", "get", OTLP_START]);
    assert!(otlp.contains(r#""source":"otlp""#), "{otlp}");
    assert!(otlp.contains(r#""kind":"session.start""#), "{otlp}");
    assert!(
        otlp.contains(r#""agent_id":"contract-summarizer""#),
        "{otlp}"
    );
    let native = ok(&data, &["event", "get", "rd-47892-001"]);
    assert!(
        native.contains(r#""source":"api""#),
        "sent over the HTTP API, not written by the CLI: {native}"
    );
    let size = checkpoint_size(&data);
    let verify = ok(&data, &["verify"]);
    assert!(verify.contains(&format!("tree size {size} ")), "{verify}");

    let second = ok(&data, &["demo"]);
    assert!(second.contains(" 0 new, "), "{second}");
    assert!(
        second.contains("already holds the whole scenario"),
        "{second}"
    );
    assert!(
        second.contains("using the inventory already in"),
        "an existing inventory is kept: {second}"
    );
    assert_eq!(
        checkpoint_size(&data),
        size,
        "the second run appends nothing"
    );
    assert!(
        data.join("evidence/bundle-2.zip").exists(),
        "a second run writes a new bundle, never over the first: {second}"
    );
    let verify = ok(&data, &["verify"]);
    assert!(verify.contains(&format!("tree size {size} ")), "{verify}");
}

#[test]
fn demo_refuses_a_data_directory_another_writer_holds() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(&data, &["init"]);
    let _held = agentrail_store::lock::DirLock::acquire(&data, "agentrail serve").unwrap();
    let out = agentrail(&data, &["demo"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("agentrail serve"), "{stderr}");
    assert!(
        stderr.contains(&format!("process {}", std::process::id())),
        "{stderr}"
    );
    assert!(stderr.contains("to itself"), "{stderr}");
}
