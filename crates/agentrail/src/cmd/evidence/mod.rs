//! Evidence bundles (docs/evidence.md): `agentrail evidence` builds one from the log,
//! `agentrail verify-bundle` checks one offline with nothing but the bundle and the log's
//! verifier key.
//!
//! This module holds what the two sides must compute the same way: the file layout, the signed
//! manifest, the session list derived from the population's leaves, the sample draw, and the
//! narratives rebuilt from a bundle's own events. The builder never writes a derived file the
//! verifier could not derive again from the bundle's proven bytes.

mod build;
mod files;
mod page;
mod verify;

pub use build::run as build;
pub use verify::{check_quietly, run as verify};

use super::session::narrative;
use agentrail_core::checkpoint::TlogProof;
use agentrail_core::note::Verifier;
use agentrail_core::{event, Hash};
use agentrail_index::view::{self, Integrity};
use agentrail_index::Index;
use agentrail_store::backend::{CheckpointRow, LeafRow};
use anyhow::{anyhow, Context, Result};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The value of `format` in `bundle.json`, and the first line of the manifest.
pub const FORMAT: &str = "agentrail.evidence/v1";
/// The signed manifest: a C2SP signed note listing every other file with its SHA-256.
pub const MANIFEST: &str = "MANIFEST";
pub const BUNDLE_JSON: &str = "bundle.json";
pub const KEY: &str = "verifier.vkey";
pub const START_CHECKPOINT: &str = "checkpoints/start.checkpoint";
pub const END_CHECKPOINT: &str = "checkpoints/end.checkpoint";
pub const CONSISTENCY: &str = "checkpoints/consistency.proof";
pub const FRONTIER: &str = "population/frontier.txt";
pub const LEAVES: &str = "population/leaves.ndjson";
pub const SESSIONS: &str = "population/sessions.json";
pub const BOUNDARIES: &str = "period/boundaries.json";
pub const RECORDS_DIR: &str = "policies/records";
pub const IN_FORCE: &str = "policies/in-force.json";
pub const POLICY_TEXT_DIR: &str = "policies/text";
pub const INVENTORY: &str = "inventory.json";
pub const ASSESSMENT_JSON: &str = "assessment/assessment.json";
pub const ASSESSMENT_MD: &str = "assessment/assessment.md";
pub const ASSESSMENT_HTML: &str = "assessment/assessment.html";
pub const CONTROLS: &str = "controls.json";
pub const INDEX_HTML: &str = "index.html";

/// Kinds of the records that say which inventory and policies were in force.
pub const STATE_KINDS: [&str; 2] = [
    agentrail_policy::POLICY_KIND,
    agentrail_policy::INVENTORY_KIND,
];

/// What made a bundle (`bundle.json` `created_by`): narratives are rebuilt with this version's
/// rules, so a verifier of another version says so when one differs.
pub fn generator() -> String {
    format!("agentrail {}", env!("CARGO_PKG_VERSION"))
}

/// The directory of the sampled session of rank `rank` (1-based).
pub fn session_dir(rank: usize) -> String {
    format!("sessions/{rank:03}")
}

/// The event file and proof file of the leaf `index` under `dir`.
pub fn event_paths(dir: &str, index: u64) -> (String, String) {
    (
        format!("{dir}/events/{index}.json"),
        format!("{dir}/events/{index}.tlog-proof"),
    )
}

/// The record file and proof file of the policy or inventory record at leaf `index`.
pub fn record_paths(index: u64) -> (String, String) {
    (
        format!("{RECORDS_DIR}/{index}.json"),
        format!("{RECORDS_DIR}/{index}.tlog-proof"),
    )
}

/// The consistency proof between a checkpoint the auditor kept, of `size`, and the end
/// checkpoint.
pub fn trusted_proof_path(size: u64) -> String {
    format!("checkpoints/trusted/{size}.proof")
}

/// The file holding one policy text, named by the SHA-256 of the text.
pub fn policy_text_path(sha256_hex: &str) -> String {
    format!("{POLICY_TEXT_DIR}/{sha256_hex}.cedar")
}

/// True when `path` may name a file in a bundle: relative, `/`-separated, each segment of
/// `[A-Za-z0-9._-]`, not `.` or `..`, at most 255 bytes in all. Nothing a bundle names can
/// escape its directory, and nothing needs quoting in the manifest.
pub fn valid_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 255
        && path.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
}

/// The manifest's note text: the format line, then `<sha256 hex>  <path>` for every file but
/// the manifest, sorted by path (the lines `sha256sum -c` reads).
pub fn manifest_text(files: &BTreeMap<String, Hash>) -> String {
    let mut text = format!("{FORMAT}\n");
    for (path, hash) in files {
        text.push_str(&format!("{}  {path}\n", hash.to_hex()));
    }
    text
}

/// Parses a manifest's note text (already opened with the key) into path -> SHA-256.
pub fn parse_manifest(text: &str) -> Result<BTreeMap<String, Hash>, String> {
    let mut lines = text.lines();
    if lines.next() != Some(FORMAT) {
        return Err(format!("its first line is not {FORMAT:?}"));
    }
    let mut files = BTreeMap::new();
    let mut last: Option<String> = None;
    for (n, line) in lines.enumerate() {
        let n = n + 2;
        let (hex, path) = line
            .split_once("  ")
            .ok_or_else(|| format!("line {n} is not \"<sha256 hex>  <path>\""))?;
        let hash = Hash::from_hex(hex)
            .filter(|_| hex.len() == 64 && hex.bytes().all(|b| !b.is_ascii_uppercase()))
            .ok_or_else(|| format!("line {n}: {hex:?} is not 64 lowercase hex digits"))?;
        if !valid_path(path) || path == MANIFEST {
            return Err(format!(
                "line {n}: {path:?} is not a path a bundle may hold"
            ));
        }
        if last.as_deref().is_some_and(|l| l >= path) {
            return Err(format!(
                "line {n}: {path:?} is out of order or listed twice (paths are sorted bytewise)"
            ));
        }
        last = Some(path.to_string());
        files.insert(path.to_string(), hash);
    }
    Ok(files)
}

/// One session of the population, as derived from the leaves in the period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PopSession {
    pub agents: BTreeSet<String>,
    pub leaves: u64,
    pub first_leaf: u64,
    pub last_leaf: u64,
    pub first_received_at: String,
    pub last_received_at: String,
    pub kinds: BTreeMap<String, u64>,
}

/// The sessions of a population, derived from its leaves one at a time.
#[derive(Debug, Default)]
pub struct Population {
    pub leaves: u64,
    /// Leaves of agentrail's own records (never part of a session).
    pub records: u64,
    pub sessions: BTreeMap<String, PopSession>,
}

impl Population {
    /// Adds the leaf at `index`; `leaf` must already have passed [`event::parse_leaf`].
    pub fn add(&mut self, index: u64, h: &event::LeafHeader) {
        self.leaves += 1;
        if h.kind.starts_with("agentrail.") {
            self.records += 1;
            return;
        }
        let s = self
            .sessions
            .entry(h.session_id.clone())
            .or_insert_with(|| PopSession {
                first_leaf: index,
                first_received_at: h.received_at.clone(),
                ..PopSession::default()
            });
        s.agents.insert(h.agent_id.clone());
        s.leaves += 1;
        s.last_leaf = index;
        s.last_received_at = h.received_at.clone();
        *s.kinds.entry(h.kind.clone()).or_default() += 1;
    }

    /// The sessions an agent filter keeps: those with a leaf in the period by one of `agents`
    /// (all sessions when `agents` is empty).
    pub fn candidates<'a>(&'a self, agents: &'a [String]) -> impl Iterator<Item = &'a str> + 'a {
        self.sessions
            .iter()
            .filter(move |(_, s)| agents.is_empty() || agents.iter().any(|a| s.agents.contains(a)))
            .map(|(id, _)| id.as_str())
    }

    /// `population/sessions.json`: canonical JSON, sessions sorted by id.
    pub fn to_json(&self) -> Value {
        let sessions: Vec<Value> = self
            .sessions
            .iter()
            .map(|(id, s)| {
                json!({
                    "session_id": id,
                    "agents": s.agents,
                    "leaves": s.leaves,
                    "first_leaf": s.first_leaf,
                    "last_leaf": s.last_leaf,
                    "first_received_at": s.first_received_at,
                    "last_received_at": s.last_received_at,
                    "kinds": s.kinds,
                })
            })
            .collect();
        json!({
            "leaves": self.leaves,
            "records": self.records,
            "sessions": sessions,
        })
    }
}

/// An auditor's list of sessions: one id per line, in the order wanted; blank lines and lines
/// starting with `#` skipped; none twice, at least one. Errors name the file and line.
/// Returns each id with its line number.
pub fn read_session_list(file: &std::path::Path) -> Result<Vec<(usize, String)>> {
    use crate::exit::InvalidInput;
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading the session list {}", file.display()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut out: Vec<(usize, String)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let id = line.trim();
        if id.is_empty() || id.starts_with('#') {
            continue;
        }
        if out.iter().any(|(_, s)| s == id) {
            return Err(InvalidInput(format!(
                "{} line {}: session {id:?} is listed twice",
                file.display(),
                n + 1
            ))
            .into());
        }
        out.push((n + 1, id.to_string()));
    }
    if out.is_empty() {
        return Err(InvalidInput(format!("{}: lists no session", file.display())).into());
    }
    Ok(out)
}

/// The sample key of a session: SHA-256(seed || 0x00 || session id).
pub fn sample_key(seed: &[u8], session_id: &str) -> Hash {
    let mut data = Vec::with_capacity(seed.len() + 1 + session_id.len());
    data.extend_from_slice(seed);
    data.push(0);
    data.extend_from_slice(session_id.as_bytes());
    Hash::sha256(&data)
}

/// The `n` candidates with the smallest sample keys, smallest first.
pub fn draw<'a>(seed: &[u8], candidates: impl Iterator<Item = &'a str>, n: usize) -> Vec<String> {
    let mut keyed: Vec<(Hash, &str)> = candidates.map(|s| (sample_key(seed, s), s)).collect();
    keyed.sort();
    keyed
        .into_iter()
        .take(n)
        .map(|(_, s)| s.to_string())
        .collect()
}

/// Canonical JSON text of `v` (RFC 8785), as every JSON file of a bundle is written.
pub fn canonical(v: &Value) -> Result<Vec<u8>> {
    agentrail_core::json::canonicalize(v).map_err(|e| anyhow!("encoding canonical JSON: {e}"))
}

/// A leaf row rebuilt from stored event bytes: the leaf (`leaf_from_event`) and the body.
pub fn row_from_event(index: u64, event_bytes: &[u8]) -> Result<LeafRow, String> {
    let leaf =
        event::leaf_from_event(event_bytes).map_err(|e| format!("not a stored event: {e}"))?;
    let h = event::parse_leaf(&leaf).map_err(|e| format!("not a stored event: {e}"))?;
    let v: Value = serde_json::from_slice(event_bytes).map_err(|e| format!("not JSON: {e}"))?;
    if agentrail_core::json::canonicalize(&v).ok().as_deref() != Some(event_bytes) {
        return Err("the event is not in canonical form (RFC 8785)".into());
    }
    let body = v.get("body").ok_or("it has no body").and_then(|b| {
        agentrail_core::json::canonicalize(b).map_err(|_| "its body is not canonical")
    })?;
    let content_hash = event::content_hash_of_stored(&h, &body)
        .map_err(|e| format!("its content cannot be hashed: {e}"))?;
    Ok(LeafRow {
        leaf_index: index,
        content_hash,
        event_id: h.event_id,
        session_id: h.session_id,
        agent_id: h.agent_id,
        kind: h.kind,
        ts: h.ts,
        received_at: h.received_at,
        principal: h.principal,
        leaf,
        body: Some(body),
    })
}

/// One sampled session's narrative, as Markdown and as an HTML page.
pub struct Narrative {
    pub markdown: String,
    pub html: String,
}

/// The narratives of the sampled sessions, rebuilt from the bundle's own bytes: the policy
/// and inventory records (so each event is judged by what was in force when it was appended)
/// and each session's events, indexed in leaf order in a throwaway index, each event's
/// inclusion taken from its proof (already verified against `end`).
///
/// The builder and the verifier both call this, so a narrative in a bundle is exactly what its
/// events say.
pub fn narratives(
    records: &[LeafRow],
    sessions: &[(String, Vec<LeafRow>)],
    end: &CheckpointRow,
    proofs: &HashMap<u64, Vec<Hash>>,
) -> Result<Vec<Narrative>> {
    let mut rows: Vec<LeafRow> = records.to_vec();
    for (_, events) in sessions {
        rows.extend(events.iter().cloned());
    }
    rows.sort_by_key(|r| r.leaf_index);
    let mut index = Index::open_in_memory()?;
    index.index_rows(&rows)?;
    let mut out = Vec::with_capacity(sessions.len());
    for (id, events) in sessions {
        let v = view::assemble(
            &index,
            id,
            events.clone(),
            Some((end.clone(), end.root)),
            Integrity::default(),
            |row, _, _| {
                proofs
                    .get(&row.leaf_index)
                    .cloned()
                    .ok_or_else(|| "no inclusion proof in the bundle".to_string())
            },
        )?;
        let doc = narrative::document(&v);
        let title = format!("Session {}", super::session::escape::escape(id));
        out.push(Narrative {
            markdown: doc.to_markdown(),
            html: page::page(&title, &doc.to_html(), page::Back::Up(2)),
        });
    }
    Ok(out)
}

/// A checkpoint row for a verified note (the stored `signed_at` is not part of a note, and
/// nothing a bundle shows depends on it).
pub fn checkpoint_row(note: &str, size: u64, root: Hash) -> CheckpointRow {
    CheckpointRow {
        size,
        root,
        note: note.to_string(),
        signed_at: String::new(),
    }
}

/// The SOC 2 criteria and the files of a bundle that evidence each (`controls.json`).
pub fn controls(has_period: bool, sample_dirs: &[String]) -> Value {
    let narratives: Vec<String> = sample_dirs
        .iter()
        .map(|d| format!("{d}/narrative.html"))
        .collect();
    let events: Vec<String> = sample_dirs.iter().map(|d| format!("{d}/events/")).collect();
    let population: Vec<&str> = if has_period {
        vec![
            LEAVES,
            SESSIONS,
            START_CHECKPOINT,
            END_CHECKPOINT,
            CONSISTENCY,
        ]
    } else {
        vec![END_CHECKPOINT]
    };
    let assessment: Vec<&str> = if has_period {
        vec![ASSESSMENT_HTML, ASSESSMENT_JSON]
    } else {
        vec![]
    };
    let mut m = Map::new();
    for (id, what) in agentrail_index::assess::CONTROLS {
        let (why, files): (&str, Vec<Value>) = match *id {
            "CC6.1" => (
                "Which agents exist, under which identity, and the scope policies that bound \
                 their access, as the log recorded them; each sampled run's intent: who \
                 initiated it and whether it was authorized.",
                [INVENTORY, IN_FORCE, RECORDS_DIR]
                    .iter()
                    .map(|s| json!(s))
                    .chain(narratives.iter().map(|s| json!(s)))
                    .chain(assessment.iter().map(|s| json!(s)))
                    .collect(),
            ),
            "CC6.6" => (
                "Every system, resource and tool each sampled run reached (its scope), each \
                 action's scope policy decision, and the complete population of runs.",
                events
                    .iter()
                    .map(|s| json!(s))
                    .chain(narratives.iter().map(|s| json!(s)))
                    .chain(population.iter().map(|s| json!(s)))
                    .collect(),
            ),
            "CC7.2" => (
                "The complete, tamper-evident population of agent activity in the period, with \
                 out-of-scope actions flagged, and the gap assessment of what each agent's \
                 telemetry can show.",
                population
                    .iter()
                    .map(|s| json!(s))
                    .chain(assessment.iter().map(|s| json!(s)))
                    .chain(narratives.iter().map(|s| json!(s)))
                    .collect(),
            ),
            _ => (
                "For each sampled run, the decision trace (what was considered, chosen and \
                 rejected, and why) and the outcome (every change, before and after), with \
                 each event's proof of inclusion in the signed log.",
                narratives
                    .iter()
                    .map(|s| json!(s))
                    .chain(events.iter().map(|s| json!(s)))
                    .collect(),
            ),
        };
        m.insert(
            (*id).to_string(),
            json!({"criterion": what, "evidence": why, "files": files}),
        );
    }
    Value::Object(m)
}

/// Parses the base64 hash lines of a consistency proof or frontier file.
pub fn parse_hash_lines(text: &str) -> Result<Vec<Hash>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let body = text
        .strip_suffix('\n')
        .ok_or("it does not end with a newline")?;
    body.split('\n')
        .enumerate()
        .map(|(n, l)| {
            Hash::from_base64(l).ok_or_else(|| format!("line {}: not a base64 SHA-256 hash", n + 1))
        })
        .collect()
}

/// Hash lines as the builder writes them.
pub fn hash_lines(hashes: &[Hash]) -> String {
    hashes
        .iter()
        .map(|h| format!("{}\n", h.to_base64()))
        .collect()
}

/// Checks a tlog-proof of `event_bytes` against the end checkpoint; returns the leaf row and
/// the audit path.
pub fn check_event_proof(
    event_bytes: &[u8],
    proof_text: &str,
    end_note: &str,
    verifier: &Verifier,
) -> Result<(LeafRow, Vec<Hash>), String> {
    let proof = TlogProof::parse(proof_text).map_err(|e| format!("the proof: {e}"))?;
    if proof.checkpoint != end_note {
        return Err("the proof is not against the bundle's end checkpoint".into());
    }
    let row = row_from_event(proof.index, event_bytes)?;
    proof
        .verify(&agentrail_core::merkle::leaf_hash(&row.leaf), verifier)
        .map_err(|e| format!("inclusion does not verify: {e}"))?;
    Ok((row, proof.hashes))
}

/// The demo's closing part: a bundle of everything the demo recorded (from the day of the log's
/// first leaf to its last checkpoint), then checked as an auditor would, offline.
pub fn demo(data: &std::path::Path) -> Result<()> {
    let mut backend = agentrail_store::ledger::open_read(data)?;
    let first = backend
        .leaf(0)?
        .context("the log is empty: nothing to bundle")?;
    let from = first
        .received_at
        .get(..10)
        .unwrap_or("2026-01-01")
        .to_string();
    let verifier = agentrail_store::ReadLedger::new(backend.as_mut()).verifier()?;
    drop(backend);
    let dir = data.join("evidence");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let out = (1..)
        .map(|n| dir.join(format!("bundle-{n}.zip")))
        .find(|p| !p.exists())
        .context("no free bundle name")?;
    build::run(data, &crate::cli::EvidenceArgs::since(&from, out.clone()))?;
    let rep = verify::check_quietly(&out, verifier)?;
    say!(
        "verify-bundle: {} items checked offline with the log's key: {} valid, {} invalid",
        rep.valid + rep.invalid,
        rep.valid,
        rep.invalid
    );
    for f in &rep.failures {
        say!("  {f}");
    }
    if rep.invalid > 0 {
        anyhow::bail!("the demo's own evidence bundle did not verify");
    }
    Ok(())
}
