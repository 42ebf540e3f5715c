//! `agentrail demo`: the quickstart. Plays a day of a SaaS company's agent fleet through the real
//! ingest path: it runs the collector in this process and sends it what the agents would, the
//! bundled native events (`examples/events.ndjson`: the renewal drafter of request 47892, three
//! nights of a scheduled job, a support bot) to `POST /api/v1/events`, and an OpenTelemetry-
//! instrumented agent's spans (`otlp.rs`) to `POST /v1/traces`. Once the collector has stopped,
//! it verifies the whole log, proves the decision of request 47892 the way an auditor would,
//! tells that request's story and prints what to try next.

mod collector;
mod otlp;

use crate::exit::Exit;
use agentrail_core::{event, merkle};
use agentrail_store::ledger::{open_read, DataDir};
use agentrail_store::verify::{verify, VerifyOptions};
use agentrail_store::{InitOptions, Ledger, ReadLedger};
use anyhow::{bail, Context, Result};
use collector::{Client, Stored};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// The native part of the scenario: one NDJSON event per line.
const EXAMPLE_EVENTS: &str = include_str!("../../../../../examples/events.ndjson");
const EXAMPLE_FILE: &str = "examples/events.ndjson";
const PROVE_ID: &str = "rd-47892-d01";
/// The demo company's inventory and scope policies, installed in the data directory.
const INVENTORY: &[(&str, &str)] = &[
    (
        "agents.toml",
        include_str!("../../../../../examples/agents.toml"),
    ),
    (
        "policies/base.cedar",
        include_str!("../../../../../examples/policies/base.cedar"),
    ),
    (
        "policies/renewal-drafter.cedar",
        include_str!("../../../../../examples/policies/renewal-drafter.cedar"),
    ),
    (
        "policies/billing-sync.cedar",
        include_str!("../../../../../examples/policies/billing-sync.cedar"),
    ),
];
/// The session whose scope violation the demo shows.
const VIOLATION_SESSION: &str = "sess-nightly-2026-11-24";
const NATIVE: &str = "native JSON, POST /api/v1/events";
const OTLP: &str = "OTLP/HTTP protobuf, POST /v1/traces";

pub fn run(data: &Path) -> Result<Exit> {
    if !DataDir::new(data).db().exists() {
        let origin = Ledger::init(
            data,
            &InitOptions::default(),
            &agentrail_store::clock::SystemClock,
        )?;
        say!("initialized {} (origin {origin})", data.display());
    }
    install_inventory(data)?;
    let sessions = native_sessions()?;
    let exports = otlp::exports();
    let sent = collector::with_collector(data, |client| play(client, &sessions, &exports))?;
    say!(
        "stopped the collector: every acknowledged event is committed, the final checkpoint signed"
    );
    summary(&sent)?;
    verify_and_prove(data)?;
    say!();
    say!("---- request 47892, as the log tells it ----");
    super::session::demo_narrative(data)?;
    say!("---- end of request 47892 ----");
    say!();
    say!("---- the gap assessment, as an auditor would receive it ----");
    super::session::demo_governance(data, VIOLATION_SESSION)?;
    say!();
    say!("---- evidence for the auditor: the population, a fair sample, proofs, signed ----");
    super::evidence::demo(data)?;
    try_next(data)?;
    Ok(Exit::Success)
}

/// Writes the demo company's inventory (`agents.toml`) and its Cedar policies into the data
/// directory, unless an inventory is already there (the user's own edits are kept).
fn install_inventory(data: &Path) -> Result<()> {
    if data.join("agents.toml").exists() {
        say!(
            "using the inventory already in {} (agents.toml)",
            data.display()
        );
        return Ok(());
    }
    for (name, text) in INVENTORY {
        let path = data.join(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    say!(
        "installed the demo inventory: {} (5 agents) and its Cedar scope policies under {}",
        data.join("agents.toml").display(),
        data.join("policies").display()
    );
    Ok(())
}

/// One line of the bundled example.
#[derive(Debug)]
struct Line<'a> {
    number: usize,
    text: &'a str,
    event_id: String,
    agent: String,
}

/// One agent run of the bundled example: its lines, in file order.
#[derive(Debug)]
struct Session<'a> {
    id: String,
    lines: Vec<Line<'a>>,
}

/// The bundled example, cut into its runs (consecutive lines of one session): each run is sent
/// in its own request, as the agent that made it would.
fn native_sessions() -> Result<Vec<Session<'static>>> {
    let mut sessions: Vec<Session> = Vec::new();
    for (i, text) in EXAMPLE_EVENTS.lines().enumerate() {
        let number = i + 1;
        let v: Value = serde_json::from_str(text)
            .with_context(|| format!("{EXAMPLE_FILE} line {number} is not JSON"))?;
        let field = |name: &str| {
            v[name]
                .as_str()
                .map(str::to_string)
                .with_context(|| format!("{EXAMPLE_FILE} line {number} has no string field {name}"))
        };
        let line = Line {
            number,
            text,
            event_id: field("event_id")?,
            agent: field("agent_id")?,
        };
        let session = field("session_id")?;
        match sessions.last_mut() {
            Some(last) if last.id == session => last.lines.push(line),
            _ => sessions.push(Session {
                id: session,
                lines: vec![line],
            }),
        }
    }
    Ok(sessions)
}

/// What the demo sent, per agent and path, and what the collector made of it.
#[derive(Debug, Default)]
struct Sent {
    rows: Vec<Row>,
    appended: u64,
    duplicate: u64,
}

/// One line of the summary: an agent's events on one ingest path.
#[derive(Debug)]
struct Row {
    agent: String,
    path: &'static str,
    sessions: BTreeSet<String>,
    events: u64,
}

impl Sent {
    fn record(&mut self, agent: &str, session: &str, path: &'static str) {
        let at = match self
            .rows
            .iter()
            .position(|r| r.agent == agent && r.path == path)
        {
            Some(at) => at,
            None => {
                self.rows.push(Row {
                    agent: agent.to_string(),
                    path,
                    sessions: BTreeSet::new(),
                    events: 0,
                });
                self.rows.len() - 1
            }
        };
        let row = &mut self.rows[at];
        row.sessions.insert(session.to_string());
        row.events += 1;
    }
}

/// Sends the scenario to the collector: each native run in its own request, then the OTLP
/// exports in the order an SDK sends them.
fn play(client: &Client, sessions: &[Session], exports: &[otlp::Export]) -> Result<Sent> {
    say!("Playing a day of Acme's agent fleet (2026-11-24) through the collector's ingest API:");
    say!("  renewal-drafter      request 47892 from alice@acme.example: \"draft a renewal email for our top 10 enterprise customers\"");
    say!("  nightly-usage-sync   the 02:00 scheduled job, on Nov 22, 23 and 24; on the 24th it also reads");
    say!("                       hr-payroll employees/salaries, outside its usual systems (snowflake, stripe)");
    say!("  support-triage       started by a Zendesk webhook for ticket 88121");
    say!("  sheets-export        a spreadsheet connector nobody registered, exporting accounts (Nov 21)");
    say!(
        "  {:<20} instrumented with OpenTelemetry: exports spans, children before their parent",
        otlp::AGENT
    );
    say!(
        "started the collector on {} (in this process; the demo writes nothing to the store itself)",
        client.address()
    );
    let mut sent = Sent::default();
    for session in sessions {
        let body: String = session
            .lines
            .iter()
            .map(|l| format!("{}\n", l.text))
            .collect();
        let what = format!("the {} events of {}", session.lines.len(), session.id);
        let results = client.post_events(&body, &what)?;
        if results.len() != session.lines.len() {
            bail!(
                "the collector answered {} results for {what}",
                results.len()
            );
        }
        let mut rejected = Vec::new();
        let mut appended = 0;
        for (line, result) in session.lines.iter().zip(results) {
            match result {
                Ok(Stored::Appended) => appended += 1,
                Ok(Stored::Duplicate) => sent.duplicate += 1,
                Err(reason) => rejected.push(format!(
                    "{EXAMPLE_FILE} line {} ({}): {reason}",
                    line.number, line.event_id
                )),
            }
            sent.record(&line.agent, &session.id, NATIVE);
        }
        if !rejected.is_empty() {
            bail!(rejection(&what, &rejected));
        }
        sent.appended += appended;
        say!("  POST /api/v1/events  {what}: {appended} new");
    }
    for export in exports {
        let (spans, unmappable) = agentrail_server::otlp::map_request(&export.request);
        if let Some(u) = unmappable.first() {
            bail!(
                "the demo's span {}:{} maps to no event: {}",
                u.trace_id,
                u.span_id,
                u.reason
            );
        }
        let mut events: u64 = 0;
        for ev in spans.iter().flat_map(|s| &s.events) {
            let field = |name: &str| {
                ev[name]
                    .as_str()
                    .with_context(|| format!("an event mapped from the demo's spans has no {name}"))
            };
            sent.record(field("agent_id")?, field("session_id")?, OTLP);
            events += 1;
        }
        let what = format!("{}, {}", otlp::AGENT, export.what);
        // An OTLP answer does not say which spans were duplicates; the log's growth does, as the
        // demo is its collector's only client.
        let before = client.tree_size()?;
        client.post_traces(&export.request, &what)?;
        let appended = client.tree_size()?.saturating_sub(before);
        sent.appended += appended;
        sent.duplicate += events - appended.min(events);
        say!("  POST /v1/traces      {what}: {events} events, {appended} new");
    }
    Ok(sent)
}

/// The error for a request some of whose events the collector rejected.
fn rejection(what: &str, rejected: &[String]) -> String {
    let mut text = format!("the collector rejected {} of {what}:", rejected.len());
    for r in rejected.iter().take(5) {
        text.push_str("\n  ");
        text.push_str(r);
    }
    if rejected.len() > 5 {
        text.push_str(&format!("\n  and {} more", rejected.len() - 5));
    }
    if rejected.iter().any(|r| r.contains(": conflict: ")) {
        text.push_str(
            "\nthis data directory holds other events under the same ids (from an older version \
             of the demo?): run the demo on a new --data directory",
        );
    }
    text
}

fn summary(sent: &Sent) -> Result<()> {
    say!();
    say!("Sent, per agent:");
    say!("  {:<20} {:>8} {:>6}  path", "agent", "sessions", "events");
    for r in &sent.rows {
        say!(
            "  {:<20} {:>8} {:>6}  {}",
            r.agent,
            r.sessions.len(),
            r.events,
            r.path
        );
    }
    let total = sent.appended + sent.duplicate;
    say!(
        "{total} events: {} new, {} already stored",
        sent.appended,
        sent.duplicate
    );
    if sent.appended == 0 {
        say!("  (this data directory already holds the whole scenario: re-sending is idempotent, nothing was appended twice)");
    } else if sent.duplicate > 0 {
        say!("  (the rest were stored by an earlier run: re-sending is idempotent, nothing was appended twice)");
    }
    Ok(())
}

/// Verifies the whole log, then proves the decision of request 47892 against the latest signed
/// checkpoint and checks that proof as `verify-proof` does.
fn verify_and_prove(data: &Path) -> Result<()> {
    let mut backend = open_read(data)?;
    let vkey = ReadLedger::new(backend.as_mut()).verifier()?;
    let report = verify(
        backend.as_mut(),
        &VerifyOptions {
            key: Some(vkey.clone()),
            trusted: vec![],
            chunk: 10_000,
        },
    )?;
    if let Some(p) = report.problems.first() {
        return Err(agentrail_store::LedgerError::Corrupt(format!(
            "verification found {} problems; the first: {}: {}",
            report.problem_count, p.location, p.message
        ))
        .into());
    }
    say!(
        "verified {} events: tree size {}, root {}",
        report.leaves,
        report.leaves,
        report.root.to_base64()
    );

    let mut r = ReadLedger::new(backend.as_mut());
    let ev = r.event(PROVE_ID)?;
    let cp = r
        .latest_checkpoint()?
        .context("no checkpoint after the collector stopped")?;
    let proof = r.inclusion_proof(ev.row.leaf_index, &cp)?;
    let event_bytes = ev
        .event_bytes()
        .with_context(|| format!("the body of {PROVE_ID} is missing"))?;
    let leaf = event::leaf_from_event(&event_bytes)?;
    let checked = proof.verify(&merkle::leaf_hash(&leaf), &vkey)?;
    say!(
        "proved the decision record {PROVE_ID} (leaf {}) against the signed checkpoint of size {}",
        proof.index,
        checked.size
    );
    Ok(())
}

fn try_next(data: &Path) -> Result<()> {
    let d = data.display();
    let commands = [
        (format!("agentrail --data {d} sessions"), "every agent run"),
        (
            format!("agentrail --data {d} session show --request 47892"),
            "request 47892, step by step",
        ),
        (
            format!("agentrail --data {d} session show sess-47892-renewals --format md"),
            "the same run, as Markdown",
        ),
        (
            format!("agentrail --data {d} event get {PROVE_ID}"),
            "the stored decision, canonical JSON",
        ),
        (
            format!("agentrail --data {d} prove {PROVE_ID} > proof.txt"),
            "its inclusion proof",
        ),
        (format!("agentrail --data {d} event get {PROVE_ID} > event.json"), ""),
        (
            format!(
                "agentrail verify-proof --key \"$(agentrail --data {d} key)\" --event event.json proof.txt"
            ),
            "",
        ),
        (format!("agentrail --data {d} verify"), "re-derive the whole log"),
        (
            format!("agentrail --data {d} evidence --from 2026-01-01 --out bundle.zip"),
            "an evidence bundle for an auditor",
        ),
        (
            format!("agentrail verify-bundle bundle.zip --key \"$(agentrail --data {d} key)\""),
            "checked offline, item by item",
        ),
        (
            format!("agentrail --data {d} agents discover"),
            "agents and principals nobody registered",
        ),
        (
            format!("agentrail --data {d} sessions --violations"),
            "runs a scope policy flagged",
        ),
        (
            format!("agentrail --data {d} session show {VIOLATION_SESSION}"),
            "the violation, with the policy that denied it",
        ),
        (
            format!("agentrail --data {d} assess --format html --out gap-report.html"),
            "the gap report, for the auditor",
        ),
        (
            format!("agentrail --data {d} verify --policies"),
            "re-check every policy decision",
        ),
        (
            format!("agentrail --data {d} serve"),
            "the collector, on 127.0.0.1:4318; then, from another shell:",
        ),
        (
            "curl -s localhost:4318/api/v1/requests/47892".to_string(),
            "request 47892 over HTTP",
        ),
    ];
    let width = commands
        .iter()
        .filter(|(_, note)| !note.is_empty())
        .map(|(c, _)| c.len())
        .max()
        .unwrap_or(0);
    say!();
    say!("Try next:");
    for (command, note) in &commands {
        if note.is_empty() {
            say!("  {command}");
        } else {
            say!("  {command:width$}  # {note}");
        }
    }
    Ok(())
}
