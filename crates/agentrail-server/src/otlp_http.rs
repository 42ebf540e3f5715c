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

pub async fn post_traces(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
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
    let (checked, batch, rejected, message) =
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
            for span in mapped {
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
                        work.metrics.rejected(error.code.as_str(), 1);
                        reasons.push(format!("span {}:{}: {error}", span.trace_id, span.span_id));
                    }
                    None => checked.extend(events),
                }
            }
            let batch = work.seal(&checked, "otlp")?;
            let message = summarize(&reasons);
            Ok((checked, batch, rejected, message))
        })
        .await
        .map_err(|e| ApiError::Internal(format!("OTLP task failed: {e}")))??;
    st.metrics
        .spans_rejected
        .fetch_add(rejected as u64, Ordering::Relaxed);
    let outcomes = st.commit(batch).await?;
    st.count(&checked, &outcomes);
    let conflicts = outcomes
        .iter()
        .filter(|o| matches!(o, agentrail_store::AppendOutcome::Conflict { .. }))
        .count() as i64;
    let mut response = ExportTraceServiceResponse::default();
    if rejected > 0 || conflicts > 0 {
        let mut message = message;
        if conflicts > 0 {
            if !message.is_empty() {
                message.push_str("; ");
            }
            message.push_str(&format!(
                "{conflicts} events conflict with stored events of the same id (a span re-sent with other content)"
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
