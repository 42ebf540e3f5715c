//! The session index through its public API, over a real ledger: summaries, arrival order,
//! OTLP-style nesting, internal records, filters, pagination, resources, rebuilds, and
//! reconstruction with verified inclusion.

use agentrail_core::event::parse_client_event;
use agentrail_index::query::AccessFilter;
use agentrail_index::view;
use agentrail_index::{Index, SessionFilter};
use agentrail_store::clock::SystemClock;
use agentrail_store::ledger::{open_read, DataDir};
use agentrail_store::{InitOptions, Ledger};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;

const EXAMPLES: &str = include_str!("../../../examples/events.ndjson");

fn store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    Ledger::init(dir.path(), &InitOptions::default(), &SystemClock).unwrap();
    dir
}

fn append(dir: &Path, events: &[Value]) {
    let mut ledger = Ledger::open(dir, "test", Arc::new(SystemClock)).unwrap();
    let valid: Vec<_> = events
        .iter()
        .map(|e| parse_client_event(e.to_string().as_bytes()).unwrap())
        .collect();
    ledger.append(&valid, "cli").unwrap();
    ledger.checkpoint_now().unwrap();
}

fn append_lines(dir: &Path, ndjson: &str) {
    let events: Vec<Value> = ndjson
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    append(dir, &events);
}

fn caught_up(dir: &Path) -> Index {
    let mut index = Index::open(&DataDir::new(dir).index()).unwrap();
    let mut backend = open_read(dir).unwrap();
    index.catch_up(backend.as_mut()).unwrap();
    index
}

fn ev(id: &str, session: &str, agent: &str, kind: &str, ts: &str, body: Value) -> Value {
    let mut e =
        json!({"event_id": id, "session_id": session, "agent_id": agent, "kind": kind, "ts": ts});
    e.as_object_mut()
        .unwrap()
        .extend(body.as_object().unwrap().clone());
    e
}

fn start(id: &str, session: &str, agent: &str, ts: &str, initiator: &str) -> Value {
    ev(
        id,
        session,
        agent,
        "session.start",
        ts,
        json!({"trigger": {"type": "user", "initiator": initiator, "request_id": format!("req-{session}")}}),
    )
}

/// An action: `what` is (type, system, resource, status).
fn action(id: &str, session: &str, agent: &str, ts: &str, what: [&str; 4]) -> Value {
    let [kind, system, resource, status] = what;
    ev(
        id,
        session,
        agent,
        "action",
        ts,
        json!({"action": {"type": kind, "system": system, "resource": resource, "status": status, "resource_ids": [format!("{resource}-id")]}}),
    )
}

#[test]
fn the_example_request_is_summarized_and_reconstructed() {
    let dir = store();
    append_lines(dir.path(), EXAMPLES);
    let index = caught_up(dir.path());
    let found = index.sessions_for_request("47892").unwrap();
    assert_eq!(found.len(), 1);
    let s = &found[0];
    assert_eq!(s.session_id, "sess-47892-renewals");
    assert_eq!(s.agent_id, "renewal-drafter");
    assert_eq!(s.initiator.as_deref(), Some("alice@acme.example"));
    assert_eq!(s.trigger_type.as_deref(), Some("user"));
    assert!(s.start.is_some());
    assert!(s.counts.decisions >= 1);
    assert!(s.counts.reads >= 10);

    let mut backend = open_read(dir.path()).unwrap();
    let v = view::build(&index, backend.as_mut(), &s.session_id, None).unwrap();
    assert!(v.integrity.ok(), "{:?}", v.integrity.problems);
    assert_eq!(v.integrity.verified as usize, v.events.len());
    assert_eq!(v.events.len() as u64, s.counts.events);
    let json = v.to_json(true);
    assert_eq!(json["intent"][0]["event"]["kind"], "session.start");
    let d = &json["decisions"][0];
    assert_eq!(
        d["event"]["body"]["decision"]["name"],
        "select-renewal-candidates"
    );
    assert!(!d["followed_by"].as_array().unwrap().is_empty());
    // The events shown are the ledger's bytes: each re-derives its leaf.
    for layer in ["intent", "scope", "decisions", "outcome"] {
        for item in json[layer].as_array().unwrap() {
            let bytes = agentrail_core::json::canonicalize(&item["event"]).unwrap();
            agentrail_core::event::leaf_from_event(&bytes).unwrap();
        }
    }
}

#[test]
fn agent_and_intent_come_from_the_outermost_start_whatever_the_arrival_order() {
    // OTLP order: the tool span (fallback agent), then the nested agent's start, then the root.
    let child_action = {
        let mut e = action(
            "a1",
            "s1",
            "service:tools",
            "2026-11-24T10:00:03Z",
            ["tool_call", "jira", "PROJ-1", "ok"],
        );
        e["span_id"] = json!("00000000000000c1");
        e["parent_span_id"] = json!("00000000000000b1");
        e
    };
    let nested = {
        let mut e = start("n1", "s1", "sub-agent", "2026-11-24T10:00:02Z", "planner");
        e["trigger"]["type"] = json!("agent");
        e["span_id"] = json!("00000000000000b1");
        e["parent_span_id"] = json!("00000000000000a1");
        e
    };
    let root = {
        let mut e = start(
            "r1",
            "s1",
            "planner",
            "2026-11-24T10:00:00Z",
            "bob@acme.example",
        );
        e["span_id"] = json!("00000000000000a1");
        e
    };
    let orders = [
        vec![child_action.clone(), nested.clone(), root.clone()],
        vec![root.clone(), nested.clone(), child_action.clone()],
        vec![nested.clone(), child_action.clone(), root.clone()],
    ];
    let mut summaries = Vec::new();
    for order in orders {
        let dir = store();
        // One append per event: each arrives on its own, as spans do.
        for e in &order {
            append(dir.path(), std::slice::from_ref(e));
            caught_up(dir.path());
        }
        let s = caught_up(dir.path()).session("s1").unwrap().unwrap();
        assert_eq!(s.agent_id, "planner");
        assert_eq!(s.initiator.as_deref(), Some("bob@acme.example"));
        assert_eq!(s.counts.tool_calls, 1);
        summaries.push(s.to_json());
    }
    for s in &summaries[1..] {
        let (mut a, mut b) = (s.clone(), summaries[0].clone());
        // Leaf positions differ with arrival order; nothing else may.
        for v in [&mut a, &mut b] {
            v["first_leaf"] = Value::Null;
            v["last_leaf"] = Value::Null;
        }
        assert_eq!(a, b);
    }
}

#[test]
fn a_session_without_its_start_is_still_a_session_marked_missing_intent() {
    let dir = store();
    append(
        dir.path(),
        &[action(
            "x1",
            "orphan",
            "svc-bot",
            "2026-11-24T10:00:00Z",
            ["read", "s3", "bucket/key", "denied"],
        )],
    );
    let index = caught_up(dir.path());
    let s = index.session("orphan").unwrap().unwrap();
    assert!(s.start.is_none());
    let j = s.to_json();
    assert_eq!(j["missing_intent"], true);
    assert_eq!(j["agent_from"], "first_event");
    assert_eq!(j["any_denied"], true);
    assert_eq!(j["status"], "open");
}

#[test]
fn internal_records_never_form_sessions() {
    let dir = store();
    append_lines(dir.path(), EXAMPLES);
    {
        let mut ledger = Ledger::open(dir.path(), "test", Arc::new(SystemClock)).unwrap();
        ledger
            .create_api_key("read", None, "auditor", "cli")
            .unwrap();
        ledger
            .append_internal(
                "agentrail.access",
                json!({"by": "key:0123456789abcdef", "key_id": "0123456789abcdef", "read": "session", "target": "sess-47892-renewals"}),
            )
            .unwrap();
    }
    let index = caught_up(dir.path());
    assert!(index.session("agentrail").unwrap().is_none());
    let all = index
        .sessions(&SessionFilter {
            limit: Some(1000),
            ..Default::default()
        })
        .unwrap();
    assert!(all.items.iter().all(|s| s.agent_id != "agentrail"));
    {
        // A list read names no target, but its answer showed the session's summary.
        let mut ledger = Ledger::open(dir.path(), "test", Arc::new(SystemClock)).unwrap();
        ledger
            .append_internal(
                "agentrail.access",
                json!({"by": "key:fedcba9876543210", "read": "sessions", "returned": {"sessions": ["sess-47892-renewals", "sess-triage-88121"], "events": 0}}),
            )
            .unwrap();
    }
    let index = caught_up(dir.path());
    let reads = index
        .access(&AccessFilter {
            target: Some("sess-47892-renewals".into()),
            ..Default::default()
        })
        .unwrap();
    let readers: Vec<_> = reads.items.iter().map(|r| r.reader.as_str()).collect();
    assert_eq!(readers, ["key:fedcba9876543210", "key:0123456789abcdef"]);
    let one = index
        .access(&AccessFilter {
            reader: Some("key:0123456789abcdef".into()),
            target: Some("sess-triage-88121".into()),
            ..Default::default()
        })
        .unwrap();
    assert!(one.items.is_empty());
    assert_eq!(
        index.access(&AccessFilter::default()).unwrap().items.len(),
        2
    );
    let lists = index
        .access(&AccessFilter {
            read: Some("sessions".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(lists.items.len(), 1);
    assert_eq!(lists.items[0].reader, "key:fedcba9876543210");
    let e = index
        .access(&AccessFilter {
            read: Some("everything".into()),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("read: must be one of"), "{e}");
}

#[test]
fn filters_and_pagination_walk_every_session_once_newest_first() {
    let dir = store();
    let mut events = Vec::new();
    for i in 0..25 {
        let s = format!("s{i:02}");
        let agent = if i % 2 == 0 {
            "even-agent"
        } else {
            "odd-agent"
        };
        events.push(start(
            &format!("{s}-start"),
            &s,
            agent,
            &format!("2026-11-24T10:{i:02}:00Z"),
            "alice",
        ));
        events.push(action(
            &format!("{s}-a"),
            &s,
            agent,
            &format!("2026-11-24T10:{i:02}:01Z"),
            [
                "read",
                if i % 5 == 0 { "payroll" } else { "crm" },
                &format!("acct-{}", i % 3),
                "ok",
            ],
        ));
    }
    append(dir.path(), &events);
    let index = caught_up(dir.path());

    let mut seen = Vec::new();
    let mut f = SessionFilter {
        limit: Some(7),
        ..Default::default()
    };
    loop {
        let page = index.sessions(&f).unwrap();
        seen.extend(page.items.iter().map(|s| s.session_id.clone()));
        match page.next_cursor {
            Some(c) => f.cursor = Some(c),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).rev().map(|i| format!("s{i:02}")).collect();
    assert_eq!(seen, expected);

    let mut f = SessionFilter::default();
    f.set("agent", "even-agent".into()).unwrap();
    f.set("system", "payroll".into()).unwrap();
    let ids: Vec<_> = index
        .sessions(&f)
        .unwrap()
        .items
        .into_iter()
        .map(|s| s.session_id)
        .collect();
    assert_eq!(ids, vec!["s20", "s10", "s00"]);

    let mut f = SessionFilter::default();
    f.set("from", "2026-11-24T10:20:00Z".into()).unwrap();
    f.set("to", "2026-11-24T10:22:00+00:00".into()).unwrap();
    let ids: Vec<_> = index
        .sessions(&f)
        .unwrap()
        .items
        .into_iter()
        .map(|s| s.session_id)
        .collect();
    assert_eq!(ids, vec!["s21", "s20"]);

    let mut f = SessionFilter::default();
    f.set("resource", "acct-1".into()).unwrap();
    assert_eq!(index.sessions(&f).unwrap().items.len(), 8);

    let refs = index
        .resource_refs("acct-1-id", None, None, Some(3), None)
        .unwrap();
    assert_eq!(refs.items.len(), 3);
    assert!(refs.next_cursor.is_some());

    let mut f = SessionFilter::default();
    let e = f.set("colour", "red".into()).unwrap_err().to_string();
    assert!(e.contains("colour") && e.contains("unknown filter"), "{e}");
    f.set("from", "last tuesday".into()).unwrap();
    let e = index.sessions(&f).unwrap_err().to_string();
    assert!(e.starts_with("from: "), "{e}");
    let f = SessionFilter {
        cursor: Some("not-a-cursor".into()),
        ..Default::default()
    };
    let e = index.sessions(&f).unwrap_err().to_string();
    assert!(e.starts_with("cursor: "), "{e}");
}

#[test]
fn a_rebuilt_index_equals_the_incremental_one() {
    let dir = store();
    let lines: Vec<&str> = EXAMPLES.lines().collect();
    for chunk in lines.chunks(7) {
        append_lines(dir.path(), &chunk.join("\n"));
        caught_up(dir.path());
    }
    let index = caught_up(dir.path());
    let all = |i: &Index| {
        i.sessions(&SessionFilter {
            limit: Some(1000),
            ..Default::default()
        })
        .unwrap()
        .items
    };
    let incremental = all(&index);
    drop(index);
    let mut index = Index::open(&DataDir::new(dir.path()).index()).unwrap();
    index.reset().unwrap();
    let mut backend = open_read(dir.path()).unwrap();
    let done = index.catch_up(backend.as_mut()).unwrap();
    assert_eq!(done.through, done.indexed);
    assert_eq!(all(&index), incremental);

    // An index of another log is rebuilt, not trusted.
    let other = store();
    append_lines(other.path(), &lines[..3].join("\n"));
    std::fs::copy(
        DataDir::new(dir.path()).index(),
        DataDir::new(other.path()).index(),
    )
    .unwrap();
    let mut index = Index::open(&DataDir::new(other.path()).index()).unwrap();
    let mut backend = open_read(other.path()).unwrap();
    let done = index.catch_up(backend.as_mut()).unwrap();
    assert!(done.rebuilt);
    assert_eq!(done.through, 3);
}

#[test]
fn without_a_start_the_earliest_event_speaks_whatever_arrives_first() {
    let a = {
        let mut e = action(
            "ev-a",
            "s1",
            "agent-a",
            "2026-11-24T10:00:02Z",
            ["read", "crm", "x", "ok"],
        );
        e["principal"] = json!("p-a");
        e["attributes"] = json!({"conversation_id": "conv-a"});
        e
    };
    let b = {
        let mut e = action(
            "ev-b",
            "s1",
            "agent-b",
            "2026-11-24T10:00:01Z",
            ["read", "crm", "y", "ok"],
        );
        e["principal"] = json!("p-b");
        e["attributes"] = json!({"conversation_id": "conv-b"});
        e
    };
    // Three starts at the same instant: the root span wins, then the smallest event id.
    let starts: Vec<Value> = ["st-2", "st-1", "st-0"]
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mut e = start(
                id,
                "s2",
                &format!("agent-{i}"),
                "2026-11-24T10:00:00Z",
                "bob",
            );
            if *id == "st-0" {
                e["parent_span_id"] = json!("00000000000000a1");
            }
            e
        })
        .collect();
    let mut seen = Vec::new();
    for order in [
        vec![
            a.clone(),
            b.clone(),
            starts[0].clone(),
            starts[1].clone(),
            starts[2].clone(),
        ],
        vec![
            starts[2].clone(),
            b.clone(),
            starts[1].clone(),
            a.clone(),
            starts[0].clone(),
        ],
    ] {
        let dir = store();
        for e in &order {
            append(dir.path(), std::slice::from_ref(e));
            caught_up(dir.path());
        }
        let index = caught_up(dir.path());
        let s1 = index.session("s1").unwrap().unwrap();
        assert_eq!(
            (
                s1.agent_id.as_str(),
                s1.principal.as_deref(),
                s1.conversation_id.as_deref()
            ),
            ("agent-b", Some("p-b"), Some("conv-b"))
        );
        let s2 = index.session("s2").unwrap().unwrap();
        assert_eq!(
            s2.agent_id, "agent-1",
            "st-1: a root span with the smaller id than st-2"
        );
        seen.push((s1.to_json(), s2.to_json()));
    }
    for (s1, s2) in &mut seen {
        for v in [s1, s2] {
            v["first_leaf"] = Value::Null;
            v["last_leaf"] = Value::Null;
        }
    }
    assert_eq!(seen[0], seen[1]);
}
