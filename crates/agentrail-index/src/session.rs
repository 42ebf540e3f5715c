//! One session's summary, and how each stored event changes it.
//!
//! Events reach the index in leaf order, which is arrival order, not the order things happened:
//! OTLP exporters send a child span before its parent, and an agent may send its `session.start`
//! last or never. Every rule here therefore gives the same summary whatever order the events of a
//! session arrive in. Events are ranked by `(ts, event_id)`, never by leaf index (which is
//! arrival order):
//! - the session's agent and intent come from its outermost `session.start`: the earliest by
//!   `ts`; among equally early ones a root span (no `parent_span_id`) before a child, then the
//!   smallest `event_id`. A parent span never starts after its child, so a nested `invoke_agent`
//!   or a child span's fallback agent (`service:...`) never wins over the run's own agent.
//!   Without a `session.start`, the agent is that of the earliest event, and the session is
//!   marked as missing its intent record;
//! - the principal is the outermost `session.start`'s; without one there, the earliest event's
//!   that has one. The conversation id is the earliest event's that names one;
//! - its outcome comes from its latest `session.end` (the outermost span ends last);
//! - counts, systems and times are sums, unions, minimums and maximums.

use crate::extract::{self, Body, Header};
use agentrail_core::timefmt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The status of a session that has not sent a `session.end` (yet).
pub const OPEN: &str = "open";

/// Counts of what a session did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub events: u64,
    /// Every `action` event, whatever its type.
    pub actions: u64,
    /// Actions of type `read`.
    pub reads: u64,
    /// Actions of type `write`, `create`, `update`, `delete` or `send`.
    pub writes: u64,
    pub queries: u64,
    pub api_calls: u64,
    pub tool_calls: u64,
    pub model_calls: u64,
    pub decisions: u64,
    pub diffs: u64,
    pub authz_changes: u64,
    pub notes: u64,
    /// Actions whose status is `error`.
    pub failed: u64,
    /// Actions whose status is `denied`.
    pub denied: u64,
    /// Actions whose `action.system` or `action.resource` is recorded as missing
    /// (`agentrail.missing`): the placeholder counts as absent.
    #[serde(default)]
    pub unresolved: u64,
    /// Actions and starts a scope policy denied (scope violations).
    #[serde(default)]
    pub violations: u64,
    /// Actions and starts whose policy evaluation failed.
    #[serde(default)]
    pub policy_errors: u64,
    /// Actions of type `write`, `create`, `update` or `delete`: changes a diff should record.
    #[serde(default)]
    pub changes: u64,
}

/// Where a `session.start` or `session.end` sits: what decides which one speaks for the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    pub leaf_index: u64,
    /// Sortable form ([`timefmt::sortable`]).
    pub ts: String,
    pub event_id: String,
    pub span_id: Option<String>,
    pub parent_span_id: Option<String>,
}

impl Anchor {
    fn of(leaf_index: u64, h: &Header<'_>, ts: &str) -> Anchor {
        Anchor {
            leaf_index,
            ts: ts.to_string(),
            event_id: h.event_id.to_string(),
            span_id: h.span_id.as_deref().map(str::to_string),
            parent_span_id: h.parent_span_id.as_deref().map(str::to_string),
        }
    }

    /// True when `self` should speak for the run instead of `other` (both `session.start`): a
    /// total order on content, so the winner does not depend on which arrived first.
    fn outranks_start(&self, other: &Anchor) -> bool {
        let key = |a: &Anchor| (a.ts.clone(), a.parent_span_id.is_some(), a.event_id.clone());
        key(self) < key(other)
    }

    /// True when `self` should give the run's outcome instead of `other` (both `session.end`).
    fn outranks_end(&self, other: &Anchor) -> bool {
        (self.ts.as_str(), self.event_id.as_str()) > (other.ts.as_str(), other.event_id.as_str())
    }
}

/// What the index knows of one session. Times are kept in sortable form and shown in the
/// normal form ([`Session::to_json`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub session_id: String,
    pub agent_id: String,
    /// Every agent that reported an event in this session, sorted.
    pub agents: BTreeSet<String>,
    pub principal: Option<String>,
    /// The earliest event (`ts`, `event_id`): its agent is the run's until a `session.start`
    /// says otherwise.
    pub first_event: (String, String),
    /// The earliest event that named a principal, and that principal.
    pub first_principal: Option<((String, String), String)>,
    /// The earliest event that named a conversation, and that conversation.
    pub first_conversation: Option<((String, String), String)>,
    /// The principal of the outermost `session.start`, if it names one.
    pub start_principal: Option<String>,
    /// The agent of the earliest event.
    pub first_agent: String,
    pub trigger_type: Option<String>,
    pub initiator: Option<String>,
    pub request_id: Option<String>,
    pub request: Option<String>,
    pub conversation_id: Option<String>,
    pub parent_session_id: Option<String>,
    /// `allow` or `deny`, from the intent record.
    pub authorization: Option<String>,
    pub policy: Option<String>,
    pub start: Option<Anchor>,
    pub end: Option<Anchor>,
    /// `succeeded`, `failed`, `cancelled`, `partial`, or [`OPEN`].
    pub status: String,
    pub first_ts: String,
    pub last_ts: String,
    pub first_leaf: u64,
    pub last_leaf: u64,
    pub counts: Counts,
    pub systems: BTreeSet<String>,
    /// True when the outermost `session.start` records its initiator as missing.
    #[serde(default)]
    pub initiator_missing: bool,
    /// agentrail's own policy decision on the outermost `session.start` (`allow`, `deny`,
    /// `error`), when a policy applied to it.
    #[serde(default)]
    pub start_policy: Option<String>,
    /// The resources written (`write`, `create`, `update`, `delete` actions), to compare with
    /// `diffed`: a write without a diff leaves its outcome unrecorded.
    #[serde(default)]
    pub written: BTreeSet<String>,
    /// The resources a `diff` event records a change of.
    #[serde(default)]
    pub diffed: BTreeSet<String>,
    /// The ids of the policies that denied something in this session.
    #[serde(default)]
    pub violation_policies: BTreeSet<String>,
}

impl Session {
    /// A session as its first indexed event makes it.
    pub fn new(leaf_index: u64, h: &Header<'_>, ts: &str) -> Session {
        Session {
            session_id: h.session_id.to_string(),
            agent_id: h.agent_id.to_string(),
            agents: BTreeSet::new(),
            principal: None,
            first_event: (ts.to_string(), h.event_id.to_string()),
            first_principal: None,
            first_conversation: None,
            start_principal: None,
            first_agent: h.agent_id.to_string(),
            trigger_type: None,
            initiator: None,
            request_id: None,
            request: None,
            conversation_id: None,
            parent_session_id: None,
            authorization: None,
            policy: None,
            start: None,
            end: None,
            status: OPEN.into(),
            first_ts: ts.to_string(),
            last_ts: ts.to_string(),
            first_leaf: leaf_index,
            last_leaf: leaf_index,
            counts: Counts::default(),
            systems: BTreeSet::new(),
            initiator_missing: false,
            start_policy: None,
            written: BTreeSet::new(),
            diffed: BTreeSet::new(),
            violation_policies: BTreeSet::new(),
        }
    }

    /// When the run started: its intent record's time, else its earliest event's.
    pub fn started_at(&self) -> &str {
        self.start.as_ref().map_or(&self.first_ts, |a| &a.ts)
    }

    /// Folds one event of this session in. `ts` is the header's `ts` in sortable form.
    pub fn apply(&mut self, leaf_index: u64, h: &Header<'_>, b: &Body<'_>, ts: &str) {
        let c = &mut self.counts;
        c.events += 1;
        self.agents.insert(h.agent_id.to_string());
        if ts < self.first_ts.as_str() {
            self.first_ts = ts.to_string();
        }
        if ts > self.last_ts.as_str() {
            self.last_ts = ts.to_string();
        }
        self.first_leaf = self.first_leaf.min(leaf_index);
        self.last_leaf = self.last_leaf.max(leaf_index);
        let key = (ts.to_string(), h.event_id.to_string());
        if key < self.first_event {
            self.first_event = key.clone();
            self.first_agent = h.agent_id.to_string();
            if self.start.is_none() {
                self.agent_id = h.agent_id.to_string();
            }
        }
        if let Some(p) = h.principal.as_deref() {
            if self.first_principal.as_ref().is_none_or(|(k, _)| key < *k) {
                self.first_principal = Some((key.clone(), p.to_string()));
            }
        }
        if let Some(c) = b.attributes.as_ref().and_then(|a| a.conversation_id()) {
            if self
                .first_conversation
                .as_ref()
                .is_none_or(|(k, _)| key < *k)
            {
                self.first_conversation = Some((key.clone(), c.to_string()));
                self.conversation_id = Some(c.to_string());
            }
        }
        match h.kind.as_ref() {
            "session.start" => {
                let anchor = Anchor::of(leaf_index, h, ts);
                if self.start.as_ref().is_none_or(|s| anchor.outranks_start(s)) {
                    self.take_intent(anchor, h, b);
                }
            }
            "session.end" => {
                let anchor = Anchor::of(leaf_index, h, ts);
                if self.end.as_ref().is_none_or(|e| anchor.outranks_end(e)) {
                    self.end = Some(anchor);
                    self.status = b
                        .outcome
                        .as_ref()
                        .and_then(|o| o.status.as_deref())
                        .unwrap_or(OPEN)
                        .to_string();
                }
            }
            "action" => {
                c.actions += 1;
                if let Some(a) = &b.action {
                    match a.kind.as_deref() {
                        Some("read") => c.reads += 1,
                        Some("write" | "create" | "update" | "delete" | "send") => c.writes += 1,
                        Some("query") => c.queries += 1,
                        Some("api_call") => c.api_calls += 1,
                        Some("tool_call") => c.tool_calls += 1,
                        Some("model_call") => c.model_calls += 1,
                        _ => {}
                    }
                    match a.status.as_deref() {
                        Some("error") => c.failed += 1,
                        Some("denied") => c.denied += 1,
                        _ => {}
                    }
                    if extract::missing(&b.attributes, "action.system")
                        || extract::missing(&b.attributes, "action.resource")
                    {
                        c.unresolved += 1;
                    }
                    if matches!(
                        a.kind.as_deref(),
                        Some("write" | "create" | "update" | "delete")
                    ) {
                        c.changes += 1;
                        if let Some(r) = a.resource.as_deref().filter(|r| !r.is_empty()) {
                            self.written.insert(r.to_string());
                        }
                    }
                    if let Some(s) = a.system.as_deref().filter(|s| !s.is_empty()) {
                        self.systems.insert(s.to_string());
                    }
                }
            }
            "decision" => c.decisions += 1,
            "diff" => {
                c.diffs += 1;
                if let Some(r) = b.diff.as_ref().and_then(|d| d.resource.as_deref()) {
                    if !r.is_empty() {
                        self.diffed.insert(r.to_string());
                    }
                }
                if let Some(s) = b.diff.as_ref().and_then(|d| d.system.as_deref()) {
                    if !s.is_empty() {
                        self.systems.insert(s.to_string());
                    }
                }
            }
            "authz.change" => c.authz_changes += 1,
            "note" => c.notes += 1,
            _ => {}
        }
        self.principal = self
            .start_principal
            .clone()
            .or_else(|| self.first_principal.as_ref().map(|(_, p)| p.clone()));
    }

    fn take_intent(&mut self, anchor: Anchor, h: &Header<'_>, b: &Body<'_>) {
        let s = |v: &Option<std::borrow::Cow<'_, str>>| v.as_deref().map(str::to_string);
        self.start = Some(anchor);
        self.agent_id = h.agent_id.to_string();
        self.start_principal = s(&h.principal);
        let t = b.trigger.as_ref();
        self.trigger_type = t.and_then(|t| s(&t.kind));
        self.initiator = t.and_then(|t| s(&t.initiator));
        self.request_id = t.and_then(|t| s(&t.request_id));
        self.request = t.and_then(|t| s(&t.request));
        let a = b.authorization.as_ref();
        self.authorization = a.and_then(|a| s(&a.decision));
        self.policy = a.and_then(|a| s(&a.policy));
        self.parent_session_id = s(&b.parent_session_id);
        self.initiator_missing = extract::missing(&b.attributes, "trigger.initiator");
        // Set by the indexer once the start's policy decision is known.
        self.start_policy = None;
    }

    /// True when `leaf_index` is the session.start that speaks for the run.
    pub fn is_start(&self, leaf_index: u64) -> bool {
        self.start
            .as_ref()
            .is_some_and(|a| a.leaf_index == leaf_index)
    }

    /// Folds a scope policy's decision on one of this session's events in.
    pub fn apply_verdict(&mut self, leaf_index: u64, decision: &str, policies: &[String]) {
        match decision {
            "deny" => {
                self.counts.violations += 1;
                self.violation_policies.extend(policies.iter().cloned());
            }
            "error" => self.counts.policy_errors += 1,
            _ => {}
        }
        if self.is_start(leaf_index) && decision != "no_policy" {
            self.start_policy = Some(decision.to_string());
        }
    }

    /// Written resources with no `diff` event for them.
    pub fn writes_without_diff(&self) -> u64 {
        self.written.difference(&self.diffed).count() as u64
    }

    /// The summary as the API and the CLI show it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "session_id": self.session_id,
            "agent_id": self.agent_id,
            "agent_from": if self.start.is_some() { "session.start" } else { "first_event" },
            "agents": self.agents,
            "principal": self.principal,
            "trigger": {
                "type": self.trigger_type,
                "initiator": self.initiator,
                "request_id": self.request_id,
                "request": self.request,
            },
            "conversation_id": self.conversation_id,
            "parent_session_id": self.parent_session_id,
            "authorization": {"decision": self.authorization, "policy": self.policy},
            "missing_intent": self.start.is_none(),
            "status": self.status,
            "started_at": normal(self.started_at()),
            "ended_at": self.end.as_ref().map(|e| normal(&e.ts)),
            "last_event_at": normal(&self.last_ts),
            "counts": self.counts,
            "any_failed": self.counts.failed > 0,
            "any_denied": self.counts.denied > 0 || self.authorization.as_deref() == Some("deny"),
            "violation": self.counts.violations > 0,
            "violation_policies": self.violation_policies,
            "start_policy": self.start_policy,
            "systems": self.systems,
            "first_leaf": self.first_leaf,
            "last_leaf": self.last_leaf,
        })
    }
}

/// The sortable form of a normalized timestamp (fixed-width fraction).
pub fn sortable(ts: &str) -> String {
    timefmt::sortable(ts)
}

/// Back from the sortable form to agentrail's normal form (no trailing zeros in the fraction).
pub fn normal(sortable: &str) -> String {
    let Some(stem) = sortable.strip_suffix('Z') else {
        return sortable.to_string();
    };
    match stem.split_once('.') {
        Some((secs, frac)) => {
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                format!("{secs}Z")
            } else {
                format!("{secs}.{frac}Z")
            }
        }
        None => sortable.to_string(),
    }
}

/// True for the kinds agentrail writes itself, which never belong to a session.
pub fn is_internal(kind: &str) -> bool {
    kind.starts_with(extract::INTERNAL_PREFIX)
}
