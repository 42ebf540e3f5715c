//! `agentrail verify`: the full report, one line per problem, then a summary.

use crate::cli::{KeyArgs, VerifyArgs};
use crate::exit::Exit;
use agentrail_core::note::{Signer, Verifier};
use agentrail_store::backend::meta;
use agentrail_store::ledger::{open_read, DataDir};
use agentrail_store::verify::{verify, VerifyOptions, VerifyReport};
use anyhow::{Context, Result};
use std::path::Path;
use std::time::Instant;

pub fn run(data: &Path, args: &VerifyArgs) -> Result<Exit> {
    let key = match (&args.key, &args.key_file) {
        (None, None) => None,
        (k, f) => Some(super::prove::load_key(&KeyArgs {
            key: k.clone(),
            key_file: f.clone(),
        })?),
    };
    let mut trusted = Vec::new();
    for path in &args.trusted {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading trusted checkpoint {}", path.display()))?;
        trusted.push((path.display().to_string(), text));
    }
    let mut backend = open_read(data)?;
    let started = Instant::now();
    let mut report = verify(
        backend.as_mut(),
        &VerifyOptions {
            key,
            trusted,
            chunk: args.chunk,
        },
    )?;
    check_key_file(data, backend.meta(meta::VKEY)?, &mut report);
    print_report(
        &report,
        args.trusted.is_empty(),
        started.elapsed().as_secs_f64(),
    )?;
    let policies_ok = if args.policies {
        verify_policies(data, args.chunk)?
    } else {
        true
    };
    Ok(if report.ok() && policies_ok {
        Exit::Success
    } else {
        Exit::Invalid
    })
}

/// `verify --policies`: replays the inventory and policy records and re-evaluates every stored
/// scope policy decision; true when all agree.
fn verify_policies(data: &Path, chunk: usize) -> Result<bool> {
    let started = Instant::now();
    let mut r = super::session::Reader::caught_up(data)?;
    let check = agentrail_index::policy::verify_policies(&mut r.index, r.ledger.as_mut(), chunk)?;
    for p in check.problems.iter().take(100) {
        say!("INVALID policy decision: {p}");
    }
    if check.problems.len() > 100 {
        say!(
            "... and {} more policy problems",
            check.problems.len() - 100
        );
    }
    say!(
        "policies: replayed {} leaves and {} inventory/policy records in {:.2}s; {} events judged under {} policy sets: {} decisions stored{} ({} with no policy that applies; {} scope violations)",
        check.leaves,
        check.records,
        started.elapsed().as_secs_f64(),
        check.evaluated,
        check.policy_sets.len(),
        check.decisions,
        if check.problems.is_empty() { " and all agree" } else { " agree" },
        check.evaluated.saturating_sub(check.decisions + check.problems.len() as u64),
        check.denied
    );
    if check.problems.is_empty() {
        say!("POLICIES VERIFIED: every stored decision is what the recorded policies give");
    } else {
        say!(
            "POLICIES FAILED: {} decisions disagree (the index is derived data: `agentrail reindex` rebuilds it; find out first who changed it)",
            check.problems.len()
        );
    }
    Ok(check.problems.is_empty())
}

/// The signing key on disk must be the key the log recorded at init.
fn check_key_file(data: &Path, vkey: Option<String>, report: &mut VerifyReport) {
    let Ok(text) = std::fs::read_to_string(DataDir::new(data).key()) else {
        return; // an auditor's copy may well come without the private key
    };
    let on_disk = Signer::from_skey(text.trim()).map(|s| s.verifier().to_vkey());
    let recorded = vkey
        .and_then(|v| Verifier::from_vkey(&v).ok())
        .map(|v| v.to_vkey());
    if on_disk.as_ref().ok() != recorded.as_ref() {
        report.problems.push(agentrail_store::verify::Problem {
            location: "signing.key".into(),
            message: "is not the key this log recorded at init".into(),
        });
        report.problem_count += 1;
    }
}

fn print_report(r: &VerifyReport, no_trusted: bool, secs: f64) -> Result<()> {
    for p in &r.problems {
        say!("INVALID {}: {}", p.location, p.message);
    }
    if r.problem_count > r.problems.len() as u64 {
        say!(
            "... and {} more problems",
            r.problem_count - r.problems.len() as u64
        );
    }
    let mb = r.bytes as f64 / 1e6;
    say!(
        "checked {} events ({mb:.1} MB) in {secs:.2}s, {} tiles, {} checkpoints",
        r.leaves,
        r.tiles,
        r.checkpoints
    );
    say!("tree size {} root {}", r.leaves, r.root.to_base64());
    if r.erased_bodies > 0 {
        say!(
            "{} bodies are erased (their leaves remain and were checked)",
            r.erased_bodies
        );
    }
    match r.latest_checkpoint {
        Some(size) if r.uncovered() > 0 => say!(
            "latest checkpoint covers {size} leaves; {} newer leaves are not yet signed (run `agentrail checkpoint --new`)",
            r.uncovered()
        ),
        Some(size) => say!("latest checkpoint covers all {size} leaves"),
        None => say!("no checkpoint has been signed yet"),
    }
    if no_trusted {
        say!("no trusted checkpoints given (--trusted): consistency with checkpoints kept elsewhere was not checked");
    } else {
        say!("checked against {} trusted checkpoints", r.trusted);
    }
    if r.ok() {
        say!("VERIFIED: no problems found");
    } else {
        say!("FAILED: {} problems found", r.problem_count);
    }
    Ok(())
}
