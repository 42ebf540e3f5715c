//! Shared fixtures and the `check` helper of the integration tests.
#![allow(dead_code)]

use agentrail_policy::{
    cedar, load, ActionQuestion, Decision, Inventory, Loaded, Policies, SessionContext,
    StartQuestion, Verdict,
};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The fixture inventory and its policies, loaded from disk.
pub fn loaded() -> Loaded {
    load(&fixtures().join("agents.toml")).expect("the fixture inventory loads")
}

/// Policies compiled from inline files.
pub fn policies(files: &[(&str, &str)]) -> Policies {
    Policies::compile(
        files
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect::<BTreeMap<_, _>>(),
    )
    .expect("the test policies compile")
}

/// An action question with everything optional unknown.
pub fn action<'a>(
    agent: &'a str,
    action: &'a str,
    system: &'a str,
    resource: &'a str,
) -> ActionQuestion<'a> {
    ActionQuestion {
        agent_id: agent,
        action_type: action,
        system,
        resource: Some(resource),
        session: SessionContext {
            session_id: "sess-1",
            ..Default::default()
        },
        ..Default::default()
    }
}

/// A session start by `initiator` with trigger `trigger`.
pub fn start<'a>(agent: &'a str, initiator: &'a str, trigger: &'a str) -> StartQuestion<'a> {
    StartQuestion {
        agent_id: agent,
        initiator,
        trigger_type: trigger,
        session_id: "sess-1",
        ..Default::default()
    }
}

/// Either kind of question.
pub enum Q<'a> {
    Action(ActionQuestion<'a>),
    Start(StartQuestion<'a>),
}

impl<'a> From<ActionQuestion<'a>> for Q<'a> {
    fn from(q: ActionQuestion<'a>) -> Self {
        Q::Action(q)
    }
}

impl<'a> From<StartQuestion<'a>> for Q<'a> {
    fn from(q: StartQuestion<'a>) -> Self {
        Q::Start(q)
    }
}

/// Evaluates `q` and asserts the decision and the determining policies. Returns the verdict for
/// further checks (errors). Also checks that a second evaluation gives the identical verdict and
/// that the verdict survives its JSON form.
pub fn check<'a>(
    policies: &Policies,
    inventory: &Inventory,
    q: impl Into<Q<'a>>,
    decision: Decision,
    expected_policies: &[&str],
) -> Verdict {
    let q = q.into();
    let eval = || match &q {
        Q::Action(q) => cedar::evaluate_action(policies, inventory, q),
        Q::Start(q) => cedar::evaluate_start(policies, inventory, q),
    };
    let v = eval();
    assert_eq!(
        (v.decision, v.policies.as_slice()),
        (
            decision,
            expected_policies
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .as_slice()
        ),
        "verdict: {v:?}"
    );
    assert_eq!(v.policy_set_hash, policies.hash());
    assert_eq!(eval(), v, "evaluation is deterministic");
    assert_eq!(Verdict::from_json(&v.to_json()).expect("round-trips"), v);
    v
}
