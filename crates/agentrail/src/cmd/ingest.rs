//! `agentrail ingest`: NDJSON in, durable batches out, a report of every rejected line.

use crate::cli::IngestArgs;
use crate::exit::Exit;
use agentrail_core::event::{self, ErrorCode, EventError, ValidEvent};
use agentrail_store::{AppendOutcome, Ledger};
use anyhow::{Context, Result};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

/// The longest line accepted, in bytes.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Counts and rejections of one ingest run.
#[derive(Debug, Default)]
pub struct Tally {
    pub accepted: u64,
    pub duplicate: u64,
    pub rejected: Vec<(u64, EventError)>,
}

pub fn run(data: &Path, args: &IngestArgs) -> Result<Exit> {
    agentrail_store::ledger::check_source(&args.source)?;
    let mut ledger = super::open_writer(data, "agentrail ingest")?;
    let input: Box<dyn Read> = match args.file.as_deref() {
        None => Box::new(std::io::stdin()),
        Some(p) if p == Path::new("-") => Box::new(std::io::stdin()),
        Some(p) => {
            Box::new(std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?)
        }
    };
    let mut out = std::io::stdout().lock();
    let tally = ingest(
        &mut ledger,
        input,
        args.batch as usize,
        &args.source,
        &mut out,
    )?;
    report(&tally, &mut out)?;
    Ok(if tally.rejected.is_empty() {
        Exit::Success
    } else {
        Exit::Invalid
    })
}

/// Reads NDJSON from `input`, appends valid events in batches of `batch`, and after each durable
/// batch writes `committed through line N (tree size S)`. Signs a final checkpoint if the tree
/// grew, so everything ingested is provable at once.
pub fn ingest(
    ledger: &mut Ledger,
    input: impl Read,
    batch: usize,
    source: &str,
    out: &mut impl Write,
) -> Result<Tally> {
    let mut reader = BufReader::with_capacity(1 << 20, input);
    let mut tally = Tally::default();
    let mut pending: Vec<(u64, ValidEvent)> = Vec::with_capacity(batch);
    let mut line_no: u64 = 0;
    let mut buf = Vec::with_capacity(4096);
    let start_size = ledger.size();
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)
            .context("reading input")?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if buf.len() > MAX_LINE_BYTES && buf.last() != Some(&b'\n') {
            // Skip the rest of the over-long line.
            let mut rest = Vec::new();
            reader
                .read_until(b'\n', &mut rest)
                .context("reading input")?;
            tally.rejected.push((
                line_no,
                EventError::new(
                    ErrorCode::InvalidJson,
                    "",
                    format!("line is longer than {MAX_LINE_BYTES} bytes"),
                ),
            ));
            continue;
        }
        let line = trim_eol(&buf);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match event::parse_client_event(line) {
            Ok(ev) => pending.push((line_no, ev)),
            Err(e) => tally.rejected.push((line_no, e)),
        }
        if pending.len() >= batch {
            commit(ledger, &mut pending, source, line_no, &mut tally, out)?;
        }
    }
    commit(ledger, &mut pending, source, line_no, &mut tally, out)?;
    if ledger.size() > start_size {
        ledger
            .checkpoint_now()
            .context("signing the final checkpoint")?;
    }
    Ok(tally)
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn commit(
    ledger: &mut Ledger,
    pending: &mut Vec<(u64, ValidEvent)>,
    source: &str,
    through_line: u64,
    tally: &mut Tally,
    out: &mut impl Write,
) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let events: Vec<ValidEvent> = pending.iter().map(|(_, e)| e.clone()).collect();
    let outcomes = ledger
        .append(&events, source)
        .with_context(|| format!("committing the batch that ends at line {through_line}"))?;
    for ((line, ev), outcome) in pending.drain(..).zip(outcomes) {
        match outcome {
            AppendOutcome::Appended { .. } => tally.accepted += 1,
            AppendOutcome::Duplicate { .. } => tally.duplicate += 1,
            AppendOutcome::Conflict { leaf_index } => tally.rejected.push((
                line,
                EventError::new(
                    ErrorCode::Conflict,
                    "event_id",
                    format!(
                        "event {:?} is already stored at leaf {leaf_index} with different content",
                        ev.event_id
                    ),
                ),
            )),
        }
    }
    writeln!(
        out,
        "committed through line {through_line} (tree size {})",
        ledger.size()
    )?;
    out.flush()?;
    ledger.maybe_checkpoint().context("signing a checkpoint")?;
    Ok(())
}

fn report(tally: &Tally, out: &mut impl Write) -> Result<()> {
    tally_line(tally, out)?;
    for (line, e) in &tally.rejected {
        let field = if e.field.is_empty() {
            "-"
        } else {
            e.field.as_str()
        };
        writeln!(
            out,
            "line {line}: field {field}: {} ({})",
            e.message,
            e.code.as_str()
        )?;
    }
    Ok(())
}

pub fn tally_line(tally: &Tally, out: &mut impl Write) -> Result<()> {
    writeln!(
        out,
        "accepted {}, duplicate {}, rejected {}",
        tally.accepted,
        tally.duplicate,
        tally.rejected.len()
    )?;
    Ok(())
}
