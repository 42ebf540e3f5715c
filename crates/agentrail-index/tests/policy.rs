//! Scope policy decisions in the session index, over a real ledger: the inventory and policy
//! records appended as `agentrail sync` appends them, each event judged by the policy set in
//! force when it was appended, every outcome stored (or not), session summaries and the
//! `violation` filter, the intent context an action sees, discovery of unregistered agents and
//! principals, `verify_policies` against a tampered index, and the state surviving a reopen and
//! a rebuild.

use agentrail_core::event::parse_client_event;
use agentrail_index::assess::gather::gather;
use agentrail_index::assess::Period;
use agentrail_index::discover::Actor;
use agentrail_index::policy::{state_from_ledger, verify_policies, DecisionRow, PolicyCheck};
use agentrail_index::{view, Index, IndexError, SessionFilter};
use agentrail_policy::{load, Loaded, PolicyState, Verdict, POLICY_KIND};
use agentrail_store::clock::SystemClock;
use agentrail_store::ledger::{open_read, AppendOutcome, DataDir};
use agentrail_store::{InitOptions, Ledger};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

const TS: &str = "2026-11-24T10:00:00Z";

/// A ledger in one temporary directory and the `agents.toml` it syncs from in another.
struct Log {
    data: tempfile::TempDir,
    conf: tempfile::TempDir,
}

impl Log {
    fn new() -> Log {
        let data = tempfile::tempdir().unwrap();
        Ledger::init(data.path(), &InitOptions::default(), &SystemClock).unwrap();
        Log {
            data,
            conf: tempfile::tempdir().unwrap(),
        }
    }

    fn dir(&self) -> &Path {
        self.data.path()
    }

    fn ledger(&self) -> Ledger {
        Ledger::open(self.dir(), "test", Arc::new(SystemClock)).unwrap()
    }

    /// Writes `agents.toml` and its policy files, loads them, and appends the records that bring
    /// the ledger's state to them, as the CLI does: each record is the body without its wrapper.
    /// Returns what was loaded and the leaves of the records.
    fn sync(&self, toml: &str, files: &[(&str, &str)]) -> (Loaded, Vec<u64>) {
        for (path, text) in files {
            std::fs::write(self.conf.path().join(path), text).unwrap();
        }
        let path = self.conf.path().join("agents.toml");
        std::fs::write(&path, toml).unwrap();
        let loaded = load(&path).unwrap();
        let state = state_from_ledger(open_read(self.dir()).unwrap().as_mut()).unwrap();
        let records: Vec<(&str, Value)> = state
            .sync_records(&loaded, "cli")
            .into_iter()
            .map(|(kind, mut body)| {
                let suffix = kind.strip_prefix("agentrail.").unwrap();
                (kind, body.as_object_mut().unwrap().remove(suffix).unwrap())
            })
            .collect();
        assert!(!records.is_empty(), "the test syncs a change");
        let leaves = self.records(&records);
        (loaded, leaves)
    }

    /// Appends `agentrail.*` records by hand.
    fn records(&self, records: &[(&str, Value)]) -> Vec<u64> {
        self.ledger().append_internals(records).unwrap()
    }

    /// Appends agent events in one batch; returns event id -> leaf index.
    fn append(&self, events: &[Value]) -> HashMap<String, u64> {
        let mut ledger = self.ledger();
        let valid: Vec<_> = events
            .iter()
            .map(|e| parse_client_event(e.to_string().as_bytes()).unwrap())
            .collect();
        let out = ledger.append(&valid, "cli").unwrap();
        ledger.checkpoint_now().unwrap();
        events
            .iter()
            .zip(out)
            .map(|(e, o)| match o {
                AppendOutcome::Appended { leaf_index } => {
                    (e["event_id"].as_str().unwrap().to_string(), leaf_index)
                }
                other => panic!("{e}: {other:?}"),
            })
            .collect()
    }

    fn open_index(&self) -> Index {
        Index::open(&DataDir::new(self.dir()).index()).unwrap()
    }

    /// The index, caught up with the ledger.
    fn index(&self) -> Index {
        let mut index = self.open_index();
        index
            .catch_up(open_read(self.dir()).unwrap().as_mut())
            .unwrap();
        index
    }

    fn verify(&self, index: &mut Index, chunk: usize) -> PolicyCheck {
        verify_policies(index, open_read(self.dir()).unwrap().as_mut(), chunk).unwrap()
    }

    /// A second connection to the index database, to edit it behind the index's back.
    fn index_db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(DataDir::new(self.dir()).index()).unwrap()
    }
}

fn ev(id: &str, session: &str, agent: &str, kind: &str, body: Value) -> Value {
    let mut e =
        json!({"event_id": id, "session_id": session, "agent_id": agent, "kind": kind, "ts": TS});
    e.as_object_mut()
        .unwrap()
        .extend(body.as_object().unwrap().clone());
    e
}

/// A session start: `trigger` is (type, initiator, request_id).
fn start(id: &str, session: &str, agent: &str, trigger: [&str; 3]) -> Value {
    let [kind, initiator, request_id] = trigger;
    ev(
        id,
        session,
        agent,
        "session.start",
        json!({"trigger": {"type": kind, "initiator": initiator, "request_id": request_id}}),
    )
}

/// An action that succeeded: `what` is (type, system, resource).
fn act(id: &str, session: &str, agent: &str, what: [&str; 3]) -> Value {
    let [kind, system, resource] = what;
    ev(
        id,
        session,
        agent,
        "action",
        json!({"action": {"type": kind, "system": system, "resource": resource, "status": "ok"}}),
    )
}

fn with(mut e: Value, field: &str, value: &str) -> Value {
    e[field] = json!(value);
    e
}

/// Every stored decision of the sessions named, by event id.
fn verdicts(index: &Index, sessions: &[&str]) -> BTreeMap<String, Verdict> {
    sessions
        .iter()
        .flat_map(|s| index.decisions(s).unwrap())
        .map(|d| (d.event_id, d.verdict))
        .collect()
}

/// Every stored decision, of every indexed session.
fn all_decisions(index: &Index) -> Vec<DecisionRow> {
    let page = index
        .sessions(&SessionFilter {
            limit: Some(1000),
            ..Default::default()
        })
        .unwrap();
    let mut rows: Vec<DecisionRow> = page
        .items
        .iter()
        .flat_map(|s| index.decisions(&s.session_id).unwrap())
        .collect();
    rows.sort_by_key(|d| d.leaf_index);
    rows
}

/// Expected: (decision, determining policies); `None` is "no decision stored".
type Expect = Option<(&'static str, &'static [&'static str])>;

/// An event id, its expected decision, and which policy set hash it must carry.
type Timeline = Vec<(&'static str, Expect, usize)>;

/// (session, violations, violation policies, start policy, policy errors)
type SessionExpect<'a> = (&'a str, u64, &'a [&'a str], Option<&'a str>, u64);

/// (filters, the sessions they select)
type FilterCase<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);

fn check_verdict(event: &str, found: Option<&Verdict>, expected: Expect, hash: &str) {
    let found = found.map(|v| {
        (
            v.decision.as_str(),
            v.policies.clone(),
            v.policy_set_hash.clone(),
        )
    });
    let expected = expected.map(|(d, p)| {
        (
            d,
            p.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            hash.to_string(),
        )
    });
    assert_eq!(found, expected, "event {event}");
}

// --- 1. Decisions over time -------------------------------------------------------------------

const BOT_TOML: &str = r#"
[[agent]]
id = "bot"
kind = "llm-agent"
owner = "ops@acme.example"
policy = "bot.cedar"
"#;

const BOT_UNGOVERNED_TOML: &str = r#"
[[agent]]
id = "bot"
kind = "llm-agent"
owner = "ops@acme.example"
"#;

const BOT_READS: &str = r#"@id("reads")
permit (principal == Agent::"bot", action == Action::"read", resource)
when { resource.system == "crm" };
"#;

const BOT_WRITES: &str = r#"@id("writes")
permit (principal == Agent::"bot", action == Action::"write", resource)
when { resource.system == "crm" };
"#;

/// The history of test 1: before any policy, under v1 (reads only), under v2 (writes only),
/// after the agent's policy was removed. Returns the log, the two policy set hashes and the
/// expected decision of each event with the index of the hash it must carry.
fn history() -> (Log, [String; 2], Timeline) {
    let log = Log::new();
    let read = |id| act(id, "s", "bot", ["read", "crm", "acct-1"]);
    let write = |id| act(id, "s", "bot", ["write", "crm", "acct-1"]);
    log.append(&[read("e0")]);
    let (v1, _) = log.sync(BOT_TOML, &[("bot.cedar", BOT_READS)]);
    log.append(&[read("e1"), write("e2")]);
    // Caught up in the middle: the second half is indexed incrementally, from the saved state.
    log.index();
    let (v2, _) = log.sync(BOT_TOML, &[("bot.cedar", BOT_WRITES)]);
    log.append(&[read("e3")]);
    log.append(&[write("e4")]);
    let (v3, _) = log.sync(BOT_UNGOVERNED_TOML, &[]);
    assert!(v3.policies.is_empty());
    log.append(&[write("e5")]);
    let expected: Timeline = vec![
        ("e0", None, 0),
        ("e1", Some(("allow", &["reads"])), 0),
        ("e2", Some(("deny", &[])), 0),
        ("e3", Some(("deny", &[])), 1),
        ("e4", Some(("allow", &["writes"])), 1),
        ("e5", None, 0),
    ];
    let hashes = [
        v1.policies.hash().to_string(),
        v2.policies.hash().to_string(),
    ];
    (log, hashes, expected)
}

#[test]
fn each_event_is_judged_by_the_policy_set_in_force_when_it_was_appended() {
    let (log, hashes, expected) = history();
    assert_ne!(hashes[0], hashes[1]);
    let index = log.index();
    let found = verdicts(&index, &["s"]);
    for (event, want, hash) in &expected {
        check_verdict(event, found.get(*event), *want, &hashes[*hash]);
    }
    assert_eq!(found.len(), 4, "{found:?}");
    let s = index.session("s").unwrap().unwrap();
    assert_eq!(s.counts.violations, 2, "e2 under v1, e3 under v2");
    assert_eq!(s.counts.actions, 6);
    // The removal was recorded: nothing is in force any more.
    let state = index.policy_state().unwrap();
    assert!(state.policies.files().is_empty());
    assert!(!state.inventory.governs("bot"));
}

// --- 2. Every outcome ---------------------------------------------------------------------------

const OUTCOMES_TOML: &str = r#"
policies = ["base.cedar"]

[[agent]]
id = "ruled"
kind = "llm-agent"
owner = "ops@acme.example"
policy = "ruled.cedar"

[[agent]]
id = "governed"
kind = "llm-agent"
owner = "ops@acme.example"
policy = "governed.cedar"

[[agent]]
id = "erring"
kind = "llm-agent"
owner = "ops@acme.example"
policy = "erring.cedar"

[[agent]]
id = "free"
kind = "llm-agent"
owner = "ops@acme.example"
"#;

const OUTCOMES_FILES: &[(&str, &str)] = &[
    (
        "base.cedar",
        r#"// Applies to every agent, governed or not.
@id("no-payroll")
forbid (principal, action, resource)
when { resource has system && resource.system == "payroll" };
"#,
    ),
    (
        "ruled.cedar",
        r#"@id("ruled-reads-crm")
permit (principal == Agent::"ruled", action == Action::"read", resource)
when { resource.system == "crm" };

@id("users-start-ruled")
permit (principal, action == Action::"start", resource == Agent::"ruled")
when { context.trigger_type == "user" };
"#,
    ),
    // Governed, and nothing permits it: every action is denied by default.
    ("governed.cedar", "// nothing is permitted\n"),
    (
        "erring.cedar",
        r#"@id("erring-nope")
permit (principal == Agent::"erring", action, resource)
when { resource.nope == "x" };
"#,
    ),
];

/// One event of the outcomes log and its expected stored decision.
struct Case {
    event: Value,
    expect: Expect,
}

fn outcome_cases() -> Vec<Case> {
    let c = |event, expect| Case { event, expect };
    vec![
        c(
            start("st-allow", "s-allow", "ruled", ["user", "alice", "r-1"]),
            Some(("allow", &["users-start-ruled"])),
        ),
        c(
            act("a1", "s-allow", "ruled", ["read", "crm", "acct-1"]),
            Some(("allow", &["ruled-reads-crm"])),
        ),
        // A governed agent's start that nothing permits: denied by default.
        c(
            start("st-deny", "s-deny", "ruled", ["schedule", "nightly", "r-2"]),
            Some(("deny", &[])),
        ),
        // A forbid wins over nothing, with its id.
        c(
            act("a2", "s-deny", "ruled", ["read", "payroll", "salaries"]),
            Some(("deny", &["no-payroll"])),
        ),
        c(
            act("a3", "s-governed", "governed", ["read", "crm", "acct-1"]),
            Some(("deny", &[])),
        ),
        // Registered but ungoverned, and an unregistered agent: no_policy, not stored.
        c(
            start("st-free", "s-free", "free", ["user", "alice", "r-3"]),
            None,
        ),
        c(act("a4", "s-free", "free", ["read", "crm", "acct-1"]), None),
        c(
            act("a5", "s-free", "stranger", ["read", "crm", "acct-1"]),
            None,
        ),
        c(
            act("a6", "s-error", "erring", ["read", "crm", "acct-1"]),
            Some(("error", &[])),
        ),
        // The top-level forbid applies to an ungoverned agent too.
        c(
            act("a7", "s-free-payroll", "free", ["read", "payroll", "x"]),
            Some(("deny", &["no-payroll"])),
        ),
    ]
}

const OUTCOME_SESSIONS: &[&str] = &[
    "s-allow",
    "s-deny",
    "s-governed",
    "s-free",
    "s-error",
    "s-free-payroll",
];

/// The outcomes log: the inventory synced, then every case's event. Returns the log, the policy
/// set hash, the leaves of the sync records, and event id -> leaf.
fn outcomes() -> (Log, String, Vec<u64>, HashMap<String, u64>) {
    let log = Log::new();
    let (loaded, records) = log.sync(OUTCOMES_TOML, OUTCOMES_FILES);
    let events: Vec<Value> = outcome_cases().into_iter().map(|c| c.event).collect();
    let leaves = log.append(&events);
    (log, loaded.policies.hash().to_string(), records, leaves)
}

#[test]
fn every_outcome_lands_in_the_index_and_no_policy_does_not() {
    let (log, hash, _, _) = outcomes();
    let index = log.index();
    let found = verdicts(&index, OUTCOME_SESSIONS);
    let cases = outcome_cases();
    for c in &cases {
        let id = c.event["event_id"].as_str().unwrap();
        check_verdict(id, found.get(id), c.expect, &hash);
    }
    assert_eq!(
        found.len(),
        cases.iter().filter(|c| c.expect.is_some()).count()
    );
    // Only the erroring policy has errors, and they carry its id and Cedar's reason.
    for (id, v) in &found {
        if id == "a6" {
            assert_eq!(v.errors.len(), 1, "{v:?}");
            assert!(
                v.errors[0].starts_with("erring-nope: ") && v.errors[0].contains("nope"),
                "{v:?}"
            );
        } else {
            assert!(v.errors.is_empty(), "{id}: {v:?}");
        }
    }
}

#[test]
fn session_summaries_count_violations_and_the_start_decision() {
    let (log, _, _, _) = outcomes();
    let index = log.index();
    let expected: &[SessionExpect] = &[
        ("s-allow", 0, &[], Some("allow"), 0),
        ("s-deny", 2, &["no-payroll"], Some("deny"), 0),
        ("s-governed", 1, &[], None, 0),
        ("s-free", 0, &[], None, 0),
        ("s-error", 0, &[], None, 1),
        ("s-free-payroll", 1, &["no-payroll"], None, 0),
    ];
    for (id, violations, policies, start_policy, errors) in expected {
        let s = index.session(id).unwrap().unwrap();
        let policies: BTreeSet<String> = policies.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            (
                s.counts.violations,
                &s.violation_policies,
                s.start_policy.as_deref(),
                s.counts.policy_errors
            ),
            (*violations, &policies, *start_policy, *errors),
            "{id}"
        );
        let j = s.to_json();
        assert_eq!(j["violation"], *violations > 0, "{id}");
        assert_eq!(j["start_policy"], json!(start_policy), "{id}");
        // The assessment reads the same facts.
        let f = agentrail_index::assess::gather::facts(&s);
        assert_eq!(
            (f.violations, f.start_policy.as_deref()),
            (*violations, *start_policy)
        );
    }
    // The assessment's evidence for the ruled agent carries both of its sessions' violations.
    let state = index.policy_state().unwrap();
    let (agents, _) = gather(&index, &state, &Period::default()).unwrap();
    let ruled = agents.iter().find(|a| a.agent.id == "ruled").unwrap();
    assert!(ruled.agent.registered && ruled.agent.governed);
    let by_session: BTreeMap<&str, u64> = ruled
        .sessions
        .iter()
        .map(|f| (f.session_id.as_str(), f.violations))
        .collect();
    assert_eq!(by_session, BTreeMap::from([("s-allow", 0), ("s-deny", 2)]));
}

#[test]
fn the_reconstruction_shows_each_events_decision_and_the_violations() {
    let (log, hash, _, leaves) = outcomes();
    let index = log.index();
    let mut backend = open_read(log.dir()).unwrap();
    let expected: BTreeMap<String, Expect> = outcome_cases()
        .into_iter()
        .map(|c| (c.event["event_id"].as_str().unwrap().to_string(), c.expect))
        .collect();
    for session in OUTCOME_SESSIONS {
        let v = view::build(&index, backend.as_mut(), session, None).unwrap();
        assert!(v.integrity.ok(), "{:?}", v.integrity.problems);
        let j = v.to_json(false);
        let mut seen = 0;
        for layer in ["intent", "scope", "decisions", "outcome"] {
            for item in j[layer].as_array().unwrap() {
                let id = item["event"]["event_id"].as_str().unwrap();
                let want = expected[id]
                    .map(|(d, p)| json!({"decision": d, "policies": p, "policy_set_hash": hash}));
                let got = item.get("policy").map(|p| {
                    json!({"decision": p["decision"], "policies": p["policies"],
                           "policy_set_hash": p["policy_set_hash"]})
                });
                assert_eq!(got, want, "{session}/{id}");
                seen += 1;
            }
        }
        assert_eq!(seen, v.events.len());
        let violations: Vec<(u64, String)> = j["violations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                assert_eq!(d["decision"], "deny");
                (
                    d["leaf_index"].as_u64().unwrap(),
                    d["event_id"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let mut want: Vec<(u64, String)> = expected
            .iter()
            .filter(|(id, e)| {
                matches!(e, Some(("deny", _)))
                    && v.events.iter().any(|x| x.event["event_id"] == **id)
            })
            .map(|(id, _)| (leaves[id], id.clone()))
            .collect();
        want.sort();
        assert_eq!(violations, want, "{session}");
    }
}

// --- 3. The violation filter ------------------------------------------------------------------

#[test]
fn the_violation_filter_splits_sessions_and_refuses_other_values() {
    let (log, _, _, _) = outcomes();
    let index = log.index();
    let ids = |filters: &[(&str, &str)]| -> BTreeSet<String> {
        let mut f = SessionFilter::default();
        for (k, v) in filters {
            f.set(k, v.to_string()).unwrap();
        }
        index
            .sessions(&f)
            .unwrap()
            .items
            .into_iter()
            .map(|s| s.session_id)
            .collect()
    };
    let set = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<BTreeSet<_>>();
    let cases: &[FilterCase] = &[
        (
            &[("violation", "true")],
            &["s-deny", "s-governed", "s-free-payroll"],
        ),
        (&[("violation", "false")], &["s-allow", "s-free", "s-error"]),
        (&[("violation", "true"), ("agent", "ruled")], &["s-deny"]),
        (&[("violation", "false"), ("agent", "ruled")], &["s-allow"]),
        (&[], OUTCOME_SESSIONS),
    ];
    for (filters, want) in cases {
        assert_eq!(ids(filters), set(want), "{filters:?}");
    }
    for bad in ["yes", "1", "TRUE", ""] {
        let mut f = SessionFilter::default();
        match f.set("violation", bad.to_string()) {
            Err(IndexError::Invalid { field, reason }) => {
                assert_eq!(field, "violation");
                assert!(reason.contains("true or false"), "{reason}");
            }
            other => panic!("violation={bad:?}: {other:?}"),
        }
    }
}

// --- 4. Intent context ------------------------------------------------------------------------

const CTX_TOML: &str = r#"
[[agent]]
id = "ctx"
kind = "llm-agent"
owner = "ops@acme.example"
policy = "ctx.cedar"
"#;

/// Each permit depends on one value of the session's intent, so the determining policies say
/// which values the action saw.
const CTX_CEDAR: &str = r#"@id("by-trigger")
permit (principal == Agent::"ctx", action == Action::"read", resource)
when { context.trigger_type == "user" };

@id("by-initiator")
permit (principal == Agent::"ctx", action == Action::"read", resource)
when { context.initiator == "alice" };

@id("by-request")
permit (principal == Agent::"ctx", action == Action::"read", resource)
when { context.request_id == "req-1" };

@id("empty-intent")
forbid (principal, action == Action::"read", resource)
when { context.trigger_type == "" && context.initiator == "" && context.request_id == "" };

@id("starts")
permit (principal, action == Action::"start", resource);
"#;

#[test]
fn an_action_sees_its_sessions_intent_as_known_when_it_was_appended() {
    let log = Log::new();
    log.sync(CTX_TOML, &[("ctx.cedar", CTX_CEDAR)]);
    let read = |id, session| act(id, session, "ctx", ["read", "crm", "acct-1"]);
    // In order: the start, then the action.
    log.append(&[start("st-1", "ordered", "ctx", ["user", "alice", "req-1"])]);
    log.append(&[read("o-1", "ordered")]);
    // Another intent: only the request id matches nothing, so only two policies permit.
    log.append(&[
        start("st-2", "partial", "ctx", ["user", "alice", "req-2"]),
        read("p-1", "partial"),
    ]);
    // Children first (as OTLP exports spans): the action is appended before its start and is
    // judged with an empty intent; it is indexed before the start even exists.
    log.append(&[read("c-1", "children-first")]);
    let early = verdicts(&log.index(), &["children-first"]);
    log.append(&[start(
        "st-3",
        "children-first",
        "ctx",
        ["user", "alice", "req-1"],
    )]);
    log.append(&[read("c-2", "children-first")]);
    let index = log.index();
    let found = verdicts(&index, &["ordered", "partial", "children-first"]);
    let hash = index.policy_state().unwrap().policies.hash().to_string();
    let expected: &[(&str, Expect)] = &[
        ("st-1", Some(("allow", &["starts"]))),
        (
            "o-1",
            Some(("allow", &["by-initiator", "by-request", "by-trigger"])),
        ),
        ("st-2", Some(("allow", &["starts"]))),
        ("p-1", Some(("allow", &["by-initiator", "by-trigger"]))),
        ("c-1", Some(("deny", &["empty-intent"]))),
        ("st-3", Some(("allow", &["starts"]))),
        (
            "c-2",
            Some(("allow", &["by-initiator", "by-request", "by-trigger"])),
        ),
    ];
    for (event, want) in expected {
        check_verdict(event, found.get(*event), *want, &hash);
    }
    // Decisions are fixed at append time: the index judges each leaf once, in log order, with
    // what the log said before it, and `verify_policies` replays the same order. The start that
    // arrived later changes the session's summary but not the verdict already given.
    assert_eq!(early.get("c-1"), found.get("c-1"));
    let s = index.session("children-first").unwrap().unwrap();
    assert_eq!(
        (s.trigger_type.as_deref(), s.initiator.as_deref()),
        (Some("user"), Some("alice"))
    );
    assert_eq!(s.counts.violations, 1);
    assert_eq!(s.start_policy.as_deref(), Some("allow"));
    let mut index = index;
    let check = log.verify(&mut index, 2);
    assert!(check.problems.is_empty(), "{:?}", check.problems);
    assert_eq!(check.decisions, 7);
}

// --- 5. Discovery -----------------------------------------------------------------------------

#[test]
fn an_agent_does_not_borrow_another_agents_session_intent() {
    // Any key may name any session id. The intent of a run is lent only to the agent whose
    // session.start gave it; another agent acting "in" that session is judged with none.
    let log = Log::new();
    let toml = format!("{CTX_TOML}\n[[agent]]\nid = \"other\"\nkind = \"llm-agent\"\nowner = \"o\"\npolicy = \"ctx.cedar\"\n");
    log.sync(&toml, &[("ctx.cedar", CTX_CEDAR)]);
    log.append(&[
        start("st-1", "users-run", "ctx", ["user", "alice", "req-1"]),
        act("own", "users-run", "ctx", ["read", "crm", "acct-1"]),
        act("borrowed", "users-run", "other", ["read", "crm", "acct-1"]),
    ]);
    let index = log.index();
    let found = verdicts(&index, &["users-run"]);
    let hash = index.policy_state().unwrap().policies.hash().to_string();
    check_verdict(
        "own",
        found.get("own"),
        Some(("allow", &["by-initiator", "by-request", "by-trigger"])),
        &hash,
    );
    check_verdict(
        "borrowed",
        found.get("borrowed"),
        Some(("deny", &["empty-intent"])),
        &hash,
    );
    let mut index = index;
    assert!(log.verify(&mut index, 1).problems.is_empty());
}

const KNOWN_TOML: &str = r#"
[[agent]]
id = "known"
kind = "llm-agent"
owner = "ops@acme.example"
principals = ["svc-known"]
"#;

fn actor(id: &str, seen: [&str; 2], counts: [u64; 3], systems: &[&str], agents: &[&str]) -> Actor {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
    Actor {
        id: id.into(),
        first_seen: seen[0].into(),
        last_seen: seen[1].into(),
        events: counts[0],
        sessions: counts[1],
        actions: counts[2],
        systems: s(systems),
        agents: s(agents),
    }
}

#[test]
fn discovery_lists_unregistered_agents_and_principals_from_agent_events_only() {
    let log = Log::new();
    log.sync(KNOWN_TOML, &[]);
    let at = |e: Value, ts: &str, principal: Option<&str>| {
        let e = with(e, "ts", ts);
        match principal {
            Some(p) => with(e, "principal", p),
            None => e,
        }
    };
    log.append(&[
        at(
            act("k1", "d1", "known", ["read", "crm", "a"]),
            "2026-11-24T10:00:00Z",
            Some("svc-known"),
        ),
        at(
            act("k2", "d1", "known", ["read", "crm", "b"]),
            "2026-11-24T10:00:01Z",
            Some("svc-shared"),
        ),
        at(
            start("w1", "d2", "shadow", ["user", "bob", "r"]),
            "2026-11-24T10:01:00Z",
            Some("svc-shadow"),
        ),
        at(
            act("w2", "d2", "shadow", ["read", "crm", "c"]),
            "2026-11-24T10:02:00Z",
            Some("svc-shadow"),
        ),
        at(
            act("w3", "d2", "shadow", ["write", "s3", "bucket/k"]),
            "2026-11-24T10:03:00Z",
            Some("svc-shared"),
        ),
    ]);
    log.index();
    // Indexed later, but earlier in time: first_seen is the earliest ts, not the first leaf.
    log.append(&[at(
        act("w4", "d3", "shadow", ["read", "crm", "d"]),
        "2026-11-24T09:00:00Z",
        None,
    )]);
    log.records(&[(
        "agentrail.access",
        json!({"by": "key:0123456789abcdef", "key_id": "0123456789abcdef", "read": "session", "target": "d2"}),
    )]);
    let index = log.index();
    let state = index.policy_state().unwrap();
    let found = index.discover(&state.inventory).unwrap();
    assert_eq!(
        found.agents,
        [actor(
            "shadow",
            ["2026-11-24T09:00:00Z", "2026-11-24T10:03:00Z"],
            [4, 2, 3],
            &["crm", "s3"],
            &[]
        )]
    );
    assert_eq!(
        found.principals,
        [
            actor(
                "svc-shadow",
                ["2026-11-24T10:01:00Z", "2026-11-24T10:02:00Z"],
                [2, 1, 1],
                &["crm"],
                &["shadow"]
            ),
            actor(
                "svc-shared",
                ["2026-11-24T10:00:01Z", "2026-11-24T10:03:00Z"],
                [2, 2, 2],
                &["crm", "s3"],
                &["known", "shadow"]
            ),
        ]
    );
    // The registered ones are seen, just not discovered; agentrail's own records name no actor.
    let ids = |kind| -> Vec<String> {
        index
            .actors(kind)
            .unwrap()
            .into_iter()
            .map(|a| a.id)
            .collect()
    };
    assert_eq!(ids("agent"), ["known", "shadow"]);
    assert_eq!(ids("principal"), ["svc-known", "svc-shadow", "svc-shared"]);
    // One actor by id is the same row as in the list; an id no event names is none.
    for kind in ["agent", "principal"] {
        for a in index.actors(kind).unwrap() {
            assert_eq!(index.actor(kind, &a.id).unwrap().as_ref(), Some(&a));
        }
    }
    assert_eq!(index.actor("agent", "svc-known").unwrap(), None);
    assert_eq!(index.actor("agent", "nobody").unwrap(), None);
    // The assessment lists the same principals, and the shadow agent as unregistered.
    let (agents, principals) = gather(&index, &state, &Period::default()).unwrap();
    let p: Vec<&str> = principals.iter().map(|p| p.principal.as_str()).collect();
    assert_eq!(p, ["svc-shadow", "svc-shared"]);
    let a: Vec<(&str, bool)> = agents
        .iter()
        .map(|a| (a.agent.id.as_str(), a.agent.registered))
        .collect();
    assert_eq!(a, [("known", true), ("shadow", false)]);
}

// --- 6. verify_policies -----------------------------------------------------------------------

#[test]
fn verify_policies_agrees_with_a_clean_index_and_names_each_tampered_leaf() {
    let (log, hash, records, leaves) = outcomes();
    let mut index = log.index();
    let cases = outcome_cases();
    let stored = cases.iter().filter(|c| c.expect.is_some()).count() as u64;
    let denied = cases
        .iter()
        .filter(|c| matches!(c.expect, Some(("deny", _))))
        .count() as u64;
    for chunk in [1, 4, 1000] {
        let check = log.verify(&mut index, chunk);
        assert!(check.problems.is_empty(), "{:?}", check.problems);
        assert_eq!(
            (
                check.leaves,
                check.records,
                check.evaluated,
                check.decisions,
                check.denied
            ),
            (
                (records.len() + cases.len()) as u64,
                records.len() as u64,
                cases.len() as u64,
                stored,
                denied
            ),
            "chunk {chunk}"
        );
        assert_eq!(check.policy_sets, std::slice::from_ref(&hash));
    }
    let leaf = |id: &str| leaves[id];
    let short = &hash[..12];
    let record = records[0];
    // (edit, the one problem it must cause)
    let tampering: Vec<(String, String)> = vec![
        (
            format!("UPDATE policy_decisions SET decision = 'allow' WHERE leaf_index = {}", leaf("a2")),
            format!("leaf {} (event a2): the index says allow by [no-payroll] under policy set {short}, re-evaluation says deny by [no-payroll] under policy set {short}", leaf("a2")),
        ),
        (
            format!("DELETE FROM policy_decisions WHERE leaf_index = {}", leaf("a1")),
            format!("leaf {} (event a1): the index says no_policy, re-evaluation says allow by [ruled-reads-crm] under policy set {short}", leaf("a1")),
        ),
        (
            format!(
                "INSERT INTO policy_decisions VALUES ({}, 's-free', 'free', 'a4', 'action', 'deny', '[]', '[]', '{hash}')",
                leaf("a4")
            ),
            format!("leaf {} (event a4): the index says deny by [] under policy set {short}, re-evaluation says no_policy", leaf("a4")),
        ),
        (
            format!(
                "INSERT INTO policy_decisions VALUES ({record}, 'agentrail', 'agentrail', 'x', 'agentrail.policy', 'allow', '[]', '[]', '{hash}')"
            ),
            format!("leaf {record}: the index holds a allow decision for an event no policy judges"),
        ),
        (
            format!("UPDATE policy_decisions SET policy_set_hash = '{}' WHERE leaf_index = {}", "0".repeat(64), leaf("a3")),
            format!("leaf {} (event a3): the index says deny by [] under policy set 000000000000, re-evaluation says deny by [] under policy set {short}", leaf("a3")),
        ),
    ];
    for (sql, problem) in &tampering {
        log.index_db().execute_batch(sql).unwrap();
        let check = log.verify(&mut index, 1000);
        assert_eq!(check.problems, std::slice::from_ref(problem), "{sql}");
        // The index is derived data: a rebuild repairs it.
        index.reset().unwrap();
        index
            .catch_up(open_read(log.dir()).unwrap().as_mut())
            .unwrap();
        assert!(log.verify(&mut index, 1000).problems.is_empty());
    }
    // What the lists and the assessment read of a session is checked too: its violation flag
    // (the `violation` filter) and its counts (the assessment).
    let flagged: String = log
        .index_db()
        .query_row(
            "SELECT session_id FROM sessions WHERE violation = 1 ORDER BY session_id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let session_tampering = [
        (
            format!("UPDATE sessions SET violation = 0 WHERE session_id = '{flagged}'"),
            format!("session {flagged:?}: its violation flag is false"),
        ),
        (
            format!(
                "UPDATE sessions SET state = CAST(json_set(state, '$.counts.violations', 0) AS BLOB) WHERE session_id = '{flagged}'"
            ),
            format!("session {flagged:?}: the index says (0,"),
        ),
    ];
    for (sql, problem) in &session_tampering {
        log.index_db().execute_batch(sql).unwrap();
        let check = log.verify(&mut index, 1000);
        assert_eq!(check.problems.len(), 1, "{sql}: {:?}", check.problems);
        assert!(
            check.problems[0].starts_with(problem.as_str()),
            "{sql}: {:?}",
            check.problems
        );
        index.reset().unwrap();
        index
            .catch_up(open_read(log.dir()).unwrap().as_mut())
            .unwrap();
        assert!(log.verify(&mut index, 1000).problems.is_empty());
    }
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

const EXTRA: &str = "@id(\"extra\")\nforbid (principal, action == Action::\"delete\", resource);\n";

#[test]
fn a_policy_record_with_a_wrong_policy_set_hash_is_reported() {
    let (log, _, _, _) = outcomes();
    let bogus = "0".repeat(64);
    let leaf = log.records(&[(
        POLICY_KIND,
        json!({"path": "extra.cedar", "sha256": sha256_hex(EXTRA), "text": EXTRA, "policy_set_hash": bogus, "by": "cli"}),
    )])[0];
    let mut index = log.index();
    let now = index.policy_state().unwrap().policies.hash().to_string();
    let check = log.verify(&mut index, 1000);
    assert_eq!(
        check.problems,
        [format!(
            "leaf {leaf}: agentrail.policy record says policy set {bogus}, the records so far give {now}"
        )]
    );
    // The record still applies: its text is what it says.
    assert!(index
        .policy_state()
        .unwrap()
        .policies
        .files()
        .contains_key("extra.cedar"));
}

#[test]
fn a_policy_record_whose_sha256_does_not_match_its_text_is_reported() {
    let (log, _, _, _) = outcomes();
    let leaf = log.records(&[(
        POLICY_KIND,
        json!({"path": "extra.cedar", "sha256": sha256_hex("something else"), "text": EXTRA, "policy_set_hash": "", "by": "cli"}),
    )])[0];
    log.append(&[act("after", "s-after", "ruled", ["read", "crm", "acct-1"])]);
    let mut index = log.open_index();
    let check = verify_policies(&mut index, open_read(log.dir()).unwrap().as_mut(), 1000)
        .unwrap_or_else(|e| panic!("verify_policies failed instead of reporting: {e}"));
    assert_eq!(check.problems.len(), 1, "{:?}", check.problems);
    assert!(
        check.problems[0].starts_with(&format!("leaf {leaf}:"))
            && check.problems[0].contains("sha256"),
        "{:?}",
        check.problems
    );
    // The events after it are still indexed.
    assert!(index.session("s-after").unwrap().is_some());
}

// --- 7. The state in force: from the ledger, from the index, after a reopen -------------------

#[test]
fn the_saved_state_equals_the_ledgers_and_survives_reopening_the_index() {
    let log = Log::new();
    log.sync(BOT_TOML, &[("bot.cedar", BOT_READS)]);
    log.append(&[act("e1", "s", "bot", ["read", "crm", "acct-1"])]);
    let (v2, _) = log.sync(BOT_TOML, &[("bot.cedar", BOT_WRITES)]);
    log.append(&[act("e2", "s", "bot", ["write", "crm", "acct-1"])]);
    let index = log.index();
    let from_ledger = state_from_ledger(open_read(log.dir()).unwrap().as_mut()).unwrap();
    let in_index = index.policy_state().unwrap();
    let synced = PolicyState::from_loaded(&v2);
    assert_eq!(from_ledger.to_json(), in_index.to_json());
    assert_eq!(in_index.to_json(), synced.to_json());
    assert_eq!(in_index.policies.hash(), v2.policies.hash());
    drop(index);

    // A new connection reads the saved state, and continues from it.
    let mut index = log.open_index();
    assert_eq!(index.policy_state().unwrap().to_json(), synced.to_json());
    log.append(&[
        act("e3", "s", "bot", ["read", "crm", "acct-1"]),
        act("e4", "s", "bot", ["write", "crm", "acct-1"]),
    ]);
    let done = index
        .catch_up(open_read(log.dir()).unwrap().as_mut())
        .unwrap();
    assert_eq!((done.indexed, done.rebuilt), (2, false));
    let found = verdicts(&index, &["s"]);
    let hash = v2.policies.hash();
    check_verdict("e3", found.get("e3"), Some(("deny", &[])), hash);
    check_verdict("e4", found.get("e4"), Some(("allow", &["writes"])), hash);
    assert_eq!(index.policy_state().unwrap().to_json(), synced.to_json());

    // The state at the ledger's end without catching up: the index's saved state for its
    // leaves, then the records after them. A policy change the index has not read yet counts.
    let (v3, _) = log.sync(BOT_TOML, &[("bot.cedar", BOT_READS)]);
    let behind = log.open_index();
    let mut ledger = open_read(log.dir()).unwrap();
    let quick =
        agentrail_index::policy::state_at_ledger_end(Some(&behind), ledger.as_mut()).unwrap();
    assert_eq!(quick.to_json(), PolicyState::from_loaded(&v3).to_json());
    let without = agentrail_index::policy::state_at_ledger_end(None, ledger.as_mut()).unwrap();
    assert_eq!(without.to_json(), quick.to_json());
    // An index of another log is not trusted: the ledger's records alone.
    log.index_db()
        .execute(
            "UPDATE index_meta SET value = 'another' WHERE key = 'log_id'",
            [],
        )
        .unwrap();
    assert!(behind
        .saved_policy_state(ledger.as_mut())
        .unwrap()
        .is_none());
}

// --- 8. A rebuild gives the same decisions ----------------------------------------------------

#[test]
fn reset_and_catch_up_rebuild_identical_decisions() {
    let (log, _, _) = history();
    // The outcomes on top, so that several sessions and outcomes are rebuilt.
    log.sync(OUTCOMES_TOML, OUTCOMES_FILES);
    let events: Vec<Value> = outcome_cases().into_iter().map(|c| c.event).collect();
    for e in &events {
        log.append(std::slice::from_ref(e));
        log.index();
    }
    let mut index = log.index();
    let summaries = |i: &Index| -> Vec<Value> {
        i.sessions(&SessionFilter {
            limit: Some(1000),
            ..Default::default()
        })
        .unwrap()
        .items
        .iter()
        .map(|s| s.to_json())
        .collect()
    };
    let before = (
        all_decisions(&index),
        summaries(&index),
        index.policy_state().unwrap().to_json(),
    );
    assert!(before.0.len() >= 10, "{:?}", before.0);
    index.reset().unwrap();
    assert!(all_decisions(&index).is_empty());
    let done = index
        .catch_up(open_read(log.dir()).unwrap().as_mut())
        .unwrap();
    assert_eq!(done.through, done.indexed);
    let after = (
        all_decisions(&index),
        summaries(&index),
        index.policy_state().unwrap().to_json(),
    );
    assert_eq!(after, before);
}
