//! The shared ingest pipeline (redact, validate, bind to the caller's agent, seal, commit) and
//! the native endpoint `POST /api/v1/events`.
//!
//! A request is answered only after every accepted item is durably committed; one result per
//! input item, in order. Parsing, redaction, validation and sealing run on the blocking pool so
//! the async workers only move bytes.

use crate::auth::{Caller, Role};
use crate::body;
use crate::error::ApiError;
use crate::AppState;
use agentrail_core::event::{self, ErrorCode, EventError, ValidEvent};
use agentrail_core::json;
use agentrail_store::{prepare, AppendOutcome, Prepared};
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// One input item after checking.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every item is valid: boxing would add an allocation per accepted event"
)]
pub(crate) enum Checked {
    Valid(ValidEvent),
    Rejected {
        event_id: Option<String>,
        error: EventError,
    },
}

impl AppState {
    /// Redacts, validates and binds one parsed event to the caller.
    pub(crate) fn check_value(&self, caller: &Caller, mut value: Value) -> Checked {
        let event_id = value
            .get("event_id")
            .and_then(Value::as_str)
            .map(str::to_string);
        let n = self.redactor.redact_event(&mut value);
        self.metrics
            .redactions
            .fetch_add(n as u64, Ordering::Relaxed);
        let ev = match event::validate_client_event(value) {
            Ok(ev) => ev,
            Err(error) => return Checked::Rejected { event_id, error },
        };
        if let Some(bound) = &caller.agent {
            if &ev.agent_id != bound {
                return Checked::Rejected {
                    event_id: Some(ev.event_id),
                    error: EventError::new(
                        ErrorCode::ForbiddenAgent,
                        "agent_id",
                        format!(
                            "this key may only write events of agent {bound:?}, not {:?}",
                            ev.agent_id
                        ),
                    ),
                };
            }
        }
        Checked::Valid(ev)
    }

    /// Parses raw bytes as one event, then [`AppState::check_value`].
    pub(crate) fn check_raw(&self, caller: &Caller, raw: &[u8]) -> Checked {
        if raw.len() > self.limits.max_event_bytes {
            return Checked::Rejected {
                event_id: None,
                error: EventError::new(
                    ErrorCode::TooLarge,
                    "",
                    format!(
                        "the event is {} bytes; the limit is {}",
                        raw.len(),
                        self.limits.max_event_bytes
                    ),
                ),
            };
        }
        match json::parse_strict(raw) {
            Ok(v) => self.check_value(caller, v),
            Err(e) => Checked::Rejected {
                event_id: None,
                error: e.into(),
            },
        }
    }

    /// Queues a sealed batch and waits for its durable commit.
    pub(crate) async fn commit(&self, batch: Prepared) -> Result<Vec<AppendOutcome>, ApiError> {
        if batch.events.is_empty() {
            return Ok(Vec::new());
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let started = Instant::now();
        let submitted = self.writer.submit(
            batch,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        if let Err(e) = submitted {
            self.metrics
                .requests_refused_busy
                .fetch_add(1, Ordering::Relaxed);
            return Err(e.into());
        }
        let outcome = rx
            .await
            .map_err(|_| ApiError::Unavailable("the writer stopped; retry".into()))?
            .map_err(ApiError::from)?;
        self.metrics.commit_latency(started.elapsed());
        self.metrics.batches.fetch_add(1, Ordering::Relaxed);
        Ok(outcome)
    }

    /// Seals the valid events of `checked` (on the blocking pool) with `source`.
    pub(crate) fn seal(&self, checked: &[Checked], source: &str) -> Result<Prepared, ApiError> {
        let valid: Vec<&ValidEvent> = checked
            .iter()
            .filter_map(|c| match c {
                Checked::Valid(ev) => Some(ev),
                Checked::Rejected { .. } => None,
            })
            .collect();
        Ok(prepare(&valid, source, self.clock.as_ref())?)
    }

    /// Counts outcomes in the metrics.
    pub(crate) fn count(&self, checked: &[Checked], outcomes: &[AppendOutcome]) {
        for c in checked {
            if let Checked::Rejected { error, .. } = c {
                self.metrics.rejected(error.code.as_str(), 1);
            }
        }
        for o in outcomes {
            match o {
                AppendOutcome::Appended { .. } => {
                    self.metrics.events_accepted.fetch_add(1, Ordering::Relaxed);
                }
                AppendOutcome::Duplicate { .. } => {
                    self.metrics
                        .events_duplicate
                        .fetch_add(1, Ordering::Relaxed);
                }
                AppendOutcome::Conflict { .. } => self.metrics.rejected("conflict", 1),
            }
        }
    }
}

/// Splits a body into raw items: a JSON array's elements, or NDJSON's non-blank lines.
fn split_items(bytes: &[u8], ndjson: bool) -> Result<Vec<&[u8]>, ApiError> {
    if ndjson {
        return Ok(bytes
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .collect());
    }
    let items: Vec<&serde_json::value::RawValue> = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::BadRequest(format!(
            "the body is not a JSON array of events ({e}); send a JSON array, or NDJSON with Content-Type: application/x-ndjson"
        ))
    })?;
    Ok(items.into_iter().map(|r| r.get().as_bytes()).collect())
}

/// `POST /api/v1/events`: a JSON array, or NDJSON (`application/x-ndjson`), optionally gzip.
pub async fn post_events(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let caller = st.auth.authorize(&headers, Role::Ingest)?;
    let _permit = st.admit()?;
    let bytes = body::read(&headers, body, &st.limits).await?;
    // A declared JSON type is required: a web page can send text/plain cross-site without a
    // preflight, never application/json.
    let ndjson = match body::media_type(&headers).as_deref() {
        Some("application/x-ndjson" | "application/ndjson" | "application/jsonl") => true,
        Some("application/json") => false,
        other => {
            return Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type {:?}: send application/json (an array of events) or application/x-ndjson",
            other.unwrap_or("(none)")
        )))
        }
    };
    let work = st.clone();
    let (checked, batch) = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        let items = split_items(&bytes, ndjson)?;
        if items.len() > work.limits.max_events_per_request {
            return Err(ApiError::TooLarge(format!(
                "{} events in one request; the limit is {}",
                items.len(),
                work.limits.max_events_per_request
            )));
        }
        let checked: Vec<Checked> = items
            .iter()
            .map(|raw| work.check_raw(&caller, raw))
            .collect();
        let batch = work.seal(&checked, "api")?;
        Ok((checked, batch))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("ingest task failed: {e}")))??;
    let outcomes = st.commit(batch).await?;
    st.count(&checked, &outcomes);
    let mut outcomes = outcomes.into_iter();
    let mut results: Vec<Value> = Vec::with_capacity(checked.len());
    for (index, c) in checked.into_iter().enumerate() {
        results.push(match c {
            Checked::Rejected { event_id, error } => json!({
                "index": index,
                "event_id": event_id,
                "error": {"code": error.code.as_str(), "field": error.field, "message": error.message},
            }),
            Checked::Valid(ev) => match outcomes.next() {
                Some(AppendOutcome::Appended { leaf_index }) => json!({
                    "index": index, "event_id": ev.event_id, "leaf_index": leaf_index, "duplicate": false,
                }),
                Some(AppendOutcome::Duplicate { leaf_index }) => json!({
                    "index": index, "event_id": ev.event_id, "leaf_index": leaf_index, "duplicate": true,
                }),
                Some(AppendOutcome::Conflict { leaf_index }) => json!({
                    "index": index,
                    "event_id": ev.event_id,
                    "error": {
                        "code": "conflict",
                        "field": "event_id",
                        "message": format!("event {:?} is already stored at leaf {leaf_index} with different content", ev.event_id),
                    },
                }),
                // INVARIANT: the ledger answers one outcome per sealed event, in order.
                None => {
                    return Err(ApiError::Internal(format!(
                        "the ledger reported no outcome for item {index}"
                    )))
                }
            },
        });
    }
    Ok(Json(
        json!({ "results": results, "tree_size": st.writer.tree_size() }),
    ))
}
