//! The assessment's inputs, read from the index: every registered agent (the inventory in
//! force) and every agent seen in the events, each with the facts of its sessions that started
//! in the period, and the principals no registered agent declares.

use super::{
    assess, AgentEvidence, AgentInfo, LogInfo, Period, Report, SessionFacts, UnregisteredPrincipal,
};
use crate::db::{decode_session, Index};
use crate::query::parse_time;
use crate::session::{normal, Session};
use crate::IndexError;
use agentrail_policy::PolicyState;
use agentrail_store::backend::{meta, Backend};
use std::collections::BTreeMap;

/// What the scoring needs of one session.
pub fn facts(s: &Session) -> SessionFacts {
    let has_start = s.start.is_some();
    SessionFacts {
        session_id: s.session_id.clone(),
        started_at: normal(s.started_at()),
        has_start,
        trigger_type: s.trigger_type.clone().filter(|_| has_start),
        initiator: s
            .initiator
            .clone()
            .filter(|i| has_start && !s.initiator_missing && !i.is_empty()),
        authorization: s.authorization.clone(),
        start_policy: s.start_policy.clone(),
        actions: s.counts.actions,
        actions_unresolved: s.counts.unresolved,
        model_calls: s.counts.model_calls,
        decisions: s.counts.decisions,
        writes: s.counts.changes,
        writes_without_diff: s.writes_without_diff(),
        diffs: s.counts.diffs,
        ended: s.end.is_some(),
        violations: s.counts.violations,
        violation_policies: s.violation_policies.iter().cloned().collect(),
        policy_errors: s.counts.policy_errors,
    }
}

/// The sessions that started in the period (`from` inclusive, `to` exclusive), by agent.
fn sessions_by_agent(
    index: &Index,
    period: &Period,
) -> Result<BTreeMap<String, Vec<SessionFacts>>, IndexError> {
    let from = period
        .from
        .as_deref()
        .map(|v| parse_time("from", v))
        .transpose()?;
    let to = period
        .to
        .as_deref()
        .map(|v| parse_time("to", v))
        .transpose()?;
    let mut q = index.conn.prepare_cached(
        "SELECT state FROM sessions WHERE started_at >= ?1 AND (?2 IS NULL OR started_at < ?2) \
         ORDER BY started_at, session_id",
    )?;
    let rows = q.query_map(rusqlite::params![from.unwrap_or_default(), to], |r| {
        r.get::<_, Vec<u8>>(0)
    })?;
    let mut out: BTreeMap<String, Vec<SessionFacts>> = BTreeMap::new();
    for row in rows {
        let s = decode_session(&row?)?;
        out.entry(s.agent_id.clone()).or_default().push(facts(&s));
    }
    Ok(out)
}

/// True when an actor's events (first to last seen) reach into the period.
fn period_overlaps(period: &Period, a: &crate::discover::Actor) -> bool {
    let first = crate::session::sortable(&a.first_seen);
    let last = crate::session::sortable(&a.last_seen);
    let bound = |v: &Option<String>, field| v.as_deref().and_then(|v| parse_time(field, v).ok());
    bound(&period.to, "to").is_none_or(|to| first < to)
        && bound(&period.from, "from").is_none_or(|from| last >= from)
}

/// Every registered agent (the inventory in force as last recorded) and every agent seen in
/// the period's sessions or events, with its sessions; and the principals seen in the period
/// that no registered agent declares.
pub fn gather(
    index: &Index,
    state: &PolicyState,
    period: &Period,
) -> Result<(Vec<AgentEvidence>, Vec<UnregisteredPrincipal>), IndexError> {
    let mut by_agent = sessions_by_agent(index, period)?;
    let inv = &state.inventory;
    let mut agents = Vec::new();
    for e in &inv.agents {
        agents.push(AgentEvidence {
            agent: AgentInfo {
                id: e.id.clone(),
                name: e.name.clone(),
                kind: Some(e.kind.clone()),
                owner: Some(e.owner.clone()),
                elevated: e.elevated,
                classification: e.data_classification.clone(),
                registered: true,
                governed: e.policy.is_some(),
            },
            sessions: by_agent.remove(&e.id).unwrap_or_default(),
        });
    }
    // Discovered: seen in agent events of the period, not registered. One with events in the
    // period but no session that started in it is in scope with no evidence in the period.
    let active = |a: &crate::discover::Actor| period_overlaps(period, a);
    for a in index.actors("agent")? {
        if inv.get(&a.id).is_none() && !by_agent.contains_key(&a.id) && active(&a) {
            by_agent.insert(a.id, Vec::new());
        }
    }
    for (id, sessions) in by_agent {
        agents.push(AgentEvidence {
            agent: AgentInfo {
                id: id.clone(),
                name: String::new(),
                kind: None,
                owner: None,
                elevated: false,
                classification: None,
                registered: false,
                governed: false,
            },
            sessions,
        });
    }
    let principals = index
        .actors("principal")?
        .into_iter()
        .filter(|p| !inv.registers_principal(&p.id) && active(p))
        .map(|p| UnregisteredPrincipal {
            principal: p.id,
            first_seen: p.first_seen,
            last_seen: p.last_seen,
            sessions: p.sessions,
            actions: p.actions,
            systems: p.systems,
            agents: p.agents,
        })
        .collect();
    Ok((agents, principals))
}

/// The gap assessment of `period` from the index (level with `ledger`) and the inventory and
/// policies in force.
pub fn report(
    index: &Index,
    ledger: &mut dyn Backend,
    state: &PolicyState,
    period: Period,
    generated_at: &str,
) -> Result<Report, IndexError> {
    let (agents, principals) = gather(index, state, &period)?;
    let log = LogInfo {
        origin: ledger.meta(meta::ORIGIN)?.unwrap_or_default(),
        tree_size: index.indexed()?,
        policy_set_hash: state.policies.hash().to_string(),
        generated_at: generated_at.to_string(),
    };
    Ok(assess(period, log, agents, principals))
}

impl Report {
    /// Every session id the report names (examples), for the access record of whoever reads it.
    pub fn cited_sessions(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .agents
            .iter()
            .flat_map(|a| {
                a.layers
                    .iter()
                    .flat_map(|l| l.examples.iter().cloned())
                    .chain(a.violations.examples.iter().map(|e| e.session_id.clone()))
            })
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}
