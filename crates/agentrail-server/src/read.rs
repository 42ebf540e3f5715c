//! Read endpoints: sessions, requests, resources, events, proofs, checkpoints and access
//! records. Role `read` (or `admin`).
//!
//! Every read that shows what agents did, or who read it, is audited: it appends one
//! `agentrail.access` record to the ledger, sealed on the blocking pool and group-committed by
//! the writer with other traffic, and the answer is sent only once that record is durable. If
//! it cannot be recorded, the read fails with 503 and nothing of the answer leaves the server.
//! The signed checkpoint and consistency proofs reveal no event content and are not audited.
//!
//! Reads that use the session index first wait (up to [`crate::pool::INDEX_WAIT`]) until the
//! index holds every leaf committed when the request arrived, so a client sees what it just
//! ingested.

use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::pool::ReadConn;
use crate::AppState;
use agentrail_core::{event, timefmt};
use agentrail_index::query::parse_limit;
use agentrail_index::view::{self, SessionView};
use agentrail_index::{Session, SessionFilter};
use agentrail_store::backend::{Backend, LeafRow};
use agentrail_store::ledger::SERVER_IDENTITY;
use agentrail_store::{prepare, AppendOutcome, LedgerError, ReadLedger};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use tokio::sync::oneshot;

/// How long a read waits for the writer to sign the checkpoint it needs before answering 503.
const CHECKPOINT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The longest path and query a read takes: both are copied into its access record.
pub const MAX_TARGET_BYTES: usize = 8192;

/// What one read was, for its `agentrail.access` record.
#[derive(Debug)]
pub(crate) struct ReadMeta {
    caller: Caller,
    /// `session`, `sessions`, `request`, `resource`, `event`, `proof` or `access`.
    read: &'static str,
    /// What was read: a session id, request id, resource or event id; `None` for lists.
    target: Option<String>,
    path: String,
    query: Option<String>,
}

/// What an answer showed, for the record: the sessions whose summary or events it showed, and
/// how many stored events it showed in whole or in part.
#[derive(Debug, Default)]
pub(crate) struct Returned {
    pub(crate) sessions: Vec<String>,
    pub(crate) events: u64,
}

impl ReadMeta {
    pub(crate) fn new(
        caller: Caller,
        read: &'static str,
        target: Option<String>,
        uri: &Uri,
    ) -> ReadMeta {
        ReadMeta {
            caller,
            read,
            target,
            path: uri.path().to_string(),
            query: uri.query().map(str::to_string),
        }
    }

    /// The record, as the index reads it (`by`, `key_id`, `read`, `target`).
    fn record(&self, returned: &Returned, nonce: &[u8]) -> Value {
        let mut r = Map::new();
        r.insert("by".into(), self.caller.label().into());
        if let Some(k) = &self.caller.key_id {
            r.insert("key_id".into(), k.clone().into());
        }
        r.insert("role".into(), self.caller.role.as_str().into());
        r.insert("read".into(), self.read.into());
        if let Some(t) = &self.target {
            r.insert("target".into(), t.clone().into());
        }
        r.insert("method".into(), "GET".into());
        r.insert("path".into(), self.path.clone().into());
        if let Some(q) = &self.query {
            r.insert("query".into(), q.clone().into());
        }
        r.insert(
            "returned".into(),
            json!({"sessions": returned.sessions, "events": returned.events}),
        );
        r.insert("nonce".into(), agentrail_core::hash::to_hex(nonce).into());
        Value::Object(r)
    }
}

/// The query parameters of a read, each at most once, each one the endpoint takes.
#[derive(Debug)]
pub(crate) struct Params(pub(crate) Vec<(String, String)>);

impl Params {
    pub(crate) fn parse(uri: &Uri, allowed: &[&str]) -> Result<Params, ApiError> {
        let len = uri.path().len() + uri.query().map_or(0, str::len);
        if len > MAX_TARGET_BYTES {
            return Err(ApiError::BadRequest(format!(
                "the path and query are {len} bytes; reads take at most {MAX_TARGET_BYTES}"
            )));
        }
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri).map_err(|e| {
            ApiError::BadRequest(format!(
                "the query string does not decode: {}",
                e.body_text()
            ))
        })?;
        let mut seen = HashSet::new();
        for (name, _) in &pairs {
            if !allowed.contains(&name.as_str()) {
                let takes = if allowed.is_empty() {
                    "this endpoint takes none".to_string()
                } else {
                    format!("this endpoint takes {}", allowed.join(", "))
                };
                return Err(ApiError::BadRequest(format!(
                    "{name}: unknown query parameter; {takes}"
                )));
            }
            if !seen.insert(name.as_str()) {
                return Err(ApiError::BadRequest(format!(
                    "{name}: given more than once"
                )));
            }
        }
        Ok(Params(pairs))
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn limit(&self) -> Result<Option<usize>, ApiError> {
        Ok(self.get("limit").map(parse_limit).transpose()?)
    }
}

pub(crate) fn path_param(
    p: Result<Path<String>, PathRejection>,
    what: &str,
) -> Result<String, ApiError> {
    let Path(v) = p.map_err(|e| ApiError::BadRequest(format!("{what}: {}", e.body_text())))?;
    if v.is_empty() {
        return Err(ApiError::BadRequest(format!("{what}: is empty")));
    }
    Ok(v)
}

/// An audited answer: not to be stored by caches, whose copies would be reads nobody recorded.
pub(crate) fn private(content_type: &'static str, body: impl IntoResponse) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

pub(crate) fn json_answer(v: &Value) -> Response {
    private("application/json", v.to_string())
}

pub(crate) const TEXT: &str = "text/plain; charset=utf-8";

/// Why a read could not be recorded, as the client is told.
fn unrecorded(reason: &str) -> ApiError {
    ApiError::Unavailable(format!(
        "this read could not be recorded in the log, so nothing is returned: {reason}; retry later"
    ))
}

impl AppState {
    /// Reads with `f` on a pooled connection, records the read, and returns the answer only
    /// once its `agentrail.access` record is durably committed.
    pub(crate) async fn audited<T: Send + 'static>(
        &self,
        meta: ReadMeta,
        f: impl FnOnce(&AppState, &mut ReadConn) -> Result<(T, Returned), ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let st = self.clone();
        if !self.audit_reads {
            return self
                .on_read_conn(move |conn| f(&st, conn).map(|(answer, _)| answer))
                .await;
        }
        // A lookup that finds nothing is recorded too: probing for ids is a read attempt an
        // auditor wants to see. Other errors (a bad argument, a broken index) read nothing.
        let (answer, committed) = self
            .on_read_conn(move |conn| {
                let (answer, returned) = match f(&st, conn) {
                    Ok((answer, returned)) => (Ok(answer), returned),
                    Err(ApiError::NotFound(m)) => (Err(ApiError::NotFound(m)), Returned::default()),
                    Err(e) => return Err(e),
                };
                let committed = st.record_read(&meta, &returned)?;
                Ok((answer, committed))
            })
            .await?;
        match committed.await {
            Ok(Ok(out)) => match out.first() {
                Some(AppendOutcome::Appended { .. } | AppendOutcome::Duplicate { .. }) => answer,
                other => {
                    tracing::error!(outcome = ?other, "an access record was not appended");
                    Err(unrecorded(
                        "the record was not appended (see the server log)",
                    ))
                }
            },
            Ok(Err(e)) => Err(self.unrecorded_because(e)),
            Err(_) => Err(unrecorded("the server is shutting down")),
        }
    }

    /// Seals the access record of a read (on the calling blocking thread) and queues it on the
    /// writer; the receiver gets the commit's outcome.
    fn record_read(
        &self,
        meta: &ReadMeta,
        returned: &Returned,
    ) -> Result<oneshot::Receiver<Result<Vec<AppendOutcome>, LedgerError>>, ApiError> {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).map_err(|e| {
            tracing::error!(error = %e, "reading randomness for an access record");
            unrecorded("no randomness for the record (see the server log)")
        })?;
        let mut record = meta.record(returned, &nonce);
        self.redact_request_parts(&mut record);
        let ts = timefmt::format_unix_nanos(self.clock.now_unix_nanos()).map_err(|e| {
            tracing::error!(error = %e, "the clock is out of range for an access record");
            unrecorded("the clock is out of range (see the server log)")
        })?;
        let ev = event::internal_event(
            "agentrail.access",
            SERVER_IDENTITY,
            SERVER_IDENTITY,
            &ts,
            record,
        )
        .map_err(|e| {
            tracing::error!(error = %e, "building an access record");
            unrecorded("the record could not be built (see the server log)")
        })?;
        let batch =
            prepare(std::slice::from_ref(&ev), "api", self.clock.as_ref()).map_err(|e| {
                tracing::error!(error = %e, "sealing an access record");
                unrecorded("the record could not be sealed (see the server log)")
            })?;
        let (tx, rx) = oneshot::channel();
        self.writer
            .submit(
                batch,
                Box::new(move |r| {
                    let _ = tx.send(r);
                }),
            )
            .map_err(|e| self.unrecorded_because(e))?;
        Ok(rx)
    }

    /// The members of an access record that the client chose (`path`, `query`, `target`) are
    /// redacted like event values before the record is sealed: a secret sent in a URL is no more
    /// stored than one sent in an event.
    fn redact_request_parts(&self, record: &mut Value) {
        let Value::Object(r) = record else {
            return;
        };
        let parts: Map<String, Value> = ["path", "query", "target"]
            .iter()
            .filter_map(|k| r.remove(*k).map(|v| (k.to_string(), v)))
            .collect();
        let mut parts = Value::Object(parts);
        let n = self.redactor.redact_event(&mut parts);
        self.metrics
            .redactions
            .fetch_add(n as u64, Ordering::Relaxed);
        if let Value::Object(p) = parts {
            r.extend(p);
        }
    }

    fn unrecorded_because(&self, e: LedgerError) -> ApiError {
        match e {
            LedgerError::QueueFull => {
                self.metrics
                    .requests_refused_busy
                    .fetch_add(1, Ordering::Relaxed);
                unrecorded("the write queue is full")
            }
            LedgerError::WriterStopped => unrecorded("the server is shutting down"),
            other => {
                tracing::error!(error = %other, "an access record did not commit");
                unrecorded("the record did not commit (see the server log)")
            }
        }
    }

    /// Waits until the session index holds every client event committed now. The log's own
    /// records (the access records of earlier reads) change no session, so a reader does not
    /// wait for them.
    pub(crate) async fn index_level(&self) -> Result<(), ApiError> {
        self.reads
            .wait_indexed(self.writer.client_tree_size())
            .await
    }

    /// Waits until the session index holds every leaf committed now, access records included.
    pub(crate) async fn index_level_all(&self) -> Result<(), ApiError> {
        self.reads.wait_indexed(self.writer.tree_size()).await
    }
}

/// `GET /api/v1/sessions`: session summaries, newest first, filtered and paginated.
pub async fn list_sessions(
    State(st): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let caller = st.auth.authorize(&headers, Role::Read)?;
    let params = Params::parse(&uri, agentrail_index::query::FILTERS)?;
    let mut filter = SessionFilter::default();
    for (name, value) in &params.0 {
        filter.set(name, value.clone())?;
    }
    st.index_level().await?;
    let meta = ReadMeta::new(caller, "sessions", None, &uri);
    let answer = st
        .audited(meta, move |_, conn| {
            let (index, _) = conn.with_index()?;
            let page = index.sessions(&filter)?;
            let returned = Returned {
                sessions: page.items.iter().map(|s| s.session_id.clone()).collect(),
                events: 0,
            };
            let answer = json!({
                "sessions": page.items.iter().map(Session::to_json).collect::<Vec<_>>(),
                "next_cursor": page.next_cursor,
            });
            Ok((answer, returned))
        })
        .await?;
    Ok(json_answer(&answer))
}

/// `GET /api/v1/sessions/{id}`: the whole session, proven against a checkpoint that covers
/// every event shown.
pub async fn get_session(
    State(st): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let caller = st.auth.authorize(&headers, Role::Read)?;
    let id = path_param(id, "session id")?;
    let params = Params::parse(&uri, &["proofs"])?;
    let proofs = match params.get("proofs") {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "proofs: must be true or false, not {other:?}"
            )))
        }
    };
    st.index_level().await?;
    let meta = ReadMeta::new(caller, "session", Some(id.clone()), &uri);
    let answer = st
        .audited(meta, move |st, conn| {
            let view = session_view(st, conn, &id)?;
            let returned = Returned {
                sessions: vec![id],
                events: view.events.len() as u64,
            };
            Ok((view.to_json(proofs), returned))
        })
        .await?;
    Ok(json_answer(&answer))
}

/// Builds a session's view; first asks the writer for a checkpoint when the latest one does not
/// cover every event of the session.
fn session_view(st: &AppState, conn: &mut ReadConn, id: &str) -> Result<SessionView, ApiError> {
    let (index, ledger) = conn.with_index()?;
    let summary = index
        .session(id)?
        .ok_or_else(|| ApiError::NotFound(format!("no session with id {id:?}")))?;
    let covered = ReadLedger::new(ledger)
        .latest_checkpoint()?
        .map_or(0, |cp| cp.size);
    if covered <= summary.last_leaf {
        st.writer.checkpoint_within(CHECKPOINT_WAIT)?;
    }
    let mut v = view::build(index, ledger, id, Some(&st.verifier))?;
    if !v.integrity.not_covered.is_empty() {
        // Events of this session were committed while it was being read: cover them too.
        st.writer.checkpoint_within(CHECKPOINT_WAIT)?;
        v = view::build(index, ledger, id, Some(&st.verifier))?;
    }
    if !v.integrity.ok() {
        tracing::warn!(session = %id, problems = ?v.integrity.problems, "a session failed its integrity checks; run `agentrail verify`");
    }
    Ok(v)
}

/// `GET /api/v1/requests/{request_id}`: every session that served an external request id.
pub async fn get_request(
    State(st): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let caller = st.auth.authorize(&headers, Role::Read)?;
    let id = path_param(id, "request id")?;
    Params::parse(&uri, &[])?;
    st.index_level().await?;
    let meta = ReadMeta::new(caller, "request", Some(id.clone()), &uri);
    let answer = st
        .audited(meta, move |_, conn| {
            let (index, _) = conn.with_index()?;
            let found = index.sessions_for_request(&id)?;
            if found.is_empty() {
                return Err(ApiError::NotFound(format!(
                    "no session served request id {id:?}"
                )));
            }
            let returned = Returned {
                sessions: found.iter().map(|s| s.session_id.clone()).collect(),
                events: 0,
            };
            let answer = json!({
                "request_id": id,
                "sessions": found.iter().map(Session::to_json).collect::<Vec<_>>(),
            });
            Ok((answer, returned))
        })
        .await?;
    Ok(json_answer(&answer))
}

/// The members of an action or diff that say what it did to a resource.
const ACTION_MEMBERS: &[&str] = &["type", "system", "resource", "operation", "status"];
const DIFF_MEMBERS: &[&str] = &["system", "resource", "op"];

/// One event that touched a resource, read from the ledger's bytes: its header, and only the
/// members of its action or diff that say what it did (never its parameters or other ids).
fn touched(row: &LeafRow) -> Result<Value, ApiError> {
    let corrupt = |e: String| {
        ApiError::Internal(format!(
            "leaf {} does not read as an agentrail event ({e}); run `agentrail verify`",
            row.leaf_index
        ))
    };
    let h = event::parse_leaf(&row.leaf).map_err(|e| corrupt(e.to_string()))?;
    let mut item = json!({
        "leaf_index": row.leaf_index,
        "event_id": h.event_id,
        "session_id": h.session_id,
        "agent_id": h.agent_id,
        "kind": h.kind,
        "ts": h.ts,
    });
    let Some(body) = &row.body else {
        item["erased"] = Value::Bool(true);
        return Ok(item);
    };
    let body: Value = serde_json::from_slice(body).map_err(|e| corrupt(e.to_string()))?;
    for (key, members) in [("action", ACTION_MEMBERS), ("diff", DIFF_MEMBERS)] {
        if let Some(Value::Object(o)) = body.get(key) {
            let picked: Map<String, Value> = members
                .iter()
                .filter_map(|m| o.get(*m).map(|v| (m.to_string(), v.clone())))
                .collect();
            item[key] = Value::Object(picked);
        }
    }
    Ok(item)
}

/// The leaves at `indexes`, in that order; an index the ledger does not hold is the index's
/// fault.
fn leaves_at(ledger: &mut dyn Backend, indexes: &[u64]) -> Result<Vec<LeafRow>, ApiError> {
    let rows = ledger.leaves_at(indexes)?;
    if rows.len() != indexes.len() {
        return Err(ApiError::Internal(format!(
            "the session index names leaves the ledger does not hold (asked for {}, found {}); run `agentrail reindex`",
            indexes.len(),
            rows.len()
        )));
    }
    Ok(rows)
}

/// `GET /api/v1/resources?uri=...`: every event that touched a resource, across agents, newest
/// first, and the summaries of their sessions.
pub async fn get_resource(
    State(st): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let caller = st.auth.authorize(&headers, Role::Read)?;
    let params = Params::parse(&uri, &["uri", "from", "to", "limit", "cursor"])?;
    let resource = match params.get("uri") {
        Some(r) if !r.is_empty() => r.to_string(),
        _ => {
            return Err(ApiError::BadRequest(
                "uri: is required: the resource as events name it (an action's resource or one of its resource_ids, or a diff's resource)".into(),
            ))
        }
    };
    let limit = params.limit()?;
    let from = params.get("from").map(str::to_string);
    let to = params.get("to").map(str::to_string);
    let cursor = params.get("cursor").map(str::to_string);
    st.index_level().await?;
    let meta = ReadMeta::new(caller, "resource", Some(resource.clone()), &uri);
    let answer = st
        .audited(meta, move |_, conn| {
            let (index, ledger) = conn.with_index()?;
            let page = index.resource_refs(
                &resource,
                from.as_deref(),
                to.as_deref(),
                limit,
                cursor.as_deref(),
            )?;
            let indexes: Vec<u64> = page.items.iter().map(|r| r.leaf_index).collect();
            let events = leaves_at(ledger, &indexes)?
                .iter()
                .map(touched)
                .collect::<Result<Vec<_>, _>>()?;
            let mut ids: Vec<String> = Vec::new();
            for r in &page.items {
                if !ids.contains(&r.session_id) {
                    ids.push(r.session_id.clone());
                }
            }
            let sessions = index.sessions_by_id(&ids)?;
            let returned = Returned {
                sessions: ids,
                events: events.len() as u64,
            };
            let answer = json!({
                "uri": resource,
                "events": events,
                "sessions": sessions.iter().map(Session::to_json).collect::<Vec<_>>(),
                "next_cursor": page.next_cursor,
            });
            Ok((answer, returned))
        })
        .await?;
    Ok(json_answer(&answer))
}

/// `GET /api/v1/events/{id}`: the stored event's canonical bytes, verbatim.
pub async fn get_event(
    State(st): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let caller = st.auth.authorize(&headers, Role::Read)?;
    let id = path_param(id, "event id")?;
    Params::parse(&uri, &[])?;
    let meta = ReadMeta::new(caller, "event", Some(id.clone()), &uri);
    let bytes = st
        .audited(meta, move |_, conn| {
            let ev = ReadLedger::new(conn.ledger()).event(&id)?;
            if ev.row.body.is_none() {
                return Err(ApiError::NotFound(format!(
                    "the body of event {id:?} has been erased; only its leaf remains"
                )));
            }
            let bytes = ev.event_bytes().ok_or_else(|| {
                ApiError::Internal(format!(
                    "event {id:?} (leaf {}): its leaf and body do not make an event; run `agentrail verify`",
                    ev.row.leaf_index
                ))
            })?;
            let returned = Returned {
                sessions: vec![ev.row.session_id.clone()],
                events: 1,
            };
            Ok((bytes, returned))
        })
        .await?;
    Ok(private("application/json", bytes))
}

/// `GET /api/v1/events/{id}/proof`: the event's tlog-proof against the latest checkpoint,
/// signing one first when the latest does not cover the event.
pub async fn get_proof(
    State(st): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let caller = st.auth.authorize(&headers, Role::Read)?;
    let id = path_param(id, "event id")?;
    Params::parse(&uri, &[])?;
    let meta = ReadMeta::new(caller, "proof", Some(id.clone()), &uri);
    let text = st
        .audited(meta, move |st, conn| {
            let mut r = ReadLedger::new(conn.ledger());
            let leaf = r.event(&id)?.row.leaf_index;
            let cp = match r.latest_checkpoint()? {
                Some(cp) if cp.size > leaf => cp,
                _ => st.writer.checkpoint_within(CHECKPOINT_WAIT)?,
            };
            let proof = r.inclusion_proof(leaf, &cp)?;
            Ok((proof.to_text(), Returned::default()))
        })
        .await?;
    Ok(private(TEXT, text))
}

/// `GET /api/v1/access`: the `agentrail.access` records, newest first, as the ledger holds
/// them.
pub async fn list_access(
    State(st): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let caller = st.auth.authorize(&headers, Role::Read)?;
    let params = Params::parse(&uri, &["reader", "target", "read", "limit", "cursor"])?;
    let own = |name: &str| params.get(name).map(str::to_string);
    let filter = agentrail_index::query::AccessFilter {
        reader: own("reader"),
        target: own("target"),
        read: own("read"),
        limit: params.limit()?,
        cursor: own("cursor"),
    };
    st.index_level_all().await?;
    let meta = ReadMeta::new(caller, "access", None, &uri);
    let answer = st
        .audited(meta, move |_, conn| {
            let (index, ledger) = conn.with_index()?;
            let page = index.access(&filter)?;
            let indexes: Vec<u64> = page.items.iter().map(|a| a.leaf_index).collect();
            let records = leaves_at(ledger, &indexes)?
                .iter()
                .map(access_record)
                .collect::<Result<Vec<_>, _>>()?;
            let returned = Returned {
                sessions: Vec::new(),
                events: records.len() as u64,
            };
            Ok((
                json!({"access": records, "next_cursor": page.next_cursor}),
                returned,
            ))
        })
        .await?;
    Ok(json_answer(&answer))
}

/// One access record as the ledger holds it, with its place in the log.
fn access_record(row: &LeafRow) -> Result<Value, ApiError> {
    let not_access = |why: String| {
        ApiError::Internal(format!(
            "the session index lists leaf {} as an access record, but {why}; run `agentrail reindex`",
            row.leaf_index
        ))
    };
    let h = event::parse_leaf(&row.leaf).map_err(|e| not_access(e.to_string()))?;
    if h.kind != "agentrail.access" {
        return Err(not_access(format!("it is of kind {:?}", h.kind)));
    }
    let body = row
        .body
        .as_deref()
        .ok_or_else(|| not_access("its body is erased".into()))?;
    let mut body: Value = serde_json::from_slice(body)
        .map_err(|e| not_access(format!("its body is not JSON: {e}")))?;
    let Some(Value::Object(record)) = body.get_mut("access").map(Value::take) else {
        return Err(not_access("its body holds no access record".into()));
    };
    let mut out = Map::new();
    out.insert("leaf_index".into(), row.leaf_index.into());
    out.insert("event_id".into(), h.event_id.into());
    out.insert("ts".into(), h.ts.into());
    out.insert("record".into(), Value::Object(record));
    Ok(Value::Object(out))
}

/// `GET /api/v1/checkpoint`: the latest signed checkpoint, verbatim. Not audited: it reveals no
/// event content.
pub async fn get_checkpoint(
    State(st): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    st.auth.authorize(&headers, Role::Read)?;
    Params::parse(&uri, &[])?;
    let note = st
        .on_read_conn(|conn| {
            ReadLedger::new(conn.ledger())
                .latest_checkpoint()?
                .map(|cp| cp.note)
                .ok_or_else(|| {
                    ApiError::NotFound(
                        "no checkpoint has been signed yet; the server signs one within a second of the first commit".into(),
                    )
                })
        })
        .await?;
    Ok(([(header::CONTENT_TYPE, TEXT)], note).into_response())
}

/// `GET /api/v1/consistency?from=N&to=M`: the consistency proof between two checkpointed
/// sizes, one base64 hash per line. Not audited: it reveals no event content.
pub async fn get_consistency(
    State(st): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    st.auth.authorize(&headers, Role::Read)?;
    let params = Params::parse(&uri, &["from", "to"])?;
    let size = |name: &str| -> Result<Option<u64>, ApiError> {
        params
            .get(name)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    ApiError::BadRequest(format!(
                        "{name}: must be a tree size (a whole number), not {v:?}"
                    ))
                })
            })
            .transpose()
    };
    let from = size("from")?.ok_or_else(|| {
        ApiError::BadRequest("from: is required: the size of the older checkpoint".into())
    })?;
    let to = size("to")?;
    let text = st
        .on_read_conn(move |conn| {
            let mut r = ReadLedger::new(conn.ledger());
            let to = match to {
                Some(n) => n,
                None => {
                    r.latest_checkpoint()?
                        .ok_or_else(|| {
                            ApiError::NotFound("no checkpoint has been signed yet".into())
                        })?
                        .size
                }
            };
            if from > to {
                return Err(ApiError::BadRequest(format!(
                    "from: {from} is larger than to ({to}); a proof shows that a newer tree extends an older one"
                )));
            }
            for (name, size) in [("from", from), ("to", to)] {
                // Every tree is consistent with the empty one: size 0 needs no checkpoint.
                if size > 0 && r.backend().checkpoint_at(size)?.is_none() {
                    return Err(ApiError::BadRequest(format!(
                        "{name}: no checkpoint of size {size}; proofs are between checkpointed sizes"
                    )));
                }
            }
            let mut out = String::new();
            for h in r.consistency_proof(from, to)? {
                out.push_str(&h.to_base64());
                out.push('\n');
            }
            Ok(out)
        })
        .await?;
    Ok(([(header::CONTENT_TYPE, TEXT)], text).into_response())
}
