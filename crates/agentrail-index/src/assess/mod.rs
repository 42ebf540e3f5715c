//! The gap assessment: how well each agent's runs in a period are recorded, layer by layer
//! (Intent, Scope, Decision trace, Outcome), scored Yes / Partial / No by the rules of
//! `docs/assessment.md`, with the scope violations, the summary sentence a team brings to its
//! auditor, and a remediation plan ordered by risk. [`Report`] renders as JSON, Markdown and a
//! self-contained HTML page.
//!
//! This module is pure: it reads no index, no ledger, no clock and no configuration. Its inputs
//! ([`AgentEvidence`], [`UnregisteredPrincipal`], [`LogInfo`]) are gathered elsewhere; the same
//! inputs always give the same report, byte for byte.
//!
//! Invariants:
//! - an agent with no session in the period scores No on every layer ("no evidence in the
//!   period"), never a vacuous Yes;
//! - every string that came from an agent or from configuration (ids, names, owners, session
//!   ids, policy ids, principals, systems, even the period and the log's origin) reaches Markdown
//!   only through [`crate::text::markdown`] and HTML only through [`crate::text::html`]; the
//!   report's own prose (reasons, fixes, the summary) is built from our words and numbers only;
//! - examples are chosen deterministically: sessions ordered by `(started_at, session_id)`.

pub mod gather;
mod html;
mod json;
mod md;
mod plan;
mod score;

pub use html::CSP;

/// An agent of the inventory (`agents.toml`), or one discovered in the events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentInfo {
    pub id: String,
    pub name: String,
    pub kind: Option<String>,
    pub owner: Option<String>,
    /// It holds permissions beyond the ordinary (admin, write to production, payments...).
    pub elevated: bool,
    /// The most sensitive data it touches: `public`, `internal`, `confidential`, `customer` or
    /// `restricted`. Any other value ranks as unknown.
    pub classification: Option<String>,
    /// It is in the inventory. A discovered agent is one seen in the events only.
    pub registered: bool,
    /// A Cedar scope policy applies to it.
    pub governed: bool,
}

/// What one session of an agent recorded, as far as scoring needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFacts {
    pub session_id: String,
    /// RFC 3339 UTC.
    pub started_at: String,
    /// It has a `session.start`.
    pub has_start: bool,
    pub trigger_type: Option<String>,
    /// None also when recorded as missing (`agentrail.missing`).
    pub initiator: Option<String>,
    /// The agent's own authorization record: `allow` or `deny`.
    pub authorization: Option<String>,
    /// agentrail's Cedar decision on the start: `allow`, `deny` or `error`; None when no policy
    /// applied.
    pub start_policy: Option<String>,
    pub actions: u64,
    /// Actions whose system or resource is recorded as missing (`agentrail.missing`).
    pub actions_unresolved: u64,
    pub model_calls: u64,
    pub decisions: u64,
    /// Actions of type write, create, update or delete.
    pub writes: u64,
    /// Written resources with no diff event for that resource.
    pub writes_without_diff: u64,
    pub diffs: u64,
    /// It has a `session.end`.
    pub ended: bool,
    /// Actions or starts denied by a scope policy.
    pub violations: u64,
    /// The ids of the policies that denied.
    pub violation_policies: Vec<String>,
    pub policy_errors: u64,
}

/// One agent and its sessions in the period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentEvidence {
    pub agent: AgentInfo,
    pub sessions: Vec<SessionFacts>,
}

/// A principal (the identity an agent acted as) that no registered agent declares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnregisteredPrincipal {
    pub principal: String,
    pub first_seen: String,
    pub last_seen: String,
    pub sessions: u64,
    pub actions: u64,
    pub systems: Vec<String>,
    pub agents: Vec<String>,
}

/// The log the evidence was read from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogInfo {
    pub origin: String,
    pub tree_size: u64,
    pub policy_set_hash: String,
    pub generated_at: String,
}

/// The period assessed; an open end is the log's beginning or the time of the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Period {
    pub from: Option<String>,
    pub to: Option<String>,
}

/// One of the four layers a session is told in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Layer {
    Intent,
    Scope,
    DecisionTrace,
    Outcome,
}

impl Layer {
    pub const ALL: [Layer; 4] = [
        Layer::Intent,
        Layer::Scope,
        Layer::DecisionTrace,
        Layer::Outcome,
    ];

    /// The JSON key.
    pub fn key(self) -> &'static str {
        match self {
            Layer::Intent => "intent",
            Layer::Scope => "scope",
            Layer::DecisionTrace => "decision_trace",
            Layer::Outcome => "outcome",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Layer::Intent => "Intent",
            Layer::Scope => "Scope",
            Layer::DecisionTrace => "Decision trace",
            Layer::Outcome => "Outcome",
        }
    }

    /// The SOC 2 criteria this layer's evidence bears on (justified in `docs/assessment.md`).
    pub fn controls(self) -> &'static [&'static str] {
        match self {
            Layer::Intent => &["CC6.1", "CC6.6", "CC7.3"],
            Layer::Scope => &["CC6.1", "CC6.6", "CC7.2", "CC7.3"],
            Layer::DecisionTrace => &["CC7.2", "CC7.3"],
            Layer::Outcome => &["CC7.2", "CC7.3"],
        }
    }

    /// How one session covers this layer, or None when the layer does not apply to it (the
    /// decision trace of a session without model calls).
    pub fn cover(self, s: &SessionFacts) -> Option<Cover> {
        score::cover(self, s)
    }
}

/// The SOC 2 criteria scope violations bear on.
pub const VIOLATION_CONTROLS: &[&str] = &["CC6.1", "CC7.2"];

/// The SOC 2 criteria the report names, with a short paraphrase of each.
pub const CONTROLS: &[(&str, &str)] = &[
    (
        "CC6.1",
        "logical access security over protected information assets",
    ),
    (
        "CC6.6",
        "logical access security against threats from outside the system boundaries",
    ),
    (
        "CC7.2",
        "monitoring of system components for anomalies, analysed as possible security events",
    ),
    (
        "CC7.3",
        "evaluation of security events, and action on those that are incidents",
    ),
];

/// How one session covers one layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cover {
    Covered,
    Partial,
    Absent,
}

/// An agent's score on one layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Score {
    Yes,
    Partial,
    No,
    /// The layer applies to none of the agent's sessions (no model calls: nothing to explain).
    NotApplicable,
}

impl Score {
    /// The JSON value.
    pub fn as_str(self) -> &'static str {
        match self {
            Score::Yes => "yes",
            Score::Partial => "partial",
            Score::No => "no",
            Score::NotApplicable => "n/a",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Score::Yes => "Yes",
            Score::Partial => "Partial",
            Score::No => "No",
            Score::NotApplicable => "N/A",
        }
    }
}

/// The counts behind a layer score.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerCounts {
    /// The agent's sessions in the period.
    pub sessions: u64,
    /// Those the layer applies to.
    pub considered: u64,
    pub covered: u64,
    pub partial: u64,
    pub absent: u64,
    /// The layer's own counts, in a fixed order (for example `model_calls`, `decisions`).
    pub detail: Vec<(&'static str, u64)>,
}

/// An agent's score on one layer, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerScore {
    pub layer: Layer,
    pub score: Score,
    /// One sentence that cites the counts.
    pub reason: String,
    pub counts: LayerCounts,
    /// Up to three session ids: sessions that fall short, or covered ones when the score is Yes.
    pub examples: Vec<String>,
    /// What to change to reach Yes; None when the score is Yes or N/A.
    pub to_reach_yes: Option<String>,
}

impl LayerScore {
    pub fn controls(&self) -> &'static [&'static str] {
        self.layer.controls()
    }
}

/// An agent's coverage over its layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// Every applicable layer is Yes.
    Full,
    Partial,
    /// Every applicable layer is No.
    None,
}

impl Coverage {
    pub fn as_str(self) -> &'static str {
        match self {
            Coverage::Full => "full",
            Coverage::Partial => "partial",
            Coverage::None => "none",
        }
    }
}

/// One session with scope violations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViolationExample {
    pub session_id: String,
    pub started_at: String,
    pub count: u64,
    pub policies: Vec<String>,
}

/// An agent's scope violations: actions or starts a Cedar scope policy denied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations {
    pub count: u64,
    pub sessions: u64,
    /// Every policy id that denied, sorted, without repeats.
    pub policies: Vec<String>,
    /// Policy evaluations that failed (not violations, but no decision either).
    pub policy_errors: u64,
    /// Up to three sessions, in order.
    pub examples: Vec<ViolationExample>,
}

/// One agent's assessment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentAssessment {
    pub agent: AgentInfo,
    pub sessions: u64,
    /// Intent, Scope, Decision trace, Outcome, in [`Layer::ALL`] order.
    pub layers: [LayerScore; 4],
    pub coverage: Coverage,
    pub violations: Violations,
}

impl AgentAssessment {
    pub fn layer(&self, layer: Layer) -> &LayerScore {
        &self.layers[layer as usize]
    }

    /// How many layers score No.
    pub fn layers_at_no(&self) -> usize {
        self.layers.iter().filter(|l| l.score == Score::No).count()
    }
}

/// The whole report in numbers, and the sentence for the auditor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub agents: u64,
    pub registered: u64,
    pub discovered: u64,
    pub full: u64,
    pub partial: u64,
    pub none: u64,
    pub violations: u64,
    pub violation_sessions: u64,
    pub unregistered_principals: u64,
    pub sentence: String,
}

/// What ranks a remediation item: compared in this order, highest first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Risk {
    pub elevated: bool,
    /// restricted 5, customer 4, confidential 3, internal 2, public 1, unknown 0.
    pub classification_rank: u8,
    pub violations: u64,
    pub discovered: bool,
    pub layers_at_no: usize,
}

/// One agent's entry in the remediation plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemediationItem {
    /// The agent's position in [`Report::agents`].
    pub agent: usize,
    pub agent_id: String,
    pub risk: Risk,
    /// Why it ranks where it does, in our words ("elevated permissions; customer data; 2 scope
    /// violations").
    pub why: String,
    /// The concrete changes, in our words.
    pub actions: Vec<String>,
}

/// The gap assessment of a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub period: Period,
    pub log: LogInfo,
    pub summary: Summary,
    /// Registered agents, then discovered ones, each by id.
    pub agents: Vec<AgentAssessment>,
    /// By principal.
    pub principals: Vec<UnregisteredPrincipal>,
    /// Highest risk first.
    pub remediation: Vec<RemediationItem>,
}

/// Scores every agent's evidence and builds the report.
pub fn assess(
    period: Period,
    log: LogInfo,
    agents: Vec<AgentEvidence>,
    mut principals: Vec<UnregisteredPrincipal>,
) -> Report {
    let mut agents: Vec<AgentAssessment> = agents.into_iter().map(assess_agent).collect();
    agents.sort_by(|a, b| {
        (!a.agent.registered, &a.agent.id).cmp(&(!b.agent.registered, &b.agent.id))
    });
    principals.sort_by(|a, b| a.principal.cmp(&b.principal));
    let summary = summarize(&agents, principals.len() as u64);
    let remediation = plan::remediation(&agents);
    Report {
        period,
        log,
        summary,
        agents,
        principals,
        remediation,
    }
}

fn assess_agent(evidence: AgentEvidence) -> AgentAssessment {
    let AgentEvidence {
        agent,
        mut sessions,
    } = evidence;
    // By time, not by the text of the normal form (in which `05.5Z` sorts before `05Z`).
    sessions.sort_by_cached_key(|s| {
        (
            agentrail_core::timefmt::sortable(&s.started_at),
            s.session_id.clone(),
        )
    });
    let layers = Layer::ALL.map(|layer| score::score(layer, &sessions));
    let applicable = || layers.iter().filter(|l| l.score != Score::NotApplicable);
    let coverage = if applicable().all(|l| l.score == Score::Yes) {
        Coverage::Full
    } else if applicable().all(|l| l.score == Score::No) {
        Coverage::None
    } else {
        Coverage::Partial
    };
    let violations = plan::violations(&sessions);
    AgentAssessment {
        agent,
        sessions: sessions.len() as u64,
        layers,
        coverage,
        violations,
    }
}

fn summarize(agents: &[AgentAssessment], principals: u64) -> Summary {
    let count =
        |f: &dyn Fn(&AgentAssessment) -> bool| agents.iter().filter(|a| f(a)).count() as u64;
    let mut s = Summary {
        agents: agents.len() as u64,
        registered: count(&|a| a.agent.registered),
        discovered: count(&|a| !a.agent.registered),
        full: count(&|a| a.coverage == Coverage::Full),
        partial: count(&|a| a.coverage == Coverage::Partial),
        none: count(&|a| a.coverage == Coverage::None),
        violations: agents.iter().map(|a| a.violations.count).sum(),
        violation_sessions: agents.iter().map(|a| a.violations.sessions).sum(),
        unregistered_principals: principals,
        sentence: String::new(),
    };
    s.sentence = format!(
        "{} in scope ({} registered, {} discovered): full coverage on {}, partial on {}, none on {}.",
        plural(s.agents, "agent", "agents"),
        s.registered,
        s.discovered,
        s.full,
        s.partial,
        s.none
    );
    if s.violations > 0 {
        s.sentence += &format!(
            " {} in {}.",
            plural(s.violations, "scope violation", "scope violations"),
            plural(s.violation_sessions, "session", "sessions")
        );
    }
    if s.unregistered_principals > 0 {
        s.sentence += &format!(
            " {} acted with no registered agent.",
            plural(
                s.unregistered_principals,
                "unregistered principal",
                "unregistered principals"
            )
        );
    }
    s
}

/// `n` and the noun, singular for one.
pub(crate) fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl Report {
    /// The sentence a team brings to its auditor.
    pub fn summary_sentence(&self) -> &str {
        &self.summary.sentence
    }

    /// The report as JSON (shape in `docs/assessment.md`). Strings are as the agents sent them:
    /// print it through [`crate::text::json`].
    pub fn to_json(&self) -> serde_json::Value {
        json::render(self)
    }

    /// The report as a Markdown document; agent text only in code spans.
    pub fn to_markdown(&self) -> String {
        md::render(self)
    }

    /// The report as one self-contained HTML page under [`CSP`].
    pub fn to_html(&self) -> String {
        html::render(self)
    }
}
