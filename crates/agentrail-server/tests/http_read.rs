//! The read endpoints through the router, over the bundled example ingested through
//! `POST /api/v1/events`: session lists and pagination, requests, whole sessions with their
//! proofs, resources, events, proofs, checkpoints, consistency proofs, roles, errors that name
//! the parameter, the `agentrail.access` record every audited read appends before it answers,
//! reads refused with nothing returned when that record cannot be written, and an index that
//! fails without stopping ingest.

mod common;

use agentrail_core::checkpoint::{open_checkpoint, TlogProof};
use agentrail_core::note::Verifier;
use agentrail_core::{event, json as cjson, merkle, Hash};
use agentrail_server::serve::ServeOptions;
use agentrail_store::ledger::{open_read, DataDir};
use agentrail_store::ReadLedger;
use axum::http::{header, StatusCode};
use common::*;
use serde_json::{json, Value};
use std::collections::HashSet;

const EXAMPLES: &str = include_str!("../../../examples/events.ndjson");
const RENEWALS: &str = "sess-47892-renewals";
const DECISION: &str = "rd-47892-d01";
const CUSTOMER: &str = "001Dn0000000003";

fn opts() -> ServeOptions {
    ServeOptions::default()
}

/// A closed server with an ingest, a read and an admin key, holding the bundled example.
struct Fixture {
    server: Server,
    ingest: String,
    read: String,
    read_id: String,
    admin: String,
}

async fn fixture(opts: ServeOptions) -> Fixture {
    let (server, keys) = Server::with_stored_keys(opts, &["ingest", "read", "admin"]);
    let [ingest, read, admin] = [0, 1, 2].map(|i| keys[i].clone());
    ingest_examples(&server, Some(&ingest.0)).await;
    Fixture {
        server,
        ingest: ingest.0,
        read: read.0,
        read_id: read.1,
        admin: admin.0,
    }
}

async fn ingest_examples(server: &Server, key: Option<&str>) {
    let r = server
        .send(
            post("/api/v1/events")
                .body("application/x-ndjson", EXAMPLES)
                .bearer_opt(key),
        )
        .await
        .expect_status(StatusCode::OK)
        .json();
    for item in r["results"].as_array().expect("results") {
        assert!(
            item.get("error").is_none(),
            "an example was rejected: {item}"
        );
    }
}

impl Fixture {
    async fn get(&self, uri: &str) -> Reply {
        self.server.send(get(uri).bearer(&self.read)).await
    }

    async fn get_json(&self, uri: &str) -> Value {
        self.get(uri).await.expect_status(StatusCode::OK).json()
    }
}

fn verifier(server: &Server) -> Verifier {
    let mut b = open_read(server.dir()).expect("open_read");
    ReadLedger::new(b.as_mut())
        .verifier()
        .expect("the log's key")
}

fn stored_event_bytes(server: &Server, id: &str) -> Vec<u8> {
    let mut b = open_read(server.dir()).expect("open_read");
    ReadLedger::new(b.as_mut())
        .event(id)
        .expect("a stored event")
        .event_bytes()
        .expect("not erased")
}

fn session_ids(page: &Value) -> Vec<String> {
    page["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| s["session_id"].as_str().expect("session_id").to_string())
        .collect()
}

/// Every session id the example holds.
fn example_sessions() -> HashSet<String> {
    EXAMPLES
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("an example line");
            v["session_id"].as_str().expect("session_id").to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn session_lists_filter_and_walk_every_session_once_newest_first() {
    let f = fixture(opts()).await;
    // Read at once after ingest: the list already holds everything just committed.
    let all = f.get_json("/api/v1/sessions?limit=1000").await;
    assert_eq!(all["next_cursor"], Value::Null);
    let ids = session_ids(&all);
    assert_eq!(
        ids.iter().cloned().collect::<HashSet<_>>(),
        example_sessions()
    );
    let started: Vec<&str> = all["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["started_at"].as_str().unwrap())
        .collect();
    let mut sorted = started.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(started, sorted, "newest first");

    let mut walked = Vec::new();
    let mut uri = "/api/v1/sessions?limit=1".to_string();
    loop {
        let page = f.get_json(&uri).await;
        let got = session_ids(&page);
        assert_eq!(got.len(), 1, "{page}");
        walked.extend(got);
        match page["next_cursor"].as_str() {
            Some(c) => uri = format!("/api/v1/sessions?limit=1&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(walked, ids, "each session once, in the same order");

    for (filter, expect) in [
        ("agent=renewal-drafter", Some(RENEWALS)),
        ("initiator=alice%40acme.example", Some(RENEWALS)),
        ("trigger=user", Some(RENEWALS)),
        ("request_id=47892", Some(RENEWALS)),
        ("system=salesforce", Some(RENEWALS)),
        ("resource=001Dn0000000003", Some(RENEWALS)),
        ("principal=svc-renewal-drafter", Some(RENEWALS)),
        (
            "from=2026-11-24T07:59:00Z&to=2026-11-24T08:01:00Z",
            Some(RENEWALS),
        ),
        ("agent=nobody", None),
    ] {
        let page = f.get_json(&format!("/api/v1/sessions?{filter}")).await;
        let got = session_ids(&page);
        match expect {
            Some(id) => assert!(got.contains(&id.to_string()), "{filter}: {got:?}"),
            None => assert!(got.is_empty(), "{filter}: {got:?}"),
        }
    }
    let one = f.get_json("/api/v1/sessions?request_id=47892").await;
    let s = &one["sessions"][0];
    assert_eq!(session_ids(&one), vec![RENEWALS]);
    assert_eq!(s["agent_id"], "renewal-drafter");
    assert_eq!(s["trigger"]["initiator"], "alice@acme.example");
    f.server.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_id_finds_its_session_and_the_session_is_whole_and_proven() {
    let f = fixture(opts()).await;
    let r = f.get_json("/api/v1/requests/47892").await;
    assert_eq!(r["request_id"], "47892");
    assert_eq!(session_ids(&r), vec![RENEWALS]);

    let r = f
        .get(&format!("/api/v1/sessions/{RENEWALS}?proofs=true"))
        .await;
    let r = r.expect_status(StatusCode::OK);
    assert_eq!(r.header(header::CONTENT_TYPE), Some("application/json"));
    assert_eq!(r.header(header::CACHE_CONTROL), Some("no-store"));
    let v = r.json();
    let n = v["session"]["counts"]["events"].as_u64().unwrap();
    assert!(n > 10, "{n}");
    for layer in ["intent", "scope", "decisions", "outcome"] {
        assert!(!v[layer].as_array().unwrap().is_empty(), "layer {layer}");
    }
    assert_eq!(v["intent"][0]["event"]["kind"], "session.start");
    let d = v["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["event"]["event_id"] == DECISION)
        .expect("the decision");
    let decision = &d["event"]["body"]["decision"];
    assert!(decision["considered"].as_array().unwrap().len() >= 2);
    assert!(!decision["chosen"].as_array().unwrap().is_empty());
    let rejected = decision["rejected"].as_array().unwrap();
    assert!(rejected
        .iter()
        .any(|r| r["id"] == CUSTOMER && r["reason"].as_str().is_some_and(|s| !s.is_empty())));
    assert!(!d["followed_by"].as_array().unwrap().is_empty(), "{d}");

    // Integrity: every event verified against a checkpoint that covers every event.
    assert_eq!(v["integrity"]["ok"], true, "{}", v["integrity"]);
    assert_eq!(v["integrity"]["verified"].as_u64(), Some(n));
    assert_eq!(v["integrity"]["events"].as_u64(), Some(n));
    assert_eq!(v["integrity"]["not_covered"], json!([]));
    let cp_size = v["checkpoint"]["size"].as_u64().unwrap();
    let order = v["order"].as_array().unwrap();
    assert_eq!(order.len() as u64, n);
    assert!(order.iter().all(|i| i.as_u64().unwrap() < cp_size));
    // The checkpoint is signed by the log, and each audit path proves its event in it.
    let cp = open_checkpoint(
        v["checkpoint"]["note"].as_str().unwrap(),
        &verifier(&f.server),
    )
    .expect("a signed checkpoint");
    assert_eq!(cp.size, cp_size);
    let mut checked = 0;
    for layer in ["intent", "scope", "decisions", "outcome", "notes"] {
        for item in v[layer].as_array().unwrap() {
            let bytes = cjson::canonicalize(&item["event"]).unwrap();
            let leaf = event::leaf_from_event(&bytes).expect("the event's leaf");
            let path: Vec<Hash> = item["inclusion"]
                .as_array()
                .expect("proofs=true gives each event its audit path")
                .iter()
                .map(|h| Hash::from_base64(h.as_str().unwrap()).unwrap())
                .collect();
            let index = item["leaf_index"].as_u64().unwrap();
            merkle::verify_inclusion(&merkle::leaf_hash(&leaf), index, cp.size, &path, &cp.root)
                .expect("the audit path verifies");
            checked += 1;
        }
    }
    assert_eq!(checked, n);
    // Without proofs=true, no audit paths.
    let plain = f.get_json(&format!("/api/v1/sessions/{RENEWALS}")).await;
    assert!(plain["scope"][0].get("inclusion").is_none());
    f.server.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_newer_than_the_latest_checkpoint_is_proven_by_a_new_one() {
    // No interval checkpoint in the way: only the read can cause one.
    let f = fixture(ServeOptions {
        checkpoint_interval_ms: 3_600_000,
        ..opts()
    })
    .await;
    f.server
        .post_events(
            Some(&f.ingest),
            &json!([{"event_id": "late-1", "session_id": "late", "agent_id": "late-agent",
                     "kind": "note", "ts": "2026-11-25T10:00:00Z", "note": {"text": "after"}}]),
        )
        .await
        .expect_status(StatusCode::OK);
    let v = f.get_json("/api/v1/sessions/late").await;
    assert_eq!(v["integrity"]["ok"], true, "{}", v["integrity"]);
    assert_eq!(v["integrity"]["verified"], 1);
    let leaf = v["notes"][0]["leaf_index"].as_u64().unwrap();
    assert!(v["checkpoint"]["size"].as_u64().unwrap() > leaf);
    f.server.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resource_shows_every_event_that_touched_it_across_agents() {
    let f = fixture(opts()).await;
    let v = f
        .get_json(&format!("/api/v1/resources?uri={CUSTOMER}"))
        .await;
    assert_eq!(v["uri"], CUSTOMER);
    let events = v["events"].as_array().unwrap();
    assert!(events.iter().any(|e| e["session_id"] == RENEWALS), "{v}");
    let leaves: Vec<u64> = events
        .iter()
        .map(|e| e["leaf_index"].as_u64().unwrap())
        .collect();
    let mut newest_first = leaves.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(leaves, newest_first);
    let stored =
        |id: &str| -> Value { serde_json::from_slice(&stored_event_bytes(&f.server, id)).unwrap() };
    for e in events {
        let ev = stored(e["event_id"].as_str().unwrap());
        for k in ["session_id", "agent_id", "kind", "ts"] {
            assert_eq!(e[k], ev[k], "{k}");
        }
        if let Some(a) = e.get("action") {
            let stored_action = &ev["body"]["action"];
            for (k, val) in a.as_object().unwrap() {
                assert_eq!(val, &stored_action[k]);
            }
            // Only what the event did, never its parameters or the other records it touched.
            assert!(
                a.get("params").is_none() && a.get("resource_ids").is_none(),
                "{a}"
            );
            assert!(a.get("type").is_some() && a.get("status").is_some(), "{a}");
        }
    }
    let summaries = session_ids(&json!({"sessions": v["sessions"]}));
    assert!(summaries.contains(&RENEWALS.to_string()));
    let from_events: HashSet<&str> = events
        .iter()
        .map(|e| e["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        summaries.iter().map(String::as_str).collect::<HashSet<_>>(),
        from_events
    );
    // Paginated like every list.
    let first = f
        .get_json(&format!("/api/v1/resources?uri={CUSTOMER}&limit=1"))
        .await;
    assert_eq!(first["events"].as_array().unwrap().len(), 1);
    if events.len() > 1 {
        let c = first["next_cursor"].as_str().expect("a next page");
        let second = f
            .get_json(&format!(
                "/api/v1/resources?uri={CUSTOMER}&limit=1&cursor={c}"
            ))
            .await;
        assert_eq!(second["events"][0], events[1]);
    }
    f.server.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_is_served_verbatim_and_its_proof_verifies_offline() {
    let f = fixture(opts()).await;
    let r = f
        .get(&format!("/api/v1/events/{DECISION}"))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(r.header(header::CONTENT_TYPE), Some("application/json"));
    let stored = stored_event_bytes(&f.server, DECISION);
    assert_eq!(r.body, stored, "the stored bytes, verbatim");

    let p = f
        .get(&format!("/api/v1/events/{DECISION}/proof"))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(
        p.header(header::CONTENT_TYPE),
        Some("text/plain; charset=utf-8")
    );
    let proof = TlogProof::parse(&p.text()).expect("a tlog-proof");
    let leaf = event::leaf_from_event(&r.body).expect("the leaf");
    let cp = proof
        .verify(&merkle::leaf_hash(&leaf), &verifier(&f.server))
        .expect("the proof verifies");
    assert!(cp.size > proof.index);
    f.server.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn checkpoint_and_consistency_are_served_and_not_audited() {
    let f = fixture(opts()).await;
    let first = f
        .server
        .send(post("/api/v1/admin/checkpoint").bearer(&f.admin))
        .await
        .expect_status(StatusCode::OK)
        .text();
    let before = f.server.tree_size();
    let r = f
        .get("/api/v1/checkpoint")
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(
        r.header(header::CONTENT_TYPE),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(r.text(), first);
    let key = verifier(&f.server);
    let old = open_checkpoint(&first, &key).unwrap();

    f.server
        .post_events(Some(&f.ingest), &json!([action(Some("more-1"), "a1")]))
        .await
        .expect_status(StatusCode::OK);
    let second = f
        .server
        .send(post("/api/v1/admin/checkpoint").bearer(&f.admin))
        .await
        .expect_status(StatusCode::OK)
        .text();
    let new = open_checkpoint(&second, &key).unwrap();
    assert!(new.size > old.size);
    let after_ingest = f.server.tree_size();
    for uri in [
        format!("/api/v1/consistency?from={}&to={}", old.size, new.size),
        format!("/api/v1/consistency?from={}", old.size),
    ] {
        let r = f.get(&uri).await.expect_status(StatusCode::OK);
        assert_eq!(
            r.header(header::CONTENT_TYPE),
            Some("text/plain; charset=utf-8")
        );
        let proof: Vec<Hash> = r
            .text()
            .lines()
            .map(|l| Hash::from_base64(l).expect("one base64 hash a line"))
            .collect();
        merkle::verify_consistency(old.size, new.size, &proof, &old.root, &new.root)
            .expect("the consistency proof verifies");
    }
    assert_eq!(f.get("/api/v1/checkpoint").await.text(), second);
    // Neither appended an access record.
    assert_eq!(f.server.tree_size(), after_ingest);
    assert_eq!(after_ingest, before + 1);

    for (uri, field) in [
        ("/api/v1/consistency", "from"),
        ("/api/v1/consistency?from=x", "from"),
        ("/api/v1/consistency?from=1&to=2&at=3", "at"),
    ] {
        let e = f
            .get(uri)
            .await
            .expect_error(StatusCode::BAD_REQUEST, "bad_request");
        let m = e.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(m.starts_with(&format!("{field}: ")), "{uri}: {m}");
    }
    // Backwards, or between sizes that were never checkpointed: 400 naming the parameter.
    for (uri, says) in [
        (
            format!("/api/v1/consistency?from={}&to={}", new.size, old.size),
            format!("from: {} is larger than to ({})", new.size, old.size),
        ),
        (
            "/api/v1/consistency?from=1".to_string(),
            "from: no checkpoint of size 1".to_string(),
        ),
        (
            format!("/api/v1/consistency?from={}&to={}", old.size, new.size + 1),
            format!("to: no checkpoint of size {}", new.size + 1),
        ),
    ] {
        let e = f
            .get(&uri)
            .await
            .expect_error(StatusCode::BAD_REQUEST, "bad_request");
        let m = e.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(m.starts_with(&says), "{uri}: {m}");
    }
    f.server.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_parameters_are_400_naming_them_and_unknown_items_404() {
    let f = fixture(opts()).await;
    let size = f.server.tree_size();
    for (uri, field) in [
        ("/api/v1/sessions?colour=red", "colour"),
        ("/api/v1/sessions?from=last%20tuesday", "from"),
        ("/api/v1/sessions?to=2026-13-01", "to"),
        ("/api/v1/sessions?limit=0", "limit"),
        ("/api/v1/sessions?limit=many", "limit"),
        ("/api/v1/sessions?cursor=not-a-cursor", "cursor"),
        ("/api/v1/sessions?agent=a&agent=b", "agent"),
        ("/api/v1/sessions/sess-47892-renewals?proofs=yes", "proofs"),
        ("/api/v1/sessions/sess-47892-renewals?verbose=1", "verbose"),
        ("/api/v1/requests/47892?x=1", "x"),
        ("/api/v1/resources", "uri"),
        ("/api/v1/resources?uri=", "uri"),
        ("/api/v1/resources?uri=a&limit=100000", "limit"),
        ("/api/v1/resources?uri=a&from=yesterday", "from"),
        ("/api/v1/access?who=me", "who"),
        ("/api/v1/access?read=everything", "read"),
        ("/api/v1/access?cursor=zzz", "cursor"),
        ("/api/v1/events/rd-47892-d01?pretty=1", "pretty"),
        ("/api/v1/checkpoint?size=3", "size"),
    ] {
        let e = f
            .get(uri)
            .await
            .expect_error(StatusCode::BAD_REQUEST, "bad_request");
        let m = e.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(m.starts_with(&format!("{field}: ")), "{uri}: {m}");
    }
    let long = format!("/api/v1/sessions?agent={}", "a".repeat(9000));
    f.get(&long)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");

    for (uri, says) in [
        (
            "/api/v1/sessions/no-such-session",
            "no session with id \"no-such-session\"",
        ),
        (
            "/api/v1/requests/no-such-request",
            "no session served request id \"no-such-request\"",
        ),
        (
            "/api/v1/events/no-such-event",
            "no event with id \"no-such-event\"",
        ),
        (
            "/api/v1/events/no-such-event/proof",
            "no event with id \"no-such-event\"",
        ),
    ] {
        let e = f
            .get(uri)
            .await
            .expect_error(StatusCode::NOT_FOUND, "not_found");
        let m = e.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(m.contains(says), "{uri}: {m}");
    }
    // A bad argument reads nothing and records nothing; each lookup of an unknown id is a read
    // attempt, recorded with nothing returned.
    assert_eq!(f.server.tree_size(), size + 4);
    let probes = f.get_json("/api/v1/access?target=no-such-session").await;
    let rec = &probes["access"][0]["record"];
    assert_eq!(rec["read"], "session");
    assert_eq!(rec["returned"], json!({"sessions": [], "events": 0}));
    f.server.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_need_the_read_or_admin_role() {
    let f = fixture(opts()).await;
    let uris = [
        "/api/v1/sessions".to_string(),
        format!("/api/v1/sessions/{RENEWALS}"),
        "/api/v1/requests/47892".to_string(),
        format!("/api/v1/resources?uri={CUSTOMER}"),
        format!("/api/v1/events/{DECISION}"),
        format!("/api/v1/events/{DECISION}/proof"),
        "/api/v1/access".to_string(),
        "/api/v1/checkpoint".to_string(),
        "/api/v1/consistency?from=0".to_string(),
    ];
    let size = f.server.tree_size();
    for uri in &uris {
        let e = f
            .server
            .send(get(uri).bearer(&f.ingest))
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden");
        assert!(e.text().contains("this needs read"), "{uri}: {}", e.text());
        f.server
            .send(get(uri))
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    assert_eq!(f.server.tree_size(), size, "a refused read records nothing");
    for uri in &uris {
        f.server
            .send(get(uri).bearer(&f.read))
            .await
            .expect_status(StatusCode::OK);
        f.server
            .send(get(uri).bearer(&f.admin))
            .await
            .expect_status(StatusCode::OK);
    }
    f.server.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_audited_read_appends_exactly_one_access_record_before_it_answers() {
    let f = fixture(opts()).await;
    let reads = [
        ("/api/v1/sessions?agent=renewal-drafter", "sessions", None),
        (
            "/api/v1/sessions/sess-47892-renewals",
            "session",
            Some(RENEWALS),
        ),
        ("/api/v1/requests/47892", "request", Some("47892")),
        (
            "/api/v1/resources?uri=001Dn0000000003",
            "resource",
            Some(CUSTOMER),
        ),
        ("/api/v1/events/rd-47892-d01", "event", Some(DECISION)),
        ("/api/v1/events/rd-47892-d01/proof", "proof", Some(DECISION)),
        ("/api/v1/access?limit=5", "access", None),
    ];
    let mut audited = 0;
    // How many reads so far showed each item: named it, or showed that session in a list.
    let mut shown: std::collections::HashMap<String, usize> = Default::default();
    for (uri, read, target) in reads {
        let size = f.server.tree_size();
        f.get(uri).await.expect_status(StatusCode::OK);
        // The record was committed before the answer.
        assert_eq!(f.server.tree_size(), size + 1, "{uri}");
        audited += 1;
        let mut b = open_read(f.server.dir()).unwrap();
        let row = b.leaf(size).unwrap().expect("the access record");
        assert_eq!(row.kind, "agentrail.access");
        let ev: Value = serde_json::from_slice(
            &ReadLedger::new(b.as_mut())
                .event(&row.event_id)
                .unwrap()
                .event_bytes()
                .unwrap(),
        )
        .unwrap();
        let rec = &ev["body"]["access"];
        assert_eq!(rec["by"], format!("key:{}", f.read_id));
        assert_eq!(rec["key_id"], f.read_id.as_str());
        assert_eq!(rec["role"], "read");
        assert_eq!(rec["read"], read);
        assert_eq!(rec["method"], "GET");
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        assert_eq!(rec["path"], path);
        match query {
            "" => assert!(rec.get("query").is_none()),
            q => assert_eq!(rec["query"], q),
        }
        match target {
            Some(t) => assert_eq!(rec["target"], t),
            None => assert!(rec.get("target").is_none()),
        }
        assert_eq!(rec["nonce"].as_str().unwrap().len(), 32);
        assert_eq!(ev["agent_id"], "agentrail");
        assert_eq!(ev["session_id"], "agentrail");
        let returned = &rec["returned"];
        match read {
            "session" => {
                assert_eq!(returned["sessions"], json!([RENEWALS]));
                assert!(returned["events"].as_u64().unwrap() > 10);
            }
            "request" => assert_eq!(returned["sessions"], json!([RENEWALS])),
            "event" => {
                assert_eq!(returned, &json!({"sessions": [RENEWALS], "events": 1}));
            }
            "proof" => assert_eq!(returned, &json!({"sessions": [], "events": 0})),
            "resource" => {
                assert!(returned["sessions"]
                    .as_array()
                    .unwrap()
                    .contains(&json!(RENEWALS)));
                assert!(returned["events"].as_u64().unwrap() >= 1);
            }
            "sessions" => {
                assert!(returned["sessions"]
                    .as_array()
                    .unwrap()
                    .contains(&json!(RENEWALS)));
                assert_eq!(returned["events"], 0);
            }
            _ => assert_eq!(returned["sessions"], json!([])),
        }

        let mut items_shown: std::collections::BTreeSet<String> =
            target.map(str::to_string).into_iter().collect();
        for s in returned["sessions"].as_array().unwrap() {
            items_shown.insert(s.as_str().unwrap().to_string());
        }
        for item in items_shown {
            *shown.entry(item).or_default() += 1;
        }
        // The access list finds it, by target and by reader, as the ledger holds it.
        if let Some(t) = target {
            let found = f.get_json(&format!("/api/v1/access?target={t}")).await;
            audited += 1;
            let items = found["access"].as_array().unwrap();
            assert_eq!(items.len(), shown[t], "{t}: {found}");
            assert_eq!(items[0]["leaf_index"].as_u64(), Some(size));
            assert_eq!(items[0]["event_id"], row.event_id.as_str());
            assert_eq!(&items[0]["record"], rec);
        }
    }
    let mine = f
        .get_json(&format!(
            "/api/v1/access?reader=key:{}&limit=1000",
            f.read_id
        ))
        .await;
    audited += 1;
    // Every read so far but this one (recorded after it was answered from the index).
    assert_eq!(mine["access"].as_array().unwrap().len(), audited - 1);
    let proofs = f.get_json("/api/v1/access?read=proof").await;
    audited += 1;
    let proofs = proofs["access"].as_array().unwrap();
    assert!(!proofs.is_empty());
    assert!(proofs.iter().all(|r| r["record"]["read"] == "proof"));

    // Two identical reads are two records.
    let before = f.server.tree_size();
    f.get(&format!("/api/v1/events/{DECISION}")).await;
    f.get(&format!("/api/v1/events/{DECISION}")).await;
    audited += 2;
    assert_eq!(f.server.tree_size(), before + 2);

    let read_id = f.read_id.clone();
    let store = f.server.finish().await;
    let records = store.events_of_kind("agentrail.access");
    assert_eq!(records.len(), audited);
    assert!(records
        .iter()
        .all(|r| r["body"]["access"]["by"] == format!("key:{read_id}")));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_open_server_records_anonymous_reads_without_a_key_id() {
    let server = Server::start(opts());
    ingest_examples(&server, None).await;
    server
        .send(get("/api/v1/requests/47892"))
        .await
        .expect_status(StatusCode::OK);
    let store = server.finish().await;
    let records = store.events_of_kind("agentrail.access");
    assert_eq!(records.len(), 1);
    let rec = &records[0]["body"]["access"];
    assert_eq!(rec["by"], "anonymous-loopback");
    assert_eq!(rec["role"], "read");
    assert!(rec.get("key_id").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_in_a_read_url_is_redacted_in_its_access_record() {
    let f = fixture(opts()).await;
    let secret = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123";
    f.get_json(&format!("/api/v1/sessions?agent={secret}"))
        .await;
    f.get(&format!("/api/v1/events/{secret}"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    let f = f.server.finish().await;
    let records = f.events_of_kind("agentrail.access");
    assert_eq!(records.len(), 2, "the failed lookup is recorded too");
    let rec = &records[0]["body"]["access"];
    let query = rec["query"].as_str().unwrap();
    assert!(query.starts_with("agent=hmac-sha256:"), "{query}");
    let probe = &records[1]["body"]["access"];
    assert_eq!(probe["read"], "event");
    let target = probe["target"].as_str().unwrap();
    assert!(target.starts_with("hmac-sha256:"), "{target}");
    for leaf in f.leaves() {
        let bytes = [leaf.leaf, leaf.body.unwrap_or_default()].concat();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(secret),
            "the secret is stored at leaf {}",
            leaf.leaf_index
        );
    }
}

#[track_caller]
fn assert_unrecorded(r: Reply) {
    let r = r.expect_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert_eq!(r.header(header::RETRY_AFTER), Some("1"));
    let v = r.json();
    assert_eq!(v.as_object().unwrap().len(), 1, "only the error: {v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("could not be recorded"),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_that_cannot_be_recorded_fails_with_nothing_returned() {
    let f = fixture(ServeOptions { queue: 1, ..opts() }).await;
    // Everything is covered by a checkpoint, so the reads below need nothing of the writer but
    // their access records.
    f.server
        .send(post("/api/v1/admin/checkpoint").bearer(&f.admin))
        .await
        .expect_status(StatusCode::OK);
    let block = WriterBlock::new(&f.server.state);
    let queued = tokio::spawn(send_to(
        f.server.state.clone(),
        post("/api/v1/events")
            .json(&json!([action(Some("queued-1"), "a1")]))
            .bearer(&f.ingest),
    ));
    until("the batch takes the one place in the queue", || {
        f.server.state.writer.queued() == 1
    })
    .await;
    let size = f.server.tree_size();
    for uri in [
        format!("/api/v1/sessions/{RENEWALS}"),
        "/api/v1/sessions".to_string(),
        format!("/api/v1/events/{DECISION}"),
        format!("/api/v1/resources?uri={CUSTOMER}"),
    ] {
        assert_unrecorded(f.get(&uri).await);
    }
    // Not audited, so still served.
    f.get("/api/v1/checkpoint")
        .await
        .expect_status(StatusCode::OK);
    block.release().await;
    queued
        .await
        .expect("the queued request")
        .expect_status(StatusCode::OK);
    assert_eq!(f.server.tree_size(), size + 1, "only the queued event");

    // Once the writer has stopped, reads fail the same way.
    f.server.state.writer.stop();
    for uri in [
        format!("/api/v1/sessions/{RENEWALS}"),
        format!("/api/v1/events/{DECISION}"),
        "/api/v1/access".to_string(),
    ] {
        assert_unrecorded(f.get(&uri).await);
    }
    let store = f.server.finish().await;
    assert!(store.events_of_kind("agentrail.access").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_index_delays_reads_never_ingest_and_recovers() {
    let (server, keys) = Server::with_stored_keys_and(opts(), &["ingest", "read"], |dir| {
        // A directory where the index file should be: the index cannot open.
        std::fs::create_dir(DataDir::new(dir).index()).unwrap();
    });
    let (ingest, read) = (&keys[0].0, &keys[1].0);
    ingest_examples(&server, Some(ingest)).await;
    // Reads that need the index answer 503 after waiting for it; the ledger's own reads work.
    let r = server
        .send(get("/api/v1/requests/47892").bearer(read))
        .await
        .expect_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert!(r.text().contains("behind the log"), "{}", r.text());
    server
        .send(get(&format!("/api/v1/events/{DECISION}")).bearer(read))
        .await
        .expect_status(StatusCode::OK);
    // Ingest goes on.
    server
        .post_events(Some(ingest), &json!([action(Some("during"), "a1")]))
        .await
        .expect_status(StatusCode::OK);
    // The indexer retries: once the index can open, it catches up.
    std::fs::remove_dir(DataDir::new(server.dir()).index()).unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let r = server
            .send(get("/api/v1/requests/47892").bearer(read))
            .await;
        if r.status == StatusCode::OK {
            assert_eq!(session_ids(&r.json()), vec![RENEWALS]);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the index never recovered"
        );
    }
    server.finish().await;
}
