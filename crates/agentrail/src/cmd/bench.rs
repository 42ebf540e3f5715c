//! `agentrail bench`: the benchmarks behind `docs/benchmarks.md` (a hidden verb).
//!
//! - `bench append --batch N --events M`: durable append throughput of ~1 KB events through the
//!   real ingest pipeline (read, validate, seal, commit), from NDJSON held in memory.
//! - `bench verify --events M`: builds a store of M events, then times a full `verify`
//!   (MB/s of leaf and body data re-hashed).
//! - `bench load`: a load generator for the collector (`bench_load.rs`).
//! - `bench sessions`: reconstruction and lookup latency through the HTTP API on a store of ten
//!   million events (`bench_sessions.rs`).
//! - `bench policies --events N`: session index catch-up over the same fleet, without and with
//!   scope policies to evaluate (`bench_sessions.rs`).
//!
//! Each run uses a fresh data directory under `--dir` (default: a temporary directory), so the
//! figures include every fsync a real deployment pays.

use crate::cli::{BenchArgs, BenchCommand};
use crate::exit::Exit;
use agentrail_store::clock::SystemClock;
use agentrail_store::ledger::open_read;
use agentrail_store::verify::{verify, VerifyOptions};
use agentrail_store::{InitOptions, Ledger};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One realistic ~1 KB client event: a tool call with parameters and attributes.
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

fn ndjson(events: usize) -> String {
    let mut s = String::with_capacity(events * 1100);
    for i in 0..events {
        s.push_str(&event_line(i));
        s.push('\n');
    }
    s
}

/// A fresh data directory: under `base` when given, else in a temporary directory that lives as
/// long as the returned guard.
fn fresh_dir(base: Option<&Path>, name: &str) -> Result<(Option<tempfile::TempDir>, PathBuf)> {
    Ok(match base {
        Some(b) => {
            let p = b.join(name);
            if p.exists() {
                std::fs::remove_dir_all(&p).with_context(|| format!("clearing {}", p.display()))?;
            }
            (None, p)
        }
        None => {
            let t = tempfile::tempdir().context("creating a temporary directory")?;
            let p = t.path().join(name);
            (Some(t), p)
        }
    })
}

fn ingest_into(dir: &Path, input: &str, batch: usize) -> Result<f64> {
    Ledger::init(dir, &InitOptions::default(), &SystemClock)?;
    let mut ledger = super::open_writer(dir, "agentrail bench")?;
    let start = Instant::now();
    let tally = super::ingest::ingest(
        &mut ledger,
        &agentrail_server::serve::load_redactor(dir, None)?,
        input.as_bytes(),
        batch,
        "cli",
        &mut std::io::sink(),
    )?;
    let secs = start.elapsed().as_secs_f64();
    anyhow::ensure!(
        tally.rejected.is_empty(),
        "the benchmark events were rejected"
    );
    Ok(secs)
}

pub fn run(args: &BenchArgs) -> Result<Exit> {
    let base = args.dir.as_deref();
    match &args.command {
        BenchCommand::Append { batch, events } => {
            let input = ndjson(*events);
            let (_guard, dir) = fresh_dir(base, "bench-append")?;
            let secs = ingest_into(&dir, &input, *batch)?;
            say!(
                "append: {events} events of {} bytes, batches of {batch}: {:.0} events/s durable ({:.1} MB/s of input, {secs:.2}s)",
                input.len() / events.max(&1),
                *events as f64 / secs,
                input.len() as f64 / 1e6 / secs
            );
        }
        BenchCommand::Load(a) => return super::bench_load::run(a),
        BenchCommand::Sessions(a) => return super::bench_sessions::run(a, base),
        BenchCommand::Policies { events } => {
            return super::bench_sessions::run_policies(*events, base)
        }
        BenchCommand::Evidence { events } => {
            let input = ndjson(*events);
            let (_guard, dir) = fresh_dir(base, "bench-evidence")?;
            ingest_into(&dir, &input, 10_000)?;
            drop(input);
            // The index is brought level first: the figure is the bundle's, not the indexer's.
            drop(super::session::Reader::caught_up(&dir)?);
            let out = dir.join("bundle.zip");
            // Reset the peak (Linux: `5` to clear_refs) so it measures the build alone.
            let _ = std::fs::write("/proc/self/clear_refs", "5");
            let before = peak_rss_kib();
            let start = Instant::now();
            super::evidence::build(
                &dir,
                &crate::cli::EvidenceArgs::since("2000-01-01", out.clone()),
            )?;
            let build_secs = start.elapsed().as_secs_f64();
            let build_peak = peak_rss_kib();
            let size = std::fs::metadata(&out)?.len();
            let key = {
                let mut b = open_read(&dir)?;
                agentrail_store::ReadLedger::new(b.as_mut()).verifier()?
            };
            let start = Instant::now();
            let report = super::evidence::check_quietly(&out, key)?;
            let verify_secs = start.elapsed().as_secs_f64();
            anyhow::ensure!(
                report.invalid == 0,
                "the bundle did not verify: {:?}",
                report.failures.first()
            );
            say!(
                "evidence: {events} leaves, zip of {:.1} MB; built in {build_secs:.2}s ({:.0} leaves/s), peak RSS {} MiB (from {} MiB before it); verified in {verify_secs:.2}s ({:.0} leaves/s, {} items)",
                size as f64 / 1e6,
                *events as f64 / build_secs,
                build_peak / 1024,
                before / 1024,
                *events as f64 / verify_secs,
                report.valid
            );
        }
        BenchCommand::Verify { events } => {
            let input = ndjson(*events);
            let (_guard, dir) = fresh_dir(base, "bench-verify")?;
            ingest_into(&dir, &input, 10_000)?;
            let mut backend = open_read(&dir)?;
            let start = Instant::now();
            let report = verify(
                backend.as_mut(),
                &VerifyOptions {
                    chunk: 10_000,
                    ..Default::default()
                },
            )?;
            let secs = start.elapsed().as_secs_f64();
            anyhow::ensure!(
                report.ok(),
                "verify found problems in a fresh store: {:?}",
                report.problems.first()
            );
            say!(
                "verify: {} events, {:.1} MB of leaf and body data in {secs:.2}s: {:.0} MB/s, {:.0} events/s",
                report.leaves,
                report.bytes as f64 / 1e6,
                report.bytes as f64 / 1e6 / secs,
                report.leaves as f64 / secs
            );
        }
    }
    Ok(Exit::Success)
}

/// The process's peak resident set size so far, in KiB (Linux `VmHWM`; 0 elsewhere).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
