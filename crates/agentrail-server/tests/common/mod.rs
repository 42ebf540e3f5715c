//! The harness of the HTTP tests: a collector on a real ledger in a temporary directory, driven
//! through `agentrail_server::router` without sockets, and torn down into a store that must
//! verify. Every test ends in [`Server::finish`], so every test ends with a verifiable log whose
//! latest checkpoint covers every leaf.
#![allow(dead_code)] // each test binary uses its own part of the harness

use agentrail_server::redact::Redactor;
use agentrail_server::serve::{build_state, load_redactor, Background, ServeOptions};
use agentrail_server::{router, AppState};
use agentrail_store::backend::{ApiKeyRow, Backend, LeafRow};
use agentrail_store::clock::SystemClock;
use agentrail_store::ledger::open_read;
use agentrail_store::verify::{verify, VerifyOptions};
use agentrail_store::{InitOptions, Ledger, ReadLedger};
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

/// The local admin token tests hand to `build_state` (what `serve` writes to `server.json`).
pub const LOCAL_ADMIN: &str = "local_test_admin_token";

/// How long a test waits for something that must happen (never a pass/fail timing).
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A collector over a fresh ledger.
pub struct Server {
    pub state: AppState,
    background: Background,
    dir: tempfile::TempDir,
}

impl Server {
    /// Open (no keys), with the local admin token.
    pub fn start(opts: ServeOptions) -> Server {
        Server::with_keys(opts, Vec::new())
    }

    /// With these key rows known to the server (they need not be in the ledger).
    pub fn with_keys(opts: ServeOptions, keys: Vec<ApiKeyRow>) -> Server {
        Server::build(opts, keys, &[], |_| ()).0
    }

    /// As `serve` starts: keys created in the ledger first (`agentrail api-keys create`), then
    /// every stored key handed to the server. Returns the server and (key text, id) per role.
    pub fn with_stored_keys(opts: ServeOptions, roles: &[&str]) -> (Server, Vec<(String, String)>) {
        Server::build(opts, Vec::new(), roles, |_| ())
    }

    /// [`Server::with_stored_keys`], with `prepare` run on the data directory just before the
    /// server starts.
    pub fn with_stored_keys_and(
        opts: ServeOptions,
        roles: &[&str],
        prepare: impl FnOnce(&Path),
    ) -> (Server, Vec<(String, String)>) {
        Server::build(opts, Vec::new(), roles, prepare)
    }

    fn build(
        opts: ServeOptions,
        mut keys: Vec<ApiKeyRow>,
        stored_roles: &[&str],
        prepare: impl FnOnce(&Path),
    ) -> (Server, Vec<(String, String)>) {
        let dir = tempfile::tempdir().expect("creating a temporary directory");
        Ledger::init(
            dir.path(),
            &InitOptions {
                origin: Some("test.example/agentrail/http".into()),
                publish: None,
            },
            &SystemClock,
        )
        .expect("init");
        let mut ledger = Ledger::open(dir.path(), "test", Arc::new(SystemClock)).expect("open");
        let mut created = Vec::new();
        for role in stored_roles {
            let (text, row) = ledger
                .create_api_key(role, None, "stored", "cli")
                .expect("creating a key");
            created.push((text, row.id));
        }
        if !stored_roles.is_empty() {
            keys.extend(ledger.api_keys().expect("reading the keys"));
        }
        let redactor = load_redactor(dir.path(), None).expect("redaction policy");
        prepare(dir.path());
        let (state, background) = build_state(
            dir.path(),
            ledger,
            Arc::new(redactor),
            keys,
            Some(LOCAL_ADMIN.into()),
            &opts,
        )
        .expect("starting the writer and the indexer");
        (
            Server {
                state,
                background,
                dir,
            },
            created,
        )
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The redactor of this log (same key), to compute expected replacements.
    pub fn redactor(&self) -> Redactor {
        load_redactor(self.dir.path(), None).expect("redaction policy")
    }

    /// One request through a fresh router over this state.
    pub async fn send(&self, req: Req) -> Reply {
        send_to(self.state.clone(), req).await
    }

    /// Posts events as a JSON array, with an optional key.
    pub async fn post_events(&self, key: Option<&str>, events: &Value) -> Reply {
        self.send(post("/api/v1/events").json(events).bearer_opt(key))
            .await
    }

    /// Creates a key through the admin API; returns (key text, key id).
    pub async fn create_key(
        &self,
        auth: Option<&str>,
        role: &str,
        agent: Option<&str>,
    ) -> (String, String) {
        let mut body = json!({"role": role, "name": format!("test {role}")});
        if let Some(a) = agent {
            body["agent"] = a.into();
        }
        let r = self
            .send(
                post("/api/v1/admin/api-keys")
                    .json(&body)
                    .bearer(auth.unwrap_or(LOCAL_ADMIN)),
            )
            .await
            .expect_status(StatusCode::OK);
        let v = r.json();
        (
            v["key"].as_str().expect("key").to_string(),
            v["id"].as_str().expect("id").to_string(),
        )
    }

    /// The Prometheus text, read with the local admin token.
    pub async fn metrics(&self) -> String {
        self.send(get("/metrics").bearer(LOCAL_ADMIN))
            .await
            .expect_status(StatusCode::OK)
            .text()
    }

    pub fn tree_size(&self) -> u64 {
        self.state.writer.tree_size()
    }

    /// Drops the state, stops the indexer, joins the writer (which commits what is queued and
    /// signs a final checkpoint), and verifies the store.
    pub async fn finish(self) -> Store {
        let Server {
            state,
            background,
            dir,
        } = self;
        drop(state);
        let joined = tokio::time::timeout(
            PATIENCE,
            tokio::task::spawn_blocking(move || background.join()),
        )
        .await
        .expect("the writer did not stop: a clone of the state is still alive")
        .expect("joining the writer");
        drop(joined.expect("the writer thread panicked"));
        let store = Store { dir };
        let report = verify(
            store.backend().as_mut(),
            &VerifyOptions {
                chunk: 64,
                ..VerifyOptions::default()
            },
        )
        .expect("verify ran");
        assert!(
            report.ok(),
            "the log does not verify: {:?}",
            report.problems
        );
        assert_eq!(
            report.uncovered(),
            0,
            "the final checkpoint does not cover every leaf"
        );
        store
    }
}

/// Sends `req` through `router(state)` and collects the whole response.
pub async fn send_to(state: AppState, req: Req) -> Reply {
    let resp = router(state)
        .oneshot(req.build())
        .await
        .expect("the router is infallible");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .expect("reading the response body")
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

/// The store after the server stopped.
pub struct Store {
    dir: tempfile::TempDir,
}

impl Store {
    pub fn backend(&self) -> Box<dyn Backend> {
        open_read(self.dir.path()).expect("open_read")
    }

    pub fn size(&self) -> u64 {
        self.backend().leaf_count().expect("leaf_count")
    }

    /// The stored event's canonical bytes as text, or `None` when no event has this id.
    pub fn event_text(&self, id: &str) -> Option<String> {
        let mut b = self.backend();
        let mut r = ReadLedger::new(b.as_mut());
        let ev = r.event(id).ok()?;
        let bytes = ev.event_bytes().expect("the body is not erased");
        Some(String::from_utf8(bytes).expect("canonical bytes are UTF-8"))
    }

    /// The stored event, parsed.
    pub fn event(&self, id: &str) -> Value {
        let text = self
            .event_text(id)
            .unwrap_or_else(|| panic!("no stored event {id:?}"));
        serde_json::from_str(&text).expect("stored bytes are JSON")
    }

    pub fn leaves(&self) -> Vec<LeafRow> {
        self.backend().leaves(0, 1_000_000).expect("leaves")
    }

    /// Every stored event of `kind`, parsed, in leaf order.
    pub fn events_of_kind(&self, kind: &str) -> Vec<Value> {
        self.leaves()
            .into_iter()
            .filter(|l| l.kind == kind)
            .map(|l| self.event(&l.event_id))
            .collect()
    }
}

/// A request being built.
pub struct Req {
    method: Method,
    uri: String,
    headers: Vec<(HeaderName, String)>,
    body: Vec<u8>,
}

pub fn get(uri: &str) -> Req {
    Req::new(Method::GET, uri)
}

pub fn post(uri: &str) -> Req {
    Req::new(Method::POST, uri)
}

pub fn delete(uri: &str) -> Req {
    Req::new(Method::DELETE, uri)
}

impl Req {
    fn new(method: Method, uri: &str) -> Req {
        Req {
            method,
            uri: uri.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn header(mut self, name: HeaderName, value: &str) -> Req {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(self, content_type: &str, body: impl Into<Vec<u8>>) -> Req {
        let mut r = self.header(header::CONTENT_TYPE, content_type);
        r.body = body.into();
        r
    }

    pub fn json(self, v: &Value) -> Req {
        self.body("application/json", v.to_string())
    }

    pub fn bearer(self, key: &str) -> Req {
        self.header(header::AUTHORIZATION, &format!("Bearer {key}"))
    }

    pub fn bearer_opt(self, key: Option<&str>) -> Req {
        match key {
            Some(k) => self.bearer(k),
            None => self,
        }
    }

    /// Compresses the body so far with gzip and says so.
    pub fn gzip(mut self) -> Req {
        self.body = gzip(&self.body);
        self.header(header::CONTENT_ENCODING, "gzip")
    }

    pub fn build(self) -> Request<Body> {
        let mut b = Request::builder().method(self.method).uri(self.uri);
        for (n, v) in self.headers {
            b = b.header(n, HeaderValue::from_str(&v).expect("header value"));
        }
        b.body(Body::from(self.body)).expect("request")
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

/// A whole response.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    #[track_caller]
    pub fn expect_status(self, status: StatusCode) -> Reply {
        assert_eq!(self.status, status, "response body: {}", self.text());
        self
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("the body is not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: HeaderName) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("header text"))
    }

    /// Asserts a whole-request error: this status and `{"error":{"code":CODE,"message":…}}`.
    #[track_caller]
    pub fn expect_error(self, status: StatusCode, code: &str) -> Reply {
        let r = self.expect_status(status);
        assert_eq!(
            r.header(header::CONTENT_TYPE),
            Some("application/json"),
            "an error body is JSON"
        );
        assert_json(&r.json(), &json!({"error": {"code": code, "message": ANY}}));
        r
    }
}

/// In an expected JSON value: any non-empty string.
pub const ANY: &str = "<any non-empty string>";

/// Asserts `actual` equals `expected`, where [`ANY`] in `expected` matches any non-empty string.
#[track_caller]
pub fn assert_json(actual: &Value, expected: &Value) {
    let masked = mask(actual, expected);
    assert_eq!(
        masked,
        *expected,
        "\nactual:   {}\nexpected: {}",
        serde_json::to_string_pretty(actual).unwrap_or_default(),
        serde_json::to_string_pretty(expected).unwrap_or_default()
    );
}

fn mask(actual: &Value, expected: &Value) -> Value {
    match (actual, expected) {
        (Value::String(s), Value::String(e)) if e == ANY && !s.is_empty() => {
            Value::String(ANY.into())
        }
        (Value::Object(a), Value::Object(e)) => Value::Object(
            a.iter()
                .map(|(k, v)| {
                    let v = match e.get(k) {
                        Some(ev) => mask(v, ev),
                        None => v.clone(),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        (Value::Array(a), Value::Array(e)) => Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, v)| match e.get(i) {
                    Some(ev) => mask(v, ev),
                    None => v.clone(),
                })
                .collect(),
        ),
        _ => actual.clone(),
    }
}

/// A valid `action` event of `agent`, with `id` as its `event_id` when given.
pub fn action(id: Option<&str>, agent: &str) -> Value {
    let mut ev = json!({
        "session_id": "sess-1",
        "agent_id": agent,
        "kind": "action",
        "ts": "2026-11-24T09:00:00Z",
        "action": {"type": "read", "system": "crm", "resource": "accounts/42", "status": "ok"},
    });
    if let Some(id) = id {
        ev["event_id"] = id.into();
    }
    ev
}

/// The accepted result of item `index`.
pub fn accepted(index: usize, id: &str, leaf: u64) -> Value {
    json!({"index": index, "event_id": id, "leaf_index": leaf, "duplicate": false})
}

/// The duplicate result of item `index`.
pub fn duplicate(index: usize, id: &str, leaf: u64) -> Value {
    json!({"index": index, "event_id": id, "leaf_index": leaf, "duplicate": true})
}

/// The rejected result of item `index`.
pub fn rejected(index: usize, id: Option<&str>, code: &str, field: &str) -> Value {
    json!({"index": index, "event_id": id, "error": {"code": code, "field": field, "message": ANY}})
}

/// The value of one sample line (`name` with its labels, exactly) in Prometheus text.
#[track_caller]
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {name} in:\n{text}"))
        .trim()
        .parse()
        .expect("a number")
}

/// Waits until `cond` holds (the condition is the test; the deadline only stops a hang).
pub async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Holds the one writer thread busy until released, so queued batches wait.
pub struct WriterBlock {
    release: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl WriterBlock {
    /// Returns once the writer thread is running the blocking job.
    pub fn new(state: &AppState) -> WriterBlock {
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (release, release_rx) = std::sync::mpsc::channel::<()>();
        let writer = state.writer.clone();
        let thread = std::thread::spawn(move || {
            writer
                .exec(move |_| {
                    let _ = started_tx.send(());
                    let _ = release_rx.recv();
                })
                .expect("the blocking job ran");
        });
        started_rx
            .recv_timeout(PATIENCE)
            .expect("the writer thread took the blocking job");
        WriterBlock { release, thread }
    }

    /// Lets the writer go on and waits for the blocking job to end.
    pub async fn release(self) {
        let _ = self.release.send(());
        tokio::task::spawn_blocking(move || self.thread.join())
            .await
            .expect("joining")
            .expect("the blocking thread panicked");
    }
}
