//! Governance through the router, over the bundled example inventory (`examples/agents.toml` and
//! its Cedar policies) and events: the inventory synced into the ledger at start (once, and
//! refused when it does not load), reloads on demand, `POST /api/v1/authorize` and its
//! `agentrail.authorize` record, the inventory and discovery reads, the gap assessment, and scope
//! violations in the session reads. Every read here must append its `agentrail.access` record.

mod common;

use agentrail_server::serve::{build_state, load_redactor, Background, ServeError, ServeOptions};
use agentrail_server::AppState;
use agentrail_store::clock::SystemClock;
use agentrail_store::ledger::open_read;
use agentrail_store::{InitOptions, Ledger, ReadLedger};
use axum::http::{header, StatusCode};
use common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const EVENTS: &str = include_str!("../../../examples/events.ndjson");
const AGENTS_TOML: &str = include_str!("../../../examples/agents.toml");
const BASE: &str = "policies/base.cedar";
const BILLING: &str = "policies/billing-sync.cedar";
const RENEWAL: &str = "policies/renewal-drafter.cedar";
const POLICIES: [(&str, &str); 3] = [
    (BASE, include_str!("../../../examples/policies/base.cedar")),
    (
        BILLING,
        include_str!("../../../examples/policies/billing-sync.cedar"),
    ),
    (
        RENEWAL,
        include_str!("../../../examples/policies/renewal-drafter.cedar"),
    ),
];
const EXAMPLE_AGENTS: [&str; 5] = [
    "contract-summarizer",
    "invoice-reconciler",
    "nightly-usage-sync",
    "renewal-drafter",
    "support-triage",
];
const EXAMPLE_POLICY_IDS: [&str; 7] = [
    "billing-sync-schedule",
    "billing-sync-scope",
    "no-payroll",
    "renewal-drafter-drafts",
    "renewal-drafter-model",
    "renewal-drafter-reads",
    "renewal-drafter-start",
];
const VIOLATING: &str = "sess-nightly-2026-11-24";
const PAYROLL_READ: &str = "nj-1124-005";

/// An inventory and its policy files in a directory of their own (the server's options name
/// the file before its data directory exists), editable while the server runs.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    /// The bundled example inventory and its policies.
    fn example() -> Files {
        let files = Files {
            dir: tempfile::tempdir().expect("a temporary directory"),
        };
        files.write("agents.toml", AGENTS_TOML);
        for (path, text) in POLICIES {
            files.write(path, text);
        }
        files
    }

    fn agents(&self) -> PathBuf {
        self.dir.path().join("agents.toml")
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, text).expect("writing a file of the inventory");
    }

    fn opts(&self) -> ServeOptions {
        ServeOptions {
            agents: Some(self.agents()),
            ..ServeOptions::default()
        }
    }
}

/// The policy set hash of these files (path as the inventory names it -> text).
fn hash_of(files: &[(&str, &str)]) -> String {
    let files: BTreeMap<String, String> = files
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect();
    agentrail_policy::policy_set_hash(&files)
}

fn example_hash() -> String {
    hash_of(&POLICIES)
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A closed server with the example inventory, an ingest, a read and an admin key.
struct Gov {
    server: Server,
    files: Files,
    ingest: String,
    ingest_id: String,
    read: String,
    read_id: String,
    admin: String,
    admin_id: String,
}

async fn gov(files: Files, with_events: bool) -> Gov {
    let (server, keys) =
        Server::with_stored_keys_and(files.opts(), &["ingest", "read", "admin"], |_| ());
    let [ingest, read, admin] = [0, 1, 2].map(|i| keys[i].clone());
    if with_events {
        ingest_examples(&server, &ingest.0).await;
    }
    Gov {
        server,
        files,
        ingest: ingest.0,
        ingest_id: ingest.1,
        read: read.0,
        read_id: read.1,
        admin: admin.0,
        admin_id: admin.1,
    }
}

async fn ingest_examples(server: &Server, key: &str) {
    let r = server
        .send(
            post("/api/v1/events")
                .body("application/x-ndjson", EVENTS)
                .bearer(key),
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

impl Gov {
    async fn get_json(&self, uri: &str) -> Value {
        self.server
            .send(get(uri).bearer(&self.read))
            .await
            .expect_status(StatusCode::OK)
            .json()
    }

    async fn reload(&self, key: &str) -> Reply {
        self.server
            .send(post("/api/v1/admin/inventory/reload").bearer(key))
            .await
    }

    async fn ask(&self, key: &str, question: &Value) -> Reply {
        self.server
            .send(post("/api/v1/authorize").json(question).bearer(key))
            .await
    }

    /// Asks with the ingest key; returns the answer without `recorded`, after checking that
    /// `recorded` names the one leaf the question appended.
    async fn decide(&self, question: &Value) -> Value {
        // Committed leaves (the published tree size may lag an admin change: see
        // `an_answered_reload_is_in_the_published_tree_size`).
        let size = leaf_count(self.server.dir());
        let mut answer = self
            .ask(&self.ingest, question)
            .await
            .expect_status(StatusCode::OK)
            .json();
        assert_eq!(
            answer["recorded"],
            json!({"leaf_index": size}),
            "{question}"
        );
        assert_eq!(self.server.tree_size(), size + 1, "{question}");
        answer
            .as_object_mut()
            .expect("an object")
            .remove("recorded");
        answer
    }
}

/// Every stored record of `kind`, with its leaf index, read from the data directory (readers
/// take no lock, so this works while the server runs).
fn records(dir: &Path, kind: &str) -> Vec<(u64, Value)> {
    let mut b = open_read(dir).expect("open_read");
    let rows = b.leaves(0, 1_000_000).expect("leaves");
    let mut r = ReadLedger::new(b.as_mut());
    rows.into_iter()
        .filter(|l| l.kind == kind)
        .map(|l| {
            let bytes = r
                .event(&l.event_id)
                .expect("a stored event")
                .event_bytes()
                .expect("not erased");
            let v = serde_json::from_slice(&bytes).expect("stored bytes are JSON");
            (l.leaf_index, v)
        })
        .collect()
}

/// The stored event at `leaf`.
fn stored_at(dir: &Path, leaf: u64) -> Value {
    let mut b = open_read(dir).expect("open_read");
    let row = b
        .leaf(leaf)
        .expect("reading a leaf")
        .expect("the leaf exists");
    let bytes = ReadLedger::new(b.as_mut())
        .event(&row.event_id)
        .expect("a stored event")
        .event_bytes()
        .expect("not erased");
    serde_json::from_slice(&bytes).expect("stored bytes are JSON")
}

/// Starts a collector on an existing data directory as `serve` does (inventory synced first).
fn start_on(dir: &Path, opts: &ServeOptions) -> Result<(AppState, Background), ServeError> {
    let mut ledger = Ledger::open(dir, "test", Arc::new(SystemClock)).expect("open");
    let keys = ledger.api_keys().expect("reading the keys");
    let redactor = load_redactor(dir, None).expect("redaction policy");
    build_state(
        dir,
        ledger,
        Arc::new(redactor),
        keys,
        Some(LOCAL_ADMIN.into()),
        opts,
    )
}

async fn stop(state: AppState, background: Background) {
    drop(state);
    tokio::task::spawn_blocking(move || background.join())
        .await
        .expect("joining")
        .expect("the writer stopped cleanly");
}

fn leaf_count(dir: &Path) -> u64 {
    open_read(dir)
        .expect("open_read")
        .leaf_count()
        .expect("leaf_count")
}

// ---------------------------------------------------------------------------------------------
// 1. The inventory synced at start
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn start_records_each_policy_file_and_the_inventory_once() {
    let f = gov(Files::example(), false).await;
    let dir = f.server.dir().to_path_buf();
    let hash = example_hash();

    let policies = records(&dir, "agentrail.policy");
    let inventories = records(&dir, "agentrail.inventory");
    assert_eq!(policies.len(), 3, "one record per policy file");
    assert_eq!(inventories.len(), 1);
    let mut running: Vec<(&str, &str)> = Vec::new();
    for ((_, ev), (path, text)) in policies.iter().zip(POLICIES) {
        running.push((path, text));
        assert_eq!(ev["kind"], "agentrail.policy");
        assert_eq!(
            ev["body"]["policy"],
            json!({
                "path": path,
                "text": text,
                "sha256": sha256_hex(text),
                // The set once this record applies: the files recorded so far.
                "policy_set_hash": hash_of(&running),
                "by": "serve",
            })
        );
    }
    let (inv_leaf, inv) = &inventories[0];
    assert!(
        policies.iter().all(|(leaf, _)| leaf < inv_leaf),
        "the inventory record follows the policy records of its sync"
    );
    let rec = &inv["body"]["inventory"];
    assert_eq!(rec["source"], f.files.agents().display().to_string());
    assert_eq!(rec["added"], json!(EXAMPLE_AGENTS));
    assert_eq!(rec["removed"], json!([]));
    assert_eq!(rec["changed"], json!([]));
    assert_eq!(rec["policies"], json!([BASE]));
    assert_eq!(rec["policy_set_hash"], hash);
    assert_eq!(rec["by"], "serve");
    let ids: Vec<&str> = rec["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .map(|a| a["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, EXAMPLE_AGENTS);

    // What the server holds in force is what it recorded.
    let agents = f.get_json("/api/v1/agents").await;
    assert_eq!(agents["policy_set_hash"], hash);
    assert_eq!(agents["policy_ids"], json!(EXAMPLE_POLICY_IDS));

    // Starting again over the same files appends nothing.
    let store = f.server.finish().await;
    let size = store.size();
    let (state, background) = start_on(&dir, &f.files.opts()).expect("the second start");
    assert_eq!(state.writer.tree_size(), size);
    assert_eq!(
        state
            .inventory
            .with_state(|s| s.policies.hash().to_string()),
        hash
    );
    stop(state, background).await;
    assert_eq!(
        leaf_count(&dir),
        size,
        "an unchanged inventory appended records"
    );

    // A file changed while the server was down is recorded at the next start: only it.
    let edited = format!("{}\n// reviewed\n", POLICIES[1].1);
    f.files.write(BILLING, &edited);
    let (state, background) = start_on(&dir, &f.files.opts()).expect("the third start");
    stop(state, background).await;
    let policies = records(&dir, "agentrail.policy");
    assert_eq!(policies.len(), 4);
    assert_eq!(policies[3].1["body"]["policy"]["path"], BILLING);
    assert_eq!(policies[3].1["body"]["policy"]["text"], edited.as_str());
    assert_eq!(records(&dir, "agentrail.inventory").len(), 2);
    assert_eq!(leaf_count(&dir), size + 2);
    drop(store);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_inventory_stops_the_start_naming_the_file_agent_and_field() {
    // (what is broken, the edit, what the message must name)
    type Edit = fn(&Files);
    let cases: [(&str, Edit, &[&str]); 5] = [
        (
            "an unknown field",
            |f| {
                f.write(
                    "agents.toml",
                    &AGENTS_TOML.replace(
                        "id = \"support-triage\"\n",
                        "id = \"support-triage\"\ncolour = \"blue\"\n",
                    ),
                )
            },
            &[
                "agents.toml",
                "\"support-triage\"",
                "colour",
                "unknown field",
            ],
        ),
        (
            "a kind out of its list",
            |f| {
                f.write(
                    "agents.toml",
                    &AGENTS_TOML.replace("kind = \"scheduled-job\"", "kind = \"cron-job\""),
                )
            },
            &["agents.toml", "\"nightly-usage-sync\"", "kind", "cron-job"],
        ),
        (
            "a Cedar syntax error",
            |f| {
                f.write(
                    RENEWAL,
                    &POLICIES[2]
                        .1
                        .replace("resource.system == \"gdrive\" };", "resource.system == };"),
                )
            },
            &["agents.toml", RENEWAL, "line"],
        ),
        (
            "a missing policy file",
            |f| {
                f.write(
                    "agents.toml",
                    &AGENTS_TOML.replace(BILLING, "policies/nowhere.cedar"),
                )
            },
            &[
                "policies/nowhere.cedar",
                "\"nightly-usage-sync\"",
                "cannot read",
            ],
        ),
        (
            "TOML that does not parse",
            |f| f.write("agents.toml", &format!("{AGENTS_TOML}\n[[agent]\n")),
            &["agents.toml", "line"],
        ),
    ];
    for (what, edit, names) in cases {
        let files = Files::example();
        edit(&files);
        let data = tempfile::tempdir().expect("a temporary directory");
        Ledger::init(
            data.path(),
            &InitOptions {
                origin: Some("test.example/agentrail/govern".into()),
                publish: None,
            },
            &SystemClock,
        )
        .expect("init");
        let err = match start_on(data.path(), &files.opts()) {
            Ok((state, background)) => {
                stop(state, background).await;
                panic!("{what}: the server started");
            }
            Err(e) => e,
        };
        assert!(matches!(err, ServeError::Config(_)), "{what}: {err:?}");
        let msg = err.to_string();
        for name in names {
            assert!(msg.contains(name), "{what}: {name:?} is not in: {msg}");
        }
        // Nothing was recorded, and the directory was released: it starts once fixed.
        assert_eq!(leaf_count(data.path()), 0, "{what}");
        let fixed = Files::example();
        let (state, background) = start_on(data.path(), &fixed.opts()).expect("once fixed");
        stop(state, background).await;
        assert_eq!(leaf_count(data.path()), 4, "{what}");
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Reload
// ---------------------------------------------------------------------------------------------

/// A model call of the renewal drafter: permitted by `renewal-drafter-model` only.
fn model_call() -> Value {
    json!({
        "session_id": "sess-ask-model", "agent_id": "renewal-drafter", "kind": "action",
        "ts": "2026-11-25T09:00:00Z",
        "action": {"type": "model_call", "system": "anthropic", "model": "claude-sonnet-4-5", "status": "ok"},
    })
}

fn crm_read(agent: &str, session: &str) -> Value {
    json!({
        "session_id": session, "agent_id": agent, "kind": "action", "ts": "2026-11-25T09:00:00Z",
        "action": {"type": "read", "system": "salesforce", "resource": "Account/001Dn0000000001", "status": "ok"},
    })
}

fn verdict(decision: &str, policies: &[&str], hash: &str) -> Value {
    json!({"decision": decision, "policies": policies, "errors": [], "policy_set_hash": hash})
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_records_a_change_once_and_keeps_the_last_good_inventory_when_broken() {
    let f = gov(Files::example(), false).await;
    let dir = f.server.dir().to_path_buf();
    let h1 = example_hash();
    assert_eq!(
        f.decide(&model_call()).await,
        verdict("allow", &["renewal-drafter-model"], &h1)
    );

    // Only admin may reload; a refused reload records nothing.
    for key in [&f.ingest, &f.read] {
        let size = leaf_count(&dir);
        f.reload(key)
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden");
        assert_eq!(leaf_count(&dir), size);
    }

    // Nothing changed: nothing recorded.
    let size = leaf_count(&dir);
    let r = f
        .reload(&f.admin)
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(
        r,
        json!({"path": f.files.agents().display().to_string(), "found": true, "recorded": [],
               "changes": [], "policy_set_hash": h1})
    );
    assert_eq!(leaf_count(&dir), size);

    // The drafter loses its model: one policy record and the inventory record.
    let without_model = POLICIES[2]
        .1
        .split("@id(\"renewal-drafter-model\")")
        .next()
        .expect("text")
        .to_string();
    f.files.write(RENEWAL, &without_model);
    let h2 = hash_of(&[POLICIES[0], POLICIES[1], (RENEWAL, &without_model)]);
    let size = leaf_count(&dir);
    let r = f
        .reload(&f.admin)
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(
        r,
        json!({"path": f.files.agents().display().to_string(), "found": true,
               "recorded": [size, size + 1],
               "changes": [format!("policy \"{RENEWAL}\" recorded"), "inventory recorded"],
               "policy_set_hash": h2})
    );
    assert_eq!(leaf_count(&dir), size + 2);
    let policy = stored_at(&dir, size);
    assert_eq!(policy["kind"], "agentrail.policy");
    assert_eq!(
        policy["body"]["policy"],
        json!({"path": RENEWAL, "text": without_model, "sha256": sha256_hex(&without_model),
               "policy_set_hash": h2, "by": format!("key:{}", f.admin_id)})
    );
    let inventory = stored_at(&dir, size + 1);
    assert_eq!(inventory["kind"], "agentrail.inventory");
    assert_eq!(inventory["body"]["inventory"]["policy_set_hash"], h2);
    assert_eq!(inventory["body"]["inventory"]["added"], json!([]));
    // In force at once: a governed agent's unpermitted call is denied by default.
    assert_eq!(f.decide(&model_call()).await, verdict("deny", &[], &h2));
    assert_eq!(f.get_json("/api/v1/agents").await["policy_set_hash"], h2);

    // A second reload of the same files appends nothing.
    let size = leaf_count(&dir);
    let r = f
        .reload(&f.admin)
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(r["recorded"], json!([]));
    assert_eq!(r["changes"], json!([]));
    assert_eq!(leaf_count(&dir), size);

    // A broken edit: 400 naming the file, nothing recorded, the last good set stays in force.
    f.files.write(
        RENEWAL,
        &format!("{without_model}\npermit (principal, action, resource\n"),
    );
    let size = leaf_count(&dir);
    let r = f
        .reload(&f.admin)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    let msg = r.json()["error"]["message"]
        .as_str()
        .expect("message")
        .to_string();
    assert!(msg.contains(RENEWAL), "{msg}");
    assert!(msg.contains("stays in force"), "{msg}");
    assert_eq!(leaf_count(&dir), size);
    assert_eq!(f.decide(&model_call()).await, verdict("deny", &[], &h2));
    assert_eq!(
        f.decide(&crm_read("renewal-drafter", "sess-ask-crm")).await,
        verdict("allow", &["renewal-drafter-reads"], &h2)
    );

    // The original policy back and an owner changed: both recorded, the agent named.
    f.files.write(RENEWAL, POLICIES[2].1);
    f.files.write(
        "agents.toml",
        &AGENTS_TOML.replace("support-ops@acme.example", "support-eng@acme.example"),
    );
    let size = leaf_count(&dir);
    let r = f
        .reload(&f.admin)
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(
        r["changes"],
        json!([
            format!("policy \"{RENEWAL}\" recorded"),
            "agents changed: \"support-triage\""
        ])
    );
    assert_eq!(r["recorded"], json!([size, size + 1]));
    assert_eq!(r["policy_set_hash"], h1);
    assert_eq!(
        stored_at(&dir, size + 1)["body"]["inventory"]["changed"],
        json!(["support-triage"])
    );
    assert_eq!(
        f.decide(&model_call()).await,
        verdict("allow", &["renewal-drafter-model"], &h1)
    );

    let store = f.server.finish().await;
    assert_eq!(store.events_of_kind("agentrail.policy").len(), 3 + 1 + 1);
    assert_eq!(store.events_of_kind("agentrail.inventory").len(), 1 + 1 + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answered_reload_is_in_the_published_tree_size() {
    let f = gov(Files::example(), false).await;
    for i in 0..20 {
        f.files
            .write(BILLING, &format!("{}\n// review {i}\n", POLICIES[1].1));
        let r = f
            .reload(&f.admin)
            .await
            .expect_status(StatusCode::OK)
            .json();
        let last = r["recorded"][1].as_u64().expect("two records");
        // The change is committed and answered: every reader of the size must see it.
        assert_eq!(leaf_count(f.server.dir()), last + 1);
        assert_eq!(f.server.tree_size(), last + 1, "reload {i}");
        let health = f
            .server
            .send(get("/healthz"))
            .await
            .expect_status(StatusCode::OK)
            .json();
        assert_eq!(health["tree_size"], last + 1, "reload {i}");
    }
    f.server.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_without_an_inventory_is_400_naming_the_flag() {
    let (server, keys) = Server::with_stored_keys(ServeOptions::default(), &["admin"]);
    let r = server
        .send(post("/api/v1/admin/inventory/reload").bearer(&keys[0].0))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(r.text().contains("--agents"), "{}", r.text());
    server.finish().await;
}

// ---------------------------------------------------------------------------------------------
// 3. POST /api/v1/authorize
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn authorize_answers_by_the_policies_and_records_question_and_answer() {
    let f = gov(Files::example(), true).await;
    let dir = f.server.dir().to_path_buf();
    let h = example_hash();
    let ingest_id = f.ingest_id.clone();
    let start = |agent: &str, trigger: Value| {
        json!({"session_id": format!("sess-ask-{agent}"), "agent_id": agent, "kind": "session.start",
               "ts": "2026-11-25T02:00:00Z", "trigger": trigger})
    };
    let mut chosen_id = crm_read("renewal-drafter", "sess-ask-1");
    chosen_id["event_id"] = "q-1".into();
    chosen_id["principal"] = "svc-renewal-drafter".into();
    // (what, question, decision, determining policies)
    let cases: Vec<(&str, Value, &str, Vec<&str>)> = vec![
        (
            "permitted read, with an event id the agent chose",
            chosen_id,
            "allow",
            vec!["renewal-drafter-reads"],
        ),
        (
            "forbidden for every agent",
            json!({"session_id": "sess-nightly-2026-11-25", "agent_id": "nightly-usage-sync",
                   "kind": "action", "ts": "2026-11-25T02:00:07Z",
                   "action": {"type": "read", "system": "hr-payroll", "resource": "employees/salaries", "status": "ok"}}),
            "deny",
            vec!["no-payroll"],
        ),
        (
            "nothing permits a governed agent's delete",
            json!({"session_id": "sess-ask-2", "agent_id": "renewal-drafter", "kind": "action",
                   "ts": "2026-11-25T09:00:00Z",
                   "action": {"type": "delete", "system": "salesforce", "resource": "Account/001Dn0000000001", "status": "ok"}}),
            "deny",
            vec![],
        ),
        (
            "an unregistered agent",
            crm_read("sheets-export", "sess-ask-3"),
            "no_policy",
            vec![],
        ),
        (
            "a scheduled start of the nightly job",
            start(
                "nightly-usage-sync",
                json!({"type": "schedule", "initiator": "cron:nightly-usage-sync", "schedule": "0 2 * * *"}),
            ),
            "allow",
            vec!["billing-sync-schedule"],
        ),
        (
            "a scheduled start of an agent only users may start",
            start(
                "renewal-drafter",
                json!({"type": "schedule", "initiator": "cron:renewals"}),
            ),
            "deny",
            vec![],
        ),
    ];
    let mut asked = 0;
    for (what, question, decision, policies) in cases {
        let expected = verdict(decision, &policies, &h);
        let leaf = leaf_count(&dir);
        assert_eq!(f.decide(&question).await, expected, "{what}");
        asked += 1;
        let ev = stored_at(&dir, leaf);
        assert_eq!(ev["kind"], "agentrail.authorize", "{what}");
        assert_eq!(
            ev["body"]["authorize"],
            json!({"by": format!("key:{ingest_id}"), "key_id": ingest_id,
                   "question": question, "answer": expected}),
            "{what}"
        );
    }

    // `ts` may be left out: the question is recorded with the time it was asked.
    let mut no_ts = crm_read("renewal-drafter", "sess-ask-4");
    no_ts.as_object_mut().expect("object").remove("ts");
    let leaf = leaf_count(&dir);
    assert_eq!(
        f.decide(&no_ts).await,
        verdict("allow", &["renewal-drafter-reads"], &h)
    );
    asked += 1;
    let q = &stored_at(&dir, leaf)["body"]["authorize"]["question"];
    let ts = q["ts"].as_str().expect("a ts");
    assert!(ts.ends_with('Z') && ts.len() >= 20, "{ts}");
    assert_eq!(q["agent_id"], "renewal-drafter");
    assert!(
        q.get("event_id").is_none(),
        "a derived id is not the agent's: {q}"
    );

    // The question is redacted like an event: the secret never reaches the log.
    let mut secret = crm_read("renewal-drafter", "sess-ask-5");
    secret["attributes"] = json!({"password": "hunter2"});
    let leaf = leaf_count(&dir);
    assert_eq!(
        f.decide(&secret).await,
        verdict("allow", &["renewal-drafter-reads"], &h)
    );
    asked += 1;
    let stored = stored_at(&dir, leaf);
    assert_eq!(
        stored["body"]["authorize"]["question"]["attributes"]["password"],
        f.server.redactor().hmac("hunter2")
    );
    assert!(!stored.to_string().contains("hunter2"), "{stored}");

    // The session's intent as stored: asking about an action in a stored session.
    assert_eq!(
        f.decide(&json!({"session_id": VIOLATING, "agent_id": "nightly-usage-sync", "kind": "action",
                         "action": {"type": "query", "system": "snowflake", "resource": "ANALYTICS.USAGE_DAILY", "status": "ok"}}))
            .await,
        verdict("allow", &["billing-sync-scope"], &h)
    );
    asked += 1;

    let store = f.server.finish().await;
    assert_eq!(store.events_of_kind("agentrail.authorize").len(), asked);
}

#[tokio::test(flavor = "multi_thread")]
async fn authorize_refuses_bad_questions_and_callers_recording_nothing() {
    let f = gov(Files::example(), false).await;
    let bound = f
        .server
        .create_key(Some(&f.admin), "ingest", Some("renewal-drafter"))
        .await
        .0;
    let note = json!({"session_id": "s", "agent_id": "renewal-drafter", "kind": "note",
                      "ts": "2026-11-25T09:00:00Z", "note": {"text": "about to read"}});
    let no_resource = json!({"session_id": "s", "agent_id": "renewal-drafter", "kind": "action",
                             "action": {"type": "read", "system": "salesforce", "status": "ok"}});
    let no_agent = json!({"session_id": "s", "kind": "action",
                          "action": {"type": "read", "system": "salesforce", "resource": "x", "status": "ok"}});
    let json_body = |v: &Value| post("/api/v1/authorize").json(v);
    // (what, request, status, code, words the message must hold)
    let cases: Vec<(&str, Req, StatusCode, &str, Vec<&str>)> = vec![
        (
            "an invalid event",
            json_body(&no_resource).bearer(&f.ingest),
            StatusCode::BAD_REQUEST,
            "bad_request",
            vec!["action.resource"],
        ),
        (
            "no agent",
            json_body(&no_agent).bearer(&f.ingest),
            StatusCode::BAD_REQUEST,
            "bad_request",
            vec!["agent_id"],
        ),
        (
            "a kind policies do not judge",
            json_body(&note).bearer(&f.ingest),
            StatusCode::BAD_REQUEST,
            "bad_request",
            vec!["kind", "note"],
        ),
        (
            "not one object",
            json_body(&json!([crm_read("renewal-drafter", "s")])).bearer(&f.ingest),
            StatusCode::BAD_REQUEST,
            "bad_request",
            vec!["object"],
        ),
        (
            "not JSON",
            post("/api/v1/authorize")
                .body("application/json", "{\"kind\":")
                .bearer(&f.ingest),
            StatusCode::BAD_REQUEST,
            "bad_request",
            vec!["JSON"],
        ),
        (
            "another content type",
            post("/api/v1/authorize")
                .body("text/plain", crm_read("renewal-drafter", "s").to_string())
                .bearer(&f.ingest),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            vec!["application/json"],
        ),
        (
            "a key bound to another agent",
            json_body(&crm_read("nightly-usage-sync", "s")).bearer(&bound),
            StatusCode::BAD_REQUEST,
            "bad_request",
            vec!["agent_id", "nightly-usage-sync", "renewal-drafter"],
        ),
        (
            "larger than one event",
            json_body(&{
                let mut big = crm_read("renewal-drafter", "s");
                big["attributes"] = json!({"pad": "x".repeat(1 << 20)});
                big
            })
            .bearer(&f.ingest),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            vec!["max-event-bytes"],
        ),
        (
            "a read-only key",
            json_body(&crm_read("renewal-drafter", "s")).bearer(&f.read),
            StatusCode::FORBIDDEN,
            "forbidden",
            vec![],
        ),
        (
            "no key",
            json_body(&crm_read("renewal-drafter", "s")),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            vec![],
        ),
    ];
    for (what, req, status, code, words) in cases {
        let size = f.server.tree_size();
        let r = f.server.send(req).await;
        assert_eq!(r.status, status, "{what}: {}", r.text());
        let r = r.expect_error(status, code);
        let msg = r.json()["error"]["message"]
            .as_str()
            .expect("message")
            .to_string();
        for w in words {
            assert!(msg.contains(w), "{what}: {w:?} is not in: {msg}");
        }
        assert_eq!(f.server.tree_size(), size, "{what}: something was recorded");
    }
    // The bound key may ask about its own agent.
    let r = f
        .ask(&bound, &crm_read("renewal-drafter", "s"))
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(r["decision"], "allow");
    let store = f.server.finish().await;
    assert_eq!(store.events_of_kind("agentrail.authorize").len(), 1);
}

/// A copy of the example whose drafter may read the CRM only in runs a user started.
fn files_with_a_context_policy() -> Files {
    let files = Files::example();
    files.write(
        RENEWAL,
        &format!(
            "{}\n@id(\"renewal-drafter-user-crm\")\npermit (principal == Agent::\"renewal-drafter\", \
             action == Action::\"read\", resource)\nwhen {{ resource.system == \"crm\" && \
             context.trigger_type == \"user\" }};\n",
            POLICIES[2].1
        ),
    );
    files
}

#[tokio::test(flavor = "multi_thread")]
async fn authorize_sees_the_session_start_the_agent_just_recorded() {
    let f = gov(files_with_a_context_policy(), false).await;
    for i in 0..20 {
        let session = format!("sess-fresh-{i}");
        f.server
            .post_events(
                Some(&f.ingest),
                &json!([{"session_id": session, "agent_id": "renewal-drafter", "kind": "session.start",
                         "ts": "2026-11-25T09:00:00Z",
                         "trigger": {"type": "user", "initiator": "alice@acme.example"}}]),
            )
            .await
            .expect_status(StatusCode::OK);
        // The start is durable (acknowledged): the question must be judged in its session.
        let mut q = crm_read("renewal-drafter", &session);
        q["action"]["system"] = "crm".into();
        let answer = f.decide(&q).await;
        assert_eq!(
            answer["decision"], "allow",
            "run {i}: the acknowledged session.start was not taken into account: {answer}"
        );
    }
    f.server.finish().await;
}

// ---------------------------------------------------------------------------------------------
// 4. The inventory and discovery reads
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn agents_and_discovery_are_answered_and_each_read_is_recorded() {
    let f = gov(Files::example(), true).await;
    let h = example_hash();
    let sheets_export = json!({
        "id": "sheets-export", "first_seen": "2026-11-21T16:40:00Z",
        "last_seen": "2026-11-21T16:40:05Z", "events": 3, "sessions": 1, "actions": 2,
        "systems": ["gsheets", "salesforce"],
    });
    // (uri, status, read, target)
    let reads: [(&str, StatusCode, &str, Option<&str>); 6] = [
        ("/api/v1/agents", StatusCode::OK, "agents", None),
        (
            "/api/v1/agents/renewal-drafter",
            StatusCode::OK,
            "agent",
            Some("renewal-drafter"),
        ),
        (
            "/api/v1/agents/sheets-export",
            StatusCode::OK,
            "agent",
            Some("sheets-export"),
        ),
        (
            "/api/v1/agents/invoice-reconciler",
            StatusCode::OK,
            "agent",
            Some("invoice-reconciler"),
        ),
        (
            "/api/v1/agents/nobody",
            StatusCode::NOT_FOUND,
            "agent",
            Some("nobody"),
        ),
        ("/api/v1/discover", StatusCode::OK, "discover", None),
    ];
    let mut answers = Vec::new();
    for (uri, status, _, _) in reads {
        let size = f.server.tree_size();
        let r = f
            .server
            .send(get(uri).bearer(&f.read))
            .await
            .expect_status(status);
        assert_eq!(f.server.tree_size(), size + 1, "{uri}: not recorded once");
        answers.push(r.json());
    }

    let all = &answers[0];
    assert_eq!(all["policies"], json!([BASE]));
    assert_eq!(all["policy_set_hash"], h);
    assert_eq!(all["policy_ids"], json!(EXAMPLE_POLICY_IDS));
    let ids: Vec<&str> = all["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .map(|a| a["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, EXAMPLE_AGENTS);

    let drafter = &answers[1];
    assert_eq!(drafter["registered"], true);
    assert_eq!(drafter["entry"]["owner"], "revops@acme.example");
    assert_eq!(drafter["entry"]["policy"], RENEWAL);
    assert_eq!(drafter["seen"]["sessions"], 1);
    assert_eq!(
        drafter["seen"]["systems"],
        json!([
            "anthropic",
            "contracts-db",
            "gdrive",
            "salesforce",
            "zendesk"
        ])
    );
    assert_eq!(
        answers[2],
        json!({"id": "sheets-export", "registered": false, "entry": null, "seen": sheets_export})
    );
    let reconciler = &answers[3];
    assert_eq!(reconciler["registered"], true);
    assert_eq!(reconciler["entry"]["kind"], "service-account");
    assert_eq!(reconciler["seen"], Value::Null);
    assert_eq!(answers[4]["error"]["code"], "not_found");
    let mut principal = sheets_export.clone();
    principal["id"] = "svc-gsheets-export".into();
    principal["agents"] = json!(["sheets-export"]);
    assert_eq!(
        answers[5],
        json!({"agents": [sheets_export], "principals": [principal]})
    );

    // Each read is an access record, newest first, naming what was read.
    let access = f
        .get_json(&format!("/api/v1/access?reader=key:{}", f.read_id))
        .await;
    let items = access["access"].as_array().expect("access");
    assert_eq!(items.len(), reads.len());
    for (item, (uri, _, read, target)) in items.iter().zip(reads.iter().rev()) {
        let rec = &item["record"];
        assert_eq!(rec["read"], *read, "{uri}");
        assert_eq!(rec["path"], *uri);
        assert_eq!(rec["role"], "read");
        match target {
            Some(t) => assert_eq!(rec["target"], *t, "{uri}"),
            None => assert!(rec.get("target").is_none(), "{uri}"),
        }
    }

    // Refused before reading: not recorded.
    let size = f.server.tree_size();
    f.server
        .send(get("/api/v1/discover?x=1").bearer(&f.read))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    f.server
        .send(get("/api/v1/agents").bearer(&f.ingest))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(f.server.tree_size(), size);
    f.server.finish().await;
}

// ---------------------------------------------------------------------------------------------
// 5. The gap assessment
// ---------------------------------------------------------------------------------------------

fn by_id(report: &Value) -> BTreeMap<String, Value> {
    report["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .map(|a| (a["id"].as_str().expect("id").to_string(), a.clone()))
        .collect()
}

fn scores(agent: &Value) -> [String; 4] {
    ["intent", "scope", "decision_trace", "outcome"].map(|l| {
        agent["layers"][l]["score"]
            .as_str()
            .expect("score")
            .to_string()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn assess_scores_the_example_in_json_markdown_and_html() {
    let f = gov(Files::example(), true).await;
    let h = example_hash();
    const SENTENCE: &str = "6 agents in scope (5 registered, 1 discovered): full coverage on 2, \
                            partial on 2, none on 2. 1 scope violation in 1 session. 1 unregistered \
                            principal acted with no registered agent.";

    let size = f.server.tree_size();
    let r = f
        .server
        .send(get("/api/v1/assess").bearer(&f.read))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(r.header(header::CACHE_CONTROL), Some("no-store"));
    let report = r.json();
    assert_eq!(report["format"], "agentrail.assessment/v1");
    assert_eq!(report["summary"]["sentence"], SENTENCE);
    assert_eq!(report["log"]["policy_set_hash"], h);
    let agents = by_id(&report);
    assert_eq!(
        agents.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "contract-summarizer",
            "invoice-reconciler",
            "nightly-usage-sync",
            "renewal-drafter",
            "sheets-export",
            "support-triage"
        ]
    );
    let drafter = &agents["renewal-drafter"];
    assert_eq!(
        scores(drafter),
        ["yes", "yes", "yes", "yes"].map(String::from)
    );
    assert_eq!(drafter["coverage"], "full");
    assert_eq!(drafter["violations"]["count"], 0);
    let reconciler = &agents["invoice-reconciler"];
    assert_eq!(
        scores(reconciler),
        ["no", "no", "no", "no"].map(String::from)
    );
    assert_eq!(reconciler["sessions"], 0);
    for layer in ["intent", "scope", "decision_trace", "outcome"] {
        let reason = reconciler["layers"][layer]["reason"]
            .as_str()
            .expect("reason");
        assert!(reason.contains("no evidence"), "{layer}: {reason}");
    }
    let sheets = &agents["sheets-export"];
    assert_eq!(sheets["discovered"], true);
    assert_eq!(sheets["registered"], false);
    assert_eq!(sheets["layers"]["intent"]["score"], "no");
    let nightly = &agents["nightly-usage-sync"];
    assert_eq!(nightly["sessions"], 3);
    assert_eq!(nightly["violations"]["count"], 1);
    assert_eq!(nightly["violations"]["policies"], json!(["no-payroll"]));
    assert_eq!(
        nightly["violations"]["examples"][0]["session_id"],
        VIOLATING
    );
    assert_eq!(
        report["unregistered_principals"][0]["principal"],
        "svc-gsheets-export"
    );
    // Recorded, citing the sessions the report names.
    assert_eq!(f.server.tree_size(), size + 1);
    let rec = stored_at(f.server.dir(), size);
    let rec = &rec["body"]["access"];
    assert_eq!(rec["read"], "assess");
    let cited = rec["returned"]["sessions"].as_array().expect("sessions");
    assert!(cited.contains(&json!(VIOLATING)), "{rec}");
    assert!(cited.contains(&json!("sess-47892-renewals")), "{rec}");

    // Markdown.
    let r = f
        .server
        .send(get("/api/v1/assess?format=md").bearer(&f.read))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(
        r.header(header::CONTENT_TYPE),
        Some("text/markdown; charset=utf-8")
    );
    assert_eq!(r.header(header::CACHE_CONTROL), Some("no-store"));
    let md = r.text();
    assert!(md.starts_with("# "), "{md}");
    assert!(md.contains(&format!("**{SENTENCE}**")), "{md}");
    assert!(md.contains("`no-payroll`"), "{md}");

    // HTML: a page under its CSP, with no script.
    let r = f
        .server
        .send(get("/api/v1/assess?format=html").bearer(&f.read))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(
        r.header(header::CONTENT_TYPE),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        r.header(header::CONTENT_SECURITY_POLICY),
        Some(agentrail_index::assess::CSP)
    );
    assert_eq!(r.header(header::CACHE_CONTROL), Some("no-store"));
    let html = r.text();
    assert!(
        html.to_ascii_lowercase().starts_with("<!doctype html>"),
        "{html}"
    );
    assert!(!html.to_ascii_lowercase().contains("<script"), "{html}");
    assert!(html.contains("no-payroll"));
    assert!(html.contains("sheets-export"));

    // Another format, or a time that does not parse: 400 naming the parameter, not recorded.
    let size = f.server.tree_size();
    for (uri, names) in [
        ("/api/v1/assess?format=pdf", "format"),
        ("/api/v1/assess?from=yesterday", "from"),
        ("/api/v1/assess?to=2026-13-01T00:00:00Z", "to"),
        ("/api/v1/assess?period=all", "period"),
    ] {
        let r = f
            .server
            .send(get(uri).bearer(&f.read))
            .await
            .expect_error(StatusCode::BAD_REQUEST, "bad_request");
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .expect("message")
                .starts_with(names),
            "{uri}: {}",
            r.text()
        );
    }
    assert_eq!(f.server.tree_size(), size);
    f.server.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn assess_counts_only_the_sessions_that_started_in_the_period() {
    let f = gov(Files::example(), true).await;

    // A period with no event: every registered agent has no evidence, and no agent or
    // principal was discovered in it.
    let report = f.get_json("/api/v1/assess?from=2027-01-01T00:00:00Z").await;
    assert_eq!(
        report["period"],
        json!({"from": "2027-01-01T00:00:00Z", "to": null})
    );
    let agents = by_id(&report);
    assert_eq!(agents.len(), 5, "only the registered agents: {report}");
    assert_eq!(report["unregistered_principals"], json!([]));
    for (id, a) in &agents {
        assert_eq!(a["sessions"], 0, "{id}");
        assert_eq!(a["coverage"], "none", "{id}");
        for layer in ["intent", "scope", "decision_trace", "outcome"] {
            assert_eq!(a["layers"][layer]["score"], "no", "{id} {layer}");
            assert_eq!(
                a["layers"][layer]["reason"], "no evidence in the period",
                "{id} {layer}"
            );
        }
    }
    assert_eq!(report["summary"]["none"], 5);
    assert_eq!(report["summary"]["violations"], 0);

    // One day: the one nightly run that started in it, without the violation of the 24th.
    let report = f
        .get_json("/api/v1/assess?from=2026-11-22T00:00:00Z&to=2026-11-23T00:00:00Z")
        .await;
    let agents = by_id(&report);
    let nightly = &agents["nightly-usage-sync"];
    assert_eq!(nightly["sessions"], 1);
    assert_eq!(nightly["violations"]["count"], 0);
    assert_eq!(
        nightly["layers"]["intent"]["examples"],
        json!(["sess-nightly-2026-11-22"])
    );
    for id in ["renewal-drafter", "support-triage"] {
        assert_eq!(agents[id]["sessions"], 0, "{id}");
    }
    // sheets-export (unregistered) ran on the 21st only: not in scope that day.
    assert!(!agents.contains_key("sheets-export"), "{report}");
    // `to` is exclusive: a period ending as the 24th's run starts leaves it out.
    let report = f
        .get_json("/api/v1/assess?from=2026-11-24T00:00:00Z&to=2026-11-24T02:00:00Z")
        .await;
    assert_eq!(by_id(&report)["nightly-usage-sync"]["sessions"], 0);
    f.server.finish().await;
}

// ---------------------------------------------------------------------------------------------
// 6. Scope violations in the session reads
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn session_reads_show_scope_violations() {
    let f = gov(Files::example(), true).await;
    let h = example_hash();
    let ids = |page: &Value| -> Vec<String> {
        page["sessions"]
            .as_array()
            .expect("sessions")
            .iter()
            .map(|s| s["session_id"].as_str().expect("id").to_string())
            .collect()
    };

    let page = f.get_json("/api/v1/sessions?violation=true").await;
    assert_eq!(ids(&page), [VIOLATING]);
    assert_eq!(page["sessions"][0]["violation"], true);
    assert_eq!(
        page["sessions"][0]["violation_policies"],
        json!(["no-payroll"])
    );
    let mut rest = ids(&f.get_json("/api/v1/sessions?violation=false").await);
    rest.sort();
    assert_eq!(
        rest,
        [
            "sess-47892-renewals",
            "sess-nightly-2026-11-22",
            "sess-nightly-2026-11-23",
            "sess-sheets-1121",
            "sess-triage-88121"
        ]
    );

    let view = f.get_json(&format!("/api/v1/sessions/{VIOLATING}")).await;
    let scope = view["scope"].as_array().expect("scope");
    let item = |id: &str| -> &Value {
        scope
            .iter()
            .find(|e| e["event"]["event_id"] == id)
            .unwrap_or_else(|| panic!("no {id} in {view}"))
    };
    let denied = item(PAYROLL_READ);
    let leaf = denied["leaf_index"].clone();
    let expected = verdict("deny", &["no-payroll"], &h);
    assert_eq!(denied["policy"], expected);
    let mut violation = expected.clone();
    violation["leaf_index"] = leaf;
    violation["event_id"] = PAYROLL_READ.into();
    assert_eq!(view["violations"], json!([violation]));
    assert_eq!(item("nj-1124-002")["policy"]["decision"], "allow");
    assert_eq!(
        item("nj-1124-002")["policy"]["policies"],
        json!(["billing-sync-scope"])
    );
    assert_eq!(
        view["intent"][0]["policy"]["policies"],
        json!(["billing-sync-schedule"])
    );
    assert_eq!(view["session"]["violation"], true);

    let clean = f.get_json("/api/v1/sessions/sess-nightly-2026-11-23").await;
    assert_eq!(clean["violations"], json!([]));
    f.server.finish().await;
}

/// The answer to a question is the decision the index keeps for the same event: both judge the
/// canonical form, in which `5000.0` is `5000`.
#[tokio::test(flavor = "multi_thread")]
async fn authorize_answers_as_the_index_judges_the_stored_event() {
    let files = Files::example();
    files.write(
        BASE,
        &format!(
            "{}\n@id(\"bulk\")\nforbid (principal, action == Action::\"read\", resource)\n\
             when {{ context has count && context.count > 1000 }};\n",
            POLICIES[0].1
        ),
    );
    let f = gov(files, false).await;
    let mut event = crm_read("renewal-drafter", "s-bulk");
    event["action"]["count"] = json!(5000.0);
    event["event_id"] = json!("bulk-1");
    let answer = f
        .server
        .send(post("/api/v1/authorize").json(&event).bearer(&f.ingest))
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(answer["decision"], "deny", "{answer}");
    assert_eq!(answer["policies"], json!(["bulk"]), "{answer}");
    f.server
        .post_events(Some(&f.ingest), &json!([event]))
        .await
        .expect_status(StatusCode::OK);
    let session = f.get_json("/api/v1/sessions/s-bulk").await;
    let stored = &session["scope"][0]["policy"];
    assert_eq!(stored["decision"], answer["decision"], "{session}");
    assert_eq!(stored["policies"], answer["policies"], "{session}");
    f.server.finish().await;
}
