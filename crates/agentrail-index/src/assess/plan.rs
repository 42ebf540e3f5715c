//! Scope violations per agent, and the remediation plan ordered by risk.

use super::score::base_fix;
use super::{
    plural, AgentAssessment, RemediationItem, Risk, Score, SessionFacts, ViolationExample,
    Violations,
};
use std::collections::BTreeSet;

const EXAMPLES: usize = 3;

/// `sessions` must be ordered by `(started_at, session_id)`.
pub(super) fn violations(sessions: &[SessionFacts]) -> Violations {
    let denied = || sessions.iter().filter(|s| s.violations > 0);
    let policies: BTreeSet<&String> = denied().flat_map(|s| &s.violation_policies).collect();
    Violations {
        count: sessions.iter().map(|s| s.violations).sum(),
        sessions: denied().count() as u64,
        policies: policies.into_iter().cloned().collect(),
        policy_errors: sessions.iter().map(|s| s.policy_errors).sum(),
        examples: denied()
            .take(EXAMPLES)
            .map(|s| {
                let policies: BTreeSet<&String> = s.violation_policies.iter().collect();
                ViolationExample {
                    session_id: s.session_id.clone(),
                    started_at: s.started_at.clone(),
                    count: s.violations,
                    policies: policies.into_iter().cloned().collect(),
                }
            })
            .collect(),
    }
}

/// restricted > customer > confidential > internal > public > unknown, and the words for it.
fn classification(c: Option<&str>) -> (u8, &'static str) {
    match c {
        Some("restricted") => (5, "restricted data"),
        Some("customer") => (4, "customer data"),
        Some("confidential") => (3, "confidential data"),
        Some("internal") => (2, "internal data"),
        Some("public") => (1, "public data"),
        _ => (0, "data classification unknown"),
    }
}

/// One item per agent that is short of Yes on a layer, has scope violations, or was
/// discovered; highest risk first, then by agent id.
pub(super) fn remediation(agents: &[AgentAssessment]) -> Vec<RemediationItem> {
    let mut items: Vec<RemediationItem> = agents
        .iter()
        .enumerate()
        .filter(|(_, a)| {
            !a.agent.registered
                || a.violations.count > 0
                || a.layers
                    .iter()
                    .any(|l| !matches!(l.score, Score::Yes | Score::NotApplicable))
        })
        .map(|(i, a)| item(i, a))
        .collect();
    items.sort_by(|a, b| {
        let key = |i: &RemediationItem| {
            (
                i.risk.elevated,
                i.risk.classification_rank,
                i.risk.violations > 0,
                i.risk.discovered,
                i.risk.layers_at_no,
            )
        };
        key(b)
            .cmp(&key(a))
            .then_with(|| a.agent_id.cmp(&b.agent_id))
    });
    items
}

fn item(index: usize, a: &AgentAssessment) -> RemediationItem {
    let (rank, data) = classification(a.agent.classification.as_deref());
    let risk = Risk {
        elevated: a.agent.elevated,
        classification_rank: rank,
        violations: a.violations.count,
        discovered: !a.agent.registered,
        layers_at_no: a.layers_at_no(),
    };
    let mut why = Vec::new();
    if risk.elevated {
        why.push("elevated permissions".to_string());
    }
    why.push(data.to_string());
    if risk.violations > 0 {
        why.push(plural(
            risk.violations,
            "scope violation",
            "scope violations",
        ));
    }
    if risk.discovered {
        why.push("discovered, not registered".to_string());
    }
    if risk.layers_at_no > 0 {
        why.push(format!(
            "{} at No",
            plural(risk.layers_at_no as u64, "layer", "layers")
        ));
    }

    let mut actions = Vec::new();
    if risk.discovered {
        actions.push("register it in agents.toml with an owner, a kind and a policy".to_string());
    } else {
        if a.agent.owner.is_none() {
            actions.push("name its owner in agents.toml".to_string());
        }
        if !a.agent.governed {
            actions.push("give it a Cedar scope policy, so every action is decided".to_string());
        }
    }
    if a.violations.count > 0 {
        actions.push(format!(
            "review the {} in {} (listed under the agent): correct the agent, or change the \
             policy if the access is intended",
            plural(a.violations.count, "scope violation", "scope violations"),
            plural(a.violations.sessions, "session", "sessions"),
        ));
    }
    if a.violations.policy_errors > 0 {
        actions.push(format!(
            "fix the {}: an evaluation that fails decides nothing",
            plural(
                a.violations.policy_errors,
                "policy evaluation error",
                "policy evaluation errors"
            )
        ));
    }
    if a.sessions == 0 {
        actions.push(
            "connect it to agentrail (native events or OpenTelemetry): no run of it was \
             recorded in the period"
                .to_string(),
        );
        for l in &a.layers {
            actions.push(format!("{}: {}", l.layer.name(), base_fix(l.layer)));
        }
    } else {
        for l in &a.layers {
            if let Some(fix) = &l.to_reach_yes {
                actions.push(format!("{}: {fix}", l.layer.name()));
            }
        }
    }
    RemediationItem {
        agent: index,
        agent_id: a.agent.id.clone(),
        risk,
        why: why.join("; "),
        actions,
    }
}
