//! The gap assessment through its public API: every scoring path, driven by tables of sessions
//! built in code; the summary sentence; the remediation order; the JSON shape; and the two
//! documents under hostile agent text (nothing escapes a code span, no markup reaches the page).

use agentrail_index::assess::{
    assess, AgentEvidence, AgentInfo, Cover, Layer, LogInfo, Period, Report, Score, SessionFacts,
    UnregisteredPrincipal, CSP,
};
use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn info(id: &str) -> AgentInfo {
    AgentInfo {
        id: id.into(),
        name: format!("{id} bot"),
        kind: Some("assistant".into()),
        owner: Some("platform-team".into()),
        registered: true,
        governed: true,
        ..AgentInfo::default()
    }
}

/// A session that covers every layer.
fn full(id: &str, started_at: &str) -> SessionFacts {
    SessionFacts {
        session_id: id.into(),
        started_at: started_at.into(),
        has_start: true,
        trigger_type: Some("user".into()),
        initiator: Some("alice@acme.example".into()),
        authorization: Some("allow".into()),
        start_policy: None,
        actions: 4,
        model_calls: 1,
        decisions: 1,
        writes: 1,
        diffs: 1,
        ended: true,
        ..SessionFacts::default()
    }
}

fn at(n: u32) -> String {
    format!("2026-11-24T09:{n:02}:00Z")
}

/// `full` with one change.
fn with(id: &str, change: impl Fn(&mut SessionFacts)) -> SessionFacts {
    let mut s = full(id, &at(id.len() as u32));
    change(&mut s);
    s
}

fn no_start(s: &mut SessionFacts) {
    s.has_start = false;
    s.trigger_type = None;
    s.initiator = None;
    s.authorization = None;
}

fn log() -> LogInfo {
    LogInfo {
        origin: "agentrail.acme.example/prod".into(),
        tree_size: 1234,
        policy_set_hash: "sha256:9f2c1e7d".into(),
        generated_at: "2026-12-01T00:00:00Z".into(),
    }
}

fn period() -> Period {
    Period {
        from: Some("2026-11-01T00:00:00Z".into()),
        to: Some("2026-12-01T00:00:00Z".into()),
    }
}

fn report(agents: Vec<AgentEvidence>, principals: Vec<UnregisteredPrincipal>) -> Report {
    assess(period(), log(), agents, principals)
}

fn one(sessions: Vec<SessionFacts>) -> Report {
    report(
        vec![AgentEvidence {
            agent: info("a"),
            sessions,
        }],
        vec![],
    )
}

#[test]
fn each_session_covers_each_layer_by_the_rules() {
    use Cover::*;
    use Layer::*;
    #[allow(clippy::type_complexity)]
    let cases: &[(&str, Layer, fn(&mut SessionFacts), Option<Cover>)] = &[
        ("complete start", Intent, |_| {}, Some(Covered)),
        ("no start", Intent, no_start, Some(Absent)),
        (
            "initiator missing",
            Intent,
            |s| s.initiator = None,
            Some(Partial),
        ),
        (
            "trigger missing",
            Intent,
            |s| s.trigger_type = None,
            Some(Partial),
        ),
        (
            "no authorization",
            Intent,
            |s| s.authorization = None,
            Some(Partial),
        ),
        (
            "cedar allowed the start",
            Intent,
            |s| {
                s.authorization = None;
                s.start_policy = Some("allow".into());
            },
            Some(Covered),
        ),
        (
            "cedar denied the start",
            Intent,
            |s| {
                s.authorization = None;
                s.start_policy = Some("deny".into());
            },
            Some(Covered),
        ),
        (
            "cedar failed on the start",
            Intent,
            |s| {
                s.authorization = None;
                s.start_policy = Some("error".into());
            },
            Some(Partial),
        ),
        (
            "agent denied itself",
            Intent,
            |s| s.authorization = Some("deny".into()),
            Some(Covered),
        ),
        ("actions resolved", Scope, |_| {}, Some(Covered)),
        (
            "an action unresolved",
            Scope,
            |s| s.actions_unresolved = 1,
            Some(Partial),
        ),
        ("no action", Scope, |s| s.actions = 0, Some(Absent)),
        ("decided", DecisionTrace, |_| {}, Some(Covered)),
        (
            "model calls, no decision",
            DecisionTrace,
            |s| s.decisions = 0,
            Some(Absent),
        ),
        (
            "decisions without model calls",
            DecisionTrace,
            |s| s.model_calls = 0,
            None,
        ),
        ("wrote with diffs, ended", Outcome, |_| {}, Some(Covered)),
        (
            "no writes, ended",
            Outcome,
            |s| {
                s.writes = 0;
                s.diffs = 0;
            },
            Some(Covered),
        ),
        (
            "no writes, not ended",
            Outcome,
            |s| {
                s.writes = 0;
                s.diffs = 0;
                s.ended = false;
            },
            Some(Absent),
        ),
        (
            "ended, a write without diff",
            Outcome,
            |s| s.writes_without_diff = 1,
            Some(Partial),
        ),
        (
            "diffs, not ended",
            Outcome,
            |s| s.ended = false,
            Some(Partial),
        ),
        (
            "wrote, no diff, not ended",
            Outcome,
            |s| {
                s.ended = false;
                s.diffs = 0;
                s.writes_without_diff = 1;
            },
            Some(Absent),
        ),
    ];
    for (name, layer, change, want) in cases {
        let s = with("s", change);
        assert_eq!(layer.cover(&s), *want, "{name}");
    }
}

/// The agent's score on `layer` over `sessions`, and its reason.
fn check(layer: Layer, sessions: Vec<SessionFacts>, score: Score, reason: &str) {
    let r = one(sessions);
    let l = r.agents[0].layer(layer);
    assert_eq!((l.score, l.reason.as_str()), (score, reason), "{layer:?}");
    assert_eq!(
        l.to_reach_yes.is_none(),
        matches!(score, Score::Yes | Score::NotApplicable)
    );
}

#[test]
fn intent_scores() {
    let what =
        "with a complete session.start (trigger type, initiator and an authorization decision)";
    check(
        Layer::Intent,
        vec![with("s1", |_| {}), with("s22", |_| {})],
        Score::Yes,
        &format!("Of 2 sessions, 2 {what}."),
    );
    check(
        Layer::Intent,
        vec![
            with("s1", |_| {}),
            with("s22", |_| {}),
            with("s333", |s| s.initiator = None),
            with("s4444", no_start),
        ],
        Score::Partial,
        &format!(
            "Of 4 sessions, 2 {what}, 1 with an incomplete one (1 without an initiator) and 1 \
             with no session.start."
        ),
    );
    // Every start incomplete: Partial, not No.
    check(
        Layer::Intent,
        vec![with("s1", |s| {
            s.initiator = None;
            s.authorization = None;
        })],
        Score::Partial,
        &format!(
            "Of 1 session, none {what} and 1 with an incomplete one (1 without an initiator, 1 \
             without an authorization decision)."
        ),
    );
    check(
        Layer::Intent,
        vec![with("s1", no_start), with("s22", no_start)],
        Score::No,
        &format!("Of 2 sessions, none {what} and 2 with no session.start."),
    );
}

#[test]
fn scope_scores() {
    let what = "with every action's system and resource recorded";
    check(
        Layer::Scope,
        vec![with("s1", |_| {})],
        Score::Yes,
        &format!("Of 1 session, 1 {what} (0 of 4 actions unresolved)."),
    );
    check(
        Layer::Scope,
        vec![
            with("s1", |_| {}),
            with("s22", |s| s.actions_unresolved = 2),
            with("s333", |s| s.actions = 0),
        ],
        Score::Partial,
        &format!(
            "Of 3 sessions, 1 {what}, 1 with actions whose system or resource is missing and 1 \
             with no action recorded (2 of 8 actions unresolved)."
        ),
    );
    check(
        Layer::Scope,
        vec![with("s1", |s| s.actions = 0)],
        Score::No,
        &format!("Of 1 session, none {what} and 1 with no action recorded."),
    );
}

#[test]
fn decision_trace_scores() {
    check(
        Layer::DecisionTrace,
        vec![with("s1", |s| s.decisions = 3)],
        Score::Yes,
        "Of 1 session with model calls, 1 with decision records (3 decisions for 1 model call).",
    );
    check(
        Layer::DecisionTrace,
        vec![
            with("s1", |_| {}),
            with("s22", |s| s.decisions = 0),
            with("s333", |s| s.model_calls = 0),
        ],
        Score::Partial,
        "Of 2 sessions with model calls, 1 with decision records and 1 without (1 decision for 2 \
         model calls); 1 other session made no model call.",
    );
    check(
        Layer::DecisionTrace,
        vec![with("s1", |s| {
            s.decisions = 0;
            s.model_calls = 5;
        })],
        Score::No,
        "Of 1 session with model calls, none with decision records and 1 without (0 decisions for \
         5 model calls).",
    );
    check(
        Layer::DecisionTrace,
        vec![
            with("s1", |s| s.model_calls = 0),
            with("s22", |s| s.model_calls = 0),
        ],
        Score::NotApplicable,
        "no model calls in 2 sessions: nothing to explain",
    );
}

#[test]
fn outcome_scores() {
    let what = "ended with a session.end and a diff for every resource written";
    check(
        Layer::Outcome,
        vec![with("s1", |_| {})],
        Score::Yes,
        &format!("Of 1 session, 1 {what} (1 write, 0 written resources without a diff)."),
    );
    check(
        Layer::Outcome,
        vec![
            with("s1", |s| s.writes_without_diff = 1),
            with("s22", |s| s.ended = false),
            with("s333", |s| {
                s.writes = 0;
                s.diffs = 0;
                s.ended = false;
            }),
        ],
        Score::Partial,
        &format!(
            "Of 3 sessions, none {what}, 2 partly (1 ended without a diff for some resource \
             written, 1 sent diffs but no session.end) and 1 with no session.end and no diff for \
             their writes (2 writes, 1 written resource without a diff)."
        ),
    );
    check(
        Layer::Outcome,
        vec![with("s1", |s| {
            s.writes = 0;
            s.diffs = 0;
            s.ended = false;
        })],
        Score::No,
        &format!(
            "Of 1 session, none {what} and 1 with no session.end and no diff for their writes (no \
             writes)."
        ),
    );
}

#[test]
fn no_sessions_is_no_evidence_never_a_vacuous_yes() {
    let r = one(vec![]);
    let a = &r.agents[0];
    for l in &a.layers {
        assert_eq!(l.score, Score::No, "{:?}", l.layer);
        assert_eq!(l.reason, "no evidence in the period");
        assert!(l.examples.is_empty());
        assert!(l.to_reach_yes.as_deref().unwrap().contains("connect it"));
    }
    assert_eq!(a.coverage.as_str(), "none");
    assert_eq!(r.remediation.len(), 1);
    assert_eq!(
        r.remediation[0].why,
        "data classification unknown; 4 layers at No"
    );
}

#[test]
fn fixes_name_what_is_missing() {
    let r = one(vec![
        with("s1", |s| s.initiator = None),
        with("s22", |s| s.actions_unresolved = 1),
        with("s333", |s| s.decisions = 0),
        with("s4444", |s| s.writes_without_diff = 1),
    ]);
    let fix = |l| r.agents[0].layer(l).to_reach_yes.clone().unwrap();
    assert_eq!(
        fix(Layer::Intent),
        "add trigger.initiator to every run's session.start"
    );
    assert_eq!(
        fix(Layer::Scope),
        "record action.system and action.resource on every action: 1 of 16 actions were \
         recorded as missing (agentrail.missing)"
    );
    assert!(fix(Layer::DecisionTrace).starts_with("send a decision event"));
    assert_eq!(
        fix(Layer::Outcome),
        "send a diff event with before/after for every resource written"
    );
    let r = one(vec![with("s1", no_start), with("s22", |s| s.ended = false)]);
    let fix = |l| r.agents[0].layer(l).to_reach_yes.clone().unwrap();
    assert_eq!(
        fix(Layer::Intent),
        "send a session.start with trigger.type, trigger.initiator and authorization.decision at \
         the start of every run"
    );
    assert_eq!(
        fix(Layer::Outcome),
        "send a session.end with outcome.status at the end of every run"
    );
}

#[test]
fn examples_are_the_first_three_short_sessions_in_time_order() {
    let short = |id: &str, t: u32| {
        let mut s = full(id, &at(t));
        no_start(&mut s);
        s
    };
    // Given out of order; s-b and s-a start at the same time: ordered by id.
    let r = one(vec![
        short("s-late", 50),
        full("s-ok", &at(1)),
        short("s-b", 10),
        short("s-a", 10),
        short("s-first", 5),
    ]);
    let l = r.agents[0].layer(Layer::Intent);
    assert_eq!(l.examples, ["s-first", "s-a", "s-b"]);
    assert_eq!(
        (l.counts.considered, l.counts.covered, l.counts.absent),
        (5, 1, 4)
    );
    let r = one(vec![
        full("z", &at(3)),
        full("y", &at(2)),
        full("x", &at(9)),
        full("w", &at(1)),
    ]);
    assert_eq!(r.agents[0].layer(Layer::Scope).examples, ["w", "y", "z"]);
}

#[test]
fn violations_are_counted_with_their_policies() {
    let v = |id: &str, t: u32, n: u64, p: &[&str]| {
        let mut s = full(id, &at(t));
        s.violations = n;
        s.violation_policies = p.iter().map(|p| p.to_string()).collect();
        s
    };
    let mut err = full("e", &at(0));
    err.policy_errors = 2;
    let r = one(vec![
        v("v4", 40, 1, &["p-b"]),
        v("v1", 10, 2, &["p-b", "p-a", "p-b"]),
        full("ok", &at(5)),
        v("v3", 30, 1, &["p-c"]),
        v("v2", 20, 1, &["p-a"]),
        err,
    ]);
    let vs = &r.agents[0].violations;
    assert_eq!((vs.count, vs.sessions, vs.policy_errors), (5, 4, 2));
    assert_eq!(vs.policies, ["p-a", "p-b", "p-c"]);
    let ex: Vec<_> = vs
        .examples
        .iter()
        .map(|e| (e.session_id.as_str(), e.count, e.policies.join(",")))
        .collect();
    assert_eq!(
        ex,
        [
            ("v1", 2, "p-a,p-b".into()),
            ("v2", 1, "p-a".into()),
            ("v3", 1, "p-c".to_string())
        ]
    );
    // Full coverage, yet in the plan because of the violations.
    assert_eq!(r.agents[0].coverage.as_str(), "full");
    assert_eq!(r.remediation.len(), 1);
    let actions = r.remediation[0].actions.join("\n");
    assert!(
        actions.contains("review the 5 scope violations in 4 sessions"),
        "{actions}"
    );
    assert!(
        actions.contains("fix the 2 policy evaluation errors"),
        "{actions}"
    );
    assert_eq!(
        r.summary.sentence,
        "1 agent in scope (1 registered, 0 discovered): full coverage on 1, partial on 0, none \
         on 0. 5 scope violations in 4 sessions."
    );
}

fn evidence(agent: AgentInfo, sessions: Vec<SessionFacts>) -> AgentEvidence {
    AgentEvidence { agent, sessions }
}

/// Five agents: full, partial (decision trace N/A), none, discovered, and one with no sessions.
fn fleet() -> Report {
    let full_agent = evidence(info("full"), vec![full("f1", &at(1))]);
    let partial = evidence(
        info("partial"),
        vec![with("p1", |s| {
            s.model_calls = 0;
            s.writes = 0;
            s.diffs = 0;
            s.ended = false;
        })],
    );
    let none = evidence(
        info("none"),
        vec![with("n1", |s| {
            no_start(s);
            s.actions = 0;
            s.model_calls = 0;
            s.decisions = 0;
            s.writes = 0;
            s.diffs = 0;
            s.ended = false;
        })],
    );
    let mut d = info("disc");
    d.registered = false;
    d.governed = false;
    d.owner = None;
    let disc = evidence(d, vec![full("d1", &at(2))]);
    let idle = evidence(info("idle"), vec![]);
    let principal = UnregisteredPrincipal {
        principal: "svc-unknown".into(),
        first_seen: at(1),
        last_seen: at(9),
        sessions: 2,
        actions: 7,
        systems: vec!["s3".into(), "crm".into()],
        agents: vec!["disc".into()],
    };
    report(vec![disc, idle, none, partial, full_agent], vec![principal])
}

#[test]
fn summary_counts_agents_by_coverage() {
    let r = fleet();
    let ids: Vec<_> = r.agents.iter().map(|a| a.agent.id.as_str()).collect();
    assert_eq!(ids, ["full", "idle", "none", "partial", "disc"]);
    let cov: Vec<_> = r.agents.iter().map(|a| a.coverage.as_str()).collect();
    assert_eq!(cov, ["full", "none", "none", "partial", "full"]);
    assert_eq!(
        r.summary_sentence(),
        "5 agents in scope (4 registered, 1 discovered): full coverage on 2, partial on 1, none \
         on 2. 1 unregistered principal acted with no registered agent."
    );
    // The none agent's decision trace is N/A (no model call), and does not stop "none".
    assert_eq!(
        r.agents[2].layer(Layer::DecisionTrace).score,
        Score::NotApplicable
    );
    let empty = report(vec![], vec![]);
    assert_eq!(
        empty.summary_sentence(),
        "0 agents in scope (0 registered, 0 discovered): full coverage on 0, partial on 0, none \
         on 0."
    );
}

#[test]
fn a_discovered_agent_is_told_to_register() {
    let r = fleet();
    let item = r.remediation.iter().find(|i| i.agent_id == "disc").unwrap();
    assert_eq!(
        item.why,
        "data classification unknown; discovered, not registered"
    );
    assert_eq!(
        item.actions,
        ["register it in agents.toml with an owner, a kind and a policy"]
    );
    // The fully covered registered agent has nothing to do.
    assert!(r.remediation.iter().all(|i| i.agent_id != "full"));
}

#[test]
fn remediation_is_ordered_by_risk() {
    let agent = |id: &str, elevated: bool, class: Option<&str>, registered: bool| {
        let mut a = info(id);
        a.elevated = elevated;
        a.classification = class.map(String::from);
        a.registered = registered;
        a
    };
    let partial = |id: &str| vec![with(id, |s| s.ended = false)];
    let mut violating = partial("v");
    violating[0].violations = 2;
    violating[0].violation_policies = vec!["scope-crm".into()];
    let agents = vec![
        evidence(agent("a-public", false, Some("public"), true), partial("1")),
        evidence(
            agent("b-customer", false, Some("customer"), true),
            partial("2"),
        ),
        evidence(
            agent("c-customer-viol", false, Some("customer"), true),
            violating,
        ),
        evidence(
            agent("d-elevated", true, Some("internal"), true),
            partial("3"),
        ),
        evidence(
            agent("e-restricted", false, Some("restricted"), true),
            partial("4"),
        ),
        evidence(agent("f-unknown", false, None, true), partial("5")),
        evidence(
            agent("g-public-disc", false, Some("public"), false),
            partial("6"),
        ),
        evidence(
            agent("h-customer-idle", false, Some("customer"), true),
            vec![],
        ),
        evidence(
            agent("i-odd", false, Some("top-secret"), true),
            partial("7"),
        ),
        evidence(
            agent("j-full", true, Some("restricted"), true),
            vec![full("8", &at(1))],
        ),
    ];
    let r = report(agents, vec![]);
    let order: Vec<_> = r.remediation.iter().map(|i| i.agent_id.as_str()).collect();
    assert_eq!(
        order,
        [
            "d-elevated",
            "e-restricted",
            "c-customer-viol",
            "h-customer-idle",
            "b-customer",
            "g-public-disc",
            "a-public",
            "f-unknown",
            "i-odd",
        ]
    );
    let why: Vec<_> = r.remediation.iter().map(|i| i.why.as_str()).collect();
    assert_eq!(why[0], "elevated permissions; internal data");
    assert_eq!(why[2], "customer data; 2 scope violations");
    assert_eq!(why[3], "customer data; 4 layers at No");
    assert_eq!(why[5], "public data; discovered, not registered");
    assert_eq!(why[8], "data classification unknown");
    // Each item's actions name the layers to fix.
    assert!(r.remediation[0].actions[0].starts_with("Outcome: send a session.end"));
}

#[test]
fn json_has_the_documented_shape_and_is_deterministic() {
    let r = fleet();
    let j = r.to_json();
    assert_eq!(j["format"], "agentrail.assessment/v1");
    assert_eq!(j["period"]["from"], "2026-11-01T00:00:00Z");
    assert_eq!(j["log"]["tree_size"], 1234);
    assert_eq!(j["summary"]["agents"], 5);
    assert_eq!(j["summary"]["sentence"], r.summary.sentence.as_str());
    let partial = &j["agents"][3];
    assert_eq!(partial["id"], "partial");
    assert_eq!(partial["coverage"], "partial");
    let scores: Vec<&str> = ["intent", "scope", "decision_trace", "outcome"]
        .iter()
        .map(|k| partial["layers"][k]["score"].as_str().unwrap())
        .collect();
    assert_eq!(scores, ["yes", "yes", "n/a", "no"]);
    let outcome = &partial["layers"]["outcome"];
    assert_eq!(outcome["examples"], serde_json::json!(["p1"]));
    assert_eq!(outcome["controls"], serde_json::json!(["CC7.2", "CC7.3"]));
    assert_eq!(outcome["counts"]["sessions"], 1);
    assert_eq!(outcome["counts"]["absent"], 1);
    assert_eq!(outcome["counts"]["writes"], 0);
    assert_eq!(partial["layers"]["intent"]["to_reach_yes"], Value::Null);
    assert_eq!(j["agents"][4]["discovered"], true);
    assert_eq!(
        j["unregistered_principals"][0]["systems"],
        serde_json::json!(["s3", "crm"])
    );
    assert_eq!(j["remediation"][0]["rank"], 1);
    assert!(j["remediation"][0]["actions"].is_array());
    assert_eq!(j["controls"][0]["id"], "CC6.1");
    // The same inputs in another order give the same report.
    let again = fleet();
    assert_eq!(again.to_json(), j);
    assert_eq!(again.to_markdown(), r.to_markdown());
    assert_eq!(again.to_html(), r.to_html());
}

const HOSTILE: &[&str] = &[
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "evil\u{202e}txt.exe",
    "\u{1b}[31mred\u{1b}[0m",
    "a | b ` c `` <script>x</script>",
    "[link](javascript:alert(1)) <b>bold</b> # heading\n| x | y |",
];

/// A report where every agent-originated string is hostile.
fn hostile() -> Report {
    let mut agents = Vec::new();
    for (i, h) in HOSTILE.iter().enumerate() {
        let h = h.to_string();
        let agent = AgentInfo {
            id: format!("{h}{i}"),
            name: h.clone(),
            kind: Some(h.clone()),
            owner: Some(h.clone()),
            classification: Some(h.clone()),
            registered: i % 2 == 0,
            ..AgentInfo::default()
        };
        let mut s = with(&h, |s| s.initiator = None);
        s.started_at = h.clone();
        s.violations = 1;
        s.violation_policies = vec![h.clone()];
        agents.push(evidence(agent, vec![s]));
    }
    let principals = HOSTILE
        .iter()
        .map(|h| UnregisteredPrincipal {
            principal: h.to_string(),
            first_seen: h.to_string(),
            last_seen: h.to_string(),
            sessions: 1,
            actions: 1,
            systems: vec![h.to_string()],
            agents: vec![h.to_string()],
        })
        .collect();
    let all = HOSTILE.join("");
    assess(
        Period {
            from: Some(all.clone()),
            to: Some(all.clone()),
        },
        LogInfo {
            origin: all.clone(),
            tree_size: 1,
            policy_set_hash: all.clone(),
            generated_at: all,
        },
        agents,
        principals,
    )
}

fn assert_inert(out: &str, what: &str) {
    let lower = out.to_ascii_lowercase();
    for bad in ["<script", "<img", "<b>", "\u{202e}", "\u{1b}"] {
        assert!(!lower.contains(bad), "{what}: {bad:?} in\n{out}");
    }
}

/// The tag names of an HTML text, and every attribute value of `href`.
fn tags(html: &str) -> (Vec<String>, Vec<String>) {
    let mut names = Vec::new();
    let mut hrefs = Vec::new();
    for part in html.split('<').skip(1) {
        let tag = part.split('>').next().unwrap();
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '!')
            .collect();
        names.push(name.to_ascii_lowercase());
        for (i, _) in tag.match_indices("href=\"") {
            hrefs.push(tag[i + 6..].split('"').next().unwrap().to_string());
        }
    }
    (names, hrefs)
}

#[test]
fn html_shows_hostile_text_as_text() {
    let html = hostile().to_html();
    assert_inert(&html, "html");
    let (names, hrefs) = tags(&html);
    let allowed = [
        "!doctype", "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3",
        "h4", "p", "dl", "dt", "dd", "section", "table", "thead", "tbody", "tr", "th", "td", "a",
        "code", "span", "div", "ul", "ol", "li", "strong",
    ];
    for n in &names {
        assert!(allowed.contains(&n.as_str()), "unexpected tag {n:?}");
    }
    for h in &hrefs {
        let n = h.strip_prefix("#agent-").expect(h);
        assert!(n.parse::<usize>().is_ok(), "{h}");
    }
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("evil\\u202etxt.exe"));
    assert!(html.contains("\\x1b[31mred"));
    // One document, under the CSP, with nothing to load.
    assert!(html.starts_with("<!doctype html>\n"));
    assert_eq!(html.matches("<style>").count(), 1);
    assert_eq!(html.matches("<html").count(), 1);
}

/// The Markdown with every code span removed (CommonMark: a run of n backticks up to the next
/// run of exactly n), after checking that a table row's code spans escape every `|`.
fn outside_code_spans(md: &str) -> String {
    let mut out = String::new();
    for line in md.lines() {
        let b = line.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'`' {
                out.push(line[i..].chars().next().unwrap());
                i += line[i..].chars().next().unwrap().len_utf8();
                continue;
            }
            let n = b[i..].iter().take_while(|c| **c == b'`').count();
            let mut j = i + n;
            let close = loop {
                let Some(k) = line[j..].find('`').map(|k| j + k) else {
                    break None;
                };
                let m = b[k..].iter().take_while(|c| **c == b'`').count();
                if m == n {
                    break Some(k);
                }
                j = k + m;
            };
            let close = close.unwrap_or_else(|| panic!("unclosed code span in {line:?}"));
            let span = &line[i + n..close];
            if line.starts_with('|') {
                for (k, _) in span.match_indices('|') {
                    assert!(span[..k].ends_with('\\'), "bare | in a cell: {line:?}");
                }
            }
            i = close + n;
        }
        out.push('\n');
    }
    out
}

#[test]
fn markdown_keeps_hostile_text_in_code_spans() {
    let md = hostile().to_markdown();
    assert!(!md.contains(['\u{202e}', '\u{1b}']), "{md}");
    let outside = outside_code_spans(&md);
    assert_inert(&outside, "outside code spans");
    for bad in ["alert", "javascript", "onerror", "heading"] {
        assert!(
            !outside.contains(bad),
            "{bad} outside a code span:\n{outside}"
        );
    }
    // Every table row has as many cells as its header.
    for line in md.lines().filter(|l| l.starts_with('|')) {
        let cells = line.replace("\\|", "").matches('|').count();
        assert!(cells == 9 || cells == 8 || cells == 3, "{cells}: {line}");
    }
}

#[test]
fn the_page_loads_nothing_and_its_csp_allows_exactly_its_style() {
    let html = fleet().to_html();
    for bad in [
        "http://", "https://", "src=", "<script", "url(", "@import", "<link",
    ] {
        assert!(!html.contains(bad), "{bad}");
    }
    let style = html
        .split("<style>")
        .nth(1)
        .and_then(|s| s.split("</style>").next())
        .unwrap();
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(style));
    // The meta element carries the policy without frame-ancestors, which only a header can set.
    let in_meta = CSP.trim_end_matches("; frame-ancestors 'none'");
    assert_ne!(in_meta, CSP);
    let meta = format!("<meta http-equiv=\"Content-Security-Policy\" content=\"{in_meta}\">");
    assert!(html.contains(&meta));
    assert!(
        CSP.contains(&format!("style-src 'sha256-{hash}'")),
        "{CSP} vs {hash}"
    );
    for directive in [
        "default-src 'none'",
        "img-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(CSP.contains(directive), "{directive}");
    }
    // The summary is there, and every score is written out, not only coloured.
    assert!(html.contains(&format!(
        "<p class=\"summary\" id=\"summary\">{}</p>",
        fleet().summary_sentence()
    )));
    for (class, label) in [("s-yes", "Yes"), ("s-no", "No"), ("s-na", "N/A")] {
        assert!(
            html.contains(&format!("<td class=\"{class}\">{label}</td>")),
            "{class}"
        );
    }
}

#[test]
fn markdown_has_the_parts_an_auditor_reads() {
    let md = fleet().to_markdown();
    for part in [
        "# Agent gap assessment",
        "**5 agents in scope (4 registered, 1 discovered)",
        "| Policy set | `sha256:9f2c1e7d` |",
        "| Agent | Kind | Owner | Intent | Scope | Decision trace | Outcome | Violations |",
        "| `partial` | `assistant` | `platform-team` | Yes | Yes | N/A | **No** | 0 |",
        "| `disc` (discovered) |",
        "#### Outcome: No",
        "- Controls: CC7.2, CC7.3",
        "- To reach Yes: send a session.end with outcome.status at the end of every run",
        "#### Intent: No\n\nNo evidence in the period.",
        "## Unregistered principals",
        "| `svc-unknown` |",
        "## Remediation plan",
        "   - register it in agents.toml with an owner, a kind and a policy",
        "- CC6.6: logical access security",
    ] {
        assert!(md.contains(part), "missing {part:?} in\n{md}");
    }
}

#[test]
fn the_worked_example_of_the_documentation() {
    let s1 = SessionFacts {
        session_id: "sess-0900".into(),
        started_at: "2026-11-24T09:00:00Z".into(),
        actions: 6,
        model_calls: 2,
        ..full("", "")
    };
    let s2 = SessionFacts {
        session_id: "sess-1000".into(),
        started_at: "2026-11-24T10:00:00Z".into(),
        initiator: None,
        actions: 4,
        actions_unresolved: 1,
        decisions: 0,
        writes: 2,
        writes_without_diff: 1,
        ..full("", "")
    };
    let s3 = SessionFacts {
        session_id: "sess-1100".into(),
        started_at: "2026-11-24T11:00:00Z".into(),
        actions: 3,
        violations: 1,
        violation_policies: vec!["crm-scope".into()],
        ..SessionFacts::default()
    };
    let mut agent = info("renewal-drafter");
    agent.classification = Some("customer".into());
    let r = report(vec![evidence(agent, vec![s3, s1, s2])], vec![]);
    let a = &r.agents[0];
    let got: Vec<_> = a
        .layers
        .iter()
        .map(|l| (l.score, l.reason.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                Score::Partial,
                "Of 3 sessions, 1 with a complete session.start (trigger type, initiator and an \
                 authorization decision), 1 with an incomplete one (1 without an initiator) and 1 \
                 with no session.start."
            ),
            (
                Score::Partial,
                "Of 3 sessions, 2 with every action's system and resource recorded and 1 with \
                 actions whose system or resource is missing (1 of 13 actions unresolved)."
            ),
            (
                Score::Partial,
                "Of 2 sessions with model calls, 1 with decision records and 1 without (1 \
                 decision for 3 model calls); 1 other session made no model call."
            ),
            (
                Score::Partial,
                "Of 3 sessions, 1 ended with a session.end and a diff for every resource \
                 written, 1 partly (1 ended without a diff for some resource written) and 1 with \
                 no session.end and no diff for their writes (3 writes, 1 written resource \
                 without a diff)."
            ),
        ]
    );
    assert_eq!(a.layer(Layer::Intent).examples, ["sess-1000", "sess-1100"]);
    assert_eq!(
        r.summary_sentence(),
        "1 agent in scope (1 registered, 0 discovered): full coverage on 0, partial on 1, none \
         on 0. 1 scope violation in 1 session."
    );
    assert_eq!(r.remediation[0].why, "customer data; 1 scope violation");
}
