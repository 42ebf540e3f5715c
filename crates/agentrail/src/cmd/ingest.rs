//! `agentrail ingest`: NDJSON in, durable batches out, a report of every rejected line.

use super::remote::Server;
use crate::cli::IngestArgs;
use crate::exit::Exit;
use agentrail_core::event::{self, ErrorCode, EventError, ValidEvent};
use agentrail_core::json;
use agentrail_server::redact::Redactor;
use agentrail_server::serve::load_redactor;
use agentrail_store::clock::Clock;
use agentrail_store::{prepare, AppendOutcome, Ledger, Prepared};
use anyhow::{Context, Result};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::mpsc;

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
    // `api` and `otlp` are the server's to record; from the command line an event arrives by
    // `cli` or as an import.
    if !(args.source == "cli" || args.source.starts_with("import:")) {
        anyhow::bail!(
            "--source {:?}: from the command line, use cli or import:<name>",
            args.source
        );
    }
    agentrail_store::ledger::check_source(&args.source)?;
    // The data directory first: a missing or locked one is reported before the input is opened.
    let target = match super::open_writer(data, "agentrail ingest") {
        Ok(ledger) => Ok(ledger),
        Err(e) => Err(Server::for_locked(data, &e).ok_or(e)?),
    };
    let input: Box<dyn Read + Send> = match args.file.as_deref() {
        None => Box::new(std::io::stdin()),
        Some(p) if p == Path::new("-") => Box::new(std::io::stdin()),
        Some(p) => {
            Box::new(std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?)
        }
    };
    let mut out = std::io::stdout().lock();
    let tally = match target {
        Ok(mut ledger) => {
            let redactor = load_redactor(data, args.redaction.as_deref())?;
            ingest(
                &mut ledger,
                &redactor,
                input,
                args.batch as usize,
                &args.source,
                &mut out,
            )?
        }
        Err(server) => {
            eprintln!(
                "a server is running on this data directory: sending the events through it (recorded as source api)"
            );
            ingest_remote(&server, input, args.batch as usize, &mut out)?
        }
    };
    report(&tally, &mut out)?;
    Ok(if tally.rejected.is_empty() {
        Exit::Success
    } else {
        Exit::Invalid
    })
}

/// Sends NDJSON through a running server in batches, with the same report as a local ingest.
fn ingest_remote(
    server: &Server,
    input: impl Read,
    batch: usize,
    out: &mut impl Write,
) -> Result<Tally> {
    let mut reader = BufReader::with_capacity(1 << 20, input);
    let mut tally = Tally::default();
    let mut line_no = 0u64;
    let mut lines: Vec<u64> = Vec::new();
    let mut body: Vec<u8> = Vec::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .context("reading input")?;
        if n > 0 {
            line_no += 1;
            let line = trim_eol(&buf);
            if !line.iter().all(u8::is_ascii_whitespace) {
                lines.push(line_no);
                body.extend_from_slice(line);
                body.push(b'\n');
            }
        }
        if lines.len() >= batch || (n == 0 && !lines.is_empty()) {
            let text = server.post_ndjson(
                "/api/v1/events",
                std::mem::take(&mut body),
                &format!("the batch that ends at line {line_no}"),
            )?;
            let answer: serde_json::Value =
                serde_json::from_str(&text).context("reading the server's answer")?;
            let results = answer["results"].as_array().cloned().unwrap_or_default();
            if results.len() != lines.len() {
                anyhow::bail!(
                    "the server answered {} results for {} events",
                    results.len(),
                    lines.len()
                );
            }
            for (line, r) in lines.drain(..).zip(results) {
                if let Some(err) = r.get("error") {
                    let code = err["code"].as_str().unwrap_or("invalid");
                    tally.rejected.push((
                        line,
                        EventError::new(
                            code_from_str(code),
                            err["field"].as_str().unwrap_or(""),
                            err["message"].as_str().unwrap_or(""),
                        ),
                    ));
                } else if r["duplicate"].as_bool() == Some(true) {
                    tally.duplicate += 1;
                } else {
                    tally.accepted += 1;
                }
            }
            writeln!(
                out,
                "committed through line {line_no} (tree size {})",
                answer["tree_size"].as_u64().unwrap_or(0)
            )?;
            out.flush()?;
        }
        if n == 0 {
            if tally.accepted > 0 {
                // As a local ingest does: everything just ingested is provable at once.
                server.post_empty("/api/v1/admin/checkpoint", "the final checkpoint")?;
            }
            return Ok(tally);
        }
    }
}

fn code_from_str(code: &str) -> ErrorCode {
    [
        ErrorCode::InvalidJson,
        ErrorCode::MissingField,
        ErrorCode::InvalidField,
        ErrorCode::UnknownField,
        ErrorCode::ReservedKind,
        ErrorCode::UnknownKind,
        ErrorCode::Conflict,
        ErrorCode::ForbiddenAgent,
        ErrorCode::TooLarge,
    ]
    .into_iter()
    .find(|c| c.as_str() == code)
    .unwrap_or(ErrorCode::InvalidField)
}

/// Lines as read, before any checking: what the reading thread hands to the workers.
struct RawChunk {
    seq: u64,
    through_line: u64,
    lines: Vec<(u64, Vec<u8>)>,
    /// Lines refused while reading (over-long).
    rejected: Vec<(u64, EventError)>,
}

/// One batch, checked and sealed: what a worker hands to the committing thread.
struct Chunk {
    through_line: u64,
    lines: Vec<u64>,
    prepared: Prepared,
    rejected: Vec<(u64, EventError)>,
}

/// Reads NDJSON from `input`, appends valid events in batches of `batch`, and after each durable
/// batch writes `committed through line N (tree size S)`. Signs a final checkpoint if the tree
/// grew, so everything ingested is provable at once.
///
/// The work is spread over the cores: one thread reads lines, workers (one per core) parse,
/// redact, validate and seal whole batches (the CPU half of an append), and this thread commits
/// the batches strictly in input order (the database half).
pub fn ingest(
    ledger: &mut Ledger,
    redactor: &Redactor,
    input: impl Read + Send,
    batch: usize,
    source: &str,
    out: &mut impl Write,
) -> Result<Tally> {
    let clock = ledger.clock();
    let start_size = ledger.size();
    let mut tally = Tally::default();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let (raw_tx, raw_rx) = mpsc::sync_channel::<RawChunk>(workers + 1);
    let raw_rx = std::sync::Mutex::new(raw_rx);
    let (done_tx, done_rx) = mpsc::sync_channel::<(u64, Result<Chunk>)>(workers + 1);
    std::thread::scope(|scope| -> Result<()> {
        let read_errors = done_tx.clone();
        let cancel = &cancel;
        std::thread::Builder::new()
            .name("ingest-read".into())
            .spawn_scoped(scope, move || {
                if let Err(e) = read_lines(input, batch, &raw_tx, cancel) {
                    let _ = read_errors.send((u64::MAX, Err(e)));
                }
            })
            .context("starting the reading thread")?;
        for _ in 0..workers {
            let (raw_rx, done_tx, clock) = (&raw_rx, done_tx.clone(), clock.clone());
            std::thread::Builder::new()
                .name("ingest-seal".into())
                .spawn_scoped(scope, move || loop {
                    let next = raw_rx.lock().map(|rx| rx.recv());
                    let Ok(Ok(raw)) = next else { break };
                    let seq = raw.seq;
                    let chunk = seal_chunk(raw, redactor, source, clock.as_ref());
                    if done_tx.send((seq, chunk)).is_err() {
                        break;
                    }
                })
                .context("starting a sealing thread")?;
        }
        drop(done_tx);
        // Batches come back in any order; they are committed in the order they were read.
        let mut waiting = std::collections::BTreeMap::new();
        let mut next = 0u64;
        let committed = (|| -> Result<()> {
            for (seq, chunk) in done_rx {
                if seq == u64::MAX {
                    chunk?;
                    continue;
                }
                waiting.insert(seq, chunk);
                while let Some(chunk) = waiting.remove(&next) {
                    commit(ledger, chunk?, &mut tally, out)?;
                    next += 1;
                }
            }
            Ok(())
        })();
        // On any failure the reader must stop too, or the scope would wait for it forever.
        cancel.store(true, std::sync::atomic::Ordering::SeqCst);
        committed
    })?;
    tally.rejected.sort_by_key(|(line, _)| *line);
    if ledger.size() > start_size {
        ledger
            .checkpoint_now()
            .context("signing the final checkpoint")?;
    }
    Ok(tally)
}

fn read_lines(
    input: impl Read,
    batch: usize,
    tx: &mpsc::SyncSender<RawChunk>,
    cancel: &std::sync::atomic::AtomicBool,
) -> Result<()> {
    let mut reader = BufReader::with_capacity(1 << 20, input);
    let mut line_no: u64 = 0;
    let mut seq = 0u64;
    let mut lines = Vec::with_capacity(batch);
    let mut rejected = Vec::new();
    loop {
        let mut buf = Vec::with_capacity(1024);
        let n = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)
            .context("reading input")?;
        let eof = n == 0;
        if !eof {
            line_no += 1;
            if buf.len() > MAX_LINE_BYTES && buf.last() != Some(&b'\n') {
                // Skip the rest of the over-long line.
                let mut rest = Vec::new();
                reader
                    .read_until(b'\n', &mut rest)
                    .context("reading input")?;
                rejected.push((
                    line_no,
                    EventError::new(
                        ErrorCode::TooLarge,
                        "",
                        format!("line is longer than {MAX_LINE_BYTES} bytes"),
                    ),
                ));
            } else if !trim_eol(&buf).iter().all(u8::is_ascii_whitespace) {
                lines.push((line_no, buf));
            }
        }
        if lines.len() >= batch || (eof && (!lines.is_empty() || !rejected.is_empty())) {
            let chunk = RawChunk {
                seq,
                through_line: line_no,
                lines: std::mem::take(&mut lines),
                rejected: std::mem::take(&mut rejected),
            };
            seq += 1;
            // Waits for room, but gives up once the committing side has stopped (it reports why).
            let mut pending = chunk;
            loop {
                match tx.try_send(pending) {
                    Ok(()) => break,
                    Err(mpsc::TrySendError::Full(c)) => {
                        if cancel.load(std::sync::atomic::Ordering::SeqCst) {
                            return Ok(());
                        }
                        pending = c;
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    Err(mpsc::TrySendError::Disconnected(_)) => return Ok(()),
                }
            }
        }
        if eof {
            return Ok(());
        }
    }
}

fn seal_chunk(
    raw: RawChunk,
    redactor: &Redactor,
    source: &str,
    clock: &dyn Clock,
) -> Result<Chunk> {
    let mut rejected = raw.rejected;
    let mut lines = Vec::with_capacity(raw.lines.len());
    let mut events: Vec<ValidEvent> = Vec::with_capacity(raw.lines.len());
    for (line_no, buf) in raw.lines {
        let parsed = json::parse_strict(trim_eol(&buf))
            .map_err(EventError::from)
            .and_then(|mut v| {
                redactor.redact_event(&mut v);
                event::validate_client_event(v)
            });
        match parsed {
            Ok(ev) => {
                lines.push(line_no);
                events.push(ev);
            }
            Err(e) => rejected.push((line_no, e)),
        }
    }
    Ok(Chunk {
        through_line: raw.through_line,
        lines,
        prepared: prepare(&events, source, clock)?,
        rejected,
    })
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn commit(
    ledger: &mut Ledger,
    chunk: Chunk,
    tally: &mut Tally,
    out: &mut impl Write,
) -> Result<()> {
    tally.rejected.extend(chunk.rejected);
    if chunk.prepared.events.is_empty() {
        return Ok(());
    }
    let outcomes = ledger
        .append_prepared(std::slice::from_ref(&chunk.prepared))
        .with_context(|| {
            format!(
                "committing the batch that ends at line {}",
                chunk.through_line
            )
        })?
        .pop()
        .unwrap_or_default();
    for ((line, ev), outcome) in chunk.lines.iter().zip(&chunk.prepared.events).zip(outcomes) {
        match outcome {
            AppendOutcome::Appended { .. } => tally.accepted += 1,
            AppendOutcome::Duplicate { .. } => tally.duplicate += 1,
            AppendOutcome::Conflict { leaf_index } => tally.rejected.push((
                *line,
                EventError::new(
                    ErrorCode::Conflict,
                    "event_id",
                    format!(
                        "event {:?} is already stored at leaf {leaf_index} with different content",
                        ev.row.event_id
                    ),
                ),
            )),
        }
    }
    writeln!(
        out,
        "committed through line {} (tree size {})",
        chunk.through_line,
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
