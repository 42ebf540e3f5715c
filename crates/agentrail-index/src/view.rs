//! Reconstruction: one session, read from the ledger, in order, in its four layers, with each
//! decision linked to the actions that followed from it and every event's inclusion in a signed
//! checkpoint verified.
//!
//! The index only says which session it is and summarizes it; every event shown comes from the
//! ledger's leaf and body bytes. An event is linked to a decision, in order of preference:
//! 1. by `attributes.decision_id` naming the decision's `event_id` (or its `decision.name`);
//! 2. by span parentage: an action or diff whose `parent_span_id` is the decision's `span_id`,
//!    at or after the decision;
//! 3. by order: the actions and diffs after the decision and before the next one, that no
//!    decision claimed by 1 or 2.

use crate::session::{normal, sortable, Session};
use crate::{Index, IndexError};
use agentrail_core::checkpoint::open_checkpoint;
use agentrail_core::note::Verifier;
use agentrail_core::{event, merkle, timefmt, Hash};
use agentrail_store::backend::{Backend, CheckpointRow, LeafRow};
use agentrail_store::tiles::TileReader;
use agentrail_store::ReadLedger;
use serde_json::{json, Value};
use std::collections::HashSet;

/// The layer each kind belongs to, under the key the API uses.
pub fn layer(kind: &str) -> &'static str {
    match kind {
        "session.start" | "authz.change" => "intent",
        "action" => "scope",
        "decision" => "decisions",
        "diff" | "session.end" => "outcome",
        _ => "notes",
    }
}

/// One event of a session, as stored.
#[derive(Debug, Clone)]
pub struct ViewEvent {
    pub leaf_index: u64,
    pub event_id: String,
    pub kind: String,
    /// Normal form.
    pub ts: String,
    pub agent_id: String,
    pub span_id: Option<String>,
    pub parent_span_id: Option<String>,
    /// The stored event (header and body), as `agentrail event get` prints it; for an erased
    /// body, the leaf (header and `body_sha256`).
    pub event: Value,
    pub erased: bool,
    /// The audit path to the checkpoint, when the checkpoint covers this event.
    pub inclusion: Option<Vec<Hash>>,
    sort_ts: String,
}

impl ViewEvent {
    /// The event's body, if not erased.
    pub fn body(&self) -> Option<&Value> {
        self.event.get("body")
    }

    fn attribute(&self, name: &str) -> Option<&str> {
        self.body()?.get("attributes")?.get(name)?.as_str()
    }
}

/// How a decision was tied to the events that followed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionLinks {
    /// Leaf index of the decision.
    pub decision: u64,
    /// `decision_id`, `span`, `order`, or `none` when nothing followed.
    pub link: &'static str,
    /// Leaf indexes of the actions and diffs that followed from it, in session order.
    pub followed_by: Vec<u64>,
}

/// What was checked of the session's events against the log.
#[derive(Debug, Clone, Default)]
pub struct Integrity {
    /// The latest signed checkpoint, its signature checked with the log's key.
    pub checkpoint: Option<CheckpointRow>,
    /// Events whose inclusion in the checkpoint was verified.
    pub verified: u64,
    /// Leaf indexes appended after the checkpoint (proven by the next one).
    pub not_covered: Vec<u64>,
    /// Every failed check; empty when all held.
    pub problems: Vec<String>,
}

impl Integrity {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// A whole session.
#[derive(Debug, Clone)]
pub struct SessionView {
    pub session: Session,
    /// Every event, ordered by `ts`, then leaf index.
    pub events: Vec<ViewEvent>,
    pub decisions: Vec<DecisionLinks>,
    /// The scope policies' decisions on this session's events (other than `no_policy`), in
    /// leaf order: derived data, re-checked by `agentrail verify --policies`.
    pub policy: Vec<crate::policy::DecisionRow>,
    pub integrity: Integrity,
}

/// Reconstructs one session from the ledger, with the index's summary.
///
/// The checkpoint's signature is checked with `key` when given (the server's own key, or an
/// auditor's copy), else with the key the log recorded at `init`, which whoever can rewrite the
/// database could also replace.
pub fn build(
    index: &Index,
    ledger: &mut dyn Backend,
    session_id: &str,
    key: Option<&Verifier>,
) -> Result<SessionView, IndexError> {
    let size = ledger.leaf_count()?;
    let rows = ledger.session_leaves(session_id, size)?;
    let mut integrity = Integrity::default();
    let checkpoint = checked_checkpoint(ledger, key, &mut integrity)?;
    let mut tiles = TileReader::new(ledger);
    assemble(
        index,
        session_id,
        rows,
        checkpoint,
        integrity,
        |row, size, root| prove(&mut tiles, row, size, root),
    )
}

/// Reconstructs one session from its leaf rows (in leaf order, with bodies) and a checkpoint
/// whose signature the caller has verified (with its root), with the index's summary and
/// decisions: what [`build`] does once it has read the rows, and what an evidence bundle's
/// verifier does with the events the bundle holds. `prove(row, size, root)` returns the row's
/// verified audit path into the checkpoint's tree.
pub fn assemble(
    index: &Index,
    session_id: &str,
    rows: Vec<LeafRow>,
    checkpoint: Option<(CheckpointRow, Hash)>,
    mut integrity: Integrity,
    mut prove: impl FnMut(&LeafRow, u64, &Hash) -> Result<Vec<Hash>, String>,
) -> Result<SessionView, IndexError> {
    let session = index
        .session(session_id)?
        .ok_or_else(|| IndexError::NotFound(format!("no session with id {session_id:?}")))?;
    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
        let mut ev = view_event(&row, &mut integrity)?;
        // The `session_id` column only says where to look: the leaf, which is what is
        // proven, must say the same, and agentrail's own records are never part of a run.
        if ev.event.get("session_id").and_then(Value::as_str) != Some(session_id) {
            integrity.problems.push(format!(
                "leaf {}: its header names session {}, not this one (the index column was altered)",
                row.leaf_index,
                ev.event
                    .get("session_id")
                    .map_or("none".into(), |v| v.to_string())
            ));
            continue;
        }
        if crate::session::is_internal(&ev.kind) {
            integrity.problems.push(format!(
                "leaf {}: an agentrail record ({}) is filed under this session",
                row.leaf_index, ev.kind
            ));
            continue;
        }
        match &checkpoint {
            Some((cp, root)) if row.leaf_index < cp.size => match prove(&row, cp.size, root) {
                Ok(path) => {
                    integrity.verified += 1;
                    ev.inclusion = Some(path);
                }
                Err(e) => integrity
                    .problems
                    .push(format!("leaf {}: {e}", row.leaf_index)),
            },
            _ => integrity.not_covered.push(row.leaf_index),
        }
        events.push(ev);
    }
    integrity.checkpoint = checkpoint.map(|(cp, _)| cp);
    events.sort_by(|a, b| (&a.sort_ts, a.leaf_index).cmp(&(&b.sort_ts, b.leaf_index)));
    let decisions = link_decisions(&events);
    let policy = index.decisions(session_id)?;
    Ok(SessionView {
        session,
        events,
        decisions,
        policy,
        integrity,
    })
}

/// The latest checkpoint, if its signature verifies with the log's key and its columns agree
/// with its note; a problem otherwise.
fn checked_checkpoint(
    ledger: &mut dyn Backend,
    key: Option<&Verifier>,
    integrity: &mut Integrity,
) -> Result<Option<(CheckpointRow, Hash)>, IndexError> {
    let mut r = ReadLedger::new(ledger);
    let Some(cp) = r.latest_checkpoint()? else {
        return Ok(None);
    };
    let recorded = r.verifier()?;
    let verifier = match key {
        Some(k) => {
            if k.to_vkey() != recorded.to_vkey() {
                integrity.problems.push(format!(
                    "store: the log records the key {}, not the key given",
                    recorded.to_vkey()
                ));
            }
            k.clone()
        }
        None => recorded,
    };
    match open_checkpoint(&cp.note, &verifier) {
        Ok(body) if body.size == cp.size && body.root == cp.root => {
            let root = body.root;
            Ok(Some((cp, root)))
        }
        Ok(body) => {
            integrity.problems.push(format!(
                "checkpoint {}: its note says size {} and root {}, its row says size {} and root {}",
                cp.size,
                body.size,
                body.root.to_base64(),
                cp.size,
                cp.root.to_base64()
            ));
            Ok(None)
        }
        Err(e) => {
            integrity
                .problems
                .push(format!("checkpoint {}: {e}", cp.size));
            Ok(None)
        }
    }
}

fn prove(
    tiles: &mut TileReader<'_>,
    row: &LeafRow,
    size: u64,
    root: &Hash,
) -> Result<Vec<Hash>, String> {
    let path = merkle::inclusion_proof(tiles, row.leaf_index, size).map_err(|e| match e {
        merkle::ProveError::Read(e) => e.to_string(),
        merkle::ProveError::Invalid(e) => e.to_string(),
    })?;
    merkle::verify_inclusion(
        &merkle::leaf_hash(&row.leaf),
        row.leaf_index,
        size,
        &path,
        root,
    )
    .map_err(|e| format!("inclusion proof does not verify: {e}"))?;
    Ok(path)
}

fn view_event(row: &LeafRow, integrity: &mut Integrity) -> Result<ViewEvent, IndexError> {
    let header = event::parse_leaf(&row.leaf).map_err(|e| {
        IndexError::Corrupt(format!(
            "leaf {} is not an agentrail event ({e}); run `agentrail verify`",
            row.leaf_index
        ))
    })?;
    // A leaf's `ts` is normalized at ingest; one that is not was written behind the ledger's
    // back, and is shown as a placeholder (never as its raw text) with the problem reported.
    let ts = match timefmt::normalize_rfc3339(&header.ts) {
        Ok(n) if n == header.ts => n,
        _ => {
            integrity.problems.push(format!(
                "leaf {}: its ts is not a normalized RFC 3339 time",
                row.leaf_index
            ));
            "0000-01-01T00:00:00Z".to_string()
        }
    };
    let (event, erased) = match &row.body {
        Some(body) => match event::event_bytes(&row.leaf, body)
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        {
            Some(v) => {
                if agentrail_core::Hash::sha256(body) != header.body_sha256 {
                    integrity.problems.push(format!(
                        "leaf {}: the body does not match the leaf's body_sha256",
                        row.leaf_index
                    ));
                }
                (v, false)
            }
            None => {
                integrity.problems.push(format!(
                    "leaf {}: the stored body is not JSON",
                    row.leaf_index
                ));
                (leaf_value(row)?, true)
            }
        },
        None => (leaf_value(row)?, true),
    };
    Ok(ViewEvent {
        leaf_index: row.leaf_index,
        event_id: header.event_id,
        kind: header.kind,
        ts: normal(&sortable(&ts)),
        sort_ts: sortable(&ts),
        agent_id: header.agent_id,
        span_id: header.span_id,
        parent_span_id: header.parent_span_id,
        event,
        erased,
        inclusion: None,
    })
}

fn leaf_value(row: &LeafRow) -> Result<Value, IndexError> {
    serde_json::from_slice(&row.leaf).map_err(|e| {
        IndexError::Corrupt(format!(
            "leaf {} is not JSON ({e}); run `agentrail verify`",
            row.leaf_index
        ))
    })
}

fn link_decisions(events: &[ViewEvent]) -> Vec<DecisionLinks> {
    let decisions: Vec<usize> = (0..events.len())
        .filter(|&i| events[i].kind == "decision")
        .collect();
    let follows = |i: usize| matches!(events[i].kind.as_str(), "action" | "diff");
    let mut claimed: HashSet<usize> = HashSet::new();
    let mut out: Vec<Option<(&'static str, Vec<usize>)>> = vec![None; decisions.len()];
    // 1. explicit ids.
    for (k, &d) in decisions.iter().enumerate() {
        let name = events[d]
            .body()
            .and_then(|b| b.pointer("/decision/name"))
            .and_then(Value::as_str);
        let id = events[d].event_id.as_str();
        let linked: Vec<usize> = (0..events.len())
            .filter(|&i| follows(i))
            .filter(|&i| {
                events[i]
                    .attribute("decision_id")
                    .is_some_and(|v| v == id || Some(v) == name)
            })
            .collect();
        if !linked.is_empty() {
            claimed.extend(&linked);
            out[k] = Some(("decision_id", linked));
        }
    }
    // 2. span parentage.
    for (k, &d) in decisions.iter().enumerate() {
        if out[k].is_some() {
            continue;
        }
        let Some(span) = events[d].span_id.as_deref() else {
            continue;
        };
        let linked: Vec<usize> = (d + 1..events.len())
            .filter(|&i| follows(i) && !claimed.contains(&i))
            .filter(|&i| events[i].parent_span_id.as_deref() == Some(span))
            .collect();
        if !linked.is_empty() {
            claimed.extend(&linked);
            out[k] = Some(("span", linked));
        }
    }
    // 3. order within the session.
    for (k, &d) in decisions.iter().enumerate() {
        if out[k].is_some() {
            continue;
        }
        let end = decisions.get(k + 1).copied().unwrap_or(events.len());
        let linked: Vec<usize> = (d + 1..end)
            .filter(|&i| follows(i) && !claimed.contains(&i))
            .collect();
        out[k] = Some(if linked.is_empty() {
            ("none", linked)
        } else {
            ("order", linked)
        });
    }
    decisions
        .iter()
        .zip(out)
        .map(|(&d, o)| {
            let (link, linked) = o.unwrap_or(("none", Vec::new()));
            DecisionLinks {
                decision: events[d].leaf_index,
                link,
                followed_by: linked.iter().map(|&i| events[i].leaf_index).collect(),
            }
        })
        .collect()
}

impl SessionView {
    /// The API's answer for one session: the summary, every event in order under its layer
    /// (`intent`, `scope`, `decisions`, `outcome`, `notes`), each with its `leaf_index`, and the
    /// checkpoint it is proven against. With `proofs`, each event carries its audit path.
    pub fn to_json(&self, proofs: bool) -> Value {
        let mut layers = serde_json::Map::new();
        for key in ["intent", "scope", "decisions", "outcome", "notes"] {
            layers.insert(key.into(), Value::Array(Vec::new()));
        }
        for ev in &self.events {
            let mut item = json!({
                "leaf_index": ev.leaf_index,
                "event": ev.event,
            });
            if ev.erased {
                item["erased"] = Value::Bool(true);
            }
            if proofs {
                if let Some(path) = &ev.inclusion {
                    item["inclusion"] =
                        Value::Array(path.iter().map(|h| h.to_base64().into()).collect());
                }
            }
            if let Some(d) = self.decisions.iter().find(|d| d.decision == ev.leaf_index) {
                item["followed_by"] = json!(d.followed_by);
                item["link"] = json!(d.link);
            }
            if let Some(p) = self.policy_of(ev.leaf_index) {
                item["policy"] = p.verdict.to_json();
            }
            if let Some(Value::Array(a)) = layers.get_mut(layer(&ev.kind)) {
                a.push(item);
            }
        }
        let i = &self.integrity;
        let mut out = json!({
            "session": self.session.to_json(),
            "order": self.events.iter().map(|e| e.leaf_index).collect::<Vec<_>>(),
            "checkpoint": i.checkpoint.as_ref().map(|cp| json!({
                "size": cp.size,
                "root": cp.root.to_base64(),
                "note": cp.note,
            })),
            "integrity": {
                "ok": i.ok(),
                "events": self.events.len(),
                "verified": i.verified,
                "not_covered": i.not_covered,
                "problems": i.problems,
            },
            "violations": self
                .policy
                .iter()
                .filter(|d| d.verdict.decision == agentrail_policy::Decision::Deny)
                .map(|d| d.to_json())
                .collect::<Vec<_>>(),
        });
        if let Value::Object(o) = &mut out {
            o.extend(layers);
        }
        out
    }

    /// The scope policy's decision on the event at a leaf index, if one applied.
    pub fn policy_of(&self, leaf_index: u64) -> Option<&crate::policy::DecisionRow> {
        self.policy.iter().find(|d| d.leaf_index == leaf_index)
    }

    /// The event at a leaf index.
    pub fn event(&self, leaf_index: u64) -> Option<&ViewEvent> {
        self.events.iter().find(|e| e.leaf_index == leaf_index)
    }
}
