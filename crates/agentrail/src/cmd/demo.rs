//! `agentrail demo`: the quickstart. Ingests the bundled example agent events (three agents:
//! a user-triggered renewal drafter, a nightly scheduled job, a webhook-triggered support bot),
//! verifies the whole log, proves one event and checks that proof the way an auditor would.

use crate::exit::Exit;
use agentrail_core::{event, merkle};
use agentrail_store::ledger::{open_read, DataDir};
use agentrail_store::verify::{verify, VerifyOptions};
use agentrail_store::{InitOptions, Ledger, ReadLedger};
use anyhow::{Context, Result};
use std::path::Path;

/// The bundled example: one NDJSON event per line.
pub const EXAMPLE_EVENTS: &str = include_str!("../../../../examples/events.ndjson");
const PROVE_ID: &str = "rd-47892-d01";

pub fn run(data: &Path) -> Result<Exit> {
    if !DataDir::new(data).db().exists() {
        let origin = Ledger::init(
            data,
            &InitOptions::default(),
            &agentrail_store::clock::SystemClock,
        )?;
        say!("initialized {} (origin {origin})", data.display());
    }
    let mut ledger = super::open_writer(data, "agentrail demo")?;
    say!(
        "ingesting the bundled example: {} events from 3 agents",
        EXAMPLE_EVENTS.lines().count()
    );
    let mut sink = Vec::new();
    let tally = super::ingest::ingest(
        &mut ledger,
        &agentrail_server::serve::load_redactor(data, None)?,
        EXAMPLE_EVENTS.as_bytes(),
        1000,
        "cli",
        &mut sink,
    )?;
    super::ingest::tally_line(&tally, &mut std::io::stdout())?;
    if let Some((line, e)) = tally.rejected.first() {
        anyhow::bail!(
            "{} lines of the bundled example were rejected; the first, line {line}: {e}",
            tally.rejected.len()
        );
    }
    if tally.duplicate > 0 {
        say!("  (already ingested by an earlier run: re-sending is idempotent, nothing was appended twice)");
    }
    let vkey = ledger.verifier();
    drop(ledger);

    let mut backend = open_read(data)?;
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
        .context("no checkpoint after ingest")?;
    let proof = r.inclusion_proof(ev.row.leaf_index, &cp)?;
    let event_bytes = ev.event_bytes().context("event body missing")?;
    let leaf = event::leaf_from_event(&event_bytes)?;
    let checked = proof.verify(&merkle::leaf_hash(&leaf), &vkey)?;
    say!(
        "proved the decision record {PROVE_ID} (leaf {}) against the signed checkpoint of size {}",
        proof.index,
        checked.size
    );
    let d = data.display();
    say!();
    say!("Try next:");
    say!("  agentrail --data {d} event get {PROVE_ID}            # the stored decision, canonical JSON");
    say!("  agentrail --data {d} prove {PROVE_ID} > proof.txt    # its inclusion proof");
    say!("  agentrail --data {d} event get {PROVE_ID} > event.json");
    say!("  agentrail verify-proof --key \"$(agentrail --data {d} key)\" --event event.json proof.txt");
    say!("  agentrail --data {d} verify                           # re-derive the whole log");
    Ok(Exit::Success)
}
