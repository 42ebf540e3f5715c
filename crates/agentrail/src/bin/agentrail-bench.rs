//! `agentrail-bench`: the benchmarks behind `docs/benchmarks.md`.
//!
//! - `append --batch N --events M`: durable append throughput of ~1 KB events, measured twice:
//!   from raw JSON lines (parse, validate, seal, commit: what `agentrail ingest` does) and from
//!   already-validated events (the ledger alone).
//! - `verify --events M`: builds a store of M events, then times a full `verify` (MB/s of event
//!   data re-hashed).
//!
//! Each run uses a fresh data directory under `--dir` (default: a temporary directory).
#![forbid(unsafe_code)]

use agentrail_core::event::{parse_client_event, ValidEvent};
use agentrail_store::clock::SystemClock;
use agentrail_store::verify::{verify, VerifyOptions};
use agentrail_store::{InitOptions, Ledger};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

fn usage() -> ! {
    eprintln!(
        "usage: agentrail-bench append [--batch N] [--events M] [--dir D]\n       agentrail-bench verify [--events M] [--dir D]"
    );
    std::process::exit(2)
}

struct Opts {
    batch: usize,
    events: usize,
    dir: Option<PathBuf>,
}

fn parse_opts(args: &[String]) -> Opts {
    let mut o = Opts {
        batch: 10_000,
        events: 200_000,
        dir: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().unwrap_or_else(|| usage());
        match a.as_str() {
            "--batch" => o.batch = val().parse().unwrap_or_else(|_| usage()),
            "--events" => o.events = val().parse().unwrap_or_else(|_| usage()),
            "--dir" => o.dir = Some(PathBuf::from(val())),
            _ => usage(),
        }
    }
    o
}

/// One realistic ~1 KB client event (a tool call with parameters and attributes).
fn event_line(i: usize) -> String {
    format!(
        r#"{{"event_id":"bench-{i}","session_id":"sess-{s}","agent_id":"agent-{a}","principal":"svc-agent-{a}","kind":"action","ts":"2026-11-28T13:00:00.{ms:03}Z","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"{span:016x}","action":{{"type":"tool_call","system":"crm","resource":"accounts/{i}","resource_ids":["001Dn{i:010}"],"operation":"search_accounts","params":{{"query":"tier = 'enterprise' and region = 'emea'","limit":25,"fields":["name","arr","owner","renewal_date","health_score"]}},"status":"ok","count":25,"duration_ms":{d}}},"attributes":{{"gen_ai.tool.name":"search_accounts","gen_ai.operation.name":"execute_tool","note":"{pad}"}}}}"#,
        s = i / 40,
        a = i % 12,
        ms = i % 1000,
        span = i as u64 + 1,
        d = i % 500,
        pad = "x".repeat(430),
    )
}

fn fresh_dir(base: &Option<PathBuf>, name: &str) -> (Option<tempfile::TempDir>, PathBuf) {
    match base {
        Some(b) => {
            let p = b.join(name);
            let _ = std::fs::remove_dir_all(&p);
            (None, p)
        }
        None => {
            let t = tempfile::tempdir().expect("temporary directory");
            let p = t.path().join(name);
            (Some(t), p)
        }
    }
}

fn open(dir: &Path) -> Ledger {
    Ledger::init(dir, &InitOptions::default(), &SystemClock).expect("init");
    Ledger::open(dir, "agentrail-bench", Arc::new(SystemClock)).expect("open")
}

fn append(o: &Opts) {
    let lines: Vec<String> = (0..o.events).map(event_line).collect();
    let bytes: usize = lines.iter().map(|l| l.len()).sum();
    println!(
        "append: {} events of {} bytes on average, batches of {}",
        o.events,
        bytes / o.events.max(1),
        o.batch
    );
    // From raw JSON: parse, validate, seal, commit.
    let (_t, dir) = fresh_dir(&o.dir, "append-json");
    let mut ledger = open(&dir);
    let start = Instant::now();
    for chunk in lines.chunks(o.batch) {
        let evs: Vec<ValidEvent> = chunk
            .iter()
            .map(|l| parse_client_event(l.as_bytes()).expect("valid"))
            .collect();
        ledger.append(&evs, "cli").expect("append");
        ledger.maybe_checkpoint().expect("checkpoint");
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "  from JSON lines:       {:>10.0} events/s  ({:.1} MB/s of input, {secs:.2}s)",
        o.events as f64 / secs,
        bytes as f64 / 1e6 / secs
    );
    drop(ledger);

    // From validated events: the ledger alone (seal, hash, commit).
    let evs: Vec<ValidEvent> = lines
        .iter()
        .map(|l| parse_client_event(l.as_bytes()).expect("valid"))
        .collect();
    let (_t2, dir) = fresh_dir(&o.dir, "append-valid");
    let mut ledger = open(&dir);
    let start = Instant::now();
    for chunk in evs.chunks(o.batch) {
        ledger.append(chunk, "cli").expect("append");
        ledger.maybe_checkpoint().expect("checkpoint");
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "  from validated events: {:>10.0} events/s  ({secs:.2}s)",
        o.events as f64 / secs
    );
}

fn verify_bench(o: &Opts) {
    let (_t, dir) = fresh_dir(&o.dir, "verify");
    let mut ledger = open(&dir);
    for start in (0..o.events).step_by(10_000) {
        let evs: Vec<ValidEvent> = (start..(start + 10_000).min(o.events))
            .map(|i| parse_client_event(event_line(i).as_bytes()).expect("valid"))
            .collect();
        ledger.append(&evs, "cli").expect("append");
    }
    ledger.checkpoint_now().expect("checkpoint");
    drop(ledger);
    let mut backend = agentrail_store::ledger::open_read(&dir).expect("open");
    let start = Instant::now();
    let report = verify(
        backend.as_mut(),
        &VerifyOptions {
            chunk: 10_000,
            ..Default::default()
        },
    )
    .expect("verify");
    let secs = start.elapsed().as_secs_f64();
    assert!(report.ok(), "{:?}", report.problems.first());
    println!(
        "verify: {} events, {:.1} MB of leaf and body data in {secs:.2}s: {:.0} MB/s, {:.0} events/s",
        report.leaves,
        report.bytes as f64 / 1e6,
        report.bytes as f64 / 1e6 / secs,
        report.leaves as f64 / secs
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = args.split_first() else {
        usage()
    };
    let o = parse_opts(rest);
    match cmd.as_str() {
        "append" => append(&o),
        "verify" => verify_bench(&o),
        _ => usage(),
    }
}
