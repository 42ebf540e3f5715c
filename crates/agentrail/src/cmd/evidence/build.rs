//! `agentrail evidence`: builds a bundle from the log (docs/evidence.md).

use super::files::{check_out, Writer};
use super::*;
use crate::cli::EvidenceArgs;
use crate::cmd::session::Reader;
use crate::exit::{Exit, InvalidInput};
use agentrail_core::checkpoint::open_checkpoint;
use agentrail_core::merkle::CompactRange;
use agentrail_core::timefmt;
use agentrail_index::assess::{gather, Period};
use agentrail_policy::PolicyState;
use agentrail_store::backend::Backend;
use agentrail_store::clock::{Clock, SystemClock};
use agentrail_store::tiles::TileReader;
use agentrail_store::ReadLedger;
use anyhow::{bail, Context};
use std::path::Path;

/// How far before a bound's time the search for the first checkpoint at or after it looks
/// (received_at is in log order only up to how long a batch waits for its commit).
const LOOKBACK_NANOS: i128 = 10 * 60 * 1_000_000_000;

/// A point of the log a period is bounded by: a stored checkpoint, or the empty tree.
#[derive(Debug, Clone)]
struct Bound {
    size: u64,
    /// None for the empty tree.
    checkpoint: Option<CheckpointRow>,
}

pub fn run(data: &Path, a: &EvidenceArgs) -> Result<Exit> {
    let period = match (&a.session, &a.from) {
        (Some(_), _) => None,
        (None, Some(from)) => {
            let from_n = parse_bound("--from", from)?;
            let to_n =
                a.to.as_deref()
                    .map(|t| parse_bound("--to", t))
                    .transpose()?;
            if let Some(t) = to_n {
                if t <= from_n {
                    bail!(
                        "--to {} is not after --from {from}",
                        a.to.as_deref().unwrap_or_default()
                    );
                }
            }
            Some((from_n, to_n))
        }
        (None, None) => bail!("give --from T [--to T] for a period, or --session ID"),
    };
    if a.seed.as_deref() == Some("") {
        bail!("--seed is empty: give the seed's text, or leave --seed out to draw from the end checkpoint's root");
    }
    check_out(&a.out)?;
    let mut r = Reader::caught_up(data)?;
    let signer = agentrail_store::ledger::signer(data)?;
    let ledger = r.ledger.as_mut();
    let verifier = ReadLedger::new(ledger).verifier()?;
    if verifier.to_vkey() != signer.verifier().to_vkey() {
        bail!("signing.key does not match the verifier key the log recorded at init");
    }
    if ledger.leaf_count()? == 0 {
        return Err(InvalidInput("the log is empty: there is nothing to bundle".into()).into());
    }
    let checkpoints: Vec<CheckpointRow> = ledger
        .checkpoints()?
        .into_iter()
        .filter(|cp| cp.size > 0)
        .collect();
    let Some(latest) = checkpoints.last().cloned() else {
        return Err(InvalidInput(
            "the log has no signed checkpoint yet: run `agentrail checkpoint --new`".into(),
        )
        .into());
    };
    // The checkpoints a bundle shows are checked before they are used (not every one ever
    // signed: a year holds millions).
    let check = |cp: &CheckpointRow| -> Result<()> {
        match open_checkpoint(&cp.note, &verifier) {
            Ok(body) if body.size == cp.size && body.root == cp.root => Ok(()),
            _ => Err(InvalidInput(format!(
                "checkpoint {} does not verify with the log's key, or its row disagrees with its note: run `agentrail verify`",
                cp.size
            ))
            .into()),
        }
    };
    // Each kept checkpoint is read and checked before any work is done.
    let mut trusted = Vec::new();
    for f in &a.trusted {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("reading the trusted checkpoint {}", f.display()))?;
        let cp = open_checkpoint(&text, &verifier).map_err(|e| {
            InvalidInput(format!(
                "--trusted {}: does not verify with this log's key: {e}",
                f.display()
            ))
        })?;
        trusted.push((f.clone(), cp));
    }
    let now = timefmt::format_unix_nanos(SystemClock.now_unix_nanos())
        .context("formatting the time of the bundle")?;
    let mut out = Writer::create(&a.out)?;
    let mut info = json!({
        "format": FORMAT,
        "log": {"origin": verifier.name(), "key": verifier.to_vkey()},
        "created_at": now,
        "created_by": generator(),
    });

    // The bounds, the population and the sample.
    let (end, sample): (CheckpointRow, Vec<String>) = match period {
        Some((from_n, to_n)) => {
            let bounds = Bounds::new(ledger, &checkpoints)?;
            let start = bounds.first_at_or_after(ledger, from_n)?;
            let end = match to_n {
                Some(t) => bounds.first_at_or_after(ledger, t)?,
                None => Some(bounds.points.last().cloned().unwrap_or(Bound {
                    size: latest.size,
                    checkpoint: Some(latest.clone()),
                })),
            };
            if let Some(Bound {
                size: 0,
                checkpoint: None,
            }) = end
            {
                return Err(InvalidInput(format!(
                    "--to {} is at or before the log's first leaf: the period holds no leaf of this log",
                    a.to.as_deref().unwrap_or_default()
                ))
                .into());
            }
            let start = start.ok_or_else(|| {
                InvalidInput(format!(
                    "no checkpoint at or after --from {}: the log's last checkpoint (size {}) \
                     ends before it",
                    a.from.as_deref().unwrap_or_default(),
                    latest.size
                ))
            })?;
            let Some(Bound {
                size: end_size,
                checkpoint: Some(end),
            }) = end
            else {
                return Err(InvalidInput(format!(
                    "no checkpoint at or after --to {}: the period is not over in this log yet \
                     (its last checkpoint, size {}, ends with a leaf received before it); give \
                     an earlier --to, or leave --to out to end at the last checkpoint",
                    a.to.as_deref().unwrap_or_default(),
                    latest.size
                ))
                .into());
            };
            debug_assert_eq!(end_size, end.size);
            for b in [Some(&start), bounds.previous(&start).as_ref()]
                .into_iter()
                .flatten()
                .filter_map(|b| b.checkpoint.as_ref())
                .chain([&end])
            {
                check(b)?;
            }
            let pop = population(ledger, &mut out, &start, &end, true)?;
            boundaries(ledger, &mut out, &bounds, &start, &end)?;
            let candidates: Vec<&str> = pop.candidates(&a.agents).collect();
            if candidates.is_empty() && a.sessions.is_none() {
                if !a.agents.is_empty() {
                    return Err(InvalidInput(format!(
                        "no session of the period has an event by --agent {}: nothing to sample (is the agent id right?)",
                        a.agents.join(", ")
                    ))
                    .into());
                }
                eprintln!(
                    "the period (leaves {} to {}) holds no agent run: the bundle shows an empty population",
                    start.size, end.size
                );
            }
            let (sample, method) = match &a.sessions {
                Some(file) => (auditor_list(file, &pop)?, json!({"method": "list"})),
                None => {
                    let (seed, source) = match &a.seed {
                        Some(s) => (s.as_bytes().to_vec(), "given"),
                        None => (end.root.as_bytes().to_vec(), "end-root"),
                    };
                    let drawn = draw(&seed, candidates.iter().copied(), a.sample as usize);
                    (
                        drawn,
                        json!({
                            "method": "seed",
                            "seed": agentrail_core::hash::to_hex(&seed),
                            "seed_source": source,
                            "requested": a.sample,
                        }),
                    )
                }
            };
            let mut s = method;
            s["sessions"] = json!(sample);
            s["candidates"] = json!(candidates.len());
            info["kind"] = json!("period");
            info["period"] = json!({
                "from": a.from,
                "to": a.to,
                "rule": "first checkpoint whose last leaf was received at or after each bound",
            });
            info["start"] = json!({"size": start.size, "root": bound_root(&start).to_base64()});
            info["end"] = json!({"size": end.size, "root": end.root.to_base64()});
            info["agents"] = json!(a.agents);
            info["population"] = json!({"leaves": pop.leaves, "records": pop.records, "sessions": pop.sessions.len()});
            info["sample"] = s;
            (end, sample)
        }
        None => {
            // One session: its population is every leaf from its first event to the first
            // checkpoint that covers its last, so the verifier can see none is missing.
            let id = a.session.clone().unwrap_or_default();
            let rows = ledger.session_leaves(&id, latest.size)?;
            let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
                return Err(InvalidInput(if r.index.session(&id)?.is_some() {
                    format!("session {id:?} has no event covered by a checkpoint yet: run `agentrail checkpoint --new` and try again")
                } else {
                    format!("no session with id {id:?}")
                })
                .into());
            };
            if first.kind.starts_with("agentrail.") {
                return Err(InvalidInput(format!(
                    "{id:?} holds agentrail's own records, not an agent run"
                ))
                .into());
            }
            let end = checkpoints
                .iter()
                .find(|cp| cp.size > last.leaf_index)
                .cloned()
                .unwrap_or_else(|| latest.clone());
            check(&end)?;
            let start = Bound {
                size: first.leaf_index,
                checkpoint: None,
            };
            let pop = population(ledger, &mut out, &start, &end, false)?;
            info["kind"] = json!("session");
            info["start"] = json!({"size": start.size});
            info["end"] = json!({"size": end.size, "root": end.root.to_base64()});
            info["population"] = json!({"leaves": pop.leaves, "records": pop.records, "sessions": pop.sessions.len()});
            info["sample"] = json!({"method": "session", "sessions": [id]});
            (end, vec![id])
        }
    };

    // Consistency proofs between the checkpoints the auditor kept and the end.
    for (f, cp) in &trusted {
        if cp.size > ledger.leaf_count()? {
            return Err(InvalidInput(format!(
                "--trusted {}: size {} is larger than this log ({} leaves): the log was rolled back or is another log",
                f.display(),
                cp.size,
                ledger.leaf_count()?
            ))
            .into());
        }
        let mut tiles = TileReader::new(ledger);
        let at = agentrail_core::merkle::root(&mut tiles, cp.size)?;
        if at != cp.root {
            return Err(InvalidInput(format!(
                "--trusted {}: this log's root at size {} is {}, the checkpoint's {}: the log forked",
                f.display(),
                cp.size,
                at.to_base64(),
                cp.root.to_base64()
            ))
            .into());
        }
        let (old, new) = (cp.size.min(end.size), cp.size.max(end.size));
        let proof = agentrail_core::merkle::consistency_proof(&mut tiles, old, new)
            .map_err(|e| anyhow!("consistency proof {old} to {new}: {e:?}"))?;
        let path = trusted_proof_path(cp.size);
        if !out.hashes().contains_key(&path) {
            out.put(&path, hash_lines(&proof).as_bytes())?;
        }
    }

    // The policy and inventory records up to the end, and what was in force there.
    let mut proofs: HashMap<u64, Vec<Hash>> = HashMap::new();
    let records = state_records(ledger, &end)?;
    let mut state = PolicyState::default();
    for row in &records {
        put_event(ledger, &mut out, row, &end, &mut proofs, |i| {
            record_paths(i)
        })?;
        let body: Value = serde_json::from_slice(row.body.as_deref().unwrap_or_default())
            .with_context(|| format!("leaf {}: the record's body is not JSON", row.leaf_index))?;
        // As the index does: a record that does not apply leaves the state as it was.
        let _ = state.apply_record(&row.kind, &body);
    }
    let mut files = Vec::new();
    for (path, text) in state.policies.files() {
        let sha = Hash::sha256(text.as_bytes()).to_hex();
        out.put(&policy_text_path(&sha), text.as_bytes())?;
        files.push(json!({"path": path, "sha256": sha, "file": policy_text_path(&sha)}));
    }
    out.put(
        IN_FORCE,
        &canonical(&json!({
            "at_size": end.size,
            "policy_set_hash": state.policies.hash(),
            "files": files,
            "records": records.iter().map(|r| r.leaf_index).collect::<Vec<_>>(),
        }))?,
    )?;
    out.put(INVENTORY, &canonical(&state.inventory.to_json())?)?;

    // Each sampled session: its events below the end, their proofs, its narrative.
    let mut sessions = Vec::with_capacity(sample.len());
    let mut dirs = Vec::with_capacity(sample.len());
    for (k, id) in sample.iter().enumerate() {
        let dir = session_dir(k + 1);
        let rows = ledger.session_leaves(id, end.size)?;
        if rows.is_empty() {
            return Err(InvalidInput(format!(
                "session {id:?} has no event covered by checkpoint {} yet: run `agentrail checkpoint --new` and try again",
                end.size
            ))
            .into());
        }
        for row in &rows {
            put_event(ledger, &mut out, row, &end, &mut proofs, |i| {
                event_paths(&dir, i)
            })?;
        }
        let later = ledger.session_leaves(id, i64::MAX as u64)?.len() - rows.len();
        if later > 0 {
            eprintln!(
                "session {}: {later} event(s) appended after checkpoint {} are not in the bundle",
                super::super::session::escape::escape(id),
                end.size
            );
        }
        sessions.push((id.clone(), rows));
        dirs.push(dir);
    }
    let told = narratives(&records, &sessions, &end, &proofs)?;
    for (dir, n) in dirs.iter().zip(&told) {
        out.put(&format!("{dir}/narrative.md"), n.markdown.as_bytes())?;
        out.put(&format!("{dir}/narrative.html"), n.html.as_bytes())?;
    }

    // The gap assessment of the period (the team's own report, not re-derived by a verifier).
    let mut assessment_line = None;
    if info["kind"] == "period" {
        let state_now = r.index.policy_state()?;
        let report = gather::report(
            &r.index,
            r.ledger.as_mut(),
            &state_now,
            Period {
                from: a.from.clone(),
                to: a.to.clone(),
            },
            &now,
        )?;
        let mut j = report.to_json();
        agentrail_core::json::sort_keys(&mut j);
        out.put(ASSESSMENT_JSON, format!("{}\n", j).as_bytes())?;
        out.put(ASSESSMENT_MD, report.to_markdown().as_bytes())?;
        out.put(ASSESSMENT_HTML, report.to_html().as_bytes())?;
        assessment_line = Some(report.summary_sentence().to_string());
    }
    let controls = controls(info["kind"] == "period", &dirs);
    out.put(CONTROLS, &canonical(&controls)?)?;
    out.put(KEY, format!("{}\n", verifier.to_vkey()).as_bytes())?;
    let info_bytes = canonical(&info)?;
    out.put(BUNDLE_JSON, &info_bytes)?;
    let index = page::index(&page::IndexInput {
        info: &info,
        controls: &controls,
        sessions: &sessions,
        dirs: &dirs,
        assessment: assessment_line.as_deref(),
    });
    out.put(INDEX_HTML, index.as_bytes())?;
    let manifest = signer
        .sign(&manifest_text(out.hashes()))
        .map_err(|e| anyhow!("signing the manifest: {e}"))?;
    let files_n = out.hashes().len() + 1;
    let dest = out.finish(&manifest)?;
    say!(
        "wrote {} ({} files, {} sampled session{}, end checkpoint {})",
        dest.display(),
        files_n,
        sample.len(),
        if sample.len() == 1 { "" } else { "s" },
        end.size
    );
    say!(
        "check it with: agentrail verify-bundle {} --key '{}'",
        dest.display(),
        verifier.to_vkey()
    );
    Ok(Exit::Success)
}

/// A period flag (RFC 3339 or a date) in Unix nanoseconds; errors name `field`.
pub fn parse_bound(field: &str, v: &str) -> Result<i128> {
    let sortable = agentrail_index::query::parse_time(field, v)?;
    let normal = agentrail_index::session::normal(&sortable);
    timefmt::parse_unix_nanos(&normal).map_err(|e| anyhow!("{field} {v:?}: {e}"))
}

/// The time of a received_at value, in Unix nanoseconds.
pub fn received_nanos(leaf_index: u64, received_at: &str) -> Result<i128, String> {
    timefmt::parse_unix_nanos(received_at)
        .map_err(|e| format!("leaf {leaf_index}: received_at {received_at:?}: {e}"))
}

/// The points a period may start or end at: the empty tree, then every stored checkpoint.
struct Bounds {
    points: Vec<Bound>,
}

impl Bounds {
    fn new(ledger: &mut dyn Backend, checkpoints: &[CheckpointRow]) -> Result<Bounds> {
        let mut points = vec![Bound {
            size: 0,
            checkpoint: None,
        }];
        if ledger.leaf_count()? == 0 {
            points.clear();
        }
        points.extend(checkpoints.iter().map(|cp| Bound {
            size: cp.size,
            checkpoint: Some(cp.clone()),
        }));
        Ok(Bounds { points })
    }

    /// The leaf whose received_at is a point's time: the last leaf it covers; for the empty
    /// tree, the log's first leaf.
    fn time_leaf(b: &Bound) -> u64 {
        b.size.saturating_sub(1)
    }

    fn time(ledger: &mut dyn Backend, b: &Bound) -> Result<i128> {
        let i = Self::time_leaf(b);
        let row = ledger
            .leaf(i)?
            .with_context(|| format!("leaf {i} is missing: run `agentrail verify`"))?;
        received_nanos(i, &row.received_at).map_err(|e| InvalidInput(e).into())
    }

    /// The first point in log order whose time is at or after `t`.
    ///
    /// `received_at` is stamped when a batch is prepared, before the writer orders it, so it
    /// only almost grows with the log: two batches prepared concurrently may commit in the other
    /// order. A binary search finds a point at or after `t` whose predecessor is before it; the
    /// first one in log order may be earlier, by as much as a batch ever waited for its commit,
    /// so every point within [`LOOKBACK_NANOS`] before `t` is looked at too.
    fn first_at_or_after(&self, ledger: &mut dyn Backend, t: i128) -> Result<Option<Bound>> {
        let (mut lo, mut hi) = (0usize, self.points.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if Self::time(ledger, &self.points[mid])? < t {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let mut first = lo;
        for j in (0..lo.min(self.points.len())).rev() {
            let at = Self::time(ledger, &self.points[j])?;
            if at >= t {
                first = j;
            } else if at < t - LOOKBACK_NANOS {
                break;
            }
        }
        Ok(self.points.get(first).cloned())
    }

    fn previous(&self, b: &Bound) -> Option<Bound> {
        let i = self.points.iter().position(|p| p.size == b.size)?;
        i.checked_sub(1).map(|i| self.points[i].clone())
    }
}

/// The root of the tree at a bound: the checkpoint's, or the empty tree's.
fn bound_root(b: &Bound) -> Hash {
    b.checkpoint
        .as_ref()
        .map_or_else(agentrail_core::merkle::empty_root, |cp| cp.root)
}

/// Writes the population (the leaves of the period, the start tree's frontier, both
/// checkpoints and the consistency proof between them) and derives its sessions.
fn population(
    ledger: &mut dyn Backend,
    out: &mut Writer,
    start: &Bound,
    end: &CheckpointRow,
    consistency: bool,
) -> Result<Population> {
    if let Some(cp) = &start.checkpoint {
        out.put(START_CHECKPOINT, cp.note.as_bytes())?;
    }
    out.put(END_CHECKPOINT, end.note.as_bytes())?;
    let frontier = CompactRange::from_reader(&mut TileReader::new(ledger), start.size)?;
    out.put(FRONTIER, hash_lines(frontier.hashes()).as_bytes())?;
    // A period starts at a checkpoint (or the empty tree) and carries the consistency proof;
    // a session's population starts at its first leaf, which no checkpoint signs.
    if consistency {
        let proof = ReadLedger::new(ledger).consistency_proof(start.size, end.size)?;
        out.put(CONSISTENCY, hash_lines(&proof).as_bytes())?;
    }
    // Streamed: a year's population does not fit in memory.
    let mut pop = Population::default();
    out.put_with(LEAVES, |w| {
        let mut from = start.size;
        while from < end.size {
            let rows = ledger.leaves(from, 10_000.min((end.size - from) as usize))?;
            if rows.is_empty() {
                bail!("the ledger has no leaf {from}: run `agentrail verify`");
            }
            for row in &rows {
                let h = event::parse_leaf(&row.leaf).map_err(|e| {
                    InvalidInput(format!(
                        "leaf {} is not an agentrail event ({e}): run `agentrail verify`",
                        row.leaf_index
                    ))
                })?;
                pop.add(row.leaf_index, &h);
                w.write_all(&row.leaf)?;
                w.write_all(b"\n")?;
            }
            from += rows.len() as u64;
        }
        Ok(())
    })?;
    out.put(SESSIONS, &canonical(&pop.to_json())?)?;
    Ok(pop)
}

/// `period/boundaries.json`: for each bound, the leaf that times it and the point before it,
/// with the leaves' inclusion proofs into the end checkpoint, so the rule can be checked.
fn boundaries(
    ledger: &mut dyn Backend,
    out: &mut Writer,
    bounds: &Bounds,
    start: &Bound,
    end: &CheckpointRow,
) -> Result<()> {
    let end_bound = Bound {
        size: end.size,
        checkpoint: Some(end.clone()),
    };
    let mut doc = Map::new();
    for (name, b) in [("start", start), ("end", &end_bound)] {
        let previous = bounds.previous(b);
        let mut item = point(ledger, b, end)?;
        item["previous"] = match &previous {
            Some(p) => point(ledger, p, end)?,
            None => Value::Null,
        };
        doc.insert(name.into(), item);
    }
    out.put(BOUNDARIES, &canonical(&Value::Object(doc))?)?;
    Ok(())
}

fn point(ledger: &mut dyn Backend, b: &Bound, end: &CheckpointRow) -> Result<Value> {
    let i = Bounds::time_leaf(b);
    let time_leaf = if i < end.size {
        let row = ledger
            .leaf(i)?
            .with_context(|| format!("leaf {i} is missing: run `agentrail verify`"))?;
        let proof = ReadLedger::new(ledger).inclusion_proof(i, end)?;
        json!({
            "index": i,
            "leaf": String::from_utf8_lossy(&row.leaf),
            "proof": proof.hashes.iter().map(|h| h.to_base64()).collect::<Vec<_>>(),
        })
    } else {
        Value::Null
    };
    Ok(json!({
        "size": b.size,
        "checkpoint": b.checkpoint.as_ref().map(|c| c.note.clone()),
        "time_leaf": time_leaf,
    }))
}

/// The auditor's own list, each a session of the population.
fn auditor_list(file: &Path, pop: &Population) -> Result<Vec<String>> {
    let out = read_session_list(file)?;
    if let Some((n, id)) = out.iter().find(|(_, id)| !pop.sessions.contains_key(id)) {
        return Err(InvalidInput(format!(
            "{} line {n}: session {id:?} has no event in the period's population",
            file.display()
        ))
        .into());
    }
    Ok(out.into_iter().map(|(_, id)| id).collect())
}

/// Every inventory and policy record below the end checkpoint, in leaf order, with bodies.
fn state_records(ledger: &mut dyn Backend, end: &CheckpointRow) -> Result<Vec<LeafRow>> {
    Ok(ledger
        .session_leaves("agentrail", end.size)?
        .into_iter()
        .filter(|r| STATE_KINDS.contains(&r.kind.as_str()))
        .collect())
}

/// Writes one event's bytes and its tlog-proof into the end checkpoint.
fn put_event(
    ledger: &mut dyn Backend,
    out: &mut Writer,
    row: &LeafRow,
    end: &CheckpointRow,
    proofs: &mut HashMap<u64, Vec<Hash>>,
    paths: impl Fn(u64) -> (String, String),
) -> Result<()> {
    let Some(body) = &row.body else {
        return Err(InvalidInput(format!(
            "session {:?}, leaf {}: its body was erased, and a bundle holds whole events only; \
             leave the session out of the sample (--sessions, or another --seed)",
            row.session_id, row.leaf_index
        ))
        .into());
    };
    let bytes = event::event_bytes(&row.leaf, body)
        .with_context(|| format!("leaf {}: cannot rebuild the stored event", row.leaf_index))?;
    let proof = ReadLedger::new(ledger).inclusion_proof(row.leaf_index, end)?;
    let (event_path, proof_path) = paths(row.leaf_index);
    out.put(&event_path, &bytes)?;
    out.put(&proof_path, proof.to_text().as_bytes())?;
    proofs.insert(row.leaf_index, proof.hashes);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentrail_store::clock::ManualClock;
    use agentrail_store::{InitOptions, Ledger};
    use std::sync::Arc;

    /// A log whose received_at goes back in log order, as under concurrent writers: one event
    /// per batch, prepared at these seconds, appended in this order, a checkpoint after each.
    fn log(seconds: &[i64]) -> (tempfile::TempDir, Box<dyn Backend>) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let clock = Arc::new(ManualClock::new(0));
        Ledger::init(
            &dir,
            &InitOptions {
                origin: Some("example.com/test".into()),
                publish: None,
            },
            clock.as_ref(),
        )
        .unwrap();
        let mut ledger = Ledger::open(&dir, "test", clock.clone()).unwrap();
        for (i, s) in seconds.iter().enumerate() {
            let line = format!(
                r#"{{"event_id":"e{i}","session_id":"s","agent_id":"a","kind":"note","ts":"2026-11-24T10:14:09Z","note":{{"text":"hi"}}}}"#
            );
            let ev = event::parse_client_event(line.as_bytes()).unwrap();
            let at = ManualClock::new(s * 1000);
            let batch = agentrail_store::prepare(&[ev], "cli", &at).unwrap();
            ledger.append_prepared(&[batch]).unwrap();
            ledger.checkpoint_now().unwrap();
        }
        drop(ledger);
        let backend = agentrail_store::ledger::open_read(&dir).unwrap();
        (tmp, backend)
    }

    fn first(backend: &mut dyn Backend, second: i64) -> Option<u64> {
        let cps = backend.checkpoints().unwrap();
        let bounds = Bounds::new(backend, &cps).unwrap();
        bounds
            .first_at_or_after(backend, second as i128 * 1_000_000_000)
            .unwrap()
            .map(|b| b.size)
    }

    #[test]
    fn the_first_checkpoint_in_log_order_is_found_when_received_at_goes_back() {
        // Points and their times: empty tree 1000 (leaf 0), then sizes 1..=5 timed by their
        // last leaf: 1000, 1700, 1500, 1600, 3000. A binary search for 1650 lands on size 5.
        let (_t, mut b) = log(&[1000, 1700, 1500, 1600, 3000]);
        assert_eq!(first(b.as_mut(), 1650), Some(2));
        assert_eq!(first(b.as_mut(), 1550), Some(2));
        assert_eq!(first(b.as_mut(), 1700), Some(2));
        assert_eq!(first(b.as_mut(), 1701), Some(5));
        assert_eq!(
            first(b.as_mut(), 500),
            Some(0),
            "before the first leaf: the empty tree"
        );
        assert_eq!(first(b.as_mut(), 1000), Some(0));
        assert_eq!(first(b.as_mut(), 4000), None, "the period is not over");
    }

    #[test]
    fn in_order_logs_give_the_same_bound_as_a_scan() {
        let seconds: Vec<i64> = (0..40).map(|i| 1000 + 30 * i).collect();
        let (_t, mut b) = log(&seconds);
        for t in (900..2300).step_by(7) {
            // The first point whose time is at or after t, by a plain scan.
            let want = std::iter::once(0u64).chain(1..=40).find(|&size| {
                let leaf = size.saturating_sub(1) as usize;
                seconds[leaf] >= t
            });
            assert_eq!(first(b.as_mut(), t), want, "at {t}");
        }
    }
}
