//! Governance endpoints: the inventory, discovery of unregistered agents and principals, the
//! gap assessment, and `POST /api/v1/authorize`, which lets an agent ask the scope policies
//! before it acts. Reads are audited like every read of agent data; an authorization question
//! and its answer are recorded as an `agentrail.authorize` record before the answer is sent.

use crate::auth::Role;
use crate::error::ApiError;
use crate::ingest::Checked;
use crate::read::{json_answer, path_param, private, Params, ReadMeta, Returned};
use crate::AppState;
use agentrail_core::event::ValidEvent;
use agentrail_core::timefmt;
use agentrail_index::assess::{self, Period};
use agentrail_index::{extract, Session};
use agentrail_policy::{Decision, Verdict};
use agentrail_store::ledger::{appended_leaves, internal_events};
use agentrail_store::prepare;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use serde_json::{json, Value};

/// `GET /api/v1/agents`: the inventory in force, as last recorded in the ledger.
pub async fn list_agents(
    State(st): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let caller = st.auth.authorize(&headers, Role::Read)?;
    Params::parse(&uri, &[])?;
    let meta = ReadMeta::new(caller, "agents", None, &uri);
    let state = st.inventory.state();
    let answer = st
        .audited(meta, move |_, _| {
            let mut inv = state.inventory.to_json();
            inv["policy_set_hash"] = state.policies.hash().into();
            inv["policy_ids"] = json!(state.policies.ids());
            Ok((inv, Returned::default()))
        })
        .await?;
    Ok(json_answer(&answer))
}

/// `GET /api/v1/agents/{id}`: one agent, registered or only seen in events, with what the
/// index knows of it.
pub async fn get_agent(
    State(st): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let caller = st.auth.authorize(&headers, Role::Read)?;
    let id = path_param(id, "agent id")?;
    Params::parse(&uri, &[])?;
    st.index_level().await?;
    let meta = ReadMeta::new(caller, "agent", Some(id.clone()), &uri);
    let state = st.inventory.state();
    let answer = st
        .audited(meta, move |_, conn| {
            let (index, _) = conn.with_index()?;
            let seen = index.actor("agent", &id)?;
            let entry = state.inventory.get(&id);
            if entry.is_none() && seen.is_none() {
                return Err(ApiError::NotFound(format!(
                    "no agent {id:?} in the inventory or in any event"
                )));
            }
            let answer = json!({
                "id": id,
                "registered": entry.is_some(),
                "entry": entry.map(|e| serde_json::to_value(e).unwrap_or(Value::Null)),
                "seen": seen,
            });
            Ok((answer, Returned::default()))
        })
        .await?;
    Ok(json_answer(&answer))
}

/// `GET /api/v1/discover`: agent ids and principals seen in agent events that the inventory
/// does not register.
pub async fn discover(
    State(st): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let caller = st.auth.authorize(&headers, Role::Read)?;
    Params::parse(&uri, &[])?;
    st.index_level().await?;
    let meta = ReadMeta::new(caller, "discover", None, &uri);
    let state = st.inventory.state();
    let answer = st
        .audited(meta, move |_, conn| {
            let (index, _) = conn.with_index()?;
            let found = index.discover(&state.inventory)?;
            Ok((json!(found), Returned::default()))
        })
        .await?;
    Ok(json_answer(&answer))
}

/// `GET /api/v1/assess?from=&to=&format=json|md|html`: the gap assessment.
pub async fn assess(
    State(st): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let caller = st.auth.authorize(&headers, Role::Read)?;
    let params = Params::parse(&uri, &["from", "to", "format"])?;
    let format = params.get("format").unwrap_or("json").to_string();
    if !matches!(format.as_str(), "json" | "md" | "html") {
        return Err(ApiError::BadRequest(format!(
            "format: must be json, md or html, not {format:?}"
        )));
    }
    let period = Period {
        from: params.get("from").map(str::to_string),
        to: params.get("to").map(str::to_string),
    };
    st.index_level().await?;
    let meta = ReadMeta::new(caller, "assess", None, &uri);
    let state = st.inventory.state();
    let now = timefmt::format_unix_nanos(st.clock.now_unix_nanos())
        .map_err(|e| ApiError::Internal(format!("the clock is out of range: {e}")))?;
    let report = st
        .audited(meta, move |_, conn| {
            let (index, ledger) = conn.with_index()?;
            let report = assess::gather::report(index, ledger, &state, period, &now)?;
            let returned = Returned {
                sessions: report.cited_sessions(),
                events: 0,
            };
            Ok((report, returned))
        })
        .await?;
    Ok(match format.as_str() {
        "md" => private("text/markdown; charset=utf-8", report.to_markdown()),
        "html" => {
            let mut r = private("text/html; charset=utf-8", report.to_html());
            if let Ok(v) = axum::http::HeaderValue::from_str(assess::CSP) {
                r.headers_mut()
                    .insert(axum::http::header::CONTENT_SECURITY_POLICY, v);
            }
            r
        }
        _ => json_answer(&report.to_json()),
    })
}

/// `POST /api/v1/admin/inventory/reload`: loads the inventory file now and records what
/// changed (the server also does this on its own within a second of a change).
pub async fn reload(
    State(st): State<AppState>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, ApiError> {
    let caller = st.auth.authorize(&headers, Role::Admin)?;
    let Some(path) = st.inventory.path().map(|p| p.display().to_string()) else {
        return Err(ApiError::BadRequest(
            "this server was started without an inventory (agentrail serve --agents FILE)".into(),
        ));
    };
    let synced = st.inventory.reload(&st, &caller.label(), false).await?;
    Ok(axum::Json(json!({
        "path": path,
        "found": synced.found,
        "recorded": synced.leaves,
        "changes": synced.summary,
        "policy_set_hash": st.inventory.with_state(|s| s.policies.hash().to_string()),
    })))
}

/// `POST /api/v1/authorize`: an event the agent is about to send (an `action` or a
/// `session.start`; `ts` may be left out), judged by the scope policies in force. The question
/// and the answer are recorded as an `agentrail.authorize` record; the answer is sent only once
/// that record is durable.
pub async fn authorize(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<axum::Json<Value>, ApiError> {
    let caller = st.auth.authorize(&headers, Role::Ingest)?;
    if crate::body::media_type(&headers).as_deref() != Some("application/json") {
        return Err(ApiError::UnsupportedMediaType(
            "send the event you are about to record as application/json".into(),
        ));
    }
    // A place among the requests in flight before anything is read, as for ingest.
    let _permit = st.admit()?;
    let bytes = crate::body::read(&headers, body, &st.limits).await?;
    // The question is recorded: it is held to the size of one event.
    if bytes.len() > st.limits.max_event_bytes {
        return Err(ApiError::TooLarge(format!(
            "the question is {} bytes; one event may be at most {} (--max-event-bytes)",
            bytes.len(),
            st.limits.max_event_bytes
        )));
    }
    // The session's intent comes from the index: let it hold what was committed before.
    st.index_level().await?;
    let now = timefmt::format_unix_nanos(st.clock.now_unix_nanos())
        .map_err(|e| ApiError::Internal(format!("the clock is out of range: {e}")))?;
    let state = st.clone();
    let by = caller.label();
    let key_id = caller.key_id.clone();
    let (record, answer) = st
        .on_read_conn(move |conn| {
            let mut value = agentrail_core::json::parse_strict(&bytes)
                .map_err(|e| ApiError::BadRequest(format!("the body is not JSON: {e}")))?;
            let Value::Object(obj) = &mut value else {
                return Err(ApiError::BadRequest(
                    "the body must be one event as a JSON object".into(),
                ));
            };
            obj.entry("ts").or_insert_with(|| now.clone().into());
            let ev = match state.check_value(&caller, value) {
                Checked::Valid(ev) => ev,
                Checked::Rejected { error, .. } => {
                    return Err(ApiError::BadRequest(format!(
                        "{}: {} ({})",
                        error.field,
                        error.message,
                        error.code.as_str()
                    )))
                }
            };
            if ev.kind != "action" && ev.kind != "session.start" {
                return Err(ApiError::BadRequest(format!(
                    "kind: scope policies judge action and session.start events, not {:?}",
                    ev.kind
                )));
            }
            let header = json!({
                "event_id": ev.event_id, "session_id": ev.session_id, "agent_id": ev.agent_id,
                "kind": ev.kind, "ts": ev.ts, "principal": ev.principal,
            })
            .to_string();
            // Judged in the canonical form the ledger would store (`5000.0` is `5000` there), so
            // the answer is the decision the index will keep for the same event.
            let body = agentrail_core::json::canonicalize(&Value::Object(ev.body.clone()))
                .map_err(|e| ApiError::Internal(format!("canonicalizing the question: {e}")))?;
            let h = extract::header(header.as_bytes())
                .map_err(|e| ApiError::Internal(format!("re-reading the question: {e}")))?;
            let b = extract::body(Some(&body))
                .map_err(|e| ApiError::Internal(format!("re-reading the question: {e}")))?;
            let (index, _) = conn.with_index()?;
            let ts = agentrail_index::session::sortable(&h.ts);
            let mut session = index
                .session(&ev.session_id)?
                .unwrap_or_else(|| Session::new(u64::MAX, &h, &ts));
            session.apply(u64::MAX, &h, &b, &ts);
            let verdict = state.inventory.with_state(|s| {
                agentrail_index::policy::evaluate(s, &h, &b, &session).unwrap_or_else(|| Verdict {
                    decision: Decision::NoPolicy,
                    policies: Vec::new(),
                    errors: Vec::new(),
                    policy_set_hash: s.policies.hash().to_string(),
                })
            });
            let question = question_json(&ev);
            let mut record = json!({
                "by": by,
                "question": question,
                "answer": verdict.to_json(),
            });
            if let Some(k) = key_id {
                record["key_id"] = k.into();
            }
            Ok((record, verdict.to_json()))
        })
        .await?;
    let events = internal_events(&[("agentrail.authorize", record)], st.clock.as_ref())
        .map_err(ApiError::from)?;
    let batch = prepare(&events, "api", st.clock.as_ref())?;
    let leaves = appended_leaves(st.commit(batch).await?, 1).map_err(ApiError::from)?;
    let mut answer = answer;
    answer["recorded"] = json!({"leaf_index": leaves[0]});
    Ok(axum::Json(answer))
}

/// The question as recorded: the event as the agent would send it. A derived event id is left
/// out (it is not the agent's); one the agent chose is kept, so the question can be matched
/// with the event it later records.
fn question_json(ev: &ValidEvent) -> Value {
    let mut q = ev.body.clone();
    if !ev.event_id_derived {
        q.insert("event_id".into(), ev.event_id.clone().into());
    }
    q.insert("session_id".into(), ev.session_id.clone().into());
    q.insert("agent_id".into(), ev.agent_id.clone().into());
    q.insert("kind".into(), ev.kind.clone().into());
    q.insert("ts".into(), ev.ts.clone().into());
    for (k, v) in [
        ("principal", &ev.principal),
        ("trace_id", &ev.trace_id),
        ("span_id", &ev.span_id),
        ("parent_span_id", &ev.parent_span_id),
    ] {
        if let Some(v) = v {
            q.insert(k.into(), v.clone().into());
        }
    }
    Value::Object(q)
}
