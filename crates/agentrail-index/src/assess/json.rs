//! The report as JSON. The shape is documented in `docs/assessment.md` and is a stability
//! boundary: add keys, never change what one means.

use super::{
    AgentAssessment, LayerScore, RemediationItem, Report, UnregisteredPrincipal, Violations,
    CONTROLS, VIOLATION_CONTROLS,
};
use serde_json::{json, Map, Value};

/// The value of `"format"`.
pub(super) const FORMAT: &str = "agentrail.assessment/v1";

pub(super) fn render(r: &Report) -> Value {
    let s = &r.summary;
    json!({
        "format": FORMAT,
        "period": {"from": r.period.from, "to": r.period.to},
        "log": {
            "origin": r.log.origin,
            "tree_size": r.log.tree_size,
            "policy_set_hash": r.log.policy_set_hash,
            "generated_at": r.log.generated_at,
        },
        "summary": {
            "sentence": s.sentence,
            "agents": s.agents,
            "registered": s.registered,
            "discovered": s.discovered,
            "full": s.full,
            "partial": s.partial,
            "none": s.none,
            "violations": s.violations,
            "violation_sessions": s.violation_sessions,
            "unregistered_principals": s.unregistered_principals,
        },
        "agents": r.agents.iter().map(agent).collect::<Vec<_>>(),
        "unregistered_principals": r.principals.iter().map(principal).collect::<Vec<_>>(),
        "remediation": r.remediation.iter().enumerate().map(|(i, item)| remediation(r, i, item)).collect::<Vec<_>>(),
        "controls": CONTROLS.iter().map(|(id, text)| json!({"id": id, "text": text})).collect::<Vec<_>>(),
    })
}

fn agent(a: &AgentAssessment) -> Value {
    let g = &a.agent;
    let layers: Map<String, Value> = a
        .layers
        .iter()
        .map(|l| (l.layer.key().to_string(), layer(l)))
        .collect();
    json!({
        "id": g.id,
        "name": g.name,
        "kind": g.kind,
        "owner": g.owner,
        "elevated": g.elevated,
        "classification": g.classification,
        "registered": g.registered,
        "discovered": !g.registered,
        "governed": g.governed,
        "sessions": a.sessions,
        "coverage": a.coverage.as_str(),
        "layers": layers,
        "violations": violations(&a.violations),
    })
}

fn layer(l: &LayerScore) -> Value {
    let c = &l.counts;
    let mut counts = Map::new();
    for (k, v) in [
        ("sessions", c.sessions),
        ("considered", c.considered),
        ("covered", c.covered),
        ("partial", c.partial),
        ("absent", c.absent),
    ]
    .into_iter()
    .chain(c.detail.iter().copied())
    {
        counts.insert(k.to_string(), v.into());
    }
    json!({
        "score": l.score.as_str(),
        "reason": l.reason,
        "counts": counts,
        "examples": l.examples,
        "controls": l.controls(),
        "to_reach_yes": l.to_reach_yes,
    })
}

fn violations(v: &Violations) -> Value {
    json!({
        "count": v.count,
        "sessions": v.sessions,
        "policies": v.policies,
        "policy_errors": v.policy_errors,
        "controls": VIOLATION_CONTROLS,
        "examples": v.examples.iter().map(|e| json!({
            "session_id": e.session_id,
            "started_at": e.started_at,
            "count": e.count,
            "policies": e.policies,
        })).collect::<Vec<_>>(),
    })
}

fn principal(p: &UnregisteredPrincipal) -> Value {
    json!({
        "principal": p.principal,
        "first_seen": p.first_seen,
        "last_seen": p.last_seen,
        "sessions": p.sessions,
        "actions": p.actions,
        "systems": p.systems,
        "agents": p.agents,
    })
}

fn remediation(r: &Report, i: usize, item: &RemediationItem) -> Value {
    json!({
        "rank": i + 1,
        "agent_id": item.agent_id,
        "name": r.agents[item.agent].agent.name,
        "why": item.why,
        "risk": {
            "elevated": item.risk.elevated,
            "classification_rank": item.risk.classification_rank,
            "violations": item.risk.violations,
            "discovered": item.risk.discovered,
            "layers_at_no": item.risk.layers_at_no,
        },
        "actions": item.actions,
    })
}
