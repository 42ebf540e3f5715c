//! Scope policy decisions: derived data like the rest of the index.
//!
//! The inventory and the policy files in force at any point of the log are those its
//! `agentrail.inventory` and `agentrail.policy` records set before that point, so the index
//! rebuilds them from the ledger alone as it reads the leaves in order ([`PolicyState`], kept
//! in `index_meta` between chunks). Each `action` and `session.start` is evaluated against the
//! state in force when it was appended, with the session's intent as known at that leaf; the
//! decision (other than `no_policy`), the determining policies and the policy set's hash go to
//! `policy_decisions`. Evaluation is deterministic, so [`verify_policies`] can replay the log
//! and re-check every stored decision.

use crate::db::Index;
use crate::extract::{self, Body, Header};
use crate::session::Session;
use crate::IndexError;
use agentrail_core::hash::{to_hex, Hash};
use agentrail_policy::{
    ActionQuestion, Decision, PolicyState, SessionContext, StartQuestion, Verdict, INVENTORY_KIND,
    POLICY_KIND,
};
use agentrail_store::backend::{Backend, LeafRow};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;
use std::collections::HashMap;

const STATE_KEY: &str = "policy_state";

/// True for the records that change the inventory or the policies in force.
pub(crate) fn is_state_record(kind: &str) -> bool {
    kind == INVENTORY_KIND || kind == POLICY_KIND
}

/// The state saved after the last indexed leaf, reusing `cached` when the saved text is the
/// one it was read from. Returns the saved text (the cache key) with the state.
pub(crate) fn load_state(
    conn: &Connection,
    cached: Option<(String, PolicyState)>,
) -> Result<(String, PolicyState), IndexError> {
    let saved: String = conn
        .prepare_cached("SELECT value FROM index_meta WHERE key = ?1")?
        .query_row([STATE_KEY], |r| r.get(0))
        .optional()?
        .unwrap_or_default();
    if let Some((key, state)) = cached {
        if key == saved {
            return Ok((key, state));
        }
    }
    if saved.is_empty() {
        return Ok((saved, PolicyState::default()));
    }
    let state = serde_json::from_str::<Value>(&saved)
        .map_err(|e| e.to_string())
        .and_then(|v| PolicyState::from_json(&v).map_err(|e| e.to_string()))
        .map_err(|e| {
            IndexError::Corrupt(format!(
                "the saved policy state does not load ({e}); run `agentrail reindex`"
            ))
        })?;
    Ok((saved, state))
}

/// Saves `state` as the state after the last indexed leaf; returns the saved text.
pub(crate) fn save_state(conn: &Connection, state: &PolicyState) -> Result<String, IndexError> {
    let text = state.to_json().to_string();
    conn.prepare_cached("INSERT OR REPLACE INTO index_meta (key, value) VALUES (?1, ?2)")?
        .execute([STATE_KEY, text.as_str()])?;
    Ok(text)
}

/// Folds one `agentrail.inventory` or `agentrail.policy` record into `state`.
pub(crate) fn apply_record(
    state: &mut PolicyState,
    row: &LeafRow,
    kind: &str,
) -> Result<bool, IndexError> {
    let Some(body) = row.body.as_deref() else {
        // An erased body of agentrail's own record is tampering `verify` reports.
        return Ok(false);
    };
    let body: Value = serde_json::from_slice(body).map_err(|e| record_error(row, kind, e))?;
    state
        .apply_record(kind, &body)
        .map_err(|e| record_error(row, kind, e))
}

fn record_error(row: &LeafRow, kind: &str, e: impl std::fmt::Display) -> IndexError {
    IndexError::Corrupt(format!(
        "leaf {}: the {kind} record does not apply ({e}); run `agentrail verify`",
        row.leaf_index
    ))
}

/// The non-empty, non-placeholder value of an optional field.
fn known<'a>(v: &'a Option<std::borrow::Cow<'_, str>>) -> Option<&'a str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// The scope policy's verdict on one event of `session` (already folded in), or `None` when
/// no policy applies (`no_policy`) or the event is of a kind policies do not judge.
pub fn evaluate(
    state: &PolicyState,
    h: &Header<'_>,
    b: &Body<'_>,
    session: &Session,
) -> Option<Verdict> {
    if state.policies.is_empty() {
        return None;
    }
    let verdict = match h.kind.as_ref() {
        "action" => {
            let a = b.action.as_ref()?;
            // The run's intent is lent only to the agent whose session.start gave it: another
            // agent that names this session id (any key may) does not borrow its trigger.
            let own = session.start.is_some() && session.agent_id == h.agent_id;
            let initiator = if session.initiator_missing || !own {
                None
            } else {
                session.initiator.as_deref()
            };
            state.evaluate_action(&ActionQuestion {
                agent_id: &h.agent_id,
                principal: h.principal.as_deref(),
                action_type: a.kind.as_deref().unwrap_or_default(),
                system: a.system.as_deref().unwrap_or_default(),
                resource: known(&a.resource),
                model: known(&a.model),
                operation: known(&a.operation),
                status: known(&a.status),
                count: a.count(),
                attributes: b.attributes.as_ref().map(|a| &a.0),
                session: SessionContext {
                    session_id: &h.session_id,
                    trigger_type: session.trigger_type.as_deref().filter(|_| own),
                    initiator,
                    request_id: session.request_id.as_deref().filter(|_| own),
                },
            })
        }
        "session.start" => {
            let t = b.trigger.as_ref()?;
            // A placeholder initiator (recorded as missing) is no initiator.
            let initiator = if extract::missing(&b.attributes, "trigger.initiator") {
                ""
            } else {
                t.initiator.as_deref().unwrap_or_default()
            };
            state.evaluate_start(&StartQuestion {
                agent_id: &h.agent_id,
                principal: h.principal.as_deref(),
                initiator,
                trigger_type: t.kind.as_deref().unwrap_or_default(),
                schedule: known(&t.schedule),
                session_id: &h.session_id,
                request_id: known(&t.request_id),
            })
        }
        _ => return None,
    };
    (verdict.decision != Decision::NoPolicy).then_some(verdict)
}

/// One stored decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionRow {
    pub leaf_index: u64,
    pub session_id: String,
    pub agent_id: String,
    pub event_id: String,
    pub kind: String,
    pub verdict: Verdict,
}

impl DecisionRow {
    pub(crate) fn new(leaf_index: u64, h: &Header<'_>, verdict: Verdict) -> DecisionRow {
        DecisionRow {
            leaf_index,
            session_id: h.session_id.to_string(),
            agent_id: h.agent_id.to_string(),
            event_id: h.event_id.to_string(),
            kind: h.kind.to_string(),
            verdict,
        }
    }

    /// The decision as the API shows it next to its event.
    pub fn to_json(&self) -> Value {
        let mut v = self.verdict.to_json();
        v["leaf_index"] = self.leaf_index.into();
        v["event_id"] = self.event_id.clone().into();
        v
    }
}

pub(crate) fn put_decisions(conn: &Connection, rows: &[DecisionRow]) -> Result<(), IndexError> {
    let mut put = conn.prepare_cached(
        "INSERT OR REPLACE INTO policy_decisions (leaf_index, session_id, agent_id, event_id, \
         kind, decision, policies, errors, policy_set_hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for r in rows {
        put.execute(params![
            r.leaf_index as i64,
            r.session_id,
            r.agent_id,
            r.event_id,
            r.kind,
            r.verdict.decision.as_str(),
            serde_json::to_string(&r.verdict.policies).unwrap_or_default(),
            serde_json::to_string(&r.verdict.errors).unwrap_or_default(),
            r.verdict.policy_set_hash,
        ])?;
    }
    Ok(())
}

const DECISION_COLUMNS: &str = "leaf_index, session_id, agent_id, event_id, kind, decision, \
                                policies, errors, policy_set_hash";

fn decision_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DecisionRow> {
    let list = |i: usize| -> rusqlite::Result<Vec<String>> {
        let text: String = r.get(i)?;
        serde_json::from_str(&text).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
        })
    };
    let decision: String = r.get(5)?;
    Ok(DecisionRow {
        leaf_index: r.get::<_, i64>(0)? as u64,
        session_id: r.get(1)?,
        agent_id: r.get(2)?,
        event_id: r.get(3)?,
        kind: r.get(4)?,
        verdict: Verdict {
            decision: decision.parse().map_err(|_| {
                rusqlite::Error::InvalidColumnType(5, decision.clone(), rusqlite::types::Type::Text)
            })?,
            policies: list(6)?,
            errors: list(7)?,
            policy_set_hash: r.get(8)?,
        },
    })
}

impl Index {
    /// The policy decisions on one session's events, in leaf order.
    pub fn decisions(&self, session_id: &str) -> Result<Vec<DecisionRow>, IndexError> {
        let mut q = self.conn.prepare_cached(&format!(
            "SELECT {DECISION_COLUMNS} FROM policy_decisions WHERE session_id = ?1 \
             ORDER BY leaf_index"
        ))?;
        let rows = q.query_map([session_id], decision_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many stored decisions are `decision` (`allow`, `deny` or `error`).
    pub fn decisions_total(&self, decision: &str) -> Result<u64, IndexError> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM policy_decisions WHERE decision = ?1",
            [decision],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    /// The inventory and policies in force after the last indexed leaf.
    pub fn policy_state(&self) -> Result<PolicyState, IndexError> {
        if let Some((_, s)) = &self.policy {
            return Ok(s.clone());
        }
        Ok(load_state(&self.conn, None)?.1)
    }

    fn decisions_between(&self, from: u64, to: u64) -> Result<Vec<DecisionRow>, IndexError> {
        let mut q = self.conn.prepare_cached(&format!(
            "SELECT {DECISION_COLUMNS} FROM policy_decisions \
             WHERE leaf_index >= ?1 AND leaf_index < ?2 ORDER BY leaf_index"
        ))?;
        let rows = q.query_map(params![from as i64, to as i64], decision_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// The inventory and policies in force after the ledger's last leaf, from its records alone (no
/// index): every leaf's header is read.
pub fn state_from_ledger(ledger: &mut dyn Backend) -> Result<PolicyState, IndexError> {
    state_from(ledger, 0, PolicyState::default())
}

/// The state in force after the ledger's last leaf without waiting for the index: the state the
/// index saved for its leaves (when it belongs to this ledger), then the ledger's records after
/// them. Only headers are read past the index, so this is quick when the index is nearly level
/// and a full header scan when there is none.
pub fn state_at_ledger_end(
    index: Option<&Index>,
    ledger: &mut dyn Backend,
) -> Result<PolicyState, IndexError> {
    let saved = match index {
        Some(i) => i.saved_policy_state(ledger)?,
        None => None,
    };
    let (from, state) = saved.unwrap_or_default();
    state_from(ledger, from, state)
}

fn state_from(
    ledger: &mut dyn Backend,
    mut from: u64,
    mut state: PolicyState,
) -> Result<PolicyState, IndexError> {
    let size = ledger.leaf_count()?;
    while from < size {
        let rows = ledger.leaves(from, crate::db::CHUNK.min((size - from) as usize))?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let h = extract::header(&row.leaf)
                .map_err(|e| IndexError::Corrupt(format!("leaf {}: {e}", row.leaf_index)))?;
            if is_state_record(&h.kind) {
                // As the index does: a record that does not apply leaves the state as it was.
                let _ = apply_record(&mut state, row, &h.kind);
            }
        }
        from += rows.len() as u64;
    }
    Ok(state)
}

/// What [`verify_policies`] found.
#[derive(Debug, Default)]
pub struct PolicyCheck {
    /// Leaves replayed.
    pub leaves: u64,
    /// `agentrail.policy` and `agentrail.inventory` records applied.
    pub records: u64,
    /// Events evaluated while a policy set was in force.
    pub evaluated: u64,
    /// Stored decisions re-checked (everything but `no_policy`).
    pub decisions: u64,
    /// Of those, scope violations (`deny`).
    pub denied: u64,
    /// Every policy set hash that was in force, in order of first use.
    pub policy_sets: Vec<String>,
    /// Every disagreement, with the leaf it concerns.
    pub problems: Vec<String>,
}

/// Replays the log from its first leaf, rebuilding the inventory and policies in force from
/// their records, re-evaluates every `action` and `session.start`, and compares each decision
/// with the one the index stored. Also checks each `agentrail.policy` record: its `sha256`
/// against its text and its `policy_set_hash` against the set it leaves in force. The index
/// is brought level with the ledger first.
pub fn verify_policies(
    index: &mut Index,
    ledger: &mut dyn Backend,
    chunk: usize,
) -> Result<PolicyCheck, IndexError> {
    index.catch_up(ledger)?;
    let through = index.indexed()?;
    let mut out = PolicyCheck::default();
    let mut state = PolicyState::default();
    let mut sessions: HashMap<String, Session> = HashMap::new();
    let mut from = 0u64;
    while from < through {
        let rows = ledger.leaves(from, chunk.min((through - from) as usize))?;
        if rows.is_empty() {
            break;
        }
        let end = from + rows.len() as u64;
        let mut stored: HashMap<u64, DecisionRow> = index
            .decisions_between(from, end)?
            .into_iter()
            .map(|d| (d.leaf_index, d))
            .collect();
        for row in &rows {
            let h = extract::header(&row.leaf)
                .map_err(|e| IndexError::Corrupt(format!("leaf {}: {e}", row.leaf_index)))?;
            if is_state_record(&h.kind) {
                out.records += 1;
                match apply_record(&mut state, row, &h.kind) {
                    Ok(_) => check_record(row, &h.kind, &state, &mut out),
                    // Left out of the state, as the index leaves it out.
                    Err(e) => out.problems.push(e.to_string()),
                }
                continue;
            }
            if crate::session::is_internal(&h.kind) {
                continue;
            }
            let ts = crate::session::sortable(&h.ts);
            let b = extract::body(row.body.as_deref()).unwrap_or_default();
            let session = sessions
                .entry(h.session_id.to_string())
                .or_insert_with(|| Session::new(row.leaf_index, &h, &ts));
            session.apply(row.leaf_index, &h, &b, &ts);
            if !state.policies.is_empty() && matches!(h.kind.as_ref(), "action" | "session.start") {
                out.evaluated += 1;
                let hash = state.policies.hash().to_string();
                if out.policy_sets.last() != Some(&hash) && !out.policy_sets.contains(&hash) {
                    out.policy_sets.push(hash);
                }
            }
            let expected = evaluate(&state, &h, &b, session);
            if let Some(v) = &expected {
                session.apply_verdict(row.leaf_index, v.decision.as_str(), &v.policies);
            }
            let found = stored.remove(&row.leaf_index);
            compare(row.leaf_index, &h, expected, found, &mut out);
        }
        for (leaf, d) in stored {
            out.problems.push(format!(
                "leaf {leaf}: the index holds a {} decision for an event no policy judges",
                d.verdict.decision.as_str()
            ));
        }
        out.leaves = end;
        from = end;
    }
    check_sessions(index, &sessions, &mut out)?;
    Ok(out)
}

/// What the lists and the assessment read of each session must agree with the replay too: its
/// violation count, the policies that denied, the decision on its start, and the `violation`
/// column the `violation` filter uses.
fn check_sessions(
    index: &Index,
    replayed: &HashMap<String, Session>,
    out: &mut PolicyCheck,
) -> Result<(), IndexError> {
    let mut ids: Vec<&String> = replayed.keys().collect();
    ids.sort();
    let mut column = index
        .conn
        .prepare_cached("SELECT violation FROM sessions WHERE session_id = ?1")?;
    for id in ids {
        let want = &replayed[id];
        let Some(have) = index.session(id)? else {
            out.problems
                .push(format!("session {id:?}: missing from the index"));
            continue;
        };
        let facts = |s: &Session| {
            (
                s.counts.violations,
                s.counts.policy_errors,
                s.violation_policies.clone(),
                s.start_policy.clone(),
            )
        };
        if facts(want) != facts(&have) {
            out.problems.push(format!(
                "session {id:?}: the index says {:?}, re-evaluation says {:?} (violations, policy errors, denying policies, start decision)",
                facts(&have),
                facts(want)
            ));
        }
        let flagged: i64 = column.query_row([id], |r| r.get(0))?;
        if (flagged != 0) != (want.counts.violations > 0) {
            out.problems.push(format!(
                "session {id:?}: its violation flag is {}, re-evaluation finds {} violations",
                flagged != 0,
                want.counts.violations
            ));
        }
    }
    Ok(())
}

fn compare(
    leaf: u64,
    h: &Header<'_>,
    expected: Option<Verdict>,
    found: Option<DecisionRow>,
    out: &mut PolicyCheck,
) {
    let show = |v: &Option<&Verdict>| match v {
        Some(v) => format!(
            "{} by [{}] under policy set {}",
            v.decision.as_str(),
            v.policies.join(", "),
            short(&v.policy_set_hash)
        ),
        None => "no_policy".to_string(),
    };
    let found_v = found.as_ref().map(|d| &d.verdict);
    if expected.as_ref() == found_v {
        if let Some(v) = &expected {
            out.decisions += 1;
            if v.decision == Decision::Deny {
                out.denied += 1;
            }
        }
        return;
    }
    out.problems.push(format!(
        "leaf {leaf} (event {}): the index says {}, re-evaluation says {}",
        h.event_id,
        show(&found_v),
        show(&expected.as_ref())
    ));
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// Checks a policy record's own hashes against its text and the state it left.
fn check_record(row: &LeafRow, kind: &str, state: &PolicyState, out: &mut PolicyCheck) {
    let Some(body) = row
        .body
        .as_deref()
        .and_then(|b| serde_json::from_slice::<Value>(b).ok())
    else {
        return;
    };
    let rec = match kind {
        POLICY_KIND => &body["policy"],
        _ => &body["inventory"],
    };
    if let (Some(text), Some(sha)) = (rec["text"].as_str(), rec["sha256"].as_str()) {
        let actual = to_hex(Hash::sha256(text.as_bytes()).as_bytes());
        if actual != sha {
            out.problems.push(format!(
                "leaf {}: policy record for {}: sha256 {sha} does not match its text ({actual})",
                row.leaf_index, rec["path"]
            ));
        }
    }
    if let Some(recorded) = rec["policy_set_hash"].as_str() {
        if recorded != state.policies.hash() {
            out.problems.push(format!(
                "leaf {}: {kind} record says policy set {recorded}, the records so far give {}",
                row.leaf_index,
                state.policies.hash()
            ));
        }
    }
}
