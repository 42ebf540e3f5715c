//! `POST /v1/traces`: OTLP/HTTP, binary protobuf or OTLP/JSON, optionally gzip. The response is
//! an `ExportTraceServiceResponse` in the request's encoding, with `partial_success` counting the
//! spans that were rejected and saying why.
//!
//! A span is accepted only as a whole: if any event it maps to is invalid, none of its events is
//! appended and the span is counted rejected.

use crate::auth::Role;
use crate::body;
use crate::error::ApiError;
use crate::ingest::Checked;
use crate::otlp::{self, ExportTracePartialSuccess, ExportTraceServiceResponse};
use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use prost::Message as _;
use std::sync::atomic::Ordering;

enum Encoding {
    Protobuf,
    Json,
}

/// The `google.rpc.Status` that OTLP/HTTP failure responses carry (code and message; details
/// are never sent).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// `POST /v1/traces`. Failures are answered as OTLP/HTTP asks: the HTTP status, with a
/// `google.rpc.Status` body in the request's encoding (and Retry-After where a retry helps).
pub async fn post_traces(State(st): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let json = matches!(
        body::media_type(&headers).as_deref(),
        Some("application/json")
    );
    match traces(st, headers, body).await {
        Ok(r) => r,
        Err(e) => {
            let mut generic = e.into_response();
            let status = generic.status();
            // The generic response already logged internal details and set the headers.
            let message = error_message(&mut generic)
                .await
                .unwrap_or_else(|| status.to_string());
            let code = grpc_code_for(status);
            let mut r = if json {
                axum::Json(serde_json::json!({"code": code, "message": message})).into_response()
            } else {
                let mut r = RpcStatus { code, message }.encode_to_vec().into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/x-protobuf"),
                );
                r
            };
            *r.status_mut() = status;
            for name in [header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
                if let Some(v) = generic.headers().get(&name) {
                    r.headers_mut().insert(name, v.clone());
                }
            }
            r
        }
    }
}

/// The gRPC status code for an HTTP status the endpoint answers.
fn grpc_code_for(status: axum::http::StatusCode) -> i32 {
    match status.as_u16() {
        400 | 413 | 415 => 3, // INVALID_ARGUMENT
        401 => 16,            // UNAUTHENTICATED
        403 => 7,             // PERMISSION_DENIED
        408 => 4,             // DEADLINE_EXCEEDED
        429 | 503 => 14,      // UNAVAILABLE
        _ => 13,              // INTERNAL
    }
}

/// The message of a generic JSON error response.
async fn error_message(r: &mut Response) -> Option<String> {
    let body = std::mem::take(r.body_mut());
    let bytes = axum::body::to_bytes(body, 64 << 10).await.ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v["error"]["message"].as_str().map(str::to_string)
}

async fn traces(st: AppState, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let caller = st.auth.authorize(&headers, Role::Ingest)?;
    let encoding = match body::media_type(&headers).as_deref() {
        Some("application/x-protobuf" | "application/protobuf") => Encoding::Protobuf,
        Some("application/json") => Encoding::Json,
        other => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "Content-Type {:?}: OTLP/HTTP takes application/x-protobuf or application/json",
                other.unwrap_or("(none)")
            )))
        }
    };
    let _permit = st.admit()?;
    let bytes = body::read(&headers, body, &st.limits).await?;
    let work = st.clone();
    let is_json = matches!(encoding, Encoding::Json);
    let (checked, span_of, batch, rejected, message) =
        tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
            let req = if is_json {
                otlp::decode_json(&bytes)
            } else {
                otlp::decode_protobuf(&bytes)
            }
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
            let (mapped, unmappable) = otlp::map_request(&req);
            let spans = mapped.len() + unmappable.len();
            work.metrics
                .spans_received
                .fetch_add(spans as u64, Ordering::Relaxed);
            if spans > work.limits.max_events_per_request {
                return Err(ApiError::TooLarge(format!(
                    "{spans} spans in one request; the limit is {}",
                    work.limits.max_events_per_request
                )));
            }
            let mut reasons: Vec<String> = unmappable
                .iter()
                .map(|u| format!("span {}:{}: {}", u.trace_id, u.span_id, u.reason))
                .collect();
            let mut rejected = unmappable.len() as i64;
            let mut checked = Vec::new();
            // For each checked event, the span it came from (to count conflicts per span).
            let mut span_of: Vec<usize> = Vec::new();
            for (ordinal, span) in mapped.into_iter().enumerate() {
                let events: Vec<Checked> = span
                    .events
                    .into_iter()
                    .map(|v| work.check_value(&caller, v))
                    .collect();
                let bad = events.iter().find_map(|c| match c {
                    Checked::Rejected { error, .. } => Some(error.clone()),
                    Checked::Valid(_) => None,
                });
                match bad {
                    Some(error) => {
                        rejected += 1;
                        // Every event of a rejected span is rejected: invalid ones by their
                        // code, the others with the span.
                        for c in &events {
                            match c {
                                Checked::Rejected { error, .. } => {
                                    work.metrics.rejected(error.code.as_str(), 1)
                                }
                                Checked::Valid(_) => work.metrics.rejected("span_rejected", 1),
                            }
                        }
                        reasons.push(format!("span {}:{}: {error}", span.trace_id, span.span_id));
                    }
                    None => {
                        span_of.extend(std::iter::repeat_n(ordinal, events.len()));
                        checked.extend(events);
                    }
                }
            }
            let batch = work.seal(&checked, "otlp")?;
            let message = summarize(&reasons);
            Ok((checked, span_of, batch, rejected, message))
        })
        .await
        .map_err(|e| ApiError::Internal(format!("OTLP task failed: {e}")))??;
    st.metrics
        .spans_rejected
        .fetch_add(rejected as u64, Ordering::Relaxed);
    let outcomes = st.commit(batch).await?;
    st.count(&checked, &outcomes);
    // A span whose events conflict with stored ones (re-sent with other content) is rejected
    // once, however many of its events conflict.
    let mut conflicting: Vec<usize> = outcomes
        .iter()
        .zip(&span_of)
        .filter(|(o, _)| matches!(o, agentrail_store::AppendOutcome::Conflict { .. }))
        .map(|(_, span)| *span)
        .collect();
    conflicting.dedup();
    let conflicts = conflicting.len() as i64;
    let mut response = ExportTraceServiceResponse::default();
    if rejected > 0 || conflicts > 0 {
        let mut message = message;
        if conflicts > 0 {
            if !message.is_empty() {
                message.push_str("; ");
            }
            message.push_str(&format!(
                "{conflicts} spans conflict with stored events of the same ids (spans re-sent with other content)"
            ));
        }
        response.partial_success = Some(ExportTracePartialSuccess {
            rejected_spans: rejected + conflicts,
            error_message: message,
        });
    }
    Ok(encode(&response, is_json))
}

/// The first few reasons, and how many more there were.
fn summarize(reasons: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut s = reasons
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if reasons.len() > SHOWN {
        s.push_str(&format!("; and {} more", reasons.len() - SHOWN));
    }
    s
}

fn encode(resp: &ExportTraceServiceResponse, json: bool) -> Response {
    if json {
        let body = match &resp.partial_success {
            Some(p) => serde_json::json!({"partialSuccess": {
                "rejectedSpans": p.rejected_spans.to_string(),
                "errorMessage": p.error_message,
            }}),
            None => serde_json::json!({}),
        };
        axum::Json(body).into_response()
    } else {
        let mut r = resp.encode_to_vec().into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        r
    }
}
